/**
 * `tlsboot init`: creates, or completes, the kubeadm-layout control-plane PKI under a directory.
 * Everything present is validated first (pairs match, chains verify, SANs cover the options,
 * kubeconfigs point at the right server and CA); only when the whole plan is sound are the
 * missing files written, all staged before any is renamed into place. A CA is never replaced.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { buildKubeconfig, parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import { InvalidError, isTlsbootError, UnavailableError } from '../base/errors.ts';
import { ensureDirectory, type FileToWrite, writeFilesAtomically } from '../base/fs.ts';
import {
  type Certificate,
  certificatePin,
  commonName,
  decodePem,
  encodePem,
  generatePrivateKey,
  keyMatchesSpki,
  parseCertificateBundle,
  parseCertificatePem,
  parsePrivateKeyPem,
  privateKeyToPem,
  spkiOf,
  verifyChain,
} from '../pki/index.ts';
import { type IssueEnv, issueLeaf, issueSelfSignedCa, type SigningCa } from './control-plane-certs.ts';
import {
  CAS,
  type CaName,
  type InitOptions,
  type KubeconfigSpec,
  kubeconfigSpecs,
  type LeafSpec,
  leafSpecs,
  subjectCommonName,
  validateInitOptions,
} from './layout.ts';
import { CERT_MODE, KEY_MODE, loadCertAndKey, PKI_DIR_MODE, pkiPath, readIfPresent } from './pki-files.ts';

export interface InitReport {
  readonly lines: readonly string[];
  readonly caPin: string;
  readonly written: readonly string[];
}

interface CaState {
  readonly certificate: Certificate;
  readonly certificatePem: string;
  readonly key: SigningCa['key'] | undefined;
  readonly file: string;
}

function fail(reason: string, message: string, field: string): InvalidError {
  return new InvalidError(reason, message, { field });
}

function assertDirectoryOrAbsent(dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw fail('PATH_NOT_DIRECTORY', `${dir} exists and is not a directory`, dir);
  } catch (error) {
    if (isTlsbootError(error)) throw error;
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return;
    if (error instanceof Error && 'code' in error && error.code === 'ENOTDIR')
      throw fail('PATH_NOT_DIRECTORY', `a parent of ${dir} is not a directory`, dir);
    throw error;
  }
}

/** Chain, validity window and usage of an existing certificate, with the file named in errors. */
function checkIssued(
  cert: Certificate,
  ca: Certificate,
  path: string,
  usage: 'serverAuth' | 'clientAuth',
  now: Date,
  renewHint: string,
): void {
  try {
    verifyChain({ leaf: cert, roots: [ca], now, usage });
  } catch (error) {
    if (!isTlsbootError(error)) throw error;
    const hint = error.reason === 'CHAIN_EXPIRED' ? `; renew it with \`tlsboot certs renew ${renewHint}\`` : '';
    throw fail(`PKI_${error.reason}`, `${path}: ${error.message}${hint}`, path);
  }
}

function checkExistingLeaf(spec: LeafSpec, cert: Certificate, ca: Certificate, path: string, now: Date): void {
  checkIssued(cert, ca, path, spec.extKeyUsage.includes('serverAuth') ? 'serverAuth' : 'clientAuth', now, spec.name);
  const wantCn = subjectCommonName(spec.subject);
  if (commonName(cert.subject) !== wantCn) {
    throw fail(
      'PKI_SUBJECT',
      `${path} has CN "${commonName(cert.subject) ?? ''}", expected "${wantCn}"; remove it and its key to have it re-created`,
      path,
    );
  }
  const missing = [...spec.sans.dns.filter((d) => !cert.sans.dns.includes(d)), ...spec.sans.ip.filter((i) => !cert.sans.ip.includes(i))];
  if (missing.length > 0) {
    throw fail('PKI_SANS', `${path} lacks the SANs ${missing.join(', ')}; remove it and its key to have it re-created with them`, path);
  }
}

function checkExistingCa(state: CaState, path: string, now: Date): void {
  if (!state.certificate.basicConstraints?.ca) throw fail('PKI_NOT_CA', `${path} is not a CA certificate`, path);
  if (now > state.certificate.notAfter)
    throw fail('PKI_CA_EXPIRED', `${path} expired at ${state.certificate.notAfter.toISOString()}`, path);
}

function checkExistingKubeconfig(spec: KubeconfigSpec, text: string, ca: Certificate, path: string, now: Date): void {
  const resolved = (() => {
    try {
      return resolveKubeconfig(parseKubeconfig(text));
    } catch (error) {
      if (isTlsbootError(error)) throw fail('PKI_KUBECONFIG', `${path}: ${error.message}`, path);
      throw error;
    }
  })();
  if (resolved.cluster.server !== spec.server) {
    throw fail(
      'PKI_KUBECONFIG_SERVER',
      `${path} points at ${resolved.cluster.server}, expected ${spec.server}; remove it to have it re-created`,
      path,
    );
  }
  const caData = resolved.cluster.certificateAuthorityData;
  if (!caData || !parseCertificateBundle(caData, path).some((c) => Buffer.from(c.der).equals(ca.der))) {
    throw fail('PKI_KUBECONFIG_CA', `${path} does not trust the cluster CA in pki/ca.crt`, path);
  }
  const { clientCertificateData, clientKeyData } = resolved.user;
  if (!clientCertificateData || !clientKeyData)
    throw fail('PKI_KUBECONFIG_USER', `${path} has no embedded client certificate and key`, path);
  const cert = parseCertificatePem(clientCertificateData, path);
  if (!keyMatchesSpki(parsePrivateKeyPem(clientKeyData, path), cert.spki)) {
    throw fail('PKI_KEY_MISMATCH', `${path}: the client certificate does not match the client key`, path);
  }
  checkIssued(cert, ca, path, 'clientAuth', now, spec.file);
  const wantCn = subjectCommonName(spec.subject);
  if (commonName(cert.subject) !== wantCn)
    throw fail('PKI_SUBJECT', `${path} is for "${commonName(cert.subject) ?? ''}", expected "${wantCn}"`, path);
}

/** Plans, validates and writes the PKI. Throws INVALID naming the flag or file that is wrong. */
export function runInit(dir: string, options: InitOptions, env: IssueEnv): InitReport {
  validateInitOptions(options);
  assertDirectoryOrAbsent(dir);
  const lines: string[] = [`[certs] Using certificateDir folder "${join(dir, 'pki')}"`];
  const files: FileToWrite[] = [];
  const cas = new Map<CaName, CaState>();

  for (const spec of CAS) {
    const existing = loadCertAndKey(dir, spec.file);
    if (existing) {
      const state: CaState = { ...existing, file: spec.file };
      checkExistingCa(state, pkiPath(dir, spec.file, 'crt'), env.now);
      cas.set(spec.name, state);
      lines.push(
        `[certs] Using existing "${spec.name}" certificate authority${existing.key ? '' : ' (external CA: its key is not on disk)'}`,
      );
      continue;
    }
    const issued = issueSelfSignedCa({
      commonName: spec.commonName,
      dnsSans: spec.dnsSans,
      keyAlgorithm: options.keyAlgorithm,
      validityMs: options.caValidityMs,
      env,
    });
    files.push({ path: pkiPath(dir, spec.file, 'crt'), content: issued.certificatePem, mode: CERT_MODE });
    files.push({ path: pkiPath(dir, spec.file, 'key'), content: issued.keyPem, mode: KEY_MODE });
    cas.set(spec.name, { ...issued, file: spec.file });
    lines.push(`[certs] Generating "${spec.name}" certificate and key`);
  }

  for (const spec of leafSpecs(options)) {
    const ca = cas.get(spec.ca) as CaState;
    const crtPath = pkiPath(dir, spec.file, 'crt');
    const existing = loadCertAndKey(dir, spec.file);
    if (existing) {
      if (!existing.key) throw fail('PKI_MISSING_KEY', `${crtPath} exists but its key ${pkiPath(dir, spec.file, 'key')} does not`, crtPath);
      checkExistingLeaf(spec, existing.certificate, ca.certificate, crtPath, env.now);
      lines.push(`[certs] Using existing "${spec.name}" certificate and key`);
      continue;
    }
    if (!ca.key) {
      throw fail(
        'PKI_CA_KEY_MISSING',
        `cannot create ${crtPath}: the ${spec.ca} key ${pkiPath(dir, ca.file, 'key')} is not on disk (with an external CA, every certificate it signs must be provided)`,
        crtPath,
      );
    }
    const issued = issueLeaf(
      {
        subject: spec.subject,
        sans: spec.sans,
        extKeyUsage: spec.extKeyUsage,
        keyAlgorithm: options.keyAlgorithm,
        validityMs: options.certValidityMs,
      },
      { certificate: ca.certificate, key: ca.key },
      env,
    );
    files.push({ path: crtPath, content: issued.certificatePem, mode: CERT_MODE });
    files.push({ path: pkiPath(dir, spec.file, 'key'), content: issued.keyPem, mode: KEY_MODE });
    lines.push(`[certs] Generating "${spec.name}" certificate and key`);
    if (spec.sans.dns.length + spec.sans.ip.length > 0) {
      lines.push(
        `[certs] ${spec.name} serving cert is signed for DNS names [${spec.sans.dns.join(' ')}] and IPs [${spec.sans.ip.join(' ')}]`,
      );
    }
  }

  planServiceAccountKeys(dir, options, files, lines);

  const clusterCa = cas.get('ca') as CaState;
  for (const spec of kubeconfigSpecs(options)) {
    const path = join(dir, spec.file);
    const existing = readIfPresent(path);
    if (existing) {
      checkExistingKubeconfig(spec, existing.toString('utf8'), clusterCa.certificate, path, env.now);
      lines.push(`[kubeconfig] Using existing kubeconfig file: "${path}"`);
      continue;
    }
    if (!clusterCa.key) throw fail('PKI_CA_KEY_MISSING', `cannot create ${path}: pki/ca.key is not on disk`, path);
    const user = subjectCommonName(spec.subject);
    const issued = issueLeaf(
      {
        subject: spec.subject,
        sans: { dns: [], ip: [], email: [], uri: [] },
        extKeyUsage: ['clientAuth'],
        keyAlgorithm: options.keyAlgorithm,
        validityMs: options.certValidityMs,
      },
      { certificate: clusterCa.certificate, key: clusterCa.key },
      env,
    );
    const content = buildKubeconfig({
      clusterName: 'kubernetes',
      server: spec.server,
      caPem: clusterCa.certificatePem,
      userName: user,
      clientCertificatePem: issued.certificatePem,
      clientKeyPem: issued.keyPem,
    });
    files.push({ path, content, mode: KEY_MODE });
    lines.push(`[kubeconfig] Writing "${spec.file}" kubeconfig file`);
  }

  if (files.length > 0) {
    try {
      ensureDirectory(dir, 0o755);
      ensureDirectory(join(dir, 'pki'), PKI_DIR_MODE);
      ensureDirectory(join(dir, 'pki', 'etcd'), PKI_DIR_MODE);
      writeFilesAtomically(files);
    } catch (error) {
      if (isTlsbootError(error)) throw error;
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'error';
      throw new UnavailableError('PKI_WRITE', `cannot write the PKI under ${dir} (${code}); nothing was written`, {
        field: dir,
        cause: error,
      });
    }
  }
  const caPin = certificatePin(clusterCa.certificate);
  return { lines, caPin, written: files.map((f) => f.path) };
}

function planServiceAccountKeys(dir: string, options: InitOptions, files: FileToWrite[], lines: string[]): void {
  const keyPath = pkiPath(dir, 'sa', 'key');
  const pubPath = pkiPath(dir, 'sa', 'pub');
  const keyPem = readIfPresent(keyPath);
  const pubPem = readIfPresent(pubPath);
  if (!keyPem && pubPem) throw fail('PKI_ORPHAN_KEY', `${pubPath} exists but ${keyPath} does not`, keyPath);
  const key = keyPem ? parsePrivateKeyPem(keyPem, keyPath) : generatePrivateKey(options.keyAlgorithm);
  const spki = spkiOf(key);
  if (pubPem && !decodePem(pubPem, 'PUBLIC KEY', pubPath).equals(spki))
    throw fail('PKI_KEY_MISMATCH', `${pubPath} does not match ${keyPath}`, pubPath);
  if (!keyPem) files.push({ path: keyPath, content: privateKeyToPem(key), mode: KEY_MODE });
  if (!pubPem) files.push({ path: pubPath, content: encodePem('PUBLIC KEY', spki), mode: CERT_MODE });
  lines.push(keyPem && pubPem ? '[certs] Using the existing "sa" key' : '[certs] Generating "sa" key and public key');
}
