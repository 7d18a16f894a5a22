/**
 * What the cluster and a remote signer exchange: the grant credential (`tlsboot signer grant`
 * prints it, `tlsboot ca session open --grant-file` hands it to the cluster), the sign request
 * and answer, and the cluster's check that a returned certificate is exactly what it asked for.
 * The credential's client key authenticates one grant over mutual TLS to the signer's own
 * transport CA, which is unrelated to the cluster CA; it expires with the grant.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { SignRequest } from '../api/signer.ts';
import { InvalidError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import type { CrlContent } from '../pki/crl.ts';
import {
  type Certificate,
  keyMatchesSpki,
  parseCertificateBundle,
  parseCertificatePem,
  parsePrivateKeyPem,
  verifyIssuedBy,
} from '../pki/index.ts';

export const GRANT_API_VERSION = 'ca.tlsboot.io/v1alpha1';
export const GRANT_KIND = 'SignerGrant';

export interface GrantCredential {
  readonly id: string;
  /** https://host:port of `tlsboot signer serve`. */
  readonly server: string;
  readonly expiresAt: Date;
  readonly maxCertificates: number | undefined;
  readonly signerNames: readonly string[] | undefined;
  /** The signer's transport CA (PEM), which its serving certificate chains to. */
  readonly certificateAuthority: string;
  readonly clientCertificate: string;
  readonly clientKey: string;
}

export function formatGrantCredential(g: GrantCredential): string {
  return stringifyYaml({
    apiVersion: GRANT_API_VERSION,
    kind: GRANT_KIND,
    id: g.id,
    server: g.server,
    expiresAt: g.expiresAt.toISOString(),
    ...(g.maxCertificates === undefined ? {} : { maxCertificates: g.maxCertificates }),
    ...(g.signerNames === undefined ? {} : { signerNames: [...g.signerNames] }),
    certificateAuthority: g.certificateAuthority,
    clientCertificate: g.clientCertificate,
    clientKey: g.clientKey,
  });
}

/** Parses and checks a credential; errors name the field but never echo the key. */
export function parseGrantCredential(text: string): GrantCredential {
  const bad = (field: string, what: string) => new InvalidError('GRANT_FORMAT', `grant credential: ${field} ${what}`, { field });
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    throw bad('document', 'is not YAML');
  }
  if (!isObject(doc) || doc.apiVersion !== GRANT_API_VERSION || doc.kind !== GRANT_KIND)
    throw bad('kind', `must be ${GRANT_API_VERSION} ${GRANT_KIND}`);
  const str = (k: string): string => {
    const v = doc[k];
    if (typeof v !== 'string' || v === '') throw bad(k, 'is missing');
    return v;
  };
  const id = str('id');
  if (!/^[0-9a-f]{32}$/.test(id)) throw bad('id', 'is malformed');
  const server = str('server');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw bad('server', 'is not a URL');
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search !== '' || url.username !== '')
    throw bad('server', 'must be https://host:port');
  const expiresAt = new Date(str('expiresAt'));
  if (Number.isNaN(expiresAt.getTime())) throw bad('expiresAt', 'is not a time');
  const max = doc.maxCertificates;
  if (max !== undefined && !(typeof max === 'number' && Number.isInteger(max) && max > 0))
    throw bad('maxCertificates', 'must be a positive integer');
  const names = doc.signerNames;
  if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === 'string')))
    throw bad('signerNames', 'must be a list');
  const credential: GrantCredential = {
    id,
    server: url.origin,
    expiresAt,
    maxCertificates: max as number | undefined,
    signerNames: names as string[] | undefined,
    certificateAuthority: str('certificateAuthority'),
    clientCertificate: str('clientCertificate'),
    clientKey: str('clientKey'),
  };
  parseCertificateBundle(credential.certificateAuthority, 'certificateAuthority');
  const cert = parseCertificatePem(credential.clientCertificate, 'clientCertificate');
  let keyOk: boolean;
  try {
    keyOk = keyMatchesSpki(parsePrivateKeyPem(credential.clientKey), cert.spki);
  } catch {
    throw bad('clientKey', 'is not a private key');
  }
  if (!keyOk) throw bad('clientKey', 'does not match clientCertificate');
  return credential;
}

/** The body of POST /v1/sign. */
export interface RemoteSignBody {
  readonly signerName: string;
  /** base64 DER of the CSR: the signer verifies and re-reads it rather than trusting the cluster's reading. */
  readonly csr: string;
  readonly usages: readonly string[];
  readonly expirationSeconds?: number;
  readonly csrName: string;
  readonly csrUid: string;
  readonly requester: string;
}

export function remoteSignBody(request: SignRequest): RemoteSignBody {
  return {
    signerName: request.signerName,
    csr: Buffer.from(request.csrDer).toString('base64'),
    usages: [...request.usages],
    ...(request.requestedTtlMs === undefined ? {} : { expirationSeconds: Math.floor(request.requestedTtlMs / 1000) }),
    csrName: request.csrName,
    csrUid: request.csrUid,
    requester: request.requester,
  };
}

function sameSet(a: readonly string[] | undefined, b: readonly string[]): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * The cluster does not trust the remote side blindly either: a returned certificate must be
 * issued by the cluster CA, for the requested key, with exactly the approved subject, SANs and
 * usages, not a CA, and valid now. Anything else is refused (INVALID, so the CSR fails).
 */
export function checkReturnedCertificate(cert: Certificate, request: SignRequest, ca: Certificate, now: Date): void {
  const refuse = (what: string) =>
    new InvalidError(
      'REMOTE_CERT_MISMATCH',
      `the remote signer returned a certificate with ${what}; refused (serial ${cert.serialNumber})`,
      {
        field: 'certificate',
      },
    );
  if (!verifyIssuedBy(cert, ca)) throw refuse('an issuer other than the cluster CA');
  if (!Buffer.from(cert.spki).equals(request.publicKey)) throw refuse('a public key other than the CSR’s');
  if (cert.basicConstraints?.ca) throw refuse('CA:TRUE');
  const subject = cert.subject.attributes;
  if (
    subject.length !== request.subject.length ||
    subject.some((a, i) => a.type !== request.subject[i]?.type || a.value !== request.subject[i]?.value)
  )
    throw refuse('a subject other than the approved one');
  const s = cert.sans;
  const r = request.sans;
  if (!sameSet(s.dns, r.dns) || !sameSet(s.ip, r.ip) || !sameSet(s.email, r.email) || !sameSet(s.uri, r.uri))
    throw refuse('subject alternative names other than the approved ones');
  if (!sameSet(cert.keyUsage, request.keyUsage)) throw refuse('key usages other than the approved ones');
  if (!sameSet(cert.extKeyUsage, request.extKeyUsage)) throw refuse('extended key usages other than the approved ones');
  if (cert.notAfter <= now || cert.notBefore > new Date(now.getTime() + 5 * 60_000)) throw refuse('a validity that does not cover now');
  if (cert.notAfter > ca.notAfter) throw refuse('a validity beyond the CA’s');
  if (cert.extensions.some((e) => e.critical && !KNOWN_CRITICAL.has(e.oid))) throw refuse('an unknown critical extension');
}

const KNOWN_CRITICAL = new Set(['2.5.29.15', '2.5.29.19', '2.5.29.17', '2.5.29.37']);

/** A CRL to sign, as it travels to the remote signer (dates RFC 3339, the CRL number and serials as text). */
export interface RemoteCrlBody {
  readonly crlNumber: string;
  readonly thisUpdate: string;
  readonly nextUpdate: string;
  readonly entries: readonly { readonly serialNumber: string; readonly revokedAt: string; readonly reasonCode: number }[];
  readonly distributionPoint?: string;
}

export function remoteCrlBody(content: CrlContent): RemoteCrlBody {
  return {
    crlNumber: content.crlNumber.toString(),
    thisUpdate: content.thisUpdate.toISOString(),
    nextUpdate: content.nextUpdate.toISOString(),
    entries: content.entries.map((e) => ({ serialNumber: e.serialNumber, revokedAt: e.revokedAt.toISOString(), reasonCode: e.reasonCode })),
    ...(content.distributionPoint === undefined ? {} : { distributionPoint: content.distributionPoint }),
  };
}

const HEX_SERIAL = /^[0-9a-f]{1,40}$/;
/** RFC 5280 CRLReason codes a leaf revocation may carry (7 is unused; 8, certificateHold's removal, is not a reason here). */
const CRL_REASON_CODES = new Set([0, 1, 2, 3, 4, 5, 6, 9, 10]);

/** The remote signer's reading of a CRL request: every field checked, named when wrong. @throws INVALID */
export function parseRemoteCrlBody(body: unknown): CrlContent {
  const bad = (field: string, what: string) => new InvalidError('CRL_REQUEST', `${field} ${what}`, { field });
  if (!isObject(body)) throw bad('body', 'must be a JSON object');
  const date = (field: 'thisUpdate' | 'nextUpdate') => {
    const v = body[field];
    const d = typeof v === 'string' ? new Date(v) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime())) throw bad(field, 'must be an RFC 3339 time');
    return d;
  };
  const number = body.crlNumber;
  if (typeof number !== 'string' || !/^[0-9]{1,48}$/.test(number)) throw bad('crlNumber', 'must be a decimal number');
  if (!Array.isArray(body.entries)) throw bad('entries', 'must be a list');
  const entries = body.entries.map((e: unknown, i: number) => {
    if (!isObject(e)) throw bad(`entries[${i}]`, 'must be an object');
    const revokedAt = typeof e.revokedAt === 'string' ? new Date(e.revokedAt) : new Date(Number.NaN);
    if (typeof e.serialNumber !== 'string' || !HEX_SERIAL.test(e.serialNumber))
      throw bad(`entries[${i}].serialNumber`, 'must be lower-case hex');
    if (Number.isNaN(revokedAt.getTime())) throw bad(`entries[${i}].revokedAt`, 'must be an RFC 3339 time');
    if (typeof e.reasonCode !== 'number' || !CRL_REASON_CODES.has(e.reasonCode))
      throw bad(`entries[${i}].reasonCode`, 'is not a leaf revocation reason');
    return { serialNumber: e.serialNumber, revokedAt, reasonCode: e.reasonCode };
  });
  const dp = body.distributionPoint;
  if (dp !== undefined && (typeof dp !== 'string' || !/^https?:\/\/[^\s]+$/.test(dp)))
    throw bad('distributionPoint', 'must be an http(s) URL');
  return {
    crlNumber: BigInt(number),
    thisUpdate: date('thisUpdate'),
    nextUpdate: date('nextUpdate'),
    entries,
    ...(typeof dp === 'string' ? { distributionPoint: dp } : {}),
  };
}
