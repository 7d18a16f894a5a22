/**
 * The sealed CA key format: a private key encrypted at rest under an operator passphrase
 * (scrypt, then AES-256-GCM). The file names its KDF parameters and the public key it seals, and
 * both are bound to the ciphertext as GCM additional data, so an edited header or a swapped
 * public key fails to open exactly like a wrong passphrase does. The plaintext exists only in
 * buffers this module zeroes after use; what callers get back is a KeyObject.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, scrypt, scryptSync } from 'node:crypto';
import { ForbiddenError, InvalidError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { type Certificate, certificatePin, keyMatchesSpki, spkiOf, spkiPin } from '../pki/index.ts';

export const SEALED_KIND = 'tlsboot.io/sealed-private-key';
/** scrypt cost: N=2^17, r=8 (128 MiB, about 0.3 s here), OWASP's recommended minimum for scrypt. */
export const DEFAULT_SCRYPT_LOG_N = 17;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
/** A passphrase shorter than this is refused when sealing: the KDF slows guessing, it cannot save a weak secret. */
export const MIN_PASSPHRASE_BYTES = 12;
const MAX_PASSPHRASE_BYTES = 1024;

interface SealedHeader {
  readonly kind: typeof SEALED_KIND;
  readonly version: 1;
  readonly kdf: { readonly name: 'scrypt'; readonly logN: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly cipher: 'aes-256-gcm';
  readonly iv: string;
  /** sha256 pin of the sealed key's public key, so a file can be matched to its certificate without the passphrase. */
  readonly publicKeyPin: string;
}

interface SealedFile extends SealedHeader {
  readonly ciphertext: string;
  readonly tag: string;
}

export interface SealOptions {
  readonly randomBytes: (size: number) => Uint8Array;
  readonly logN?: number;
}

function scryptParams(header: SealedHeader): { salt: Buffer; options: { N: number; r: number; p: number; maxmem: number } } {
  const { logN, r, p, salt } = header.kdf;
  const n = 2 ** logN;
  return { salt: Buffer.from(salt, 'base64'), options: { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 } };
}

function deriveKey(passphrase: Uint8Array, header: SealedHeader): Buffer {
  const { salt, options } = scryptParams(header);
  return scryptSync(passphrase, salt, 32, options);
}

/** The KDF on libuv's thread pool, so a server unlocking a session keeps serving meanwhile. */
function deriveKeyAsync(passphrase: Uint8Array, header: SealedHeader): Promise<Buffer> {
  const { salt, options } = scryptParams(header);
  return new Promise((resolve, reject) => scrypt(passphrase, salt, 32, options, (e, key) => (e ? reject(e) : resolve(key))));
}

function headerBytes(header: SealedHeader): Buffer {
  // The AAD is the header serialised in a fixed field order, independent of how the file was written.
  const { kind, version, kdf, cipher, iv, publicKeyPin } = header;
  return Buffer.from(JSON.stringify([kind, version, kdf.name, kdf.logN, kdf.r, kdf.p, kdf.salt, cipher, iv, publicKeyPin]));
}

export function checkPassphrase(passphrase: Uint8Array, forSealing: boolean): void {
  if (passphrase.length === 0) throw new InvalidError('PASSPHRASE_EMPTY', 'the passphrase is empty');
  if (passphrase.length > MAX_PASSPHRASE_BYTES)
    throw new InvalidError('PASSPHRASE_TOO_LONG', `the passphrase is longer than ${MAX_PASSPHRASE_BYTES} bytes`);
  if (forSealing && passphrase.length < MIN_PASSPHRASE_BYTES)
    throw new InvalidError('PASSPHRASE_WEAK', `the passphrase must be at least ${MIN_PASSPHRASE_BYTES} bytes long`);
}

/** Encrypts `key` under `passphrase`; returns the file's text. */
export function sealPrivateKey(key: KeyObject, passphrase: Uint8Array, options: SealOptions): string {
  checkPassphrase(passphrase, true);
  const header: SealedHeader = {
    kind: SEALED_KIND,
    version: 1,
    kdf: {
      name: 'scrypt',
      logN: options.logN ?? DEFAULT_SCRYPT_LOG_N,
      r: SCRYPT_R,
      p: SCRYPT_P,
      salt: Buffer.from(options.randomBytes(16)).toString('base64'),
    },
    cipher: 'aes-256-gcm',
    iv: Buffer.from(options.randomBytes(12)).toString('base64'),
    publicKeyPin: certificatePinOfKey(key),
  };
  const aesKey = deriveKey(passphrase, header);
  const plaintext = key.export({ format: 'der', type: 'pkcs8' });
  try {
    const cipher = createCipheriv('aes-256-gcm', aesKey, Buffer.from(header.iv, 'base64'));
    cipher.setAAD(headerBytes(header));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const file: SealedFile = { ...header, ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
    return `${JSON.stringify(file, null, 2)}\n`;
  } finally {
    plaintext.fill(0);
    aesKey.fill(0);
  }
}

function certificatePinOfKey(key: KeyObject): string {
  return spkiPin(spkiOf(key));
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses and shape-checks a sealed file without decrypting it. */
export function parseSealedFile(text: string, field: string): SealedFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidError('SEALED_FORMAT', `${field} is not a sealed key file (not JSON)`, { field });
  }
  const bad = (what: string) => new InvalidError('SEALED_FORMAT', `${field}: ${what}`, { field });
  if (!isObject(value) || value.kind !== SEALED_KIND) throw bad(`kind is not ${SEALED_KIND}`);
  if (value.version !== 1) throw bad('unsupported version');
  if (value.cipher !== 'aes-256-gcm') throw bad('unsupported cipher');
  const kdf = value.kdf;
  if (!isObject(kdf) || kdf.name !== 'scrypt') throw bad('unsupported KDF');
  const { logN, r, p } = kdf;
  if (typeof logN !== 'number' || !Number.isInteger(logN) || logN < 14 || logN > 20) throw bad('scrypt logN must be 14..20');
  if (r !== SCRYPT_R || p !== SCRYPT_P) throw bad('unsupported scrypt r/p');
  const base64 = (name: string, v: unknown): string => {
    if (typeof v !== 'string' || !BASE64.test(v) || v === '') throw bad(`${name} is not base64`);
    return v;
  };
  const salt = base64('kdf.salt', kdf.salt);
  const iv = base64('iv', value.iv);
  const ciphertext = base64('ciphertext', value.ciphertext);
  const tag = base64('tag', value.tag);
  const publicKeyPin = value.publicKeyPin;
  if (typeof publicKeyPin !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(publicKeyPin)) throw bad('publicKeyPin is malformed');
  if (Buffer.from(iv, 'base64').length !== 12 || Buffer.from(tag, 'base64').length !== 16) throw bad('iv or tag has the wrong length');
  return {
    kind: SEALED_KIND,
    version: 1,
    kdf: { name: 'scrypt', logN, r: SCRYPT_R, p: SCRYPT_P, salt },
    cipher: 'aes-256-gcm',
    iv,
    publicKeyPin,
    ciphertext,
    tag,
  };
}

/**
 * Decrypts a sealed key. A wrong passphrase and a tampered file are one error (SEALED_UNLOCK) on
 * purpose: telling them apart would help nobody but a guesser.
 */
export function unsealPrivateKey(text: string, passphrase: Uint8Array, field: string): KeyObject {
  checkPassphrase(passphrase, false);
  const file = parseSealedFile(text, field);
  return decrypt(file, deriveKey(passphrase, file), field);
}

/** unsealCaKey with the KDF off the event loop. */
export async function unsealCaKeyAsync(text: string, passphrase: Uint8Array, certificate: Certificate, field: string): Promise<KeyObject> {
  checkPassphrase(passphrase, false);
  const file = parseSealedFile(text, field);
  checkSealsCertificate(file, certificate, field);
  const key = decrypt(file, await deriveKeyAsync(passphrase, file), field);
  checkKeyMatches(key, certificate, field);
  return key;
}

/** Unseals and checks the key belongs to `certificate`. */
export function unsealCaKey(text: string, passphrase: Uint8Array, certificate: Certificate, field: string): KeyObject {
  checkSealsCertificate(parseSealedFile(text, field), certificate, field);
  const key = unsealPrivateKey(text, passphrase, field);
  checkKeyMatches(key, certificate, field);
  return key;
}

function checkSealsCertificate(file: SealedFile, certificate: Certificate, field: string): void {
  if (file.publicKeyPin !== certificatePin(certificate))
    throw new InvalidError('SEALED_KEY_MISMATCH', `${field} does not seal the key of the CA certificate`, { field });
}

function checkKeyMatches(key: KeyObject, certificate: Certificate, field: string): void {
  if (!keyMatchesSpki(key, certificate.spki))
    throw new InvalidError('SEALED_KEY_MISMATCH', `${field} does not seal the key of the CA certificate`, { field });
}

function decrypt(file: SealedFile, aesKey: Buffer, field: string): KeyObject {
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(file.iv, 'base64'));
    decipher.setAAD(headerBytes(file));
    decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
    try {
      plaintext = Buffer.concat([decipher.update(Buffer.from(file.ciphertext, 'base64')), decipher.final()]);
    } catch {
      throw new ForbiddenError('SEALED_UNLOCK', `cannot unseal ${field}: wrong passphrase (or the file was altered)`, {
        field,
      });
    }
    const key = createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' });
    if (certificatePinOfKey(key) !== file.publicKeyPin)
      throw new InvalidError('SEALED_FORMAT', `${field}: the sealed key does not match its recorded public key`, { field });
    return key;
  } finally {
    plaintext?.fill(0);
    aesKey.fill(0);
  }
}
