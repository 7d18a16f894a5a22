/**
 * Encryption at rest, as kube-apiserver's value transformers do it: a backend hands every object
 * body it persists (current objects and watch history alike) to a ValueTransformer and stores
 * what comes back, so one implementation serves SQLite and etcd. The AES-GCM transformer writes
 * kube-apiserver's aesgcm layout, `k8s:enc:aesgcm:v1:<key name>:` + 12-byte nonce + ciphertext
 * and tag, with the object's key as additional authenticated data so that a value copied onto
 * another object does not decrypt. Values are encrypted only for the listed resources; values in
 * clear are read as they are (written before encryption), and a backend rewrites whatever
 * `isStale` reports when it opens, which is both the first migration and key rotation.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { InternalError, InvalidError, type TlsbootError } from '../base/errors.ts';
import { describeKey } from './objects.ts';
import type { ObjectKey } from './types.ts';

/** What a backend persists for one object body: JSON text in clear, or an encrypted value. */
export type StoredValue = string | Uint8Array;

export interface ValueTransformer {
  /** Resources whose values may need rewriting (`isStale`); a backend scans only these at open. */
  readonly resources: readonly string[];
  /** What to persist for `body`, the JSON text of the object stored under `key`. */
  toStorage(key: ObjectKey, body: string): StoredValue;
  /** The JSON text of a persisted value. @throws INTERNAL (`STORE_DECRYPT`) for an unknown key or a value that does not authenticate */
  fromStorage(key: ObjectKey, value: StoredValue): string;
  /** Whether the value must be rewritten: in clear where it should be encrypted, or under another key than the write key. */
  isStale(key: ObjectKey, value: StoredValue): boolean;
}

/** One named AES-256 key; the name is stored in clear in every value it encrypts, the secret never. */
export interface EncryptionKey {
  readonly name: string;
  readonly secret: Uint8Array;
}

const PREFIX = 'k8s:enc:';
const AESGCM_PREFIX = `${PREFIX}aesgcm:v1:`;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** Key names end up inside stored values between colons, and in file names and logs. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function startsWith(value: Uint8Array, prefix: string): boolean {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).subarray(0, prefix.length).toString('latin1') === prefix;
}

function decryptFailure(key: ObjectKey, why: string): TlsbootError {
  return new InternalError('STORE_DECRYPT', `cannot decrypt the stored ${describeKey(key)}: ${why}`);
}

/** Reads clear values only: a store opened without keys refuses encrypted ones instead of returning garbage. */
export const IDENTITY_TRANSFORMER: ValueTransformer = {
  resources: [],
  toStorage: (_key, body) => body,
  fromStorage: (key, value) => {
    if (typeof value === 'string') return value;
    if (startsWith(value, PREFIX)) throw decryptFailure(key, 'it is encrypted and the store was opened without encryption keys');
    return Buffer.from(value).toString('utf8');
  },
  isStale: () => false,
};

/** The additional authenticated data: the key, unambiguously (resource names contain '/'). */
function aad(key: ObjectKey): Buffer {
  return Buffer.from(JSON.stringify([key.resource, key.namespace, key.name]));
}

export interface AesGcmOptions {
  /** The first key encrypts; every key decrypts. */
  readonly keys: readonly EncryptionKey[];
  readonly resources: readonly string[];
  readonly randomBytes: (size: number) => Uint8Array;
}

export class AesGcmTransformer implements ValueTransformer {
  readonly resources: readonly string[];
  private readonly writeKey: EncryptionKey;
  private readonly readKeys: ReadonlyMap<string, Uint8Array>;
  private readonly encrypted: ReadonlySet<string>;
  private readonly randomBytes: (size: number) => Uint8Array;

  constructor(options: AesGcmOptions) {
    const [first] = options.keys;
    if (first === undefined) throw new InvalidError('ENCRYPTION_KEYS', 'at least one encryption key is needed');
    const names = new Set<string>();
    for (const k of options.keys) {
      if (!KEY_NAME.test(k.name)) throw new InvalidError('ENCRYPTION_KEYS', `"${k.name}" is not a valid key name`, { field: 'name' });
      if (names.has(k.name)) throw new InvalidError('ENCRYPTION_KEYS', `the key name "${k.name}" is used twice`, { field: 'name' });
      if (k.secret.length !== KEY_BYTES) {
        throw new InvalidError('ENCRYPTION_KEYS', `key "${k.name}" must be ${KEY_BYTES} bytes, not ${k.secret.length}`, {
          field: 'secret',
        });
      }
      names.add(k.name);
    }
    this.writeKey = first;
    this.readKeys = new Map(options.keys.map((k) => [k.name, k.secret]));
    this.resources = [...options.resources];
    this.encrypted = new Set(options.resources);
    this.randomBytes = options.randomBytes;
  }

  toStorage(key: ObjectKey, body: string): StoredValue {
    if (!this.encrypted.has(key.resource)) return body;
    const nonce = Buffer.from(this.randomBytes(NONCE_BYTES));
    if (nonce.length !== NONCE_BYTES) throw new InternalError('STORE_ENCRYPT', 'the random source returned too few bytes');
    const cipher = createCipheriv('aes-256-gcm', this.writeKey.secret, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(key));
    const sealed = Buffer.concat([cipher.update(body, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([Buffer.from(`${AESGCM_PREFIX}${this.writeKey.name}:`, 'latin1'), nonce, sealed]);
  }

  fromStorage(key: ObjectKey, value: StoredValue): string {
    if (typeof value === 'string') return value;
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (!startsWith(bytes, PREFIX)) return bytes.toString('utf8');
    if (!startsWith(bytes, AESGCM_PREFIX)) throw decryptFailure(key, 'it was written by an unknown encryption provider');
    const nameEnd = bytes.indexOf(0x3a, AESGCM_PREFIX.length);
    const name = nameEnd < 0 ? '' : bytes.subarray(AESGCM_PREFIX.length, nameEnd).toString('latin1');
    if (!KEY_NAME.test(name)) throw decryptFailure(key, 'its key name is malformed');
    const secret = this.readKeys.get(name);
    if (secret === undefined) throw decryptFailure(key, `it was encrypted with key "${name}", which is not in the key file`);
    const payload = bytes.subarray(nameEnd + 1);
    if (payload.length < NONCE_BYTES + TAG_BYTES) throw decryptFailure(key, 'the value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', secret, payload.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(key));
    decipher.setAuthTag(payload.subarray(payload.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(payload.subarray(NONCE_BYTES, payload.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      // node:crypto says only "unable to authenticate data"; which object and key is what helps.
      throw decryptFailure(key, `it does not authenticate under key "${name}" (tampered with, or moved from another object)`);
    }
  }

  isStale(key: ObjectKey, value: StoredValue): boolean {
    if (typeof value === 'string') return this.encrypted.has(key.resource);
    return !startsWith(value, `${AESGCM_PREFIX}${this.writeKey.name}:`);
  }
}
