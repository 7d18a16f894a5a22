/**
 * CRLs of a sealed CA, in one process: nothing is signed between signing sessions, a session signs
 * them with a nextUpdate a week out, and they are kept in the store so that a restarted server, or
 * a second one that opened no session, serves the same bytes; a kept copy edited by one byte is
 * never served.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FakeClock } from '../src/base/clock.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { isObject } from '../src/base/json.ts';
import { crlConfigMapName, storeCrlKeeper } from '../src/control-plane/crl-keeper.ts';
import { CrlPublisher, SESSION_CRL_LIFETIME_MS } from '../src/control-plane/crl-publisher.ts';
import { RevokedSerialsCache } from '../src/control-plane/revocations.ts';
import { storeKeyFor } from '../src/control-plane/stored-objects.ts';
import { MemoryAuditLog } from '../src/signer/audit.ts';
import { SessionSigner } from '../src/signer/session-signer.ts';
import { LocalSigner } from '../src/signer/signer.ts';
import { openSqliteStore } from '../src/store/index.ts';
import { selfSignedCa } from './helpers/pki.ts';

const SHARDS = 4;

test('a sealed CA signs its CRLs in a session, for a week, and every server serves the kept ones between sessions', async () => {
  const ca = selfSignedCa({ crlSign: true });
  const store = openSqliteStore({ path: ':memory:' });
  const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
  const revoked = new RevokedSerialsCache({ store, clock, onError: () => {} });
  await revoked.start();
  const errors: unknown[] = [];
  const server = () => {
    const sessions = new SessionSigner({
      backend: {
        mode: 'sealed',
        async unlock() {
          return { signer: new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes }) };
        },
      },
      caCertificate: ca.certificate,
      audit: new MemoryAuditLog(),
      newId: () => 'session-1',
      clock,
    });
    const crls = new CrlPublisher({
      signer: sessions,
      revocations: revoked,
      distribution: { baseUrl: 'https://cp.example:6443', shards: SHARDS },
      clock,
      lifetimeMs: SESSION_CRL_LIFETIME_MS,
      keeper: storeCrlKeeper(store, () => new Date(clock.now())),
      onError: (e) => errors.push(e),
    });
    return { sessions, crls };
  };

  const first = server();
  await first.crls.start();
  assert.equal(first.crls.get(0), undefined, 'nothing is signed before the first session');
  assert.ok(
    errors.some((e) => isTlsbootError(e) && e.code === 'UNAVAILABLE'),
    'the build waits for a session',
  );
  await assert.rejects(
    first.sessions.signCrl({ crlNumber: 1n, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 1000), entries: [] }, new Date()),
    (e: unknown) => isTlsbootError(e) && e.code === 'UNAVAILABLE',
  );

  await first.sessions.open({ secret: { passphrase: Buffer.from('x') }, ttlMs: 600_000, maxCertificates: 1, actor: 'admin' });
  await first.crls.rebuild();
  const signed = first.crls.get(0);
  assert.ok(signed, 'signed during the session');
  assert.equal(first.sessions.status().current?.signed, 0, 'a CRL uses none of the certificate budget');
  const times = first.crls.served().find((c) => c.shard === 0);
  assert.equal((times?.nextUpdate.getTime() ?? 0) - (times?.thisUpdate.getTime() ?? 0), SESSION_CRL_LIFETIME_MS);
  const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-noout', '-nextupdate'], { input: signed, encoding: 'utf8' });
  assert.match(text, /nextUpdate=Dec {2}8 00:00:00 2026 GMT/);
  await first.sessions.closeSession('admin');

  // A restarted server (or the other one of an HA pair) that opens no session serves the same CRLs.
  clock.advance(3_600_000);
  const second = server();
  await second.crls.start();
  for (let shard = 0; shard < SHARDS; shard++) assert.deepEqual(second.crls.get(shard), first.crls.get(shard));

  // A server already running picks up what another server's session signed.
  const third = server();
  await third.crls.start();
  await third.sessions.open({ secret: { passphrase: Buffer.from('x') }, ttlMs: 600_000, actor: 'admin' });
  await third.crls.rebuild();
  await third.sessions.closeSession('admin');
  assert.notDeepEqual(third.crls.get(0), first.crls.get(0));
  await first.crls.reload();
  assert.deepEqual(first.crls.get(0), third.crls.get(0), 'the newer kept build replaces the older');

  // A kept copy edited by one byte is not served.
  const key = { resource: storeKeyFor('configmaps'), namespace: 'kube-system', name: crlConfigMapName(2) };
  const kept = await store.get(key);
  const der = Buffer.from(isObject(kept.binaryData) && typeof kept.binaryData.crl === 'string' ? kept.binaryData.crl : '', 'base64');
  der[der.length - 40] = (der[der.length - 40] ?? 0) ^ 1;
  await store.update(
    key,
    { ...kept, binaryData: { crl: der.toString('base64') } },
    { expectedResourceVersion: kept.metadata.resourceVersion ?? '' },
  );
  const fourth = server();
  await fourth.crls.start();
  assert.equal(fourth.crls.get(0), undefined, 'a tampered set is not served');

  for (const s of [first, second, third, fourth]) {
    await s.crls.close();
    await s.sessions.close();
  }
  await revoked.close();
  await store.close();
});
