/**
 * The kubelet-serving approver: decides each pending `kubernetes.io/kubelet-serving` CSR with the
 * serving policy (src/api/serving-policy.ts). Approves when every SAN belongs to the requesting
 * node, denies with one line per offending SAN otherwise. Without a policy it approves nothing but
 * still denies what no policy could allow (reserved names, other nodes' names and addresses) and
 * marks the rest `AutoApprovalWithheld` for a person; in dry-run mode it only records what it
 * would do, once, in a `ServingApprovalDryRun` condition. With `resolveDns`, names the policy does
 * not vouch for are looked up; a transient DNS failure retries with backoff instead of denying.
 * Where the requesting node has a Node object, its status.addresses are evidence too: enough
 * without a policy, required in addition to one (src/api/serving-policy.ts).
 */
import type { CsrCondition } from '../api/csr.ts';
import { nodeNameOf } from '../api/identity.ts';
import type { NodeAddress } from '../api/nodes.ts';
import { evaluateServingRequest, namesToResolve, type Resolution, type ServingContext, type ServingPolicy } from '../api/serving-policy.ts';
import type { JsonObject } from '../base/json.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import { appendApprovalCondition, type ClusterClient, type CsrLister, loadUndecidedCsr } from './cluster.ts';

/** Resolves a name to all its addresses; rejects with the resolver's error code on failure. */
export type Resolver = (name: string) => Promise<string[]>;

const TRANSIENT_DNS = new Set(['EAI_AGAIN', 'ETIMEOUT', 'ESERVFAIL', 'ECONNREFUSED', 'ETIMEDOUT']);

async function resolveAll(names: readonly string[], resolve: Resolver): Promise<Map<string, Resolution>> {
  const out = new Map<string, Resolution>();
  for (const n of names) {
    try {
      out.set(n, await resolve(n));
    } catch (error) {
      const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
      out.set(n, TRANSIENT_DNS.has(code) ? 'transient' : []);
    }
  }
  return out;
}

export async function reconcileServing(
  name: string,
  o: {
    client: ClusterClient;
    csrs: CsrLister;
    /** Without a policy nothing is approved; what no policy could allow is still denied. */
    policy: ServingPolicy | undefined;
    /** The reserved identities, known nodes and address holders, read at decision time. */
    context: () => ServingContext;
    now: () => Date;
    resolve?: Resolver;
    /** The `status.addresses` of the Node of that name, undefined when there is no such Node. */
    nodeAddresses?: (nodeName: string) => readonly NodeAddress[] | undefined;
    /** Told of each approval or denial once its write returned (for the audit log). */
    onDecided?: (csr: JsonObject, decision: CsrCondition) => void;
  },
): Promise<ReconcileResult | undefined> {
  const pending = loadUndecidedCsr(o.csrs, name);
  if (!pending) return undefined;
  const { csr, conditions } = pending;
  const request = {
    signerName: pending.signerName,
    csr: pending.parsed,
    usages: pending.usages,
    username: pending.username,
    groups: pending.groups,
  };
  const lookups = namesToResolve(request, o.policy);
  const resolved = lookups.length > 0 && o.resolve ? await resolveAll(lookups, o.resolve) : new Map<string, Resolution>();
  const node = nodeNameOf(pending.username);
  const addresses = node === undefined ? undefined : o.nodeAddresses?.(node);
  const decision = evaluateServingRequest(request, o.policy, resolved, o.context(), addresses);
  // A transient DNS failure is not evidence against the node: the runner retries with backoff.
  if (decision.kind === 'retry') throw new Error(decision.message);
  if (decision.kind === 'not-serving') return undefined;
  if (decision.kind === 'wait') {
    if (conditions.some((c) => c.type === 'AutoApprovalWithheld')) return undefined;
    const withheld = { type: 'AutoApprovalWithheld', status: 'True', reason: 'NoServingPolicy', message: decision.message };
    await appendApprovalCondition(o.client, csr, withheld, o.now());
    return undefined;
  }
  const condition =
    decision.kind === 'approve'
      ? { type: 'Approved', status: 'True', reason: decision.reason, message: decision.message }
      : { type: 'Denied', status: 'True', reason: decision.reason, message: decision.problems.join('; ') };
  if (o.policy?.dryRun) {
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
  o.onDecided?.(csr, condition);
  return undefined;
}
