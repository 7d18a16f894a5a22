/**
 * High availability on etcd (issue 15), on real processes: 3 etcd members, 2 `tlsboot server`s on
 * one DIR with leader election, Debian's haproxy on the control-plane endpoint. Nodes join and
 * run their agent through haproxy; a watch on one server sees a write made through the other;
 * one server's controllers lead. Losing one member changes nothing for joins; losing two (no
 * quorum) fails closed: 503, /readyz not ready, no certificate anyone holds that etcd does not,
 * and service returns with the members, completing the joins that waited.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONFIGMAPS, NODES } from '../src/api/cluster-client.ts';
import { loadKubeconfig } from '../src/client/client.ts';
import { HttpClusterClient } from '../src/client/cluster-client.ts';
import { auditedSerials, certificatesInEtcd, type HaCluster, serialOf, startHaCluster, statusOf } from './helpers/ha.ts';
import { joinNode, MAIN, toolSkip, until } from './helpers/processes.ts';

const skip = toolSkip('etcd') || toolSkip('haproxy');

describe('HA: 3 etcd members, 2 servers behind haproxy', { skip }, () => {
  let ha: HaCluster;

  before(async () => {
    ha = await startHaCluster({ members: 3, servers: 2 });
  });
  after(async () => {
    await ha?.close();
  });

  const joinThroughLb = (name: string) => joinNode(ha.endpoint, ha.token, name, join(ha.dir, name));
  const nodeCertificate = (name: string) => readFileSync(join(ha.dir, name, 'pki', 'kubelet-client-current.pem'), 'utf8');

  test('join and agent go through haproxy; a watch on one server sees a write through the other; one server leads', async () => {
    const joined = await joinThroughLb('node-a');
    assert.equal(joined.code, 0, joined.stderr);
    const kubelet = loadKubeconfig(join(ha.dir, 'node-a', 'kubelet.conf'));
    assert.equal(kubelet.server, ha.haproxy.url, 'the node talks to the load balancer, as cluster-info names it');

    const agent = spawn(process.execPath, [MAIN, 'agent', '--dir', join(ha.dir, 'node-a'), '--node-name', 'node-a'], { stdio: 'ignore' });
    try {
      const nodes = new HttpClusterClient(ha.admin);
      await until('the agent registers its Node through haproxy', async () =>
        (await nodes.listWatch(NODES).list(AbortSignal.timeout(10_000))).items.some((n) => n.metadata.name === 'node-a') ? true : undefined,
      );
    } finally {
      agent.kill('SIGTERM');
    }

    const [a, b] = ha.servers;
    assert.ok(a && b);
    const onB = new HttpClusterClient(ha.adminOf(b)).listWatch(CONFIGMAPS, 'default');
    const listed = await onB.list(AbortSignal.timeout(10_000));
    const stop = new AbortController();
    const seen = (async () => {
      for await (const e of onB.watch(listed.resourceVersion, stop.signal)) if (e.object.metadata.name === 'written-on-a') return e.type;
      return undefined;
    })();
    await ha.adminOf(a).request('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'written-on-a' }, data: { k: 'v' } },
    });
    const timer = setTimeout(() => stop.abort(), 10_000);
    assert.equal(await seen, 'ADDED', 'the watch on server B saw the write made through server A');
    clearTimeout(timer);
    stop.abort();

    const lease = await ha.admin.request('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tlsboot-controllers');
    const holder = (lease.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    const leading = ha.servers.filter((s) => {
      const lines = (s.running?.logs ?? [])
        .join('\n')
        .split('\n')
        .filter((l) => /became the leader|no longer the leader/.test(l));
      return lines.at(-1)?.includes('became the leader') ?? false;
    });
    assert.deepEqual(
      leading.map((s) => s.identity),
      [holder],
      'exactly one server runs its controllers, the Lease holder',
    );
  });

  test('one member killed: joins continue', async () => {
    // The first member is every server's first endpoint, so this also moves them to another one.
    await ha.members[0]?.kill();
    const joined = await joinThroughLb('node-b');
    assert.equal(joined.code, 0, joined.stderr);
    const held = await certificatesInEtcd(ha);
    assert.deepEqual(held.get('node-b')?.map(serialOf), [serialOf(nodeCertificate('node-b'))]);
  });

  test('two members killed: 503 and not ready, nothing signed without a durable record; service returns with the members', async () => {
    await ha.members[1]?.kill();
    const config = loadKubeconfig(ha.kubeconfig);
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-outage' }, data: {} };
    const direct = ha.servers.map((s) => `https://${s.host}:${ha.port}`);
    // Each server, asked at once: a read and a write fail closed within the store's call deadline, and /readyz says so.
    await Promise.all(
      direct.map(async (url) => {
        const started = Date.now();
        const [read, write, ready] = await Promise.all([
          statusOf(`${url}/api/v1/namespaces/default/configmaps`, config),
          statusOf(`${url}/api/v1/namespaces/default/configmaps`, config, { method: 'POST', body: configMap }),
          statusOf(`${url}/readyz`, config, { anonymous: true }),
        ]);
        assert.deepEqual({ read, write, ready }, { read: 503, write: 503, ready: 503 }, url);
        assert.ok(Date.now() - started < 15_000, `${url} answered, not hung`);
      }),
    );
    // haproxy takes both out of rotation and then falls back to them: the client hears their 503.
    await until(
      'haproxy to pass on a 503',
      async () =>
        (await statusOf(`${ha.haproxy.url}/api/v1/namespaces/default/configmaps`, config).catch(() => 0)) === 503 ? true : undefined,
      30_000,
    );

    const pending = joinThroughLb('node-c');
    await new Promise((r) => setTimeout(r, 3000));
    await Promise.all([ha.members[0]?.start(), ha.members[1]?.start()]);
    for (const url of direct)
      await until(
        `${url} ready again`,
        async () => ((await statusOf(`${url}/readyz`, config, { anonymous: true })) === 200 ? true : undefined),
        30_000,
      );
    const joined = await pending;
    assert.equal(joined.code, 0, joined.stderr);

    // Every certificate a node holds is one etcd holds, once per node; the audit log may name
    // more (a signature whose transaction failed), never fewer.
    const held = await certificatesInEtcd(ha);
    for (const name of ['node-a', 'node-b', 'node-c'])
      assert.deepEqual(held.get(name)?.map(serialOf), [serialOf(nodeCertificate(name))], name);
    const audited = new Set(auditedSerials(ha));
    for (const [name, pems] of held)
      for (const pem of pems) assert.ok(audited.has(serialOf(pem)), `${name}'s certificate is in an audit log`);
  });
});
