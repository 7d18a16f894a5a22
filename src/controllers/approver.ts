/**
 * The node-client approver (reference §5): a kubelet client CSR is approved when a
 * SubjectAccessReview lets its requester `create` `certificatesigningrequests/selfnodeclient`
 * (renewing its own name) or `/nodeclient` (a new node). It never denies. Stricter than Kubernetes:
 * a first-time request for a node name that already holds a valid client certificate is not
 * auto-approved (a bootstrap token cannot take over a registered node); it is marked with an
 * `AutoApprovalWithheld` condition saying why, and a person may still approve it. So is a first
 * request whose node name breaks the identity rules, or whose name another request claimed first.
 */
import {
  type CsrCondition,
  csrCertificatePem,
  csrConditions,
  isNodeClientRequest,
  isSelfNodeClientRequest,
  type NodeNameContext,
  nodeNameOf,
  nodeNameProblem,
  requestedNodeName,
} from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339, rfc3339Millis } from '../base/rfc3339.ts';
import { commonName, parseCertificateBundle } from '../pki/index.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import {
  appendApprovalCondition,
  type ClusterClient,
  CSRS,
  type CsrLister,
  isLostWrite,
  loadUndecidedCsr,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
} from './cluster.ts';

export interface ApproverOptions {
  readonly client: ClusterClient;
  readonly csrs: CsrLister;
  readonly now: () => Date;
  /** Reserved identities and known node names, read at decision time. */
  readonly nodeNames: () => NodeNameContext;
  /** Runs a first-time claim (name check and claim write) alone among overlapping names; see IdentityCaches.claimAlone. */
  readonly claimAlone: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Makes a name just claimed known to the name check at once. */
  readonly noteClaimed: (name: string) => void;
  /** The identity informer's copy of NODE_NAME_CLAIMS/<node>: when it has none, the claim is tried without asking the API first. */
  readonly cachedClaim?: (node: string) => JsonObject | undefined;
  /** Told of each approval once its write returned (for the audit log). */
  readonly onDecided?: (csr: JsonObject, decision: CsrCondition) => void;
}

/**
 * Whether the CSR that holds a name claim still stands for the node: it may yet get a certificate,
 * or the one it got is valid. A claim whose request was deleted, denied or failed, or whose
 * certificate expired, no longer keeps the name from a new node, as an expired registration does not.
 */
export function claimIsLive(holder: JsonObject | undefined, uid: unknown, now: Date): boolean {
  if (!holder || !isObject(holder.metadata) || holder.metadata.uid !== uid) return false;
  if (csrConditions(holder).some((c) => c.type === 'Denied' || c.type === 'Failed')) return false;
  const pem = csrCertificatePem(holder);
  if (pem === undefined) return true;
  return (parseCertificateBundle(pem, 'issued certificate')[0]?.notAfter.getTime() ?? 0) > now.getTime();
}

/**
 * Claims a new node's name for this CSR, atomically (create-if-absent, or a compare-and-swap
 * take-over of a claim whose CSR is gone, denied or failed), so that of many concurrent first
 * requests for one name exactly one is approved. Returns the CSR holding the name otherwise.
 */
async function claimNodeName(
  client: ClusterClient,
  node: string,
  csr: JsonObject,
  now: Date,
  cached?: (node: string) => JsonObject | undefined,
): Promise<string | undefined> {
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  const mine = { csrName: String(meta.name ?? ''), csrUid: String(meta.uid ?? ''), claimedAt: formatRfc3339(now) };
  // A claim the informer does not hold yet is created without a read first: the create-if-absent
  // is the guard (ALREADY_EXISTS when the copy was stale, and then the claim is read from the
  // API). Whatever is decided about a claim that exists is decided on a copy read from the API.
  let claim = cached?.(node);
  let fresh = cached === undefined || claim !== undefined;
  for (;;) {
    if (fresh) claim = await client.get(NODE_NAME_CLAIMS, '', node);
    fresh = true;
    try {
      if (!claim) {
        await client.create(NODE_NAME_CLAIMS, { metadata: { name: node }, ...mine });
        return undefined;
      }
      if (claim.csrUid === mine.csrUid) return undefined;
      const holderName = String(claim.csrName ?? '');
      if (claimIsLive(await client.get(CSRS, '', holderName), claim.csrUid, now)) return holderName;
      await client.update(NODE_NAME_CLAIMS, { ...claim, ...mine });
      return undefined;
    } catch (error) {
      // Another request claimed or took over the name meanwhile: look again.
      if (!isLostWrite(error)) throw error;
    }
  }
}

/** Whether a valid kubelet client certificate was already issued for this CN. */
async function nameAlreadyRegistered(client: ClusterClient, cn: string, now: Date): Promise<string | undefined> {
  const latest = await client.get(NODE_CLIENT_CERTIFICATES, '', nodeNameOf(cn) ?? cn);
  if (latest && typeof latest.notAfter === 'string' && rfc3339Millis(latest.notAfter) > now.getTime())
    return String(latest.serialNumber ?? '');
  return undefined;
}

/**
 * Why a node's renewal comes too early to approve automatically, or undefined: a node renews at
 * 70-90% of its certificate's lifetime, so a renewal before half of it has passed is no rotation
 * but a node minting certificates (each one signed and kept in the inventory) and waits for a person.
 */
async function renewalTooEarly(client: ClusterClient, cn: string, now: Date): Promise<string | undefined> {
  const latest = await client.get(NODE_CLIENT_CERTIFICATES, '', nodeNameOf(cn) ?? cn);
  if (!latest || typeof latest.issuedAt !== 'string' || typeof latest.notAfter !== 'string') return undefined;
  const issued = rfc3339Millis(latest.issuedAt);
  const halfway = issued + (rfc3339Millis(latest.notAfter) - issued) / 2;
  if (!(now.getTime() < halfway)) return undefined;
  return `${cn} was issued a client certificate at ${latest.issuedAt} (serial ${String(latest.serialNumber ?? '')}), valid until ${latest.notAfter}; a renewal before ${new Date(halfway).toISOString()}, half its lifetime, is not approved automatically. Approve by hand if this node lost its key.`;
}

export async function reconcileApproval(name: string, o: ApproverOptions): Promise<ReconcileResult | undefined> {
  const pending = loadUndecidedCsr(o.csrs, name);
  if (!pending) return undefined;
  const { csr, conditions, parsed, signerName, usages, username } = pending;
  const user = { name: username, groups: pending.groups, ...(pending.uid ? { uid: pending.uid } : {}) };
  const sar = (subresource: string) =>
    o.client.allowed({ user, verb: 'create', apiGroup: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource });
  let message: string | undefined;
  if (isSelfNodeClientRequest(signerName, parsed, usages, username) && (await sar('selfnodeclient'))) {
    const early = await renewalTooEarly(o.client, username, o.now());
    if (early !== undefined) {
      if (conditions.some((c) => c.type === 'AutoApprovalWithheld')) return undefined;
      await appendApprovalCondition(
        o.client,
        csr,
        { type: 'AutoApprovalWithheld', status: 'True', reason: 'RenewalTooEarly', message: early },
        o.now(),
      );
      return undefined;
    }
    message = 'Auto approving self kubelet client certificate after SubjectAccessReview.';
  } else if (isNodeClientRequest(signerName, parsed, usages) && (await sar('nodeclient'))) {
    const cn = commonName(parsed.subject) ?? '';
    const node = requestedNodeName(parsed) ?? '';
    const withhold = async (reason: string, why: string) => {
      if (conditions.some((c) => c.type === 'AutoApprovalWithheld')) return undefined;
      await appendApprovalCondition(o.client, csr, { type: 'AutoApprovalWithheld', status: 'True', reason, message: why }, o.now());
      return undefined;
    };
    // The name check and the claim run alone: checked apart, two overlapping new names could both pass.
    const refusal = await o.claimAlone(node, async (): Promise<[string, string] | undefined> => {
      const badName = nodeNameProblem(node, o.nodeNames(), true);
      if (badName !== undefined) return ['InvalidNodeName', `${badName}. It cannot be approved automatically.`];
      const serial = await nameAlreadyRegistered(o.client, cn, o.now());
      if (serial !== undefined) {
        return [
          'NodeAlreadyRegistered',
          `${cn} already holds a valid client certificate (serial ${serial}); a bootstrap credential may not obtain another. Approve by hand if this node is being re-registered.`,
        ];
      }
      const holder = await claimNodeName(o.client, node, csr, o.now(), o.cachedClaim);
      if (holder !== undefined) {
        return [
          'NodeNameClaimed',
          `the node name ${node} was claimed by request ${holder}, approved first; one new node gets one certificate. Approve by hand if this request, not that one, is the node.`,
        ];
      }
      o.noteClaimed(node);
      return undefined;
    });
    if (refusal !== undefined) return withhold(...refusal);
    message = 'Auto approving kubelet client certificate after SubjectAccessReview.';
  } else {
    return undefined;
  }
  const approved = { type: 'Approved', status: 'True', reason: 'AutoApproved', message };
  await appendApprovalCondition(o.client, csr, approved, o.now());
  o.onDecided?.(csr, approved);
  return undefined;
}
