/**
 * kubeadm's certificate key (`--certificate-key`): 32 random bytes written as 64 hex characters,
 * the AES-256-GCM key under which `upload-certs` encrypts the control-plane CAs and keys. The
 * sealed bytes are kubeadm's: the 12-byte nonce, then the ciphertext with its 16-byte tag
 * (Go's `gcm.Seal(nonce, nonce, data, nil)`), with no additional data. The key is a secret: no
 * message ever quotes it.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { InvalidError } from '../base/errors.ts';

export const CERTIFICATE_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A new key, hex encoded (`tlsboot certs certificate-key`, and upload without `--certificate-key`). */
export function newCertificateKey(randomBytes: (size: number) => Uint8Array): string {
  const key = Buffer.from(randomBytes(CERTIFICATE_KEY_BYTES));
  if (key.length !== CERTIFICATE_KEY_BYTES) throw new InvalidError('CERTIFICATE_KEY_RANDOM', 'the random source returned too few bytes');
  return key.toString('hex');
}

/** @throws INVALID (`CERTIFICATE_KEY`) naming the flag, never the text */
export function parseCertificateKey(text: string, flag = 'certificate-key'): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new InvalidError(
      'CERTIFICATE_KEY',
      `--${flag} must be ${CERTIFICATE_KEY_BYTES} bytes as ${CERTIFICATE_KEY_BYTES * 2} hex characters`,
      {
        field: flag,
      },
    );
  }
  return Buffer.from(text, 'hex');
}

export function encryptWithCertificateKey(data: Uint8Array, key: Uint8Array, randomBytes: (size: number) => Uint8Array): Buffer {
  const nonce = Buffer.from(randomBytes(NONCE_BYTES));
  if (nonce.length !== NONCE_BYTES) throw new InvalidError('CERTIFICATE_KEY_RANDOM', 'the random source returned too few bytes');
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const sealed = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([nonce, sealed, cipher.getAuthTag()]);
}

/** @throws INVALID (`CERTIFICATE_KEY_WRONG`) when the value does not open under `key`: the wrong key, or damaged data */
export function decryptWithCertificateKey(sealed: Uint8Array, key: Uint8Array, what: string): Buffer {
  const wrong = () =>
    new InvalidError(
      'CERTIFICATE_KEY_WRONG',
      `${what} does not decrypt with the --certificate-key given: the wrong key, or data uploaded under another one`,
      {
        field: 'certificate-key',
      },
    );
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw wrong();
  const data = Buffer.from(sealed);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw wrong();
  }
}
