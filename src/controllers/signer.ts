/**
 * The signer controller (reference §4.2): signs approved CSRs for the built-in signers. A request
 * the signer's policy refuses gets `Failed` (SignerValidationFailure) and is not retried. The
 * certificate is recorded in the store, keyed by the CSR's uid, before it is written to the CSR,
 * so no certificate is ever handed out unrecorded and a CSR never gets two. A Signer that cannot
 * sign now (sealed, remote down) leaves the CSR approved and waiting, with a condition saying so;
 * one that refuses the request (INVALID) fails it.
 */
import {
  addressClaimName,
  csrCertificatePem,
  csrConditions,
  type NodeNameContext,
  nodeNameOf,
  nodeNameProblem,
  parseCsrRequestField,
  requestedNodeName,
  reservedSanProblems,
  SIGNER_CONTROL_PLANE_SERVING,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  signerPolicyProblem,
  x509Usages,
} from '../api/index.ts';
import type { Signer } from '../api/signer.ts';
import { isTlsbootError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339, rfc3339Millis } from '../base/rfc3339.ts';
import { type CertificateRequest, commonName, comparableIp, parseCertificateBundle } from '../pki/index.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import {
  ADDRESS_CLAIMS,
  type ClusterClient,
  CSRS,
  type CsrLister,
  ISSUED_CERTIFICATES,
  isLostWrite,
  isRaceError,
  NODE_ADDRESSES,
  NODE_CLIENT_CERTIFICATES,
} from './cluster.ts';

export const BUILT_IN_SIGNERS = [SIGNER_KUBE_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING, SIGNER_CONTROL_PLANE_SERVING];

export interface SignerControllerOptions {
  readonly client: ClusterClient;
  readonly csrs: CsrLister;
  readonly signer: Signer;
  readonly now: () => Date;
  /** How soon to look again while the signer is unavailable. */
  readonly retryUnavailableMs?: number;
  /** Reserved identities and known node names: the backstop whoever approved. */
  readonly nodeNames: () => NodeNameContext;
  /**
   * Certificates signed whose record could not be written yet (an API error, a rate limit), by
   * CSR uid: the retry writes the same certificate instead of having the CA sign a second one.
   */
  readonly unrecorded?: Map<string, JsonObject>;
  /** What this process saw of each CSR, so that a record that cannot exist is not asked for. */
  readonly memory?: SigningMemory;
  /** The identity informer's copy of NODE_CLIENT_CERTIFICATES/<node>: a first guess for its compare-and-swap. */
  readonly cachedNodeClient?: (node: string) => JsonObject | undefined;
}

/**
 * What the signer knows without asking the API whether a CSR already has an IssuedCertificate
 * record. A record is only made after approval, by the signer that leads; so for a CSR this
 * process saw undecided (no Approved, Denied or Failed condition, no certificate) every record
 * was made by this process since, and it holds those here until its informer shows the CSR
 * signed or gone. For any other CSR (approved before this process started, or a record whose
 * create failed in a way that leaves its fate unknown) the signer asks the API, as before. The
 * create of the record stays the guard: of two signers (a deposed leader still finishing) only
 * one record is ever written, and only the recorded certificate is handed out. Two signers acting
 * at once without leader election (README: unsupported, the CA would sign twice) now sign each
 * such CSR twice rather than now and then; still one record, one certificate handed out.
 */
export class SigningMemory {
  /** CSR name to the uid seen undecided. */
  private readonly undecided = new Map<string, string>();
  /** CSR name to the record this process wrote for it. */
  private readonly recorded = new Map<string, JsonObject>();

  /** Notes the informer's copy of a CSR (undefined once it is deleted). */
  observe(name: string, csr: JsonObject | undefined): void {
    const meta = csr !== undefined && isObject(csr.metadata) ? csr.metadata : undefined;
    const uid = typeof meta?.uid === 'string' ? meta.uid : undefined;
    if (csr === undefined || uid === undefined || csrCertificatePem(csr) !== undefined) {
      this.forget(name);
      return;
    }
    if (this.undecided.has(name) && this.undecided.get(name) !== uid) this.forget(name);
    if (csrConditions(csr).some((c) => c.type === 'Approved' || c.type === 'Denied' || c.type === 'Failed')) return;
    this.undecided.set(name, uid);
  }

  /** The record for this CSR if this process wrote it; null if none can exist; undefined if only the API knows. */
  recordOf(name: string, uid: string): JsonObject | null | undefined {
    if (this.undecided.get(name) !== uid) return undefined;
    return this.recorded.get(name) ?? null;
  }

  noteRecorded(name: string, uid: string, record: JsonObject): void {
    if (this.undecided.get(name) === uid) this.recorded.set(name, record);
  }

  /** After a create whose outcome is unknown: the API is asked again. */
  forget(name: string): void {
    this.undecided.delete(name);
    this.recorded.delete(name);
  }

  get size(): number {
    return this.undecided.size;
  }
}

/** How long an address stays claimed for a serving certificate still being signed. */
const ADDRESS_RESERVATION_MS = 60 * 60_000;

/**
 * Why no certificate may be made for this node request whoever approved it, or undefined: the
 * node name must pass the identity rules, and a serving certificate names nothing reserved.
 */
function identityProblem(signerName: string, csr: CertificateRequest, requester: string, ctx: NodeNameContext): string | undefined {
  if (signerName !== SIGNER_KUBELET_CLIENT && signerName !== SIGNER_KUBELET_SERVING) return undefined;
  const name = nodeNameProblem(requestedNodeName(csr) ?? '', ctx, requester !== commonName(csr.subject));
  if (name !== undefined) return name;
  if (signerName !== SIGNER_KUBELET_SERVING) return undefined;
  // A wildcard could cover a reserved name (or a name the cluster reserves later): never for a node.
  const wildcard = csr.sans.dns.find((d) => d.includes('*'));
  if (wildcard !== undefined) return `DNS name ${wildcard} is a wildcard, which no node certificate carries`;
  const reserved = reservedSanProblems(ctx.reserved, csr.sans);
  return reserved.length > 0 ? reserved.join('; ') : undefined;
}

/** Addresses one node may hold in live serving certificates at once (a serving policy's default SAN limit). */
export const MAX_ADDRESSES_PER_NODE = 16;

/**
 * Records, per node and compare-and-swap, the addresses its live serving certificates hold, and
 * refuses a certificate that would take the node past MAX_ADDRESSES_PER_NODE: without it a node
 * could claim a whole allowed range, one certificate at a time, and keep it from other nodes.
 */
async function reserveNodeAddresses(
  client: ClusterClient,
  node: string,
  ips: readonly string[],
  now: Date,
  notAfter: Date,
): Promise<string | undefined> {
  for (;;) {
    const index = await client.get(NODE_ADDRESSES, '', node);
    const held = isObject(index?.addresses) ? index.addresses : {};
    const live = Object.fromEntries(
      Object.entries(held).filter((e): e is [string, string] => typeof e[1] === 'string' && rfc3339Millis(e[1]) > now.getTime()),
    );
    const until = notAfter.toISOString();
    const next: Record<string, string> = { ...live };
    for (const ip of ips.map((i) => comparableIp(i))) next[ip] = (live[ip] ?? '') > until ? (live[ip] as string) : until;
    if (Object.keys(next).length > MAX_ADDRESSES_PER_NODE)
      return `node ${node} would hold ${Object.keys(next).length} addresses in live serving certificates; at most ${MAX_ADDRESSES_PER_NODE} are allowed (it holds ${Object.keys(live).join(', ') || 'none'})`;
    try {
      if (index) await client.update(NODE_ADDRESSES, { ...index, addresses: next });
      else await client.create(NODE_ADDRESSES, { metadata: { name: node }, addresses: next });
      return undefined;
    } catch (error) {
      if (!isLostWrite(error)) throw error;
    }
  }
}

/**
 * Claims each IP of a serving certificate for its node until `notAfter`, atomically: the first
 * live holder keeps an address, so two nodes never hold certificates for one IP at once. Returns
 * a problem naming the holder when an address is taken.
 */
async function claimAddresses(
  client: ClusterClient,
  node: string,
  ips: readonly string[],
  now: Date,
  notAfter: Date,
): Promise<string | undefined> {
  for (const ip of ips) {
    const name = addressClaimName(ip);
    for (;;) {
      const claim = await client.get(ADDRESS_CLAIMS, '', name);
      const until = notAfter.toISOString();
      try {
        if (!claim) {
          await client.create(ADDRESS_CLAIMS, { metadata: { name }, ip: comparableIp(ip), node, notAfter: until });
          break;
        }
        const held = typeof claim.notAfter === 'string' ? claim.notAfter : '';
        if (claim.node !== node && rfc3339Millis(held) > now.getTime())
          return `IP ${ip} is held by node ${String(claim.node)}'s serving certificate until ${held}`;
        if (claim.node === node && held >= until) break;
        await client.update(ADDRESS_CLAIMS, { ...claim, node, notAfter: until });
        break;
      } catch (error) {
        if (!isLostWrite(error)) throw error;
      }
    }
  }
  return undefined;
}

async function setCondition(
  o: SignerControllerOptions,
  csr: JsonObject,
  condition: Record<string, string>,
  certificate?: string,
): Promise<void> {
  const status = isObject(csr.status) ? csr.status : {};
  const conditions = [
    ...csrConditions(csr).filter((c) => c.type !== condition.type),
    { ...condition, lastUpdateTime: formatRfc3339(o.now()) },
  ];
  await o.client.update(CSRS, { ...csr, status: { ...status, conditions, ...(certificate ? { certificate } : {}) } }, 'status');
}

/**
 * Keeps NODE_CLIENT_CERTIFICATES/<node name> pointing at the node's latest-expiring client
 * certificate. The first try may start from `cached` (an informer's copy, which can lag): a
 * stale copy only makes the compare-and-swap fail (CONFLICT, ALREADY_EXISTS, or NOT_FOUND for a
 * record deleted meanwhile), and then the record is read from the API. Not writing is decided
 * on a record read from the API only.
 */
export async function recordNodeClient(
  client: ClusterClient,
  issued: JsonObject,
  cached?: (node: string) => JsonObject | undefined,
): Promise<void> {
  const node = nodeNameOf(String(issued.commonName ?? ''));
  if (node === undefined) return;
  const entry = { serialNumber: issued.serialNumber, notAfter: issued.notAfter, csrName: issued.csrName, issuedAt: issued.issuedAt };
  let current = cached?.(node);
  let fresh = cached === undefined;
  for (;;) {
    if (fresh) current = await client.get(NODE_CLIENT_CERTIFICATES, '', node);
    if (current && String(current.notAfter ?? '') >= String(issued.notAfter ?? '')) {
      if (fresh) return;
      fresh = true;
      continue;
    }
    try {
      if (current) await client.update(NODE_CLIENT_CERTIFICATES, { ...current, ...entry });
      else await client.create(NODE_CLIENT_CERTIFICATES, { metadata: { name: node }, ...entry });
      return;
    } catch (error) {
      // Another worker recorded a certificate for the same node meanwhile, or the copy was stale: look again.
      if (!isLostWrite(error) && !(!fresh && isRaceError(error))) throw error;
      fresh = true;
    }
  }
}

export async function reconcileSigning(name: string, o: SignerControllerOptions): Promise<ReconcileResult | undefined> {
  const csr = o.csrs(name);
  if (!csr || csrCertificatePem(csr) !== undefined) return undefined;
  const conditions = csrConditions(csr);
  if (!conditions.some((c) => c.type === 'Approved') || conditions.some((c) => c.type === 'Denied' || c.type === 'Failed'))
    return undefined;
  const spec = isObject(csr.spec) ? csr.spec : {};
  const signerName = String(spec.signerName ?? '');
  if (!BUILT_IN_SIGNERS.includes(signerName)) return undefined;
  const uid = csr.metadata.uid ?? '';
  const usages = Array.isArray(spec.usages) ? spec.usages.filter((u): u is string => typeof u === 'string') : [];
  const parsed = parseCsrRequestField(spec.request);
  const problem = signerPolicyProblem(signerName, parsed, usages);
  if (problem !== undefined) {
    await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: problem });
    return undefined;
  }
  const identity = identityProblem(signerName, parsed, String(spec.username ?? ''), o.nodeNames());
  if (identity !== undefined) {
    await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'IdentityRuleViolation', message: identity });
    return undefined;
  }
  const remembered = o.memory?.recordOf(name, uid);
  let record = remembered === undefined ? await o.client.get(ISSUED_CERTIFICATES, '', uid) : (remembered ?? undefined);
  // A certificate kept from a failed write is not needed once a record stands (another writer's).
  if (record) o.unrecorded?.delete(uid);
  const signedNow = !record;
  const node = requestedNodeName(parsed) ?? '';
  const servingIps = signerName === SIGNER_KUBELET_SERVING ? parsed.sans.ip : [];
  if (!record && servingIps.length > 0) {
    // Reserved before signing, so a concurrent request for another node cannot sign the same
    // address meanwhile; extended to the certificate's expiry once it exists.
    const now = o.now();
    const reservation = new Date(now.getTime() + ADDRESS_RESERVATION_MS);
    const tooMany = await reserveNodeAddresses(o.client, node, servingIps, now, reservation);
    if (tooMany !== undefined) {
      await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'TooManyAddresses', message: tooMany });
      return undefined;
    }
    const taken = await claimAddresses(o.client, node, servingIps, now, reservation);
    if (taken !== undefined) {
      await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'AddressHeldByAnotherNode', message: taken });
      return undefined;
    }
  }
  if (!record) {
    let body = o.unrecorded?.get(uid);
    if (body === undefined) {
      let signed: Awaited<ReturnType<Signer['sign']>>;
      try {
        const { keyUsage, extKeyUsage } = x509Usages(usages);
        signed = await o.signer.sign(
          {
            signerName,
            subject: parsed.subject.attributes,
            publicKey: parsed.spki,
            sans: parsed.sans,
            keyUsage,
            extKeyUsage,
            ...(typeof spec.expirationSeconds === 'number' ? { requestedTtlMs: spec.expirationSeconds * 1000 } : {}),
            csrDer: parsed.der,
            usages,
            csrName: name,
            csrUid: uid,
            requester: String(spec.username ?? ''),
          },
          o.now(),
        );
      } catch (error) {
        if (isTlsbootError(error) && error.code === 'UNAVAILABLE') {
          if (!conditions.some((c) => c.type === 'SigningPending' && c.message === error.message)) {
            await setCondition(o, csr, { type: 'SigningPending', status: 'True', reason: 'SignerUnavailable', message: error.message });
          }
          return { requeueAfterMs: o.retryUnavailableMs ?? 5000 };
        }
        // A backend that refuses the request itself, or returns a certificate that is not what was
        // approved (remote signer), fails the CSR for good: retrying would get the same answer.
        if (isTlsbootError(error) && error.code === 'INVALID') {
          await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: error.message });
          return undefined;
        }
        throw error;
      }
      const cert = signed.certificate;
      body = {
        metadata: { name: uid },
        csrName: name,
        signerName,
        requester: String(spec.username ?? ''),
        commonName: commonName(cert.subject) ?? '',
        serialNumber: cert.serialNumber,
        notBefore: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        // notBefore is backdated; when it was really issued is what paces renewals.
        issuedAt: o.now().toISOString(),
        certificate: signed.pem,
      };
    }
    try {
      record = await o.client.create(ISSUED_CERTIFICATES, body);
      o.unrecorded?.delete(uid);
      o.memory?.noteRecorded(name, uid, record);
    } catch (error) {
      // Whether a record exists now (a create that committed but did not answer, or another
      // signer's) only the API can tell: the retry asks it.
      o.memory?.forget(name);
      // Lost to another writer: the retry reads its record. Anything else: keep what was signed,
      // so that the retry records this certificate rather than having the CA sign another.
      if (isLostWrite(error)) o.unrecorded?.delete(uid);
      else o.unrecorded?.set(uid, body);
      throw error;
    }
  }
  // Also on a retry that found the record: a crash between the two writes must not leave the
  // approver's index behind the inventory.
  if (signerName === SIGNER_KUBELET_CLIENT) await recordNodeClient(o.client, record, o.cachedNodeClient);
  if (servingIps.length > 0) {
    await reserveNodeAddresses(o.client, node, servingIps, o.now(), new Date(String(record.notAfter)));
    const taken = await claimAddresses(o.client, node, servingIps, o.now(), new Date(String(record.notAfter)));
    // Only a claim lost after a crash between signing and this write can land here; the inventory
    // still records the certificate, so say so rather than hand it out.
    if (taken !== undefined) {
      await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'AddressHeldByAnotherNode', message: taken });
      return undefined;
    }
  }
  const pem = String(record.certificate ?? '');
  // A record read back from the store is checked before it is handed out; one just made is not re-read.
  if (!signedNow) parseCertificateBundle(pem, 'issued certificate');
  const status = isObject(csr.status) ? csr.status : {};
  const remaining = csrConditions(csr).filter((c) => c.type !== 'SigningPending');
  await o.client.update(
    CSRS,
    { ...csr, status: { ...status, conditions: remaining, certificate: Buffer.from(pem).toString('base64') } },
    'status',
  );
  return undefined;
}
