/**
 * Scanning for leaked secrets: every encoding of a private key a careless program might write
 * (PEM, base64 body, PKCS#8 DER, the raw scalar in binary, hex and base64), searched for in every
 * file under a directory (databases and WAL files included) and in captured text.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { filesUnder } from './files.ts';

export interface Needle {
  readonly what: string;
  readonly bytes: Buffer;
}

export function keyNeedles(keyPem: string, label = 'key'): Needle[] {
  const key = createPrivateKey(keyPem);
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const jwk = key.export({ format: 'jwk' });
  const scalar = Buffer.from(String(jwk.d), 'base64url');
  const body = keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [
    { what: `${label} PEM body`, bytes: Buffer.from(body[1] ?? body[0] ?? '') },
    { what: `${label} PKCS#8 DER`, bytes: der },
    { what: `${label} scalar`, bytes: scalar },
    { what: `${label} scalar hex`, bytes: Buffer.from(scalar.toString('hex')) },
    { what: `${label} scalar base64`, bytes: Buffer.from(scalar.toString('base64')) },
    { what: `${label} scalar base64url`, bytes: Buffer.from(String(jwk.d)) },
  ];
}

export function textNeedle(text: string, what: string): Needle[] {
  return [
    { what, bytes: Buffer.from(text) },
    { what: `${what} base64`, bytes: Buffer.from(Buffer.from(text).toString('base64')) },
  ];
}

/** Every (file, needle) where the needle occurs; empty means clean. */
export function findInFiles(dir: string, needles: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const path of filesUnder(dir)) {
    const data = readFileSync(path);
    for (const n of needles) if (data.indexOf(n.bytes) >= 0) found.push(`${n.what} in ${path}`);
  }
  return found;
}

export function findInText(text: string, needles: readonly Needle[], where: string): string[] {
  const data = Buffer.from(text);
  return needles.filter((n) => data.indexOf(n.bytes) >= 0).map((n) => `${n.what} in ${where}`);
}

/** Counts the files found under a directory whose names match. */
export function filesMatching(dir: string, pattern: RegExp): string[] {
  return filesUnder(dir).filter((p) => pattern.test(p));
}
