/**
 * Signing sessions on a fake clock: nothing is signed outside a session, the window, the
 * certificate budget and the signer list are enforced, failed unlocks are counted and slow down
 * guessing, a session that ends while a signature is in flight still delivers that certificate,
 * and every step lands in the audit log.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { outcomeOf } from '../../test/helpers/errors.ts';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import type { SignRequest } from '../api/signer.ts';
import { FakeClock } from '../base/clock.ts';
import { ForbiddenError, isTlsbootError, RateLimitedError } from '../base/errors.ts';
import { generatePrivateKey, spkiOf } from '../pki/index.ts';
import { MemoryAuditLog } from './audit.ts';
import { type SessionBackend, type SessionSecret, SessionSigner, type Unlocked } from './session-signer.ts';
import { LocalSigner, type Signer } from './signer.ts';

const ca = selfSignedCa();
const MIN = 60_000;

function request(signerName = 'kubernetes.io/kube-apiserver-client-kubelet', n = 1): SignRequest {
  return {
    signerName,
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:n${n}` },
    ],
    publicKey: spkiOf(generatePrivateKey('ecdsa-p256')),
    sans: { dns: [], ip: [], email: [], uri: [] },
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['clientAuth'],
    csrDer: new Uint8Array(),
    usages: ['digital signature', 'client auth'],
    csrName: `csr-${n}`,
    csrUid: `uid-${n}`,
    requester: `system:bootstrap:abcdef`,
  };
}

/** Unlocks with the passphrase "open sesame"; `gate` lets a test hold a signature in flight. */
class FakeBackend implements SessionBackend {
  readonly mode = 'sealed' as const;
  gate: Promise<void> | undefined;
  closedSigners = 0;
  async unlock(secret: SessionSecret): Promise<Unlocked> {
    if (Buffer.from(secret.passphrase ?? []).toString() !== 'open sesame') throw new ForbiddenError('SEALED_UNLOCK', 'wrong passphrase');
    const inner = new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes });
    const signer: Signer = {
      caCertificate: ca.certificate,
      sign: async (r, now) => {
        if (this.gate) await this.gate;
        return inner.sign(r, now);
      },
      close: async () => {
        this.closedSigners++;
        await inner.close();
      },
    };
    return { signer };
  }
}

function setup() {
  const fake = new FakeClock(Date.now());
  const clock = { now: () => new Date(fake.now()), advance: (ms: number) => fake.advance(ms) };
  const audit = new MemoryAuditLog();
  const backend = new FakeBackend();
  let ids = 0;
  const signer = new SessionSigner({ backend, caCertificate: ca.certificate, audit, clock: fake, newId: () => `s${++ids}` });
  const open = (extra: { ttlMs?: number; maxCertificates?: number; signerNames?: string[]; passphrase?: string } = {}) =>
    signer.open({
      secret: { passphrase: Buffer.from(extra.passphrase ?? 'open sesame') },
      ttlMs: extra.ttlMs ?? 30 * MIN,
      actor: 'admin',
      ...(extra.maxCertificates === undefined ? {} : { maxCertificates: extra.maxCertificates }),
      ...(extra.signerNames === undefined ? {} : { signerNames: extra.signerNames }),
    });
  return { signer, clock, audit, backend, open };
}

describe('SessionSigner', () => {
  test('signs nothing without a session, and stops when the window ends', async () => {
    const { signer, clock, open, audit, backend } = setup();
    assert.equal(await outcomeOf(signer.sign(request(), clock.now())), 'UNAVAILABLE/SESSION_NONE');
    await open({ ttlMs: 10 * MIN });
    const signed = await signer.sign(request(), clock.now());
    assert.equal(signed.certificate.basicConstraints?.ca, false);
    clock.advance(10 * MIN);
    assert.equal(await outcomeOf(signer.sign(request(), clock.now())), 'UNAVAILABLE/SESSION_NONE');
    assert.equal(signer.status().current, undefined);
    assert.equal(signer.status().last?.endReason, 'expired');
    assert.equal(signer.status().last?.signed, 1);
    assert.equal(backend.closedSigners, 1, 'the unlocked signer was closed (key dropped)');
    assert.deepEqual(
      audit.events.map((e) => e.event),
      ['session.opened', 'certificate.signed', 'session.expired'],
    );
    await signer.close();
  });

  test('the certificate budget ends the session; other signers wait', async () => {
    const { signer, clock, open } = setup();
    await open({ maxCertificates: 2, signerNames: ['kubernetes.io/kube-apiserver-client-kubelet'] });
    assert.equal(await outcomeOf(signer.sign(request('kubernetes.io/kubelet-serving'), clock.now())), 'UNAVAILABLE/SESSION_SIGNER');
    await signer.sign(request(), clock.now());
    await signer.sign(request(), clock.now());
    assert.equal(signer.status().last?.endReason, 'exhausted');
    assert.equal(await outcomeOf(signer.sign(request(), clock.now())), 'UNAVAILABLE/SESSION_NONE');
    await signer.close();
  });

  test('concurrent signatures never exceed the budget', async () => {
    const { signer, clock, open } = setup();
    await open({ maxCertificates: 3 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => signer.sign(request(undefined, i), clock.now())));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    await signer.close();
  });

  test('a wrong passphrase unlocks nothing, is counted and audited, and repeated failures lock out for a while', async () => {
    const { signer, clock, open, audit } = setup();
    for (let i = 1; i <= 3; i++) {
      assert.equal(await outcomeOf(open({ passphrase: 'guess' })), 'FORBIDDEN/SEALED_UNLOCK');
      assert.equal(signer.status().failedUnlocks, i);
    }
    assert.equal(signer.status().current, undefined);
    assert.equal(await outcomeOf(open()), 'RATE_LIMITED/SESSION_LOCKED_OUT', 'even the right passphrase waits out the lockout');
    await assert.rejects(open(), (e: unknown) => e instanceof RateLimitedError && e.retryAfterSeconds === 1, 'the 429 says when to retry');
    clock.advance(2000);
    await open();
    assert.equal(signer.status().failedUnlocks, 0);
    assert.equal(audit.events.filter((e) => e.event === 'session.unlock-failed').length, 3);
    assert.ok(!JSON.stringify(audit.events).includes('guess'), 'no passphrase in the audit log');
    await signer.close();
  });

  test('one session at a time; limits are validated', async () => {
    const { signer, open } = setup();
    assert.equal(await outcomeOf(open({ ttlMs: 1000 })), 'INVALID/SESSION_TTL');
    assert.equal(await outcomeOf(open({ ttlMs: 48 * 60 * MIN })), 'INVALID/SESSION_TTL');
    assert.equal(await outcomeOf(open({ maxCertificates: 0 })), 'INVALID/SESSION_MAX');
    assert.equal(await outcomeOf(open({ signerNames: ['not a signer'] })), 'INVALID/SESSION_SIGNERS');
    await open();
    assert.equal(await outcomeOf(open()), 'ALREADY_EXISTS/SESSION_OPEN');
    await signer.close();
  });

  test('closing mid-batch: signatures in flight complete whole and are counted; later ones wait', async () => {
    const { signer, clock, open, backend, audit } = setup();
    await open();
    let release = () => {};
    backend.gate = new Promise((r) => {
      release = r;
    });
    const inFlight = Array.from({ length: 5 }, (_, i) => signer.sign(request(undefined, i), clock.now()));
    const closed = await signer.closeSession('admin');
    assert.equal(closed?.endReason, 'closed');
    assert.equal(await outcomeOf(signer.sign(request(), clock.now())), 'UNAVAILABLE/SESSION_NONE');
    release();
    const settled = await Promise.allSettled(inFlight);
    // The fake backend's inner LocalSigner was closed with the session: in-flight calls either
    // finished with a whole certificate or were refused as UNAVAILABLE, never anything between.
    for (const r of settled) {
      if (r.status === 'fulfilled') assert.equal(r.value.certificate.basicConstraints?.ca, false);
      else assert.ok(isTlsbootError(r.reason) && r.reason.code === 'UNAVAILABLE');
    }
    const signedEvents = audit.events.filter((e) => e.event === 'certificate.signed').length;
    assert.equal(signedEvents, settled.filter((r) => r.status === 'fulfilled').length);
    await signer.close();
  });

  test('listeners hear about each opened session', async () => {
    const { signer, open } = setup();
    let opened = 0;
    signer.onOpen(() => opened++);
    await open();
    assert.equal(opened, 1);
    await signer.close();
    assert.equal(await outcomeOf(open()), 'UNAVAILABLE/SIGNER_CLOSED');
  });

  test('the expiry timer on the injected clock drops the key at the deadline; closing early cancels it', async () => {
    const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
    const audit = new MemoryAuditLog();
    const backend = new FakeBackend();
    const signer = new SessionSigner({
      backend,
      caCertificate: ca.certificate,
      audit,
      newId: () => 's1',
      clock,
    });
    const open = () => signer.open({ secret: { passphrase: Buffer.from('open sesame') }, ttlMs: 30 * MIN, actor: 'admin' });
    await open();
    clock.advance(30 * MIN - 1);
    assert.equal(backend.closedSigners, 0);
    clock.advance(1);
    assert.equal(backend.closedSigners, 1, 'the key is dropped with nobody asking');
    assert.equal(audit.events.at(-1)?.event, 'session.expired');
    await open();
    await signer.closeSession('admin');
    assert.equal(clock.hostTimers, 0, 'no timer left behind');
    await signer.close();
  });
});
