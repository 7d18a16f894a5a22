/**
 * Detached JWS for cluster-info (jws.ts), byte-compatible with the Kubernetes bootstrap signer:
 * the three test vectors of reference §2.2 (normal payload, empty payload, empty secret), the exact
 * protected-header bytes, and verification that fails for every tampering: a changed payload, a
 * different `alg` or `kid` in the header, a different token ID or secret, a flipped signature bit,
 * an attached payload, a fourth segment, padding, and white space.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { signDetachedJws, verifyDetachedJws } from './jws.ts';

const PAYLOAD = 'Hello from the other side. I must have called a thousand times.';
const ID = 'joshua';
const SECRET = 'my voice is my passcode';

const VECTORS: [string, string, string, string][] = [
  ['payload', PAYLOAD, SECRET, 'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8'],
  ['empty payload', '', SECRET, 'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk'],
  ['empty secret', PAYLOAD, '', 'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8'],
];

const b64 = (s: string) => Buffer.from(s).toString('base64url');

describe('detached JWS test vectors (reference §2.2)', () => {
  for (const [name, payload, secret, expected] of VECTORS) {
    test(`${name}: signs to the vector and verifies`, () => {
      assert.equal(signDetachedJws(payload, ID, secret), expected);
      assert.equal(signDetachedJws(Buffer.from(payload), ID, secret), expected, 'bytes and string payloads agree');
      assert.equal(verifyDetachedJws(expected, payload, ID, secret), true);
    });
  }

  test('the protected header is exactly {"alg":"HS256","kid":"<id>"} and the payload segment is empty', () => {
    const [header, middle, signature, ...rest] = signDetachedJws(PAYLOAD, 'abcdef', '0123456789abcdef').split('.');
    assert.equal(Buffer.from(header ?? '', 'base64url').toString(), '{"alg":"HS256","kid":"abcdef"}');
    assert.equal(middle, '');
    assert.equal(rest.length, 0);
    assert.match(signature ?? '', /^[A-Za-z0-9_-]{43}$/);
  });
});

describe('detached JWS verification refuses tampering', () => {
  const id = 'abcdef';
  const secret = '0123456789abcdef';
  const jws = signDetachedJws(PAYLOAD, id, secret);
  const [header = '', , signature = ''] = jws.split('.');
  const ok = (candidate: string, payload = PAYLOAD, tokenId = id, tokenSecret = secret) =>
    verifyDetachedJws(candidate, payload, tokenId, tokenSecret);

  test('the untampered signature verifies (so the refusals below are about the tampering)', () => {
    assert.equal(ok(jws), true);
  });

  test('a changed payload', () => {
    assert.equal(ok(jws, `${PAYLOAD} `), false);
    assert.equal(ok(jws, PAYLOAD.replace('H', 'h')), false);
    assert.equal(ok(jws, ''), false);
  });

  test('a different alg in the header, with the signature kept', () => {
    for (const alg of ['none', 'HS384', 'HS512', 'RS256', 'hs256']) {
      assert.equal(ok(`${b64(`{"alg":"${alg}","kid":"${id}"}`)}..${signature}`), false, alg);
    }
    assert.equal(ok(`${b64(`{"alg":"none","kid":"${id}"}`)}..`), false, 'alg none without a signature');
  });

  test('a different kid, in the header or as the token ID, and a reformatted header', () => {
    assert.equal(ok(`${b64('{"alg":"HS256","kid":"abcdeg"}')}..${signature}`), false);
    assert.equal(ok(jws, PAYLOAD, 'abcdeg'), false);
    assert.equal(ok(`${b64(`{"kid":"${id}","alg":"HS256"}`)}..${signature}`), false, 'same fields, other order');
    assert.equal(ok(`${b64(`{"alg": "HS256", "kid": "${id}"}`)}..${signature}`), false, 'same fields, white space');
  });

  test('a different secret, or the whole token used as the key', () => {
    assert.equal(ok(jws, PAYLOAD, id, '0123456789abcdeg'), false);
    assert.equal(ok(jws, PAYLOAD, id, `${id}.${secret}`), false);
  });

  test('a flipped signature bit, a truncated or padded signature', () => {
    const sig = Buffer.from(signature, 'base64url');
    sig[0] = (sig[0] as number) ^ 0x01;
    assert.equal(ok(`${header}..${sig.toString('base64url')}`), false);
    assert.equal(ok(`${header}..${signature.slice(0, -1)}`), false);
    assert.equal(ok(`${header}..${signature}=`), false);
  });

  test('an attached payload, a fourth segment, white space, empty input', () => {
    assert.equal(ok(`${header}.${b64(PAYLOAD)}.${signature}`), false);
    assert.equal(ok(`${jws}.`), false);
    assert.equal(ok(`${jws}.${signature}`), false);
    assert.equal(ok(`${header}...${signature}`), false);
    assert.equal(ok(`${jws}\n`), false);
    assert.equal(ok(` ${jws}`), false);
    assert.equal(ok(''), false);
  });
});
