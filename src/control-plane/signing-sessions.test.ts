import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { FakeClock } from '../base/clock.ts';
import { isTlsbootError } from '../base/errors.ts';
import { MemoryAuditLog } from '../signer/audit.ts';
import { SessionSigner } from '../signer/session-signer.ts';
import { LocalSigner } from '../signer/signer.ts';
import { type Leadership, signingSessionApi } from './signing-sessions.ts';

const admin = { name: 'admin', groups: ['system:masters'] };
const openBody = { spec: { ttlSeconds: 600, passphrase: Buffer.from('correct horse battery').toString('base64') } };

function sessions(): { signer: SessionSigner; unlocks: () => number } {
  const ca = selfSignedCa();
  let unlocks = 0;
  const signer = new SessionSigner({
    backend: {
      mode: 'sealed',
      async unlock() {
        unlocks++;
        return { signer: new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes }) };
      },
    },
    caCertificate: ca.certificate,
    audit: new MemoryAuditLog(),
    newId: () => 'session-1',
    clock: new FakeClock(Date.parse('2026-12-01T00:00:00Z')),
  });
  return { signer, unlocks: () => unlocks };
}

test('under leader election, a server that does not lead refuses to open a session (503), naming the leader, and unlocks nothing', async () => {
  const { signer, unlocks } = sessions();
  let leading = false;
  const leadership: Leadership = { isLeader: () => leading, leader: () => (leading ? 'me' : 'cp-1_abc') };
  const api = signingSessionApi(signer, 'sealed', () => leadership);
  const open = () => {
    assert.ok(api.create);
    return api.create(openBody, admin, '');
  };
  await assert.rejects(open(), (e: unknown) => {
    assert.ok(isTlsbootError(e) && e.code === 'UNAVAILABLE', String(e));
    assert.match(String(e), /the leader is cp-1_abc.*open it on the leading server/);
    return true;
  });
  assert.equal(unlocks(), 0);
  assert.equal(signer.status().current, undefined);
  leading = true;
  const opened = await open();
  assert.equal(unlocks(), 1);
  assert.ok(opened.status !== null && typeof opened.status === 'object' && 'phase' in opened.status && opened.status.phase === 'Open');
  await signer.close();
});
