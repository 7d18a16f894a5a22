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
