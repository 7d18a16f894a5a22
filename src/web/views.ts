/**
 * What the console's page is sent: compact, typed views of CSRs (with why each one waits, in plain
 * words), issued certificates, bootstrap tokens and certificates read from disk or the wire. The
 * page renders these and never parses Kubernetes objects or DER itself.
 */
import {
  type CertificateSigningRequest,
  checkBootstrapTokenSecret,
  csrConditions,
  csrIsPending,
  type Secret,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  secretString,
} from '../api/index.ts';
import { asRevocation } from '../api/revocation.ts';
import { shortHumanDuration } from '../base/duration.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { type Certificate, commonName, formatName, organizations, parseCsrPem } from '../pki/index.ts';
import type { CertificateView, CsrView, RevocationView, TokenView } from './page/view-types.ts';

export type { CertificateView, CsrView, RevocationView, TokenView };

function keyTypeOf(info: ReturnType<typeof parseCsrPem>['publicKeyInfo']): string {
  return info.kind === 'ec' ? `ECDSA ${info.curve}` : `RSA ${info.bits}`;
}

/** Why an undecided or approved-but-unsigned CSR waits, and what would move it. */
export function whyWaiting(csr: CertificateSigningRequest): string[] {
  const conditions = csrConditions(csr);
  const has = (type: string) => conditions.find((c) => c.type === type);
  if (!csrIsPending(csr)) return [];
  const approved = has('Approved');
  if (approved) {
    const signing = has('SigningPending');
    if (signing)
      return [
        `Approved, but the signer cannot sign now: ${signing.message ?? signing.reason ?? 'no reason given'}.`,
        'It is signed as soon as signing is possible again: open a signing session (tlsboot ca session open) for a sealed CA, or bring the remote signer back; the Cluster tab shows the session and its budget.',
      ];
    return [
      'Approved; waiting for the signer to issue the certificate.',
      'This normally takes a moment. If it stays, check on the Cluster tab that the controllers have a leader and the server is ready.',
    ];
  }
  const withheld = has('AutoApprovalWithheld');
  if (withheld) return [`Not approved automatically (${withheld.reason ?? 'withheld'}): ${withheld.message ?? ''}`, 'A person decides.'];
  const dryRun = has('ServingApprovalDryRun');
  if (dryRun)
    return [
      `The serving approver runs in dry run and ${dryRun.reason === 'WouldApprove' ? 'would approve' : 'would deny'} it: ${dryRun.message ?? ''}`,
      'A person decides.',
    ];
  switch (csr.spec.signerName) {
    case SIGNER_KUBELET_CLIENT:
      return [
        'No approver has approved it yet. Node client requests are approved automatically only when the requester may (nodeclient or selfnodeclient) and the node name is new or renewing in time.',
        'If it stays, the requester lacks that permission: a person decides.',
      ];
    case SIGNER_KUBELET_SERVING:
      return [
        'The serving approver has not decided yet. It approves only when every name and address provably belongs to the node.',
        'If it stays, no serving policy covers it: a person decides.',
      ];
    case SIGNER_KUBE_APISERVER_CLIENT:
      return ['No approver acts on client certificates for people and programs: a person decides.'];
    default:
      return [`No approver acts on the signer ${csr.spec.signerName}: a person decides.`];
  }
}

function stateOf(csr: CertificateSigningRequest): string {
  const types = csrConditions(csr).map((c) => c.type);
  if (types.includes('Denied')) return 'Denied';
  if (types.includes('Failed')) return 'Failed';
  const issued = typeof csr.status?.certificate === 'string' && csr.status.certificate !== '';
  if (types.includes('Approved')) return issued ? 'Approved,Issued' : 'Approved';
  return 'Pending';
}

export function csrView(csr: CertificateSigningRequest): CsrView {
  const meta = csr.metadata ?? {};
  let subject = '';
  let cn = '';
  let orgs: string[] = [];
  let sans: string[] = [];
  let keyType = '';
  try {
    const parsed = parseCsrPem(Buffer.from(csr.spec.request, 'base64'));
    subject = formatName(parsed.subject);
    cn = commonName(parsed.subject) ?? '';
    orgs = organizations(parsed.subject);
    const { dns, ip, email, uri } = parsed.sans;
    sans = [...dns.map((d) => `DNS:${d}`), ...ip.map((i) => `IP:${i}`), ...email.map((e) => `email:${e}`), ...uri.map((u) => `URI:${u}`)];
    keyType = keyTypeOf(parsed.publicKeyInfo);
  } catch (error) {
    // The server verified it on create; an unreadable one is shown as such, not hidden.
    subject = `unreadable request: ${error instanceof Error ? error.message : String(error)}`;
  }
  return {
    name: meta.name ?? '',
    uid: meta.uid ?? '',
    createdAt: meta.creationTimestamp ?? '',
    requester: csr.spec.username ?? '',
    groups: csr.spec.groups ?? [],
    signer: csr.spec.signerName,
    subject,
    commonName: cn,
    organizations: orgs,
    sans,
    keyType,
    usages: csr.spec.usages ?? [],
    requestedSeconds: csr.spec.expirationSeconds ?? null,
    pending: csrIsPending(csr),
    state: stateOf(csr),
    conditions: csrConditions(csr).map((c) => ({ type: c.type, reason: c.reason ?? '', message: c.message ?? '' })),
    why: whyWaiting(csr),
  };
}

const field = (o: JsonObject, key: string): string => (typeof o[key] === 'string' ? o[key] : '');

/** An entry of the tlsboot.io issued-certificates inventory, without its PEM (the page lists thousands). */
export function issuedCertificateView(o: JsonObject): CertificateView {
  const meta = isObject(o.metadata) ? o.metadata : {};
  return {
    source: 'issued',
    name: field(meta, 'name'),
    commonName: field(o, 'commonName'),
    signer: field(o, 'signerName'),
    requester: field(o, 'requester'),
    csrName: field(o, 'csrName'),
    serialNumber: field(o, 'serialNumber'),
    notBefore: field(o, 'notBefore'),
    notAfter: field(o, 'notAfter'),
    issuedAt: field(o, 'issuedAt'),
  };
}

/** A control-plane certificate the console saw (the API server's chain, the kubeconfig's CA and user). */
export function controlPlaneCertificateView(name: string, cert: Certificate): CertificateView {
  return {
    source: 'control-plane',
    name,
    commonName: commonName(cert.subject) ?? formatName(cert.subject),
    signer: formatName(cert.issuer),
    requester: '',
    csrName: '',
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    issuedAt: '',
  };
}

/** A revocation as the page shows it, or undefined for an object that is not a valid one (never trusted). */
export function revocationView(o: unknown): RevocationView | undefined {
  const r = asRevocation(o);
  return r === undefined
    ? undefined
    : {
        serialNumber: r.serialNumber,
        reason: r.reason,
        revokedAt: r.revokedAt,
        revokedBy: r.revokedBy,
        commonName: r.commonName,
        notAfter: r.notAfter,
      };
}

export function tokenView(s: Secret, now: Date): TokenView {
  const check = checkBootstrapTokenSecret(s, now);
  const expiration = secretString(s, 'expiration');
  return {
    id: secretString(s, 'token-id') ?? '?',
    description: secretString(s, 'description') ?? '',
    expiration: expiration ?? '',
    ttl:
      expiration === undefined
        ? '<forever>'
        : check.ok && check.token.expiration !== undefined
          ? shortHumanDuration(check.token.expiration.getTime() - now.getTime())
          : '<invalid>',
    usages: ['authentication', 'signing'].filter((u) => secretString(s, `usage-bootstrap-${u}`) === 'true'),
    groups: secretString(s, 'auth-extra-groups') ?? '',
  };
}
