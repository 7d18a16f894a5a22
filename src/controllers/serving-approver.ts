import { evaluateServingRequest, type ServingPolicy } from '../api/serving-policy.ts';
import { appendApprovalCondition, type ClusterClient, loadUndecidedCsr } from './cluster.ts';
import type { ReconcileResult } from './runner.ts';

export async function reconcileServing(
  name: string,
  o: { client: ClusterClient; policy: ServingPolicy; now: () => Date },
): Promise<ReconcileResult | undefined> {
  const pending = await loadUndecidedCsr(o.client, name);
  if (!pending) return undefined;
  const { csr, conditions } = pending;
  const decision = evaluateServingRequest(
    { signerName: pending.signerName, csr: pending.parsed, usages: pending.usages, username: pending.username, groups: pending.groups },
    o.policy,
  );
  if (decision.kind === 'not-serving') return undefined;
  const condition =
    decision.kind === 'approve'
      ? { type: 'Approved', status: 'True', reason: 'ServingPolicyApproved', message: decision.message }
      : { type: 'Denied', status: 'True', reason: decision.reason, message: decision.problems.join('; ') };
  if (o.policy.dryRun) {
    if (conditions.some((c) => c.type === 'ServingApprovalDryRun')) return undefined;
    const would = {
      type: 'ServingApprovalDryRun',
      status: 'True',
      reason: decision.kind === 'approve' ? 'WouldApprove' : 'WouldDeny',
      message: condition.message,
    };
    await appendApprovalCondition(o.client, csr, would, o.now());
    return undefined;
  }
  await appendApprovalCondition(o.client, csr, condition, o.now());
  return undefined;
}
