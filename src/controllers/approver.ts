/**
 * The node-client approver (reference §5): a kubelet client CSR is approved when a
 * SubjectAccessReview lets its requester `create` `certificatesigningrequests/selfnodeclient`
 * (renewing its own name) or `/nodeclient` (a new node). It never denies. Stricter than Kubernetes:
 * a first-time request for a node name that already holds a valid client certificate is not
 * auto-approved (a bootstrap token cannot take over a registered node); it is marked with an
 * `AutoApprovalWithheld` condition saying why, and a person may still approve it.
 */
import { isNodeClientRequest, isSelfNodeClientRequest } from '../api/index.ts';
import { commonName } from '../pki/index.ts';
import { appendApprovalCondition, type ClusterClient, loadUndecidedCsr, NODE_CLIENT_RESOURCE } from './cluster.ts';
import type { ReconcileResult } from './runner.ts';

export interface ApproverOptions {
  readonly client: ClusterClient;
  readonly now: () => Date;
}

/** Whether a valid kubelet client certificate was already issued for this CN. */
async function nameAlreadyRegistered(client: ClusterClient, cn: string, now: Date): Promise<string | undefined> {
  const latest = await client.getObject(NODE_CLIENT_RESOURCE, '', cn);
  if (latest && typeof latest.notAfter === 'string' && Date.parse(latest.notAfter) > now.getTime())
    return String(latest.serialNumber ?? '');
  return undefined;
}

export async function reconcileApproval(name: string, o: ApproverOptions): Promise<ReconcileResult | undefined> {
  const pending = await loadUndecidedCsr(o.client, name);
  if (!pending) return undefined;
  const { csr, conditions, parsed, signerName, usages, username } = pending;
  const user = { name: username, groups: pending.groups, ...(pending.uid ? { uid: pending.uid } : {}) };
  const sar = (subresource: string) =>
    o.client.allowed({ user, verb: 'create', apiGroup: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource });
  let message: string | undefined;
  if (isSelfNodeClientRequest(signerName, parsed, usages, username) && sar('selfnodeclient')) {
    message = 'Auto approving self kubelet client certificate after SubjectAccessReview.';
  } else if (isNodeClientRequest(signerName, parsed, usages) && sar('nodeclient')) {
    const cn = commonName(parsed.subject) ?? '';
    const serial = await nameAlreadyRegistered(o.client, cn, o.now());
    if (serial !== undefined) {
      if (conditions.some((c) => c.type === 'AutoApprovalWithheld')) return undefined;
      const why = `${cn} already holds a valid client certificate (serial ${serial}); a bootstrap credential may not obtain another. Approve by hand if this node is being re-registered.`;
      await appendApprovalCondition(
        o.client,
        csr,
        { type: 'AutoApprovalWithheld', status: 'True', reason: 'NodeAlreadyRegistered', message: why },
        o.now(),
      );
      return undefined;
    }
    message = 'Auto approving kubelet client certificate after SubjectAccessReview.';
  } else {
    return undefined;
  }
  await appendApprovalCondition(o.client, csr, { type: 'Approved', status: 'True', reason: 'AutoApproved', message }, o.now());
  return undefined;
}
