/**
 * The agent's Node registration over HTTPS against the in-process API (node restriction on): it
 * creates its Node with the serving certificate's names and IPs and a Hostname, leaves it alone
 * when nothing changed, sets new addresses through the status subresource, and re-creates a Node
 * someone deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { kubeletServingSpec } from '../src/agent/agent.ts';
import { NodeRegistrar, nodeAddressesFor, registerNode } from '../src/agent/node-registration.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import { isObject } from '../src/base/json.ts';
import { type ConnectionConfig, KubeClient } from '../src/client/client.ts';
import { StaticTokens } from '../src/server/authn.ts';
import { NodeRestrictingAuthorizer } from '../src/server/node-restriction.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../src/server/testing.ts';

const NODE_TOKEN = 'node-w7-token-0123456789';

describe('node registration', () => {
  let api: TestApi;
  let node: KubeClient;
  let admin: KubeClient;
  let server: string;
  before(async () => {
    api = await startTestApi({
      authorizer: new NodeRestrictingAuthorizer({ authorize: () => ({ allowed: true, reason: 'test' }) }),
      staticTokens: StaticTokens.parse(
        `${ADMIN_TOKEN},admin,1,"system:masters"\n${NODE_TOKEN},system:node:w7,2,"system:nodes"`,
        'tokens.csv',
      ),
    });
    const { port } = await api.server.listen('127.0.0.1', 0);
    server = `https://127.0.0.1:${port}`;
    node = new KubeClient({ server, caPem: api.caPem, token: NODE_TOKEN });
    admin = new KubeClient({ server, caPem: api.caPem, token: ADMIN_TOKEN });
  });
  after(async () => {
    node?.close();
    admin?.close();
    await api?.close();
  });

  const addressesOf = async (name: string) => {
    const node = await admin.request(`/api/v1/nodes/${name}`);
    return isObject(node.status) ? node.status.addresses : undefined;
  };

  test('the addresses are the serving request SANs: Hostname, then canonical InternalIPs, then other names as InternalDNS', () => {
    const spec = kubeletServingSpec('w7', ['10.5.0.7', '2001:db8:0:0::7']);
    assert.deepEqual(nodeAddressesFor('w7', spec.sans ?? { dns: [], ip: [] }), [
      { type: 'Hostname', address: 'w7' },
      { type: 'InternalIP', address: '10.5.0.7' },
      { type: 'InternalIP', address: '2001:db8::7' },
    ]);
    assert.deepEqual(nodeAddressesFor('w7', { dns: ['w7', 'w7.corp.example'], ip: [] }), [
      { type: 'Hostname', address: 'w7' },
      { type: 'InternalDNS', address: 'w7.corp.example' },
    ]);
  });

  test('creates, leaves alone, updates through /status, and re-creates a deleted Node', async () => {
    const first = nodeAddressesFor('w7', { dns: ['w7'], ip: ['10.5.0.7'] });
    assert.equal(await registerNode(node, 'w7', first), 'created');
    assert.deepEqual(await addressesOf('w7'), first);
    assert.equal(await registerNode(node, 'w7', first), 'unchanged');
    const moved = nodeAddressesFor('w7', { dns: ['w7'], ip: ['10.5.0.8'] });
    assert.equal(await registerNode(node, 'w7', moved), 'updated');
    assert.deepEqual(await addressesOf('w7'), moved);
    await admin.request('/api/v1/nodes/w7', { method: 'DELETE' });
    assert.equal(await registerNode(node, 'w7', moved), 'created');
    assert.deepEqual(await addressesOf('w7'), moved);
  });

  test('a node cannot register under another name', async () => {
    await assert.rejects(registerNode(node, 'w8', nodeAddressesFor('w8', { dns: ['w8'], ip: [] })), { code: 'FORBIDDEN' });
  });

  test('the registrar retries with backoff until it has a credential, settles its first attempt either way, then re-checks', async () => {
    const sleeps: number[] = [];
    const stop = new AbortController();
    let credential: ConnectionConfig | undefined;
    const warnings: string[] = [];
    const registered: string[] = [];
    const registrar = new NodeRegistrar({
      nodeName: 'w7',
      addresses: nodeAddressesFor('w7', { dns: ['w7'], ip: ['10.5.0.9'] }),
      connection: () => credential,
      clock: REAL_CLOCK,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
        // The first wait follows the failure without a credential: the client certificate arrives.
        credential = { server, caPem: api.caPem, token: NODE_TOKEN };
        if (sleeps.length === 2) stop.abort();
      },
      log: (_e, message) => registered.push(message),
      warn: (_e, message) => warnings.push(message),
    });
    const running = registrar.run(stop.signal);
    await registrar.firstAttempt;
    assert.deepEqual(registered, [], 'settled by the failed first attempt, not by a later success');
    assert.deepEqual(warnings, ['node registration failed'], 'the first attempt failed and was reported');
    await running;
    assert.deepEqual(sleeps, [2000, 300_000], 'backoff after the failure, then the resync period');
    assert.deepEqual(registered, ['node registered']);
    assert.deepEqual(await addressesOf('w7'), nodeAddressesFor('w7', { dns: ['w7'], ip: ['10.5.0.9'] }));
  });
});
