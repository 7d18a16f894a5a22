/**
 * Requesting a certificate through the CSR API as the kubelet does (reference §7.1): the
 * bootstrap CSR gets a deterministic `node-csr-` name derived from the public key and subject, so
 * a restarted join finds and reuses its own request; the wait is a watch, not polling; and the
 * certificate that comes back is checked (our key, requested subject and usages, chains to the
 * trusted CA) before anyone installs it.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { type CertificateSigningRequest, csrCertificatePem, csrConditions } from '../api/index.ts';
import { type Clock, sleep } from '../base/clock.ts';
import {
  CancelledError,
  ConflictError,
  ForbiddenError,
  InvalidError,
  NotFoundError,
  TlsbootError,
  UnavailableError,
} from '../base/errors.ts';
import type { KubeClient } from '../client/client.ts';
import { createCsr, getCsr, watchCsr } from '../client/csr.ts';
import {
  type Certificate,
  commonName,
  createCsrPem,
  type ExtKeyUsage,
  type NameAttribute,
  organizations,
  parseCertificateBundle,
  parseCsrPem,
  type SubjectAltNames,
  spkiOf,
  verifyChain,
} from '../pki/index.ts';

export interface CertificateRequestSpec {
  readonly signerName: string;
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly sans?: SubjectAltNames;
  /** Kubernetes usage strings, e.g. `digital signature`, `client auth`. */
  readonly usages: readonly string[];
  readonly expirationSeconds?: number;
}

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');

/**
 * `node-csr-<digest>` of reference §7.1 step 6: SHA-512/256 over `b64url(item)|` for key, CN, Os,
 * usages. Other requesters that must find their request again give their own prefix.
 */
export function bootstrapCsrName(key: KeyObject, spec: CertificateRequestSpec, prefix = 'node-csr'): string {
  const h = createHash('sha512-256');
  for (const item of [spkiOf(key), spec.commonName, ...spec.organizations, ...spec.usages]) h.update(`${b64url(item)}|`);
  return `${prefix}-${h.digest('base64url')}`;
}

function subjectOf(spec: CertificateRequestSpec): NameAttribute[] {
  return [...spec.organizations.map((value) => ({ type: 'O', value })), { type: 'CN', value: spec.commonName }];
}

export function csrBody(
  key: KeyObject,
  spec: CertificateRequestSpec,
  naming: { name: string } | { generateName: string },
): CertificateSigningRequest {
  const pem = createCsrPem({ key, subject: subjectOf(spec), ...(spec.sans ? { sans: spec.sans } : {}) });
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: naming,
    spec: {
      request: Buffer.from(pem).toString('base64'),
      signerName: spec.signerName,
      usages: [...spec.usages],
      ...(spec.expirationSeconds === undefined ? {} : { expirationSeconds: spec.expirationSeconds }),
    },
  };
}

/** Whether an existing CSR is ours to reuse: same subject, signer and public key, and not spent. */
function compatible(existing: CertificateSigningRequest, key: KeyObject, spec: CertificateRequestSpec, now: Date): boolean {
  const s = existing.spec;
  if (s.signerName !== spec.signerName) return false;
  try {
    const req = parseCsrPem(Buffer.from(s.request, 'base64'));
    if (!spkiOf(key).equals(req.spki)) return false;
    if (commonName(req.subject) !== spec.commonName) return false;
    if (organizations(req.subject).join('\n') !== [...spec.organizations].join('\n')) return false;
  } catch {
    return false;
  }
  const pem = csrCertificatePem(existing);
  if (pem) {
    const [leaf] = parseCertificateBundle(pem);
    if (!leaf || leaf.notAfter <= now) return false;
  }
  return true;
}

/** Creates the CSR, or reuses a compatible one of the same name. Returns the stored object. */
export async function submitCsr(
  client: KubeClient,
  body: CertificateSigningRequest,
  key: KeyObject,
  spec: CertificateRequestSpec,
  now: Date,
): Promise<CertificateSigningRequest> {
  try {
    return await createCsr(client, body);
  } catch (error) {
    const name = body.metadata?.name;
    if (!(error instanceof TlsbootError && error.code === 'ALREADY_EXISTS' && name !== undefined)) throw error;
    const existing = await getCsr(client, name);
    if (!compatible(existing, key, spec, now)) {
      throw new ConflictError('CSR_INCOMPATIBLE', `certificatesigningrequest ${name} exists and was not made with this key and subject`);
    }
    return existing;
  }
}

function terminalState(csr: CertificateSigningRequest, name: string): string | undefined {
  const conditions = csrConditions(csr);
  const denied = conditions.find((c) => c.type === 'Denied');
  if (denied)
    throw new ForbiddenError(
      'CSR_DENIED',
      `certificatesigningrequest ${name} was denied: ${denied.reason ?? ''} ${denied.message ?? ''}`.trim(),
    );
  const failed = conditions.find((c) => c.type === 'Failed');
  if (failed)
    throw new InvalidError('CSR_FAILED', `certificatesigningrequest ${name} failed: ${failed.reason ?? ''} ${failed.message ?? ''}`.trim());
  if (!conditions.some((c) => c.type === 'Approved')) return undefined;
  return csrCertificatePem(csr);
}

/**
 * Waits with a watch (field selector on the name) until the CSR carries a certificate. Denied,
 * Failed, deletion or a different UID end the wait with an error; so does `timeoutMs`.
 */
/**
 * What a waiting CSR waits for, in words a person can act on, or undefined while nothing is
 * known yet: withheld by the approver (its message, and the command an admin runs), approved but
 * waiting for a signing session or the remote signer, or approved and waiting for the signer.
 */
export function waitingReason(csr: CertificateSigningRequest, name: string): string | undefined {
  const conditions = csrConditions(csr);
  const pending = conditions.find((c) => c.type === 'SigningPending');
  if (pending)
    return `approved; the CA cannot sign yet (${pending.reason ?? 'SigningPending'}: ${pending.message ?? ''}). An operator opens a signing session with "tlsboot ca session open"; this request is then signed at once`;
  if (conditions.some((c) => c.type === 'Approved')) return 'approved; waiting for the signer';
  const withheld = conditions.find((c) => c.type === 'AutoApprovalWithheld');
  if (withheld)
    return `not approved automatically (${withheld.reason ?? 'AutoApprovalWithheld'}): ${withheld.message ?? ''} An admin may approve it with "kubectl certificate approve ${name}" or deny it with "kubectl certificate deny ${name}"`;
  return undefined;
}

export async function waitForCertificate(
  client: KubeClient,
  created: CertificateSigningRequest,
  timeoutMs: number,
  signal?: AbortSignal,
  /** Called with each new reason the request is waiting for. */
  onWaiting?: (reason: string) => void,
): Promise<string> {
  const name = String(created.metadata?.name);
  const uid = created.metadata?.uid;
  const timeout = AbortSignal.timeout(timeoutMs);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let lastReason: string | undefined;
  const report = (csr: CertificateSigningRequest) => {
    const reason = waitingReason(csr, name);
    if (reason !== undefined && reason !== lastReason) onWaiting?.(reason);
    if (reason !== undefined) lastReason = reason;
  };
  let current = await getCsr(client, name, both);
  for (;;) {
    if (uid !== undefined && current.metadata?.uid !== uid)
      throw new ConflictError('CSR_REPLACED', `certificatesigningrequest ${name} was replaced`);
    const done = terminalState(current, name);
    if (done) return done;
    report(current);
    const from = current.metadata?.resourceVersion ?? '';
    for await (const event of watchCsr(client, name, from, both)) {
      if (event.type === 'DELETED') throw new NotFoundError('CSR_DELETED', `certificatesigningrequest ${name} was deleted while waiting`);
      if (event.type === 'ERROR') break;
      const next = event.object;
      if (uid !== undefined && next.metadata?.uid !== uid)
        throw new ConflictError('CSR_REPLACED', `certificatesigningrequest ${name} was replaced`);
      const got = terminalState(next, name);
      if (got) return got;
      report(next);
    }
    if (timeout.aborted)
      throw new UnavailableError(
        'CSR_TIMEOUT',
        `timed out waiting for certificatesigningrequest ${name} to be approved and signed${lastReason === undefined ? ' (no approver acted on it)' : `: ${lastReason}`}`,
      );
    if (signal?.aborted) throw new CancelledError('ABORTED', 'cancelled while waiting for the certificate');
    // The watch ended (server restart, expired history): re-read and watch again from there.
    current = await getCsr(client, name, both);
  }
}

const USAGE_EKU: Record<string, ExtKeyUsage> = { 'client auth': 'clientAuth', 'server auth': 'serverAuth' };

/**
 * Checks an issued chain before it is installed: the leaf certifies our key, carries the requested
 * subject, has the requested extended usages and chains to the trusted CA now.
 */
export function verifyIssued(pem: string, key: KeyObject, spec: CertificateRequestSpec, caPem: string, now: Date): Certificate[] {
  const chain = parseCertificateBundle(pem, 'issued certificate');
  const leaf = chain[0] as Certificate;
  const fail = (message: string) => new InvalidError('ISSUED_CERTIFICATE', `the issued certificate was refused: ${message}`);
  if (!spkiOf(key).equals(leaf.spki)) throw fail('it does not certify our public key');
  if (commonName(leaf.subject) !== spec.commonName) throw fail(`its CN is "${commonName(leaf.subject) ?? ''}", not "${spec.commonName}"`);
  if (organizations(leaf.subject).join('\n') !== [...spec.organizations].join('\n'))
    throw fail('its organizations differ from the request');
  for (const usage of spec.usages) {
    const eku = USAGE_EKU[usage];
    if (eku && !(leaf.extKeyUsage ?? []).includes(eku)) throw fail(`it lacks the ${usage} usage`);
  }
  if (leaf.basicConstraints?.ca) throw fail('it is a CA certificate');
  try {
    verifyChain({ leaf, roots: parseCertificateBundle(caPem, 'cluster CA'), intermediates: chain.slice(1), now });
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error));
  }
  return chain;
}

/** The wait before asking again after a transient failure, growing per attempt up to the cap. */
const RETRY_MS = 500;
const RETRY_MAX_MS = 5000;

/** A failure that another attempt may not meet: the server or the network away, not a refusal or our own deadline. */
function transient(error: unknown): boolean {
  if (!(error instanceof TlsbootError)) return true;
  return error.code === 'UNAVAILABLE' && error.reason !== 'CSR_TIMEOUT';
}

/**
 * Submits the CSR named `name` (or finds it again) and waits until it is signed, then checks what
 * came back. Behind a load balancer a server may die or lose etcd mid-request; the name is the
 * caller's (derived from the key), so asking again finds the same request, as kubelet's bootstrap
 * retries do.
 */
export async function requestCertificate(p: {
  readonly client: KubeClient;
  readonly key: KeyObject;
  readonly spec: CertificateRequestSpec;
  readonly name: string;
  readonly caPem: string;
  /** Clock time by which it must be signed. */
  readonly deadline: number;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}): Promise<Certificate[]> {
  let pem: string | undefined;
  for (let attempt = 1; pem === undefined; attempt++) {
    try {
      p.log(`submitting certificatesigningrequest ${p.name}`);
      const created = await submitCsr(p.client, csrBody(p.key, p.spec, { name: p.name }), p.key, p.spec, new Date(p.clock.now()));
      p.log('waiting for the request to be approved and signed');
      pem = await waitForCertificate(p.client, created, Math.max(1, p.deadline - p.clock.now()), p.signal, (reason) =>
        p.log(`${p.name}: ${reason}`),
      );
    } catch (error) {
      const delay = Math.min(RETRY_MS * attempt, RETRY_MAX_MS);
      if (!transient(error) || p.signal?.aborted || p.clock.now() + delay >= p.deadline) throw error;
      p.log(`${error instanceof Error ? error.message : String(error)}; retrying in ${delay} ms`);
      await sleep(p.clock, delay, p.signal);
    }
  }
  return verifyIssued(pem, p.key, p.spec, p.caPem, new Date(p.clock.now()));
}
