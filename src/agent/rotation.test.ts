/** Rotation timing (reference §7.2): the jittered 70-90% deadline and the capped retry backoff. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { generatePrivateKey, issueCertificate, parseCertificate, spkiOf } from '../pki/index.ts';
import { retryDelayMs, rotationDeadline } from './rotation.ts';

const key = generatePrivateKey('ecdsa-p256');
const cert = parseCertificate(
  issueCertificate({
    subject: [{ type: 'CN', value: 'x' }],
    publicKey: spkiOf(key),
    keyUsage: ['digitalSignature'],
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2026-01-11T00:00:00Z'),
    issuer: { kind: 'self', key },
    randomBytes,
  }),
);
const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();

describe('rotationDeadline', () => {
  test('falls at 70% of the lifetime for the smallest draw and just under 90% for the largest', () => {
    assert.equal(rotationDeadline(cert, () => 0).getTime(), cert.notBefore.getTime() + 0.7 * lifetime);
    const top = rotationDeadline(cert, () => 0.999999).getTime();
    assert.ok(top < cert.notBefore.getTime() + 0.9 * lifetime && top > cert.notBefore.getTime() + 0.89 * lifetime);
  });

  test('is spread over the window by the random source', () => {
    const fractions = Array.from(
      { length: 200 },
      () => (rotationDeadline(cert, Math.random).getTime() - cert.notBefore.getTime()) / lifetime,
    );
    assert.ok(fractions.every((f) => f >= 0.7 && f < 0.9));
    assert.ok(Math.max(...fractions) - Math.min(...fractions) > 0.1, 'draws are not all the same');
  });
});

describe('rotationDeadline with a backdated short-lived certificate', () => {
  test('counts from installation when that is later than NotBefore, so it does not rotate in a loop', () => {
    const installedAt = new Date(cert.notBefore.getTime() + 0.8 * lifetime);
    const deadline = rotationDeadline(cert, () => 0, installedAt).getTime();
    assert.equal(deadline, installedAt.getTime() + 0.7 * (cert.notAfter.getTime() - installedAt.getTime()));
    assert.ok(deadline > installedAt.getTime());
  });
});

describe('retryDelayMs', () => {
  test('doubles from 2 s and stays at 32 s, within 10% jitter', () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 9].map((n) => retryDelayMs(n, mid)),
      [2000, 4000, 8000, 16000, 32000, 32000, 32000],
    );
    assert.equal(
      retryDelayMs(1, () => 0),
      1800,
    );
    assert.equal(
      retryDelayMs(5, () => 1),
      35200,
    );
  });
});
