/**
 * Reading a kubeadm-style PKI directory: certificate and key files by their layout name, each
 * parsed strictly and checked as a pair, with errors that name the file. Writing goes through
 * base/fs so that what init or renew produces lands whole or not at all.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidError, isTlsbootError } from '../base/errors.ts';
import { type Certificate, keyMatchesSpki, parseCertificatePem, parsePrivateKeyPem } from '../pki/index.ts';

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
/** The node name of a directory that has no etcd server certificate to carry it (a node joined without the CA keys). */
export const NODE_NAME_FILE = 'node-name';
export const PKI_DIR_MODE = 0o700;

export function pkiPath(dir: string, file: string, ext: 'crt' | 'key' | 'pub' | 'csr'): string {
  return join(dir, 'pki', `${file}.${ext}`);
}

/**
 * Side files of a kubeconfig signed by an external CA: `NAME.conf.csr` (what `kubeadm certs
 * generate-csr` writes) and `NAME.conf.crt`, the certificate when it was signed on a machine that
 * had only the CSR, which init then embeds.
 */
export function kubeconfigSidePath(dir: string, file: string, ext: 'csr' | 'crt'): string {
  return join(dir, `${file}.${ext}`);
}

/** Where a CA key sealed by `tlsboot ca seal` or `init --sealed` lives. */
export function sealedKeyPath(dir: string, file: string): string {
  return `${pkiPath(dir, file, 'key')}.sealed`;
}

/** The bytes of a regular file, or undefined when nothing is there. */
export function readIfPresent(path: string): Buffer | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      if (error.code === 'ENOTDIR') throw new InvalidError('PATH_NOT_DIRECTORY', `a parent of ${path} is not a directory`, { field: path });
      return undefined;
    }
    throw error;
  }
  if (!st.isFile()) throw new InvalidError('PATH_NOT_FILE', `${path} exists but is not a regular file`, { field: path });
  return readFileSync(path);
}

/** Runs a parser, re-throwing its error with the file named (same code and reason). */
export function inFile<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isTlsbootError(error)) {
      throw new InvalidError(error.reason, `${path}: ${error.message}`, { field: path, cause: error });
    }
    throw error;
  }
}

export interface CertAndKey {
  readonly certificate: Certificate;
  readonly certificatePem: string;
  readonly key: KeyObject | undefined;
  readonly keyPem: string | undefined;
}

/**
 * Loads `<file>.crt` and `<file>.key`. Returns undefined when neither exists; a certificate
 * without its key is returned with `key` undefined (the caller decides whether that is allowed);
 * a key without its certificate, or a pair that does not match, is an error naming both files.
 */
export function loadCertAndKey(dir: string, file: string): CertAndKey | undefined {
  const crtPath = pkiPath(dir, file, 'crt');
  const keyPath = pkiPath(dir, file, 'key');
  const crt = readIfPresent(crtPath);
  const key = readIfPresent(keyPath);
  if (!crt && !key) return undefined;
  if (!crt)
    throw new InvalidError('PKI_ORPHAN_KEY', `${keyPath} exists but ${crtPath} does not; remove the key or restore the certificate`, {
      field: crtPath,
    });
  const certificatePem = crt.toString('utf8');
  const certificate = inFile(crtPath, () => parseCertificatePem(certificatePem, crtPath));
  if (!key) return { certificate, certificatePem, key: undefined, keyPem: undefined };
  const keyPem = key.toString('utf8');
  const privateKey = inFile(keyPath, () => parsePrivateKeyPem(keyPem, keyPath));
  if (!keyMatchesSpki(privateKey, certificate.spki)) {
    throw new InvalidError('PKI_KEY_MISMATCH', `${crtPath} does not match its key ${keyPath}`, { field: keyPath });
  }
  return { certificate, certificatePem, key: privateKey, keyPem };
}
