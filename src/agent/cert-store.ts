/**
 * The node's certificate directory, crash-safe, in the kubelet's layout (reference §7.3): each
 * issued certificate is a timestamped PEM (certificate chain then key, 0600), `<prefix>-current.pem`
 * is a symlink to the active one, swapped by creating `<prefix>-updated.pem` and renaming it over
 * `-current`, and the key of a pending request is kept in `<prefix>.key.tmp` so a restarted agent
 * resumes the same CSR. At any crash point the current link names a complete pair.
 */
import type { KeyObject } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidError } from '../base/errors.ts';
import { ensureDirectory, syncDir, writeFilesAtomically } from '../base/fs.ts';
import {
  type Certificate,
  certificateToPem,
  decodePemBlocks,
  encodePem,
  generatePrivateKey,
  keyMatchesSpki,
  parseCertificate,
  parsePrivateKeyPem,
  privateKeyToPem,
} from '../pki/index.ts';

export type CertPrefix = 'kubelet-client' | 'kubelet-server';

export interface StoredPair {
  readonly certificates: readonly Certificate[];
  readonly key: KeyObject;
  readonly path: string;
  /** When it was installed, from the timestamp in its file name. */
  readonly installedAt?: Date;
}

/** The install time encoded in `<prefix>-YYYY-MM-DD-HH-MM-SS.pem`. */
export function installedAtOf(path: string): Date | undefined {
  const m = /-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.pem$/.exec(path);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se));
}

function storeError(reason: string, message: string, field: string): InvalidError {
  return new InvalidError(reason, message, { field });
}

function stamp(d: Date): string {
  const p = (n: number) => n.toString().padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** Parses a combined PEM: certificates (leaf first) and exactly one private key that matches the leaf. */
export function parseCombinedPem(text: string, path: string): { certificates: Certificate[]; key: KeyObject } {
  const blocks = decodePemBlocks(text, path);
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.der));
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  const leaf = certificates[0];
  const keyBlock = keys[0];
  if (!leaf || !keyBlock || keys.length !== 1)
    throw storeError('CERT_STORE_INCOMPLETE', `${path} must hold a certificate and one private key`, path);
  const key = parsePrivateKeyPem(encodePem(keyBlock.label, keyBlock.der), path);
  if (!keyMatchesSpki(key, leaf.spki)) throw storeError('CERT_STORE_MISMATCH', `${path}: the key does not match the certificate`, path);
  return { certificates, key };
}

export class CertStore {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Opens (creating if needed) a certificate directory. Refuses a directory that is a symlink or
   * writable by group or others, because whoever can write there can replace the node's identity.
   */
  static open(dir: string): CertStore {
    const absolute = resolve(dir);
    ensureDirectory(absolute, 0o755);
    const st = lstatSync(absolute);
    if (st.isSymbolicLink())
      throw storeError('CERT_STORE_SYMLINK', `${absolute} is a symbolic link; refusing to keep keys there`, absolute);
    if ((st.mode & 0o022) !== 0)
      throw storeError('CERT_STORE_PERMISSIONS', `${absolute} is writable by group or others; refusing to keep keys there`, absolute);
    return new CertStore(absolute);
  }

  currentPath(prefix: CertPrefix): string {
    return join(this.dir, `${prefix}-current.pem`);
  }

  private updatedPath(prefix: CertPrefix): string {
    return join(this.dir, `${prefix}-updated.pem`);
  }

  pendingKeyPath(prefix: CertPrefix): string {
    return join(this.dir, `${prefix}.key.tmp`);
  }

  /**
   * Finishes or discards a swap a crash interrupted: a leftover `-updated` link that names a
   * complete pair is moved over `-current`; one that does not is removed.
   */
  recover(prefix: CertPrefix): void {
    const updated = this.updatedPath(prefix);
    let target: string;
    try {
      target = readlinkSync(updated);
    } catch {
      return;
    }
    try {
      parseCombinedPem(readFileSync(target, 'utf8'), target);
      renameSync(updated, this.currentPath(prefix));
    } catch {
      rmSync(updated, { force: true });
    }
    syncDir(this.dir);
  }

  /** The current pair, or undefined when there is none; a broken pair is an error naming the file. */
  loadCurrent(prefix: CertPrefix): StoredPair | undefined {
    const path = this.currentPath(prefix);
    try {
      statSync(path);
    } catch {
      return undefined;
    }
    const { certificates, key } = parseCombinedPem(readFileSync(path, 'utf8'), path);
    const target = readlinkSafe(path);
    const installedAt = installedAtOf(target);
    return { certificates, key, path: target, ...(installedAt ? { installedAt } : {}) };
  }

  /** The pending key of an unfinished request, created (and persisted) when there is none. */
  pendingKey(prefix: CertPrefix): KeyObject {
    const path = this.pendingKeyPath(prefix);
    try {
      return parsePrivateKeyPem(readFileSync(path), path);
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) {
        // An unreadable pending key is discarded: it only ever protected a request not yet answered.
        rmSync(path, { force: true });
      }
    }
    const key = generatePrivateKey('ecdsa-p256');
    writeFilesAtomically([{ path, content: privateKeyToPem(key), mode: 0o600 }]);
    return key;
  }

  /**
   * Installs a new pair: writes the timestamped file (synced), points `-updated` at it, renames
   * that over `-current`, then drops the pending key. Returns the new file's path.
   */
  install(prefix: CertPrefix, chain: readonly Certificate[], key: KeyObject, now: Date): string {
    const leaf = chain[0];
    if (!leaf || !keyMatchesSpki(key, leaf.spki))
      throw storeError('CERT_STORE_MISMATCH', 'refusing to install a certificate that does not match its key', prefix);
    const file = join(this.dir, `${prefix}-${stamp(now)}.pem`);
    const content = `${chain.map((c) => certificateToPem(c)).join('')}${privateKeyToPem(key)}`;
    writeFilesAtomically([{ path: file, content, mode: 0o600 }]);
    const updated = this.updatedPath(prefix);
    rmSync(updated, { force: true });
    symlinkSync(file, updated);
    renameSync(updated, this.currentPath(prefix));
    syncDir(this.dir);
    rmSync(this.pendingKeyPath(prefix), { force: true });
    return file;
  }
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return path;
  }
}
