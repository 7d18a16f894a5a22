/**
 * Encryption at rest as the commands wire it: which store file a cluster directory uses, opening
 * it with the key file's keys for Secrets (the server does this at start, creating the key file
 * when there is none), and the offline key rotation of `tlsboot secrets rotate-key`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SECRETS, storeKeyOf } from '../api/cluster-client.ts';
import { InvalidError, isTlsbootError, UnavailableError } from '../base/errors.ts';
import { formatMode } from '../base/fs.ts';

const SECRET_RESOURCE = storeKeyOf(SECRETS);

import { KEY_MODE } from '../kubeadm/pki-files.ts';
import { type LoadedSecretsKeys, loadSecretsKeys, newSecretsKey, secretsKeyPath, writeSecretsKeys } from '../kubeadm/secrets-key.ts';
import { AesGcmTransformer, type EncryptionKey, openSqliteStore, type Store, type StoreReport } from '../store/index.ts';

/** What is encrypted at rest: kube-apiserver's usual EncryptionConfiguration covers exactly this. */
const ENCRYPTED_RESOURCES = [SECRET_RESOURCE];

export interface StoreParams {
  readonly dir: string;
  /** `sqlite:PATH`; default DIR/tlsboot.db. */
  readonly storeUrl?: string | undefined;
  readonly randomBytes: (size: number) => Uint8Array;
  readonly report: StoreReport;
}

export function storePath(dir: string, url: string | undefined): string {
  if (url === undefined) return join(dir, 'tlsboot.db');
  if (url.startsWith('sqlite:')) return url.slice('sqlite:'.length);
  throw new InvalidError('STORE_URL', `--store "${url}" is not supported yet (use sqlite:PATH)`, { field: 'store' });
}

function transformer(keys: readonly EncryptionKey[], randomBytes: (size: number) => Uint8Array): AesGcmTransformer {
  return new AesGcmTransformer({ keys, resources: ENCRYPTED_RESOURCES, randomBytes });
}

function reportKeyFile(loaded: LoadedSecretsKeys, report: StoreReport): void {
  if (loaded.created)
    report('info', 'created the key that encrypts Secrets at rest', { path: loaded.path, keyName: loaded.keys[0]?.name ?? '' });
  if (loaded.looseMode !== undefined) {
    report('warn', 'the secrets encryption key file was readable by other users; its mode is tightened', {
      path: loaded.path,
      oldMode: loaded.looseMode,
      newMode: formatMode(KEY_MODE),
    });
  }
}

/**
 * The cluster's store with Secrets encrypted under the key file's keys. An invalid key file is
 * refused before the database is touched; Secrets still in clear, or under an older key, are
 * rewritten under the write key as the store opens.
 */
export function openClusterStore(p: StoreParams): Store {
  const path = storePath(p.dir, p.storeUrl);
  const loaded = loadSecretsKeys(p.dir, p.randomBytes, true);
  if (loaded === undefined) throw new InvalidError('SECRETS_KEY_MISSING', `${secretsKeyPath(p.dir)} is missing`);
  reportKeyFile(loaded, p.report);
  return openSqliteStore({ path, transformer: transformer(loaded.keys, p.randomBytes), report: p.report });
}

/** Opens and closes the store with `keys`, which rewrites what is stale; returns how many values that was. */
async function rewriteUnder(path: string, keys: readonly EncryptionKey[], p: StoreParams): Promise<number> {
  let rewritten = 0;
  const report: StoreReport = (level, message, details) => {
    if (typeof details.rewritten === 'number') rewritten = details.rewritten;
    p.report(level, message, details);
  };
  let store: Store;
  try {
    // No waiting for the lock: a server holding it will not let go, and then this runs another time.
    store = openSqliteStore({ path, transformer: transformer(keys, p.randomBytes), report, lockTimeoutMs: 0 });
  } catch (error) {
    if (isTlsbootError(error) && error.reason === 'STORE_LOCKED') {
      throw new UnavailableError('STORE_LOCKED', `${path} is in use: stop tlsboot server first (rotate-key runs offline)`, {
        cause: error,
      });
    }
    throw error;
  }
  await store.close();
  return rewritten;
}

export interface RotationReport {
  readonly writeKey: string;
  readonly removed: readonly string[];
  readonly rewritten: number;
}

/**
 * Rotates the key that encrypts Secrets, offline. Crash-safe because the key file always holds
 * every key some stored value is encrypted with: first the store is opened with the current keys
 * (refused while a server holds it, and finishing any rewrite an interrupted run left), then the
 * new key is added in front of the old ones, every Secret is rewritten under it, and only then are
 * the old keys dropped. A crash before the last step leaves the old keys in the file; running the
 * command again completes the job.
 */
export async function rotateSecretsKey(p: StoreParams): Promise<RotationReport> {
  const path = storePath(p.dir, p.storeUrl);
  const loaded = loadSecretsKeys(p.dir, p.randomBytes, false);
  if (loaded === undefined) {
    throw new InvalidError(
      'SECRETS_KEY_MISSING',
      `${secretsKeyPath(p.dir)} is missing: there is no key to rotate (tlsboot init or tlsboot server creates it)`,
      { field: 'dir' },
    );
  }
  reportKeyFile(loaded, p.report);
  const hasStore = existsSync(path);
  if (hasStore) await rewriteUnder(path, loaded.keys, p);
  const next = newSecretsKey(loaded.keys, p.randomBytes);
  writeSecretsKeys(p.dir, [next, ...loaded.keys]);
  const rewritten = hasStore ? await rewriteUnder(path, [next, ...loaded.keys], p) : 0;
  writeSecretsKeys(p.dir, [next]);
  return { writeKey: next.name, removed: loaded.keys.map((k) => k.name), rewritten };
}
