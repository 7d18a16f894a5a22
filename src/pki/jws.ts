/**
 * Detached JWS (RFC 7515, compact form with the payload removed) with HS256, exactly as the
 * Kubernetes bootstrap signer makes it: header bytes `{"alg":"HS256","kid":"<id>"}`, base64url
 * without padding, HMAC key = the token secret alone. Verification recomputes and compares in
 * constant time, so no other algorithm, header or segment count can be smuggled in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

function b64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

export function signDetachedJws(payload: string | Uint8Array, tokenId: string, tokenSecret: string): string {
  const header = b64url(`{"alg":"HS256","kid":${JSON.stringify(tokenId)}}`);
  const signingInput = `${header}.${b64url(payload)}`;
  const mac = createHmac('sha256', tokenSecret).update(signingInput).digest();
  return `${header}..${b64url(mac)}`;
}

export function verifyDetachedJws(jws: string, payload: string | Uint8Array, tokenId: string, tokenSecret: string): boolean {
  const expected = Buffer.from(signDetachedJws(payload, tokenId, tokenSecret));
  const given = Buffer.from(jws);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
