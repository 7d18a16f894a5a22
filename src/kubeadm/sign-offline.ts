/**
 * `tlsboot certs sign-offline`, run on the CA's machine: signs the requests `init --external-ca`
 * left under a cluster directory. The CA machine does not know the init options, so each request is
 * judged by the layout rule for its file name (subject exactly as the layout makes it; SANs of the
 * shape that certificate has) and the certificate is built from the layout, never from extensions
 * in the request. Everything is checked before anything is written, and the results land together.
 */
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildKubeconfig, parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import { InvalidError, isTlsbootError } from '../base/errors.ts';
import { type FileToWrite, syncDir, writeFilesAtomically } from '../base/fs.ts';
import {
  type Certificate,
  type CertificateRequest,
  commonName,
  formatName,
  keyMatchesSpki,
  makeName,
  type NameAttribute,
  NO_SANS,
  parseCertificateBundle,
  parseCertificatePem,
  parseCsrPem,
  parsePrivateKeyPem,
  type SubjectAltNames,
} from '../pki/index.ts';
import { Oid } from '../pki/oids.ts';
import type { IssueEnv, SigningCa } from './control-plane-certs.ts';
import { type CsrTemplate, formatSans, issueFromCsr } from './external-ca.ts';
import {
  CAS,
  type CaName,
  type CaSpec,
  isApiserverDnsSan,
  isNodeName,
  KUBECONFIG_FILES,
  KUBECONFIG_SUBJECTS,
  LEAF_FILES,
  LEAF_PROFILES,
  type LeafProfile,
} from './layout.ts';
import { CERT_MODE, inFile, KEY_MODE, kubeconfigSidePath, pkiPath, readIfPresent } from './pki-files.ts';

export interface SignOfflineParams {
  readonly dir: string;
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly validityMs: number;
  readonly env: IssueEnv;
}

export interface SignedCertificate {
  readonly name: string;
  /** Where the certificate went: a `.crt` file, or the kubeconfig it was embedded into. */
  readonly path: string;
  readonly subject: string;
  readonly sans: string;
  readonly serial: string;
  readonly notAfter: Date;
}

export interface SignOfflineReport {
  readonly ca: CaName;
  readonly signed: readonly SignedCertificate[];
  /** Requests of this CA that are already answered (their certificate is there). */
  readonly skipped: readonly string[];
}

function refuse(reason: string, message: string, field: string): InvalidError {
  return new InvalidError(reason, message, { field });
}

/** A CSR the layout knows: which file it is, who signs it, where the certificate goes. */
interface KnownCsr {
  readonly name: string;
  readonly ca: CaName;
  readonly csrPath: string;
  readonly kind: 'leaf' | 'kubeconfig';
  /** Layout path without extension (leaves) or kubeconfig file name. */
  readonly file: string;
}

function knownCsrs(dir: string): KnownCsr[] {
  return [
    ...LEAF_FILES.map((l) => ({ name: l.name, ca: l.ca, csrPath: pkiPath(dir, l.file, 'csr'), kind: 'leaf' as const, file: l.file })),
    ...KUBECONFIG_FILES.map((f) => ({
      name: f,
      ca: 'ca' as const,
      csrPath: kubeconfigSidePath(dir, f, 'csr'),
      kind: 'kubeconfig' as const,
      file: f,
    })),
  ];
}

function csrFilesIn(folder: string): string[] {
  try {
    return readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.csr'))
      .map((e) => join(folder, e.name));
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return [];
    throw error;
  }
}

/**
 * A request under a name the layout does not have cannot be signed with layout usages, and signing
 * it with made-up ones is how a stray file becomes a credential: refuse the whole run instead.
 */
function assertOnlyKnownCsrs(dir: string, known: readonly KnownCsr[]): void {
  const names = new Set(known.map((k) => k.csrPath));
  for (const folder of [dir, join(dir, 'pki'), join(dir, 'pki', 'etcd')]) {
    for (const path of csrFilesIn(folder)) {
      if (!names.has(path)) {
        throw refuse(
          'SIGN_OFFLINE_UNKNOWN_CSR',
          `${path} is not a certificate of the kubeadm layout; nothing was signed (remove it, or sign it by other means)`,
          path,
        );
      }
    }
  }
}

function loadCa(p: SignOfflineParams): { ca: SigningCa; certBytes: Buffer } {
  const certBytes = readIfPresent(p.caCertPath);
  if (!certBytes) throw refuse('SIGN_OFFLINE_CA_CERT', `--ca-cert ${p.caCertPath} does not exist`, p.caCertPath);
  const keyBytes = readIfPresent(p.caKeyPath);
  if (!keyBytes) throw refuse('SIGN_OFFLINE_CA_KEY', `--ca-key ${p.caKeyPath} does not exist`, p.caKeyPath);
  const certificate = inFile(p.caCertPath, () => parseCertificatePem(certBytes, p.caCertPath));
  const key = inFile(p.caKeyPath, () => parsePrivateKeyPem(keyBytes, p.caKeyPath));
  if (!keyMatchesSpki(key, certificate.spki)) {
    throw refuse('SIGN_OFFLINE_CA_KEY_MISMATCH', `--ca-key ${p.caKeyPath} is not the key of --ca-cert ${p.caCertPath}`, p.caKeyPath);
  }
  if (!certificate.basicConstraints?.ca)
    throw refuse('SIGN_OFFLINE_NOT_CA', `--ca-cert ${p.caCertPath} is not a CA certificate`, p.caCertPath);
  if (p.env.now > certificate.notAfter) {
    throw refuse('SIGN_OFFLINE_CA_EXPIRED', `--ca-cert ${p.caCertPath} expired at ${certificate.notAfter.toISOString()}`, p.caCertPath);
  }
  return { ca: { certificate, key }, certBytes };
}

/** The cluster CA whose certificate file is byte-for-byte the given one. */
function matchClusterCa(dir: string, certBytes: Buffer, caCertPath: string): CaSpec {
  const candidates = CAS.map((spec) => ({ spec, path: pkiPath(dir, spec.file, 'crt') }));
  for (const c of candidates) if (readIfPresent(c.path)?.equals(certBytes)) return c.spec;
  throw refuse(
    'SIGN_OFFLINE_NOT_CLUSTER_CA',
    `--ca-cert ${caCertPath} is not a CA of the cluster in ${dir}: it differs from each of ${candidates.map((c) => c.path).join(', ')}`,
    caCertPath,
  );
}

function sameAttributes(a: readonly NameAttribute[], b: readonly NameAttribute[]): boolean {
  return a.length === b.length && a.every((x, i) => x.type === b[i]?.type && x.value === b[i]?.value);
}

/**
 * The subject the certificate gets. Fixed for every file but the etcd server and peer certificates,
 * whose CN is the node name: init derives it from --node-name, which the CA machine does not know,
 * so any CN that --node-name would accept passes, and their SANs must then name that same node.
 */
function expectedSubject(known: KnownCsr, csr: CertificateRequest): readonly NameAttribute[] {
  const profile = known.kind === 'leaf' ? (LEAF_PROFILES[known.name] as LeafProfile) : undefined;
  const nodeName = commonName(csr.subject) ?? '';
  if (profile?.sanRule === 'etcd-node' && !isNodeName(nodeName)) {
    throw refuse(
      'SIGN_OFFLINE_SUBJECT',
      `${known.csrPath} asks for CN "${nodeName}", which is not a node name (a lower-case DNS subdomain)`,
      known.csrPath,
    );
  }
  const want = profile ? profile.subject(nodeName) : (KUBECONFIG_SUBJECTS[known.name] as readonly NameAttribute[]);
  if (!sameAttributes(csr.subject.attributes, want)) {
    throw refuse(
      'SIGN_OFFLINE_SUBJECT',
      `${known.csrPath} asks for the subject "${formatName(csr.subject)}", but ${known.name} must be "${formatName(makeName(want))}"`,
      known.csrPath,
    );
  }
  return want;
}

const API_SERVER_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc'];

/** The SANs to certify, checked against the shape init gives that certificate. */
function expectedSans(known: KnownCsr, csr: CertificateRequest, nodeName: string): SubjectAltNames {
  const rule = known.kind === 'leaf' ? (LEAF_PROFILES[known.name] as LeafProfile).sanRule : 'none';
  const { dns, ip, email, uri } = csr.sans;
  const bad = (why: string) =>
    refuse('SIGN_OFFLINE_SANS', `${known.csrPath} asks for the SANs [${formatSans(csr.sans)}]: ${why}`, known.csrPath);
  if (email.length + uri.length > 0) throw bad('no layout certificate has e-mail or URI SANs');
  if (rule === 'none') {
    if (dns.length + ip.length > 0) throw bad(`${known.name} is a client certificate without SANs`);
    return NO_SANS;
  }
  if (rule === 'etcd-node') {
    const wantDns = [...new Set([nodeName, 'localhost'])].sort();
    if ([...new Set(dns)].sort().join(',') !== wantDns.join(',')) throw bad(`${known.name} names exactly the node and localhost`);
    // The node's advertise address, 127.0.0.1 and ::1 (fewer when the advertise address is one of those).
    if (!ip.includes('127.0.0.1') || !ip.includes('::1') || ip.length > 3)
      throw bad(`${known.name} needs 127.0.0.1, ::1 and at most the advertise address`);
  } else {
    const missing = API_SERVER_NAMES.filter((n) => !dns.includes(n));
    if (missing.length > 0 || !dns.some((d) => d.startsWith('kubernetes.default.svc.'))) {
      throw bad(
        'the API server certificate names the kubernetes service (kubernetes, kubernetes.default, kubernetes.default.svc[.<domain>])',
      );
    }
    const odd = dns.filter((d) => !isApiserverDnsSan(d));
    if (odd.length > 0) throw bad(`${odd.join(', ')} is not a DNS name`);
    if (ip.length === 0) throw bad('the API server certificate needs the service IP and the advertise address');
  }
  return { dns: [...dns], ip: [...ip], email: [], uri: [] };
}

/** Extensions a request may carry: the SANs, which are checked above. Anything else (CA:TRUE, say) means it was not made by init. */
function assertOnlySanExtension(known: KnownCsr, csr: CertificateRequest): void {
  const other = csr.extensions.filter((e) => e.oid !== Oid.subjectAltName);
  if (other.length > 0) {
    throw refuse(
      'SIGN_OFFLINE_EXTENSIONS',
      `${known.csrPath} requests extensions ${other.map((e) => e.oid).join(', ')}; requests from init --external-ca carry only SANs`,
      known.csrPath,
    );
  }
}

function templateFor(known: KnownCsr, csr: CertificateRequest): CsrTemplate {
  const subject = expectedSubject(known, csr);
  assertOnlySanExtension(known, csr);
  const sans = expectedSans(known, csr, commonName(csr.subject) ?? '');
  const extKeyUsage = known.kind === 'leaf' ? (LEAF_PROFILES[known.name] as LeafProfile).extKeyUsage : (['clientAuth'] as const);
  return { subject, sans, extKeyUsage };
}

/** Whether the certificate for this request is already there (then the request is left alone). */
function answered(dir: string, known: KnownCsr): boolean {
  if (known.kind === 'leaf') return readIfPresent(pkiPath(dir, known.file, 'crt')) !== undefined;
  if (readIfPresent(kubeconfigSidePath(dir, known.file, 'crt'))) return true;
  const conf = readIfPresent(join(dir, known.file));
  if (!conf) return false;
  try {
    return resolveKubeconfig(parseKubeconfig(conf.toString('utf8'))).user.clientCertificateData !== undefined;
  } catch {
    return false;
  }
}

/**
 * Where a leaf certificate goes. The key need not be here (the requests may have been copied alone,
 * keeping the keys on the cluster); when it is, it must be the requested one.
 */
function planLeafOutput(dir: string, known: KnownCsr, csr: CertificateRequest, certificatePem: string): FileToWrite {
  const keyPath = pkiPath(dir, known.file, 'key');
  const keyPem = readIfPresent(keyPath);
  if (
    keyPem &&
    !keyMatchesSpki(
      inFile(keyPath, () => parsePrivateKeyPem(keyPem, keyPath)),
      csr.spki,
    )
  ) {
    throw refuse('SIGN_OFFLINE_KEY_MISMATCH', `${known.csrPath} was not made for the key ${keyPath} next to it`, known.csrPath);
  }
  return { path: pkiPath(dir, known.file, 'crt'), content: certificatePem, mode: CERT_MODE };
}

/** The kubeconfig with the certificate embedded, or `NAME.conf.crt` when the kubeconfig (and its key) is not here. */
function planKubeconfigOutput(dir: string, known: KnownCsr, csr: CertificateRequest, ca: Certificate, certificatePem: string): FileToWrite {
  const path = join(dir, known.file);
  const text = readIfPresent(path);
  if (!text) return { path: kubeconfigSidePath(dir, known.file, 'crt'), content: certificatePem, mode: CERT_MODE };
  const resolved = (() => {
    try {
      return resolveKubeconfig(parseKubeconfig(text.toString('utf8')));
    } catch (error) {
      if (isTlsbootError(error)) throw refuse('SIGN_OFFLINE_KUBECONFIG', `${path}: ${error.message}`, path);
      throw error;
    }
  })();
  const keyPem = resolved.user.clientKeyData;
  if (
    !keyPem ||
    !keyMatchesSpki(
      inFile(path, () => parsePrivateKeyPem(keyPem, path)),
      csr.spki,
    )
  ) {
    throw refuse('SIGN_OFFLINE_KEY_MISMATCH', `${known.csrPath} was not made for the client key in ${path}`, known.csrPath);
  }
  const caPem = resolved.cluster.certificateAuthorityData;
  if (!caPem || !parseCertificateBundle(caPem, path).some((c) => Buffer.from(c.der).equals(ca.der))) {
    throw refuse('SIGN_OFFLINE_KUBECONFIG', `${path} does not trust --ca-cert; its certificate would be useless`, path);
  }
  return {
    path,
    content: buildKubeconfig({
      clusterName: resolved.clusterName,
      server: resolved.cluster.server,
      caPem,
      userName: resolved.userName,
      ...(resolved.contextName === `${resolved.userName}@${resolved.clusterName}` ? {} : { contextName: resolved.contextName }),
      clientCertificatePem: certificatePem,
      clientKeyPem: keyPem,
    }),
    mode: KEY_MODE,
  };
}

/**
 * init puts the node name into the API server certificate too. When that certificate or its request
 * is in DIR it pins the node name, so an etcd request for another node is refused even though its CN
 * alone would pass.
 */
function assertNodeNameKnownToApiserver(dir: string, nodeNames: ReadonlySet<string>): void {
  const [nodeName] = nodeNames;
  if (nodeName === undefined) return;
  const crtPath = pkiPath(dir, 'apiserver', 'crt');
  const csrPath = pkiPath(dir, 'apiserver', 'csr');
  const crt = readIfPresent(crtPath);
  const csr = crt ? undefined : readIfPresent(csrPath);
  const names = crt
    ? inFile(crtPath, () => parseCertificatePem(crt, crtPath)).sans.dns
    : csr
      ? inFile(csrPath, () => parseCsrPem(csr, csrPath)).sans.dns
      : undefined;
  if (names && !names.includes(nodeName)) {
    throw refuse(
      'SIGN_OFFLINE_SUBJECT',
      `the etcd requests are for node "${nodeName}", but ${crt ? crtPath : csrPath} names the node(s) among [${names.join(', ')}]; nothing was signed`,
      dir,
    );
  }
}

/** Signs every pending request of the CA given, or nothing: throws INVALID naming the file at fault. */
export function signOffline(p: SignOfflineParams): SignOfflineReport {
  const { ca, certBytes } = loadCa(p);
  const caSpec = matchClusterCa(p.dir, certBytes, p.caCertPath);
  const known = knownCsrs(p.dir);
  assertOnlyKnownCsrs(p.dir, known);
  const files: FileToWrite[] = [];
  const signed: SignedCertificate[] = [];
  const skipped: string[] = [];
  const done: string[] = [];
  const nodeNames = new Set<string>();
  for (const k of known) {
    if (k.ca !== caSpec.name) continue;
    const pem = readIfPresent(k.csrPath);
    if (!pem) continue;
    if (answered(p.dir, k)) {
      skipped.push(k.csrPath);
      continue;
    }
    const csr = inFile(k.csrPath, () => parseCsrPem(pem, k.csrPath));
    const template = templateFor(k, csr);
    if (k.kind === 'leaf' && (LEAF_PROFILES[k.name] as LeafProfile).sanRule === 'etcd-node') nodeNames.add(commonName(csr.subject) ?? '');
    const issued = issueFromCsr(csr, template, ca, p.validityMs, p.env);
    const out =
      k.kind === 'leaf'
        ? planLeafOutput(p.dir, k, csr, issued.certificatePem)
        : planKubeconfigOutput(p.dir, k, csr, ca.certificate, issued.certificatePem);
    files.push(out);
    done.push(k.csrPath);
    signed.push({
      name: k.name,
      path: out.path,
      subject: formatName(issued.certificate.subject),
      sans: formatSans(issued.certificate.sans),
      serial: issued.certificate.serialNumber,
      notAfter: issued.certificate.notAfter,
    });
  }
  if (nodeNames.size > 1) {
    throw refuse(
      'SIGN_OFFLINE_SUBJECT',
      `the etcd server and peer requests name different nodes (${[...nodeNames].join(', ')}); nothing was signed`,
      p.dir,
    );
  }
  assertNodeNameKnownToApiserver(p.dir, nodeNames);
  if (signed.length === 0) {
    throw refuse(
      'SIGN_OFFLINE_NOTHING_PENDING',
      `no certificate signing request for the "${caSpec.name}" CA waits under ${p.dir}${skipped.length > 0 ? ` (already signed: ${skipped.join(', ')})` : ''}`,
      p.dir,
    );
  }
  writeFilesAtomically(files);
  // The requests go only once every certificate is in place; a leftover one is ignored by init.
  for (const path of done) rmSync(path, { force: true });
  for (const d of new Set(done.map((path) => dirname(path)))) syncDir(d);
  return { ca: caSpec.name, signed, skipped };
}
