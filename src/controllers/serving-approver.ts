/**
 * The kubelet-serving approver: decides each pending `kubernetes.io/kubelet-serving` CSR with the
 * serving policy (src/api/serving-policy.ts). Approves when every SAN belongs to the requesting
 * node, denies with one line per offending SAN otherwise; in dry-run mode it only records what it
 * would do, once, in a `ServingApprovalDryRun` condition and leaves the decision to a person.
 */
import { csrCertificatePem, csrConditions, parseCsrRequestField } from '../api/index.ts';
import { evaluateServingRequest, type ServingPolicy } from '../api/serving-policy.ts';
import { appendApprovalCondition, type ClusterClient, type JsonObject } from './cluster.ts';
import type { ReconcileResult } from './runner.ts';

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export async function reconcileServing(
  name: string,
  o: { client: ClusterClient; policy: ServingPolicy; now: () => Date },
): Promise<ReconcileResult | undefined> {
  const csr = await o.client.getCsr(name);
  if (!csr || csrCertificatePem(csr) !== undefined) return undefined;
  const conditions = csrConditions(csr);
  if (conditions.some((c) => c.type === 'Approved' || c.type === 'Denied')) return undefined;
  const spec = isObject(csr.spec) ? csr.spec : {};
  let parsed: ReturnType<typeof parseCsrRequestField>;
  try {
    parsed = parseCsrRequestField(spec.request);
  } catch {
    return undefined;
  }
  const decision = evaluateServingRequest(
    {
      signerName: String(spec.signerName ?? ''),
      csr: parsed,
      usages: strings(spec.usages),
      username: String(spec.username ?? ''),
      groups: strings(spec.groups),
    },
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
