/**
 * kubeadm-certs in a cluster (issue 15), in process: uploaded straight into the store, the
 * default node token's group can get that one Secret and open it with the certificate key, but
 * no other Secret, and a node cannot get it at all (RBAC as kubeadm's kubeadm:kubeadm-certs).
 * The token cleaner deletes it with its 2-hour owner token on a fake clock, and deletes at once
 * a Secret whose owner token was deleted by hand.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { SECRETS } from '../src/api/cluster-client.ts';
import { reservedIdentities } from '../src/api/index.ts';
import { FakeClock } from '../src/base/clock.ts';
import type { JsonObject } from '../src/base/json.ts';
import { uploadCertsToStore } from '../src/control-plane/upload-certs.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { tokenOwnerOf } from '../src/controllers/token-cleaner.ts';
import { newCertificateKey, parseCertificateKey } from '../src/kubeadm/certificate-key.ts';
import { runInit } from '../src/kubeadm/init.ts';
import { certsOwnerToken, certsSecret, KUBEADM_CERTS_SECRET, openCertsSecret, readSharedFiles } from '../src/kubeadm/upload-certs.ts';
import { type InProcessCluster, putNodeBootstrapToken, startInProcessCluster } from './helpers/in-process-cluster.ts';
import { testInitOptions } from './helpers/pki.ts';

const START = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;
const NODE_TOKEN = 'nodetk.0123456789abcdef';
const SECRETS_URL = '/api/v1/namespaces/kube-system/secrets';

describe('kubeadm-certs in a cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeadm-certs-'));
  const key = parseCertificateKey(newCertificateKey(randomBytes));
  let cluster: InProcessCluster;

  before(async () => {
    runInit(dir, testInitOptions({ nodeName: 'cp1', advertiseAddress: '10.0.0.1' }), { now: new Date(START), randomBytes });
    cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now: () => new Date(START) });
    await putNodeBootstrapToken(cluster.store, NODE_TOKEN);
    await uploadCertsToStore(cluster.store, { dir, key, now: new Date(START), randomBytes });
  });

  after(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the default node token gets kubeadm-certs and opens it; no other Secret; a node gets nothing', async () => {
    // The Role arrives at the authorizer through its informer.
    let got = await cluster.api.request(NODE_TOKEN, 'GET', `${SECRETS_URL}/${KUBEADM_CERTS_SECRET}`);
    for (let i = 0; got.statusCode !== 200 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      got = await cluster.api.request(NODE_TOKEN, 'GET', `${SECRETS_URL}/${KUBEADM_CERTS_SECRET}`);
    }
    assert.equal(got.statusCode, 200, got.body);
    const opened = openCertsSecret(got.json<JsonObject>(), key);
    assert.deepEqual(opened.files.get('ca.key'), readSharedFiles(dir).files.get('ca.key'));

    const other = await cluster.api.request(NODE_TOKEN, 'GET', `${SECRETS_URL}/bootstrap-token-nodetk`);
    assert.equal(other.statusCode, 403);
    const list = await cluster.api.request(NODE_TOKEN, 'GET', SECRETS_URL);
    assert.equal(list.statusCode, 403);
    const asNode = await cluster.asNode('worker-1', 'GET', `${SECRETS_URL}/${KUBEADM_CERTS_SECRET}`);
    assert.equal(asNode.status, 403);
  });

  test('the token cleaner deletes kubeadm-certs with its owner token after 2 hours, and at once when the owner is deleted by hand', async () => {
    const clock = new FakeClock(START);
    const manager = new ControllerManager({
      client: cluster.client,
      signer: undefined,
      now: () => new Date(clock.now()),
      clock,
      logger: { warn: () => {}, info: () => {} },
      reserved: () => reservedIdentities([]),
      controllers: new Set(['token-cleaner']),
    });
    const exists = async (name: string) => (await cluster.admin.get(SECRETS, 'kube-system', name)) !== undefined;
    const owner = async () => {
      const secret = await cluster.admin.get(SECRETS, 'kube-system', KUBEADM_CERTS_SECRET);
      return (secret && tokenOwnerOf(secret)?.name) ?? '';
    };
    const settle = async (until: () => Promise<boolean>) => {
      for (let i = 0; i < 200 && !(await until()); i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      await manager.start();
      const ownerName = await owner();
      assert.match(ownerName, /^bootstrap-token-[a-z0-9]{6}$/);
      clock.advance(2 * HOUR - 60_000);
      await setImmediate();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await exists(KUBEADM_CERTS_SECRET), true, 'kept before the 2 hours are up');
      assert.equal(await exists(ownerName), true);
      clock.advance(60_001);
      await settle(async () => !(await exists(KUBEADM_CERTS_SECRET)) && !(await exists(ownerName)));
      assert.equal(await exists(KUBEADM_CERTS_SECRET), false, 'deleted at 2 hours');
      assert.equal(await exists(ownerName), false, 'with its owner token');
      assert.equal(await exists('bootstrap-token-nodetk'), true, 'other tokens and Secrets stay');

      // Uploaded again, and the owner token deleted by hand: the orphan goes at once.
      const token = certsOwnerToken(new Date(clock.now()), randomBytes);
      const storedToken = await cluster.admin.create(SECRETS, token);
      await cluster.admin.create(
        SECRETS,
        certsSecret(readSharedFiles(dir).files, key, { name: storedToken.metadata.name, uid: storedToken.metadata.uid ?? '' }, randomBytes),
      );
      const stored = await cluster.admin.get(SECRETS, 'kube-system', storedToken.metadata.name);
      await cluster.admin.delete(SECRETS, 'kube-system', storedToken.metadata.name, stored?.metadata.resourceVersion ?? '');
      await settle(async () => !(await exists(KUBEADM_CERTS_SECRET)));
      assert.equal(await exists(KUBEADM_CERTS_SECRET), false, 'an orphan of a deleted owner token is deleted');
    } finally {
      await manager.close();
    }
  });
});
