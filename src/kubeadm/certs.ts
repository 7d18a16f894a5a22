/**
 * `tlsboot certs`: expiry reporting in kubeadm's two tables (or JSON), and renewal of leaf and
 * kubeconfig certificates from their existing subject, SANs and usages with a new key signed by
 * the CA on disk. CAs are never renewed; renewals are staged and land together.
 */
import { join } from 'node:path';
import { buildKubeconfig, parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import { shortHumanDuration } from '../base/duration.ts';
import { InvalidError, isTlsbootError } from '../base/errors.ts';
import { type FileToWrite, writeFilesAtomically } from '../base/fs.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import { formatTextTable } from '../base/text-table.ts';
import { type Certificate, type ExtKeyUsage, keyAlgorithmOf, type NameAttribute, parseCertificatePem, parseSpki } from '../pki/index.ts';
import { type IssueEnv, issueLeaf, type SigningCa } from './control-plane-certs.ts';
import { CAS, type CaName, KUBECONFIG_FILES, LEAF_FILES } from './layout.ts';
import { CERT_MODE, KEY_MODE, loadCertAndKey, pkiPath, readIfPresent } from './pki-files.ts';

export interface ExpirationRow {
  readonly name: string;
  readonly missing: boolean;
  readonly expires?: Date;
  readonly caName?: CaName;
  readonly externallyManaged: boolean;
}

export interface ExpirationReport {
  readonly certificates: readonly ExpirationRow[];
  readonly authorities: readonly ExpirationRow[];
}

function kubeconfigClientCert(path: string, text: string): { certificate: Certificate; resolved: ReturnType<typeof resolveKubeconfig> } {
  const resolved = resolveKubeconfig(parseKubeconfig(text));
  const data = resolved.user.clientCertificateData;
  if (!data) throw new InvalidError('PKI_KUBECONFIG_USER', `${path} has no embedded client certificate`, { field: path });
  return { certificate: parseCertificatePem(data, path), resolved };
}

/** Reads every certificate of the layout; absent ones are reported as missing, broken ones throw. */
export function checkExpiration(dir: string): ExpirationReport {
  const caHasKey = new Map<CaName, boolean>();
  const authorities: ExpirationRow[] = CAS.map((ca) => {
    const loaded = loadCertAndKey(dir, ca.file);
    caHasKey.set(ca.name, loaded?.key !== undefined);
    return loaded
      ? { name: ca.name, missing: false, expires: loaded.certificate.notAfter, externallyManaged: loaded.key === undefined }
      : { name: ca.name, missing: true, externallyManaged: false };
  });
  const certificates: ExpirationRow[] = [];
  for (const leaf of LEAF_FILES) {
    const text = readIfPresent(pkiPath(dir, leaf.file, 'crt'));
    const externallyManaged = caHasKey.get(leaf.ca) === false;
    certificates.push(
      text
        ? {
            name: leaf.name,
            missing: false,
            expires: parseCertificatePem(text, pkiPath(dir, leaf.file, 'crt')).notAfter,
            caName: leaf.ca,
            externallyManaged,
          }
        : { name: leaf.name, missing: true, caName: leaf.ca, externallyManaged },
    );
  }
  for (const file of KUBECONFIG_FILES) {
    const path = join(dir, file);
    const read = readIfPresent(path);
    // A kubeconfig from init --external-ca holds no certificate until its CSR is signed: still missing.
    const text =
      read && resolveKubeconfig(parseKubeconfig(read.toString('utf8'))).user.clientCertificateData !== undefined ? read : undefined;
    const externallyManaged = caHasKey.get('ca') === false;
    certificates.push(
      text
        ? {
            name: file,
            missing: false,
            expires: kubeconfigClientCert(path, text.toString('utf8')).certificate.notAfter,
            caName: 'ca',
            externallyManaged,
          }
        : { name: file, missing: true, caName: 'ca', externallyManaged },
    );
  }
  certificates.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { certificates, authorities };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's `Jan 02, 2006 15:04 UTC`. */
function kubeadmDate(d: Date): string {
  const p = (n: number) => n.toString().padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())}, ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
}

export function formatExpirationTable(report: ExpirationReport, now: Date): string {
  const yesNo = (b: boolean) => (b ? 'yes' : 'no');
  const certRows = report.certificates.map((r) =>
    r.missing || !r.expires
      ? [`!MISSING! ${r.name}`, '', '', '', '']
      : [
          r.name,
          kubeadmDate(r.expires),
          shortHumanDuration(r.expires.getTime() - now.getTime()),
          r.caName ?? '',
          yesNo(r.externallyManaged),
        ],
  );
  const caRows = report.authorities.map((r) =>
    r.missing || !r.expires
      ? [`!MISSING! ${r.name}`, '', '', '']
      : [r.name, kubeadmDate(r.expires), shortHumanDuration(r.expires.getTime() - now.getTime()), yesNo(r.externallyManaged)],
  );
  return `${formatTextTable([['CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'EXTERNALLY MANAGED'], ...certRows], 10)}\n\n${formatTextTable(
    [['CERTIFICATE AUTHORITY', 'EXPIRES', 'RESIDUAL TIME', 'EXTERNALLY MANAGED'], ...caRows],
    10,
  )}\n`;
}

/** kubeadm's `output.kubeadm.k8s.io/v1alpha3` CertificateExpirationInfo; residual time in nanoseconds. */
export function formatExpirationJson(report: ExpirationReport, now: Date): string {
  const entry = (r: ExpirationRow, withCa: boolean) => ({
    name: r.name,
    ...(r.expires ? { expirationDate: formatRfc3339(r.expires), residualTime: (r.expires.getTime() - now.getTime()) * 1_000_000 } : {}),
    ...(withCa && r.caName ? { caName: r.caName } : {}),
    externallyManaged: r.externallyManaged,
    ...(r.missing ? { missing: true } : {}),
  });
  return `${JSON.stringify(
    {
      kind: 'CertificateExpirationInfo',
      apiVersion: 'output.kubeadm.k8s.io/v1alpha3',
      certificates: report.certificates.map((r) => entry(r, true)),
      certificateAuthorities: report.authorities.map((r) => entry(r, false)),
    },
    null,
    4,
  )}\n`;
}

export const RENEWABLE: readonly string[] = [...LEAF_FILES.map((l) => l.name), ...KUBECONFIG_FILES].sort();

function renewError(reason: string, message: string, field: string): InvalidError {
  return new InvalidError(reason, message, { field });
}

function loadSigningCa(dir: string, name: CaName, forWhat: string): SigningCa {
  const spec = CAS.find((c) => c.name === name);
  const file = spec?.file ?? name;
  const loaded = loadCertAndKey(dir, file);
  if (!loaded) throw renewError('PKI_CA_MISSING', `cannot renew ${forWhat}: ${pkiPath(dir, file, 'crt')} does not exist`, forWhat);
  if (!loaded.key) {
    throw renewError(
      'PKI_CA_KEY_MISSING',
      `cannot renew ${forWhat}: the ${name} key ${pkiPath(dir, file, 'key')} is not on disk (externally managed CA)`,
      forWhat,
    );
  }
  return { certificate: loaded.certificate, key: loaded.key };
}

function knownEkus(cert: Certificate): ExtKeyUsage[] {
  return (cert.extKeyUsage ?? []).filter((u): u is ExtKeyUsage => !u.includes('.'));
}

function template(cert: Certificate, validityMs: number) {
  return {
    subject: cert.subject.attributes as readonly NameAttribute[],
    sans: cert.sans,
    extKeyUsage: knownEkus(cert),
    keyAlgorithm: keyAlgorithmOf(parseSpki(cert.spki).info),
    validityMs,
  };
}

/**
 * Renews NAME (or every renewable certificate for `all`). Throws INVALID naming the certificate
 * when it is a CA, unknown, missing, or its CA key is absent; writes nothing in that case.
 */
export function renewCertificates(dir: string, name: string, validityMs: number, env: IssueEnv): string[] {
  if (CAS.some((c) => c.name === name || c.file === name)) {
    throw renewError('RENEW_CA', `${name} is a certificate authority; CAs are never renewed by tlsboot certs renew`, name);
  }
  if (name !== 'all' && !RENEWABLE.includes(name)) {
    throw renewError('RENEW_UNKNOWN', `unknown certificate "${name}"; choose one of: ${RENEWABLE.join(', ')}, all`, name);
  }
  const names = name === 'all' ? RENEWABLE : [name];
  const files: FileToWrite[] = [];
  const renewed: string[] = [];
  for (const n of names) {
    const leaf = LEAF_FILES.find((l) => l.name === n);
    if (leaf) {
      const crtPath = pkiPath(dir, leaf.file, 'crt');
      const existing = readIfPresent(crtPath);
      if (!existing) {
        if (name === 'all') continue;
        throw renewError('RENEW_MISSING', `cannot renew ${n}: ${crtPath} does not exist (run tlsboot init)`, n);
      }
      const cert = parseCertificatePem(existing, crtPath);
      const issued = issueLeaf(template(cert, validityMs), loadSigningCa(dir, leaf.ca, n), env);
      files.push(
        { path: crtPath, content: issued.certificatePem, mode: CERT_MODE },
        { path: pkiPath(dir, leaf.file, 'key'), content: issued.keyPem, mode: KEY_MODE },
      );
      renewed.push(n);
      continue;
    }
    const path = join(dir, n);
    const text = readIfPresent(path);
    if (!text) {
      if (name === 'all') continue;
      throw renewError('RENEW_MISSING', `cannot renew ${n}: ${path} does not exist (run tlsboot init)`, n);
    }
    const { certificate, resolved } = (() => {
      try {
        return kubeconfigClientCert(path, text.toString('utf8'));
      } catch (error) {
        if (isTlsbootError(error)) throw renewError(error.reason, `cannot renew ${n}: ${error.message}`, n);
        throw error;
      }
    })();
    const ca = loadSigningCa(dir, 'ca', n);
    const issued = issueLeaf(template(certificate, validityMs), ca, env);
    const caPem = resolved.cluster.certificateAuthorityData ?? '';
    files.push({
      path,
      content: buildKubeconfig({
        clusterName: resolved.clusterName,
        server: resolved.cluster.server,
        caPem,
        userName: resolved.userName,
        clientCertificatePem: issued.certificatePem,
        clientKeyPem: issued.keyPem,
      }),
      mode: KEY_MODE,
    });
    renewed.push(n);
  }
  writeFilesAtomically(files);
  return renewed;
}
