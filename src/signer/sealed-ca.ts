/**
 * The sealed CA on disk and in the server: `tlsboot ca seal` turns every CA key of a PKI
 * directory into `<file>.key.sealed` and removes the plaintext; the server's sealed backend
 * unlocks the cluster CA's key for one signing session at a time.
 */
import { closeSync, fsyncSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidError } from '../base/errors.ts';
import { syncDir, writeFilesAtomically } from '../base/fs.ts';
import { CAS } from '../kubeadm/layout.ts';
import { KEY_MODE, loadCertAndKey, pkiPath, readIfPresent, sealedKeyPath } from '../kubeadm/pki-files.ts';
import { sealPrivateKey, unsealCaKey, unsealCaKeyAsync } from '../kubeadm/sealed-key.ts';
import type { Certificate } from '../pki/index.ts';
import type { SessionBackend, SessionSecret, Unlocked } from './session-signer.ts';
import { LocalSigner } from './signer.ts';

export interface SealReport {
  readonly sealed: readonly string[];
  readonly removed: readonly string[];
}

/**
 * Best effort at making the plaintext unrecoverable: overwrite in place and sync before unlinking.
 * On copy-on-write or journaling file systems and SSDs old blocks may survive, which is why keys
 * should be created sealed (`tlsboot init --sealed`) rather than sealed afterwards.
 */
function shredAndRemove(path: string): void {
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(size), 0, size, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  rmSync(path);
  syncDir(dirname(path));
}

/**
 * Seals every CA key present under DIR/pki. The sealed files are written and verified (they open
 * with the passphrase and match their certificates) before any plaintext key is removed, so an
 * interruption leaves either the old state or both, never neither.
 */
export function sealCaKeys(dir: string, passphrase: Uint8Array, randomBytes: (n: number) => Uint8Array, logN?: number): SealReport {
  const plan: { file: string; certificate: Certificate; keyPath: string; sealedPath: string; content: string }[] = [];
  for (const ca of CAS) {
    const pair = loadCertAndKey(dir, ca.file);
    if (!pair?.key) continue;
    const content = sealPrivateKey(pair.key, passphrase, { randomBytes, ...(logN === undefined ? {} : { logN }) });
    plan.push({
      file: ca.file,
      certificate: pair.certificate,
      keyPath: pkiPath(dir, ca.file, 'key'),
      sealedPath: sealedKeyPath(dir, ca.file),
      content,
    });
  }
  if (plan.length === 0) {
    const already = CAS.some((ca) => readIfPresent(sealedKeyPath(dir, ca.file)) !== undefined);
    throw new InvalidError(
      already ? 'SEAL_ALREADY_SEALED' : 'SEAL_NO_KEY',
      already ? `the CA keys under ${dir}/pki are already sealed` : `no CA key to seal under ${dir}/pki`,
      { field: dir },
    );
  }
  writeFilesAtomically(plan.map((p) => ({ path: p.sealedPath, content: p.content, mode: KEY_MODE })));
  for (const p of plan) unsealCaKey(p.content, passphrase, p.certificate, p.sealedPath);
  for (const p of plan) shredAndRemove(p.keyPath);
  return { sealed: plan.map((p) => p.sealedPath), removed: plan.map((p) => p.keyPath) };
}

export interface SealedBackendOptions {
  readonly sealedText: string;
  readonly sealedPath: string;
  readonly caCertificate: Certificate;
  readonly randomBytes: (size: number) => Uint8Array;
  readonly maxTtlMs?: number;
}

/** Unlocks the sealed cluster CA key into a LocalSigner for one session. */
export class SealedKeyBackend implements SessionBackend {
  readonly mode = 'sealed' as const;
  private readonly o: SealedBackendOptions;

  constructor(o: SealedBackendOptions) {
    this.o = o;
  }

  async unlock(secret: SessionSecret): Promise<Unlocked> {
    if (!secret.passphrase)
      throw new InvalidError('SESSION_SECRET', 'the CA key is sealed: a session needs its passphrase', { field: 'passphrase' });
    const caKey = await unsealCaKeyAsync(this.o.sealedText, secret.passphrase, this.o.caCertificate, this.o.sealedPath);
    const signer = new LocalSigner({
      caCertificate: this.o.caCertificate,
      caKey,
      randomBytes: this.o.randomBytes,
      ...(this.o.maxTtlMs === undefined ? {} : { maxTtlMs: this.o.maxTtlMs }),
    });
    return { signer };
  }
}
