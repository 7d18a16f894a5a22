/**
 * Encryption at rest as the commands wire it: which store file a cluster directory uses, opening
 * it with the key file's keys for Secrets (the server does this at start, creating the key file
 * when there is none), and the offline key rotation of `tlsboot secrets rotate-key`.
 */
import { existsSync, readFileSync } from 'node:fs';
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

/** The client certificate files an etcd store is reached with (kube-apiserver's --etcd-cafile, --etcd-certfile, --etcd-keyfile). */
export interface EtcdFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export interface StoreParams {
  readonly dir: string;
  /** `sqlite:PATH` or `etcd://HOST:PORT[,HOST:PORT...]`; default DIR/tlsboot.db. */
  readonly storeUrl?: string | undefined;
  /** For etcd; each defaults to what `tlsboot init` writes under DIR/pki. */
  readonly etcd?: EtcdFiles | undefined;
  readonly randomBytes: (size: number) => Uint8Array;
  readonly report: StoreReport;
}

export type StoreLocation = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'etcd'; readonly endpoints: string[] };

const ENDPOINT = /^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$/;

/** Where `--store` points: the embedded SQLite file, or etcd members. */
export function parseStoreUrl(dir: string, url: string | undefined): StoreLocation {
  if (url === undefined) return { kind: 'sqlite', path: join(dir, 'tlsboot.db') };
  if (url.startsWith('sqlite:') && url.length > 'sqlite:'.length) return { kind: 'sqlite', path: url.slice('sqlite:'.length) };
  if (url.startsWith('etcd://')) {
    const endpoints = url.slice('etcd://'.length).split(',');
    const bad = endpoints.find((e) => !ENDPOINT.test(e));
    if (bad === undefined) return { kind: 'etcd', endpoints };
    throw new InvalidError('STORE_URL', `--store "${url}": "${bad}" is not HOST:PORT`, { field: 'store' });
  }
  throw new InvalidError('STORE_URL', `--store "${url}" is not supported (use sqlite:PATH or etcd://HOST:PORT[,HOST:PORT...])`, {
    field: 'store',
  });
}

/** The SQLite file `--store` names, for the commands that work on the embedded store only. */
export function storePath(dir: string, url: string | undefined): string {
  const location = parseStoreUrl(dir, url);
  if (location.kind === 'sqlite') return location.path;
  throw new InvalidError('STORE_URL', `--store "${url}" is etcd; this command works on the embedded SQLite store only`, {
    field: 'store',
  });
}

function readEtcdFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new InvalidError('ETCD_TLS', `${path} (${flag}) cannot be read: ${error instanceof Error ? error.message : String(error)}`, {
      field: flag,
    });
  }
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
export async function openClusterStore(p: StoreParams): Promise<Store> {
  const location = parseStoreUrl(p.dir, p.storeUrl);
  const loaded = loadSecretsKeys(p.dir, p.randomBytes, true);
  if (loaded === undefined) throw new InvalidError('SECRETS_KEY_MISSING', `${secretsKeyPath(p.dir)} is missing`);
  reportKeyFile(loaded, p.report);
  if (location.kind === 'sqlite') {
    return openSqliteStore({ path: location.path, transformer: transformer(loaded.keys, p.randomBytes), report: p.report });
  }
  // The mutual TLS of kube-apiserver to a stacked etcd: the etcd CA and the apiserver-etcd-client pair.
  const tls = {
    ca: readEtcdFile(p.etcd?.caFile ?? join(p.dir, 'pki', 'etcd', 'ca.crt'), 'etcd-cafile'),
    cert: readEtcdFile(p.etcd?.certFile ?? join(p.dir, 'pki', 'apiserver-etcd-client.crt'), 'etcd-certfile'),
    key: readEtcdFile(p.etcd?.keyFile ?? join(p.dir, 'pki', 'apiserver-etcd-client.key'), 'etcd-keyfile'),
  };
  // Loaded only here: gRPC adds about half a second to the start of every process that loads it.
  const { openEtcdStore } = await import('../store/etcd.ts');
  return openEtcdStore({ endpoints: location.endpoints, tls, transformer: transformer(loaded.keys, p.randomBytes) });
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
