/**
 * `tlsboot init`: creates, or completes, the kubeadm-layout control-plane PKI under a directory.
 * Everything present is validated first (pairs match, chains verify, SANs cover the options,
 * kubeconfigs point at the right server and CA); only when the whole plan is sound are the
 * missing files written, all staged before any is renamed into place. A CA is never replaced.
 */
import { rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildKubeconfig, parseKubeconfig, type ResolvedKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import { InvalidError, isTlsbootError, UnavailableError } from '../base/errors.ts';
import { ensureDirectory, type FileToWrite, syncDir, writeFilesAtomically } from '../base/fs.ts';
import {
  type Certificate,
  certificatePin,
  commonName,
  decodePem,
  encodePem,
  generatePrivateKey,
  keyMatchesSpki,
  NO_SANS,
  parseCertificateBundle,
  parseCertificatePem,
  parsePrivateKeyPem,
  privateKeyToPem,
  spkiOf,
  verifyChain,
} from '../pki/index.ts';
import { type IssueEnv, issueLeaf, issueSelfSignedCa, type SigningCa } from './control-plane-certs.ts';
import { checkPendingCsr, issueFromCsr, newKeyAndCsr, type PendingCsr } from './external-ca.ts';
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
import {
  CERT_MODE,
  KEY_MODE,
  kubeconfigSidePath,
  loadCertAndKey,
  PKI_DIR_MODE,
  pkiPath,
  readIfPresent,
  sealedKeyPath,
} from './pki-files.ts';
import { sealPrivateKey, unsealCaKey } from './sealed-key.ts';
import { newSecretsKey, parseSecretsKeys, secretsKeyFile, secretsKeyPath } from './secrets-key.ts';

export interface InitReport {
  readonly lines: readonly string[];
  readonly caPin: string;
  readonly written: readonly string[];
  /** Certificates that wait for an external CA to sign their CSR (only with `externalCa`). */
  readonly pending: readonly PendingCsr[];
}

export interface InitMode {
  /**
   * `--external-ca`: the cluster CA's key lives elsewhere. Certificates it must sign that are not
   * there yet get a key and a CSR instead, and init succeeds with them pending.
   */
  readonly externalCa?: boolean;
  /**
   * `--sealed`: new CA keys are written only sealed under this passphrase (`<ca>.key.sealed`),
   * and existing sealed CA keys are opened with it, in memory, to sign what is missing.
   */
  readonly passphrase?: Uint8Array;
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

function resolveKubeconfigFile(text: string, path: string): ResolvedKubeconfig {
  try {
    return resolveKubeconfig(parseKubeconfig(text));
  } catch (error) {
    if (isTlsbootError(error)) throw fail('PKI_KUBECONFIG', `${path}: ${error.message}`, path);
    throw error;
  }
}

/** The server and CA a kubeconfig points at, which hold whether or not its certificate is signed yet. */
function checkKubeconfigCluster(spec: KubeconfigSpec, resolved: ResolvedKubeconfig, ca: Certificate, path: string): void {
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
}

function checkExistingKubeconfig(spec: KubeconfigSpec, text: string, ca: Certificate, path: string, now: Date): void {
  const resolved = resolveKubeconfigFile(text, path);
  checkKubeconfigCluster(spec, resolved, ca, path);
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

/** The error for a certificate whose CSR is written but which the absent CA key has not signed yet. */
function pendingError(certPath: string, csrPath: string, caName: CaName): InvalidError {
  return fail(
    'PKI_CSR_PENDING',
    `${certPath} is not signed yet: ${csrPath} waits for the external "${caName}" CA (run tlsboot certs sign-offline on the CA's machine)`,
    certPath,
  );
}

function missingCaKeyError(certPath: string, caName: CaName, caKeyPath: string): InvalidError {
  return fail(
    'PKI_CA_KEY_MISSING',
    `cannot create ${certPath}: the ${caName} key ${caKeyPath} is not on disk (with an external CA, every certificate it signs must be provided, or run tlsboot init --external-ca to write CSRs for them)`,
    certPath,
  );
}

/** What the planning steps of one init run share. */
interface Plan {
  readonly dir: string;
  readonly options: InitOptions;
  readonly env: IssueEnv;
  readonly mode: InitMode;
  readonly files: FileToWrite[];
  readonly lines: string[];
  readonly pending: PendingCsr[];
  /** Side files made useless by a certificate in place, removed only once everything else is written. */
  readonly obsolete: string[];
}

function planLeaf(plan: Plan, spec: LeafSpec, ca: CaState): void {
  const { dir, env, files, lines } = plan;
  const crtPath = pkiPath(dir, spec.file, 'crt');
  const keyPath = pkiPath(dir, spec.file, 'key');
  const csrPath = pkiPath(dir, spec.file, 'csr');
  const csrPem = readIfPresent(csrPath);
  if (csrPem && !readIfPresent(crtPath)) {
    const keyPem = readIfPresent(keyPath);
    if (!keyPem) throw fail('PKI_ORPHAN_CSR', `${csrPath} exists but its key ${keyPath} does not; remove the CSR`, csrPath);
    const key = parsePrivateKeyPem(keyPem, keyPath);
    const csr = checkPendingCsr({ csrPem, csrPath, key, keyPath, subject: spec.subject, sans: spec.sans });
    if (ca.key) {
      // The CA key is here after all (say, an etcd CA made locally): sign the waiting request now.
      const issued = issueFromCsr(csr, spec, { certificate: ca.certificate, key: ca.key }, plan.options.certValidityMs, env);
      files.push({ path: crtPath, content: issued.certificatePem, mode: CERT_MODE });
      plan.obsolete.push(csrPath);
      lines.push(`[certs] Signing the waiting "${spec.name}" certificate signing request with the "${spec.ca}" key`);
      return;
    }
    if (!plan.mode.externalCa) throw pendingError(crtPath, csrPath, spec.ca);
    plan.pending.push({ name: spec.name, ca: spec.ca, csrPath, created: false });
    lines.push(`[certs] Keeping the "${spec.name}" key and certificate signing request: still waiting for the "${spec.ca}" CA`);
    return;
  }
  const existing = loadCertAndKey(dir, spec.file);
  if (existing) {
    if (!existing.key) throw fail('PKI_MISSING_KEY', `${crtPath} exists but its key ${keyPath} does not`, crtPath);
    checkExistingLeaf(spec, existing.certificate, ca.certificate, crtPath, env.now);
    if (csrPem) plan.obsolete.push(csrPath);
    lines.push(`[certs] Using existing "${spec.name}" certificate and key`);
    return;
  }
  if (!ca.key) {
    if (!plan.mode.externalCa) throw missingCaKeyError(crtPath, spec.ca, pkiPath(dir, ca.file, 'key'));
    const made = newKeyAndCsr(spec.subject, spec.sans, plan.options.keyAlgorithm);
    files.push({ path: keyPath, content: made.keyPem, mode: KEY_MODE });
    files.push({ path: csrPath, content: made.csrPem, mode: CERT_MODE });
    plan.pending.push({ name: spec.name, ca: spec.ca, csrPath, created: true });
    lines.push(`[certs] Generating "${spec.name}" key and certificate signing request for the external "${spec.ca}" CA`);
    return;
  }
  const issued = issueLeaf(
    {
      subject: spec.subject,
      sans: spec.sans,
      extKeyUsage: spec.extKeyUsage,
      keyAlgorithm: plan.options.keyAlgorithm,
      validityMs: plan.options.certValidityMs,
    },
    { certificate: ca.certificate, key: ca.key },
    env,
  );
  files.push({ path: crtPath, content: issued.certificatePem, mode: CERT_MODE });
  files.push({ path: keyPath, content: issued.keyPem, mode: KEY_MODE });
  lines.push(`[certs] Generating "${spec.name}" certificate and key`);
  if (spec.sans.dns.length + spec.sans.ip.length > 0) {
    lines.push(
      `[certs] ${spec.name} serving cert is signed for DNS names [${spec.sans.dns.join(' ')}] and IPs [${spec.sans.ip.join(' ')}]`,
    );
  }
}

function kubeconfigContent(spec: KubeconfigSpec, ca: CaState, clientKeyPem: string, clientCertificatePem?: string): string {
  return buildKubeconfig({
    clusterName: 'kubernetes',
    server: spec.server,
    caPem: ca.certificatePem,
    userName: subjectCommonName(spec.subject),
    clientKeyPem,
    ...(clientCertificatePem === undefined ? {} : { clientCertificatePem }),
  });
}

/**
 * A kubeconfig written by `init --external-ca` holds the client key but no certificate until the
 * CA signed its `NAME.conf.csr`. The certificate arrives embedded (sign-offline ran on this
 * directory) or as `NAME.conf.crt` (it ran on a copy holding only the CSRs), which is embedded here.
 */
function planPendingKubeconfig(plan: Plan, spec: KubeconfigSpec, ca: CaState, resolved: ResolvedKubeconfig, csrPem: Buffer): void {
  const { dir, env, files, lines } = plan;
  const path = join(dir, spec.file);
  const csrPath = kubeconfigSidePath(dir, spec.file, 'csr');
  const crtPath = kubeconfigSidePath(dir, spec.file, 'crt');
  checkKubeconfigCluster(spec, resolved, ca.certificate, path);
  const keyPem = resolved.user.clientKeyData;
  if (!keyPem) throw fail('PKI_KUBECONFIG_USER', `${path} has neither a client certificate nor a client key`, path);
  const key = parsePrivateKeyPem(keyPem, path);
  const csr = checkPendingCsr({ csrPem, csrPath, key, keyPath: path, subject: spec.subject, sans: NO_SANS });
  const signed = readIfPresent(crtPath);
  let certificatePem: string | undefined;
  if (signed) {
    certificatePem = signed.toString('utf8');
    lines.push(`[kubeconfig] Embedding the signed certificate ${crtPath} into "${spec.file}"`);
  } else if (ca.key) {
    certificatePem = issueFromCsr(
      csr,
      { subject: spec.subject, sans: NO_SANS, extKeyUsage: ['clientAuth'] },
      { certificate: ca.certificate, key: ca.key },
      plan.options.certValidityMs,
      env,
    ).certificatePem;
    lines.push(`[kubeconfig] Signing the waiting "${spec.file}" certificate signing request with the "ca" key`);
  }
  if (certificatePem === undefined) {
    if (!plan.mode.externalCa) throw pendingError(path, csrPath, 'ca');
    plan.pending.push({ name: spec.file, ca: 'ca', csrPath, created: false });
    lines.push(`[kubeconfig] Keeping the "${spec.file}" key and certificate signing request: still waiting for the "ca" CA`);
    return;
  }
  const content = kubeconfigContent(spec, ca, keyPem, certificatePem);
  // The same checks as for a complete kubeconfig: key match, chain, usage, subject.
  checkExistingKubeconfig(spec, content, ca.certificate, signed ? crtPath : path, env.now);
  files.push({ path, content, mode: KEY_MODE });
  plan.obsolete.push(csrPath, ...(signed ? [crtPath] : []));
}

function planKubeconfig(plan: Plan, spec: KubeconfigSpec, ca: CaState): void {
  const { dir, env, files, lines } = plan;
  const path = join(dir, spec.file);
  const csrPath = kubeconfigSidePath(dir, spec.file, 'csr');
  const crtPath = kubeconfigSidePath(dir, spec.file, 'crt');
  const existing = readIfPresent(path);
  const csrPem = readIfPresent(csrPath);
  if (existing) {
    const text = existing.toString('utf8');
    const resolved = resolveKubeconfigFile(text, path);
    if (!resolved.user.clientCertificateData && csrPem) {
      planPendingKubeconfig(plan, spec, ca, resolved, csrPem);
      return;
    }
    checkExistingKubeconfig(spec, text, ca.certificate, path, env.now);
    if (csrPem) plan.obsolete.push(csrPath);
    if (readIfPresent(crtPath)) plan.obsolete.push(crtPath);
    lines.push(`[kubeconfig] Using existing kubeconfig file: "${path}"`);
    return;
  }
  if (csrPem) throw fail('PKI_ORPHAN_CSR', `${csrPath} exists but ${path}, which holds its key, does not; remove the CSR`, csrPath);
  if (!ca.key) {
    if (!plan.mode.externalCa) throw missingCaKeyError(path, 'ca', pkiPath(dir, ca.file, 'key'));
    const made = newKeyAndCsr(spec.subject, NO_SANS, plan.options.keyAlgorithm);
    files.push({ path, content: kubeconfigContent(spec, ca, made.keyPem), mode: KEY_MODE });
    files.push({ path: csrPath, content: made.csrPem, mode: CERT_MODE });
    plan.pending.push({ name: spec.file, ca: 'ca', csrPath, created: true });
    lines.push(`[kubeconfig] Writing "${spec.file}" with a client key, and its certificate signing request for the external "ca" CA`);
    return;
  }
  const issued = issueLeaf(
    {
      subject: spec.subject,
      sans: NO_SANS,
      extKeyUsage: ['clientAuth'],
      keyAlgorithm: plan.options.keyAlgorithm,
      validityMs: plan.options.certValidityMs,
    },
    { certificate: ca.certificate, key: ca.key },
    env,
  );
  files.push({ path, content: kubeconfigContent(spec, ca, issued.keyPem, issued.certificatePem), mode: KEY_MODE });
  lines.push(`[kubeconfig] Writing "${spec.file}" kubeconfig file`);
}

/** `--external-ca` is a statement about the directory; check it before planning anything. */
function checkExternalCaDirectory(dir: string): void {
  const crtPath = pkiPath(dir, 'ca', 'crt');
  const keyPath = pkiPath(dir, 'ca', 'key');
  if (!readIfPresent(crtPath)) {
    throw fail(
      'EXTERNAL_CA_CERT_MISSING',
      `--external-ca needs the cluster CA certificate at ${crtPath}: copy ca.crt (never its key) from the CA's machine`,
      crtPath,
    );
  }
  if (readIfPresent(keyPath)) {
    throw fail(
      'EXTERNAL_CA_KEY_PRESENT',
      `--external-ca keeps the CA key off this machine, but ${keyPath} is here; move it to the CA's machine, or run init without --external-ca`,
      keyPath,
    );
  }
  if (readIfPresent(`${keyPath}.sealed`)) {
    throw fail(
      'EXTERNAL_CA_SEALED',
      `${keyPath}.sealed is here: this is a sealed CA, not an external one; run init without --external-ca`,
      keyPath,
    );
  }
}

/** Plans, validates and writes the PKI. Throws INVALID naming the flag or file that is wrong. */
export function runInit(dir: string, options: InitOptions, env: IssueEnv, mode: InitMode = {}): InitReport {
  validateInitOptions(options);
  assertDirectoryOrAbsent(dir);
  if (mode.externalCa) checkExternalCaDirectory(dir);
  const lines: string[] = [`[certs] Using certificateDir folder "${join(dir, 'pki')}"`];
  const plan: Plan = { dir, options, env, mode, files: [], lines, pending: [], obsolete: [] };
  const { files } = plan;
  const cas = new Map<CaName, CaState>();

  for (const spec of CAS) {
    const existing = loadCertAndKey(dir, spec.file);
    const sealedPath = sealedKeyPath(dir, spec.file);
    if (existing) {
      const sealed = existing.key ? undefined : readIfPresent(sealedPath);
      if (mode.passphrase && existing.key)
        throw fail(
          'PKI_PLAINTEXT_KEY',
          `${pkiPath(dir, spec.file, 'key')} is in plaintext; seal it with tlsboot ca seal --dir ${dir} instead of init --sealed`,
          pkiPath(dir, spec.file, 'key'),
        );
      const key =
        sealed && mode.passphrase ? unsealCaKey(sealed.toString('utf8'), mode.passphrase, existing.certificate, sealedPath) : existing.key;
      const state: CaState = { ...existing, key, file: spec.file };
      checkExistingCa(state, pkiPath(dir, spec.file, 'crt'), env.now);
      cas.set(spec.name, state);
      const how = existing.key
        ? ''
        : sealed
          ? key
            ? ' (sealed key, opened for this run)'
            : ' (its key is sealed)'
          : ' (external CA: its key is not on disk)';
      lines.push(`[certs] Using existing "${spec.name}" certificate authority${how}`);
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
    if (mode.passphrase) {
      // Sealed from birth: the plaintext key exists only in this process's memory.
      files.push({
        path: sealedPath,
        content: sealPrivateKey(issued.key, mode.passphrase, { randomBytes: env.randomBytes }),
        mode: KEY_MODE,
      });
    } else {
      files.push({ path: pkiPath(dir, spec.file, 'key'), content: issued.keyPem, mode: KEY_MODE });
    }
    cas.set(spec.name, { ...issued, file: spec.file });
    lines.push(`[certs] Generating "${spec.name}" certificate and ${mode.passphrase ? 'sealed key' : 'key'}`);
  }

  for (const spec of leafSpecs(options)) planLeaf(plan, spec, cas.get(spec.ca) as CaState);

  planServiceAccountKeys(dir, options, files, lines);
  planSecretsKey(dir, env, files, lines);

  const clusterCa = cas.get('ca') as CaState;
  for (const spec of kubeconfigSpecs(options)) planKubeconfig(plan, spec, clusterCa);

  if (files.length > 0) {
    try {
      ensureDirectory(dir, 0o700);
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
  removeObsolete(plan);
  const caPin = certificatePin(clusterCa.certificate);
  return { lines, caPin, written: files.map((f) => f.path), pending: plan.pending };
}

/** Best effort: a leftover CSR next to a valid certificate is harmless, and the next run tries again. */
function removeObsolete(plan: Plan): void {
  for (const path of plan.obsolete) {
    try {
      rmSync(path, { force: true });
      plan.lines.push(`[certs] Removed ${path}: its certificate is in place`);
    } catch {
      plan.lines.push(`[certs] Could not remove ${path}; it is no longer needed`);
    }
  }
  for (const d of new Set(plan.obsolete.map((p) => dirname(p)))) syncDir(d);
}

/** The key that encrypts Secrets at rest; an existing file is kept, but only if it is valid. */
function planSecretsKey(dir: string, env: IssueEnv, files: FileToWrite[], lines: string[]): void {
  const path = secretsKeyPath(dir);
  const existing = readIfPresent(path);
  if (existing) {
    parseSecretsKeys(existing.toString('utf8'), path);
    lines.push('[secrets] Using the existing secrets encryption key file');
    return;
  }
  files.push(secretsKeyFile(dir, [newSecretsKey([], env.randomBytes)]));
  lines.push(`[secrets] Generating the key that encrypts Secrets at rest (${path})`);
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
