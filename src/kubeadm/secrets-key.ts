/**
 * The secrets encryption key file, `DIR/pki/secrets-encryption.key` (0600): named AES-256 keys
 * for encryption at rest (src/store/encryption.ts), the first one encrypting and every one
 * decrypting, as the keys of kube-apiserver's aesgcm provider. Plain JSON so that an operator
 * can see the key names; the file is nothing but key material, so messages about it name the
 * file and the entry but never quote what is in it.
 */
import { join } from 'node:path';
import { InvalidError } from '../base/errors.ts';
import { ensureDirectory, formatMode, restrictMode, writeFilesAtomically } from '../base/fs.ts';
import { isObject } from '../base/json.ts';
import { type EncryptionKey, KEY_BYTES, KEY_NAME } from '../store/index.ts';
import { KEY_MODE, PKI_DIR_MODE, readIfPresent } from './pki-files.ts';

const KIND = 'SecretsEncryptionKeys';
const API_VERSION = 'tlsboot.io/v1';

export function secretsKeyPath(dir: string): string {
  return join(dir, 'pki', 'secrets-encryption.key');
}

function invalid(path: string, what: string): InvalidError {
  return new InvalidError('SECRETS_KEY_FILE', `${path}: ${what}; restore it from a backup (its keys decrypt the stored Secrets)`, {
    field: path,
  });
}

/** @throws INVALID (`SECRETS_KEY_FILE`) naming the file and the entry, never its content */
export function parseSecretsKeys(text: string, path: string): EncryptionKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text around the error, which here is key material.
    throw invalid(path, 'is not valid JSON');
  }
  if (!isObject(parsed) || parsed.kind !== KIND || parsed.apiVersion !== API_VERSION) {
    throw invalid(path, `is not a ${API_VERSION} ${KIND} file`);
  }
  const entries = parsed.keys;
  if (!Array.isArray(entries) || entries.length === 0) throw invalid(path, 'holds no keys');
  const keys: EncryptionKey[] = [];
  for (const [i, entry] of entries.entries()) {
    if (!isObject(entry) || typeof entry.name !== 'string' || !KEY_NAME.test(entry.name)) {
      throw invalid(path, `keys[${i}] has no valid name (letters, digits, '.', '_', '-')`);
    }
    const name = entry.name;
    if (keys.some((k) => k.name === name)) throw invalid(path, `the key name "${name}" is used twice`);
    const secret = typeof entry.secret === 'string' ? Buffer.from(entry.secret, 'base64') : undefined;
    if (secret === undefined || secret.length !== KEY_BYTES || secret.toString('base64') !== entry.secret) {
      throw invalid(path, `key "${name}" is not ${KEY_BYTES} bytes in base64`);
    }
    keys.push({ name, secret });
  }
  return keys;
}

export function formatSecretsKeys(keys: readonly EncryptionKey[]): string {
  const entries = keys.map((k) => ({ name: k.name, secret: Buffer.from(k.secret).toString('base64') }));
  return `${JSON.stringify({ apiVersion: API_VERSION, kind: KIND, keys: entries }, null, 2)}\n`;
}

/**
 * A fresh key, named `key<N>-<random hex>`: N one more than the others' so a name says which key
 * is newer, and the random part so that a key made to replace a lost file never takes the lost
 * key's name (then values under the lost key are reported as such, not as tampered with).
 */
export function newSecretsKey(existing: readonly EncryptionKey[], randomBytes: (size: number) => Uint8Array): EncryptionKey {
  let n = 0;
  for (const k of existing) n = Math.max(n, Number(/^key(\d{1,9})(?:-|$)/.exec(k.name)?.[1] ?? 0));
  const secret = Buffer.from(randomBytes(KEY_BYTES));
  const tag = Buffer.from(randomBytes(4)).toString('hex');
  if (secret.length !== KEY_BYTES || tag.length !== 8)
    throw new InvalidError('SECRETS_KEY_RANDOM', 'the random source returned too few bytes');
  return { name: `key${n + 1}-${tag}`, secret };
}

/** The key file as planned by init and written by rotation: crash-safe, 0600, in a 0700 pki folder. */
export function secretsKeyFile(dir: string, keys: readonly EncryptionKey[]): { path: string; content: string; mode: number } {
  return { path: secretsKeyPath(dir), content: formatSecretsKeys(keys), mode: KEY_MODE };
}

export function writeSecretsKeys(dir: string, keys: readonly EncryptionKey[]): void {
  ensureDirectory(join(dir, 'pki'), PKI_DIR_MODE);
  writeFilesAtomically([secretsKeyFile(dir, keys)]);
}

export interface LoadedSecretsKeys {
  readonly path: string;
  readonly keys: EncryptionKey[];
  /** The file was absent and has just been written with one new key. */
  readonly created: boolean;
  /** The mode the file had when it was readable by others and has been tightened. */
  readonly looseMode: string | undefined;
}

/** Reads the key file, tightening a loose mode; writes one with a new key when there is none (and `create`). */
export function loadSecretsKeys(dir: string, randomBytes: (size: number) => Uint8Array, create: boolean): LoadedSecretsKeys | undefined {
  const path = secretsKeyPath(dir);
  const data = readIfPresent(path);
  if (data === undefined) {
    if (!create) return undefined;
    const keys = [newSecretsKey([], randomBytes)];
    writeSecretsKeys(dir, keys);
    return { path, keys, created: true, looseMode: undefined };
  }
  const keys = parseSecretsKeys(data.toString('utf8'), path);
  const old = restrictMode(path, KEY_MODE);
  return { path, keys, created: false, looseMode: old === undefined ? undefined : formatMode(old) };
}
