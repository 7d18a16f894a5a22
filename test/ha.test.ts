/**
 * High availability on etcd (issue 15), on real processes: 3 etcd members, 2 `tlsboot server`s on
 * one DIR with leader election, Debian's haproxy on the control-plane endpoint (test/helpers/ha.ts).
 * One file, so its clusters run one after another and never load the machine three at a time.
 *
 * 1. Nodes join and run their agent through haproxy; a watch on one server sees a write made
 *    through the other; one server's controllers lead. Losing one member changes nothing for
 *    joins; losing two (no quorum) fails closed: 503, /readyz not ready, no certificate anyone
 *    holds that etcd does not, and service returns with the members, completing the joins that waited.
 * 2. kill -9 of the leading server during a join storm: 60 nodes join through haproxy while an
 *    admin writes ConfigMaps; every node ends with exactly one certificate in etcd, the one it
 *    holds; every acknowledged write is in etcd; the other server leads and signs within the
 *    lease duration + 5 s.
 * 3. Compaction while watches are open: our informer and @kubernetes/client-node's watch
 *    ConfigMaps through haproxy; etcd is compacted past their revision and the member the server
 *    watches on is killed, so its watches resume from a revision etcd no longer has: each client
 *    gets a 410 (an ERROR event), lists again and carries on, seeing the next write.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from '@kubernetes/client-node';
import { joinCluster } from '../src/agent/join.ts';
import { CONFIGMAPS, type KubeObject, NODES, storeKeyOf } from '../src/api/cluster-client.ts';
import type { ListWatch } from '../src/api/list-watch.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { loadKubeconfig } from '../src/client/client.ts';
import { HttpClusterClient } from '../src/client/cluster-client.ts';
import { Informer } from '../src/runtime/informer.ts';
import { auditedSerials, certificatesInEtcd, type HaCluster, LEASE, serialOf, startHaCluster, statusOf } from './helpers/ha.ts';
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

const STORM_NODES = 60;

/** The first certificate.signed time in an audit log at or after `from` (ms), if any. */
function firstSignatureAfter(path: string, from: number): number | undefined {
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const event: unknown = JSON.parse(line);
    if (typeof event !== 'object' || event === null || !('event' in event) || event.event !== 'certificate.signed') continue;
    const time = 'time' in event ? Date.parse(String(event.time)) : Number.NaN;
    if (time >= from) return time;
  }
  return undefined;
}

describe('HA: kill -9 of the leading server during a join storm', { skip }, () => {
  let ha: HaCluster;
  before(async () => {
    ha = await startHaCluster({ members: 3, servers: 2 });
  });
  after(async () => {
    await ha?.close();
  });

  test(`${STORM_NODES} nodes through haproxy, the leader killed: one certificate each, no acknowledged write lost, the other leads in time`, {
    timeout: 150_000,
  }, async () => {
    const lease = async () => {
      const l = await ha.admin.request('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tlsboot-controllers');
      return (l.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    };
    const holder = await until('a leader', async () => lease().catch(() => undefined));
    const leader = ha.servers.find((s) => s.identity === holder);
    const survivor = ha.servers.find((s) => s.identity !== holder);
    assert.ok(leader && survivor, `the lease names one of the servers: ${holder}`);

    const joined = new Set<string>();
    const failures: string[] = [];
    const retries: string[] = [];
    // One `join` per node, not rerun: a join whose server dies behind haproxy must carry on by itself.
    const node = async (i: number) => {
      const name = `storm-${i}`;
      try {
        await joinCluster({
          endpoint: ha.endpoint.url,
          token: ha.token,
          pins: [ha.caPin],
          unsafeSkipCaVerification: false,
          nodeName: name,
          nodeDir: join(ha.dir, name),
          discoveryTimeoutMs: 60_000,
          discoveryRetryMs: 500,
          tlsBootstrapTimeoutMs: 60_000,
          clock: REAL_CLOCK,
          log: (line) => {
            if (line.includes('retrying')) retries.push(line);
          },
        });
        joined.add(name);
      } catch (error) {
        failures.push(`${name}: ${isTlsbootError(error) ? `${error.code}/${error.reason}` : String(error)}`);
      }
    };

    const acknowledged: string[] = [];
    const stopWriting = new AbortController();
    const writer = (async () => {
      for (let i = 0; !stopWriting.signal.aborted; i++) {
        const name = `write-${i}`;
        try {
          await ha.admin.request('/api/v1/namespaces/default/configmaps', {
            method: 'POST',
            body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } },
          });
          acknowledged.push(name);
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();

    const storm = Promise.all(Array.from({ length: STORM_NODES }, (_, i) => node(i)));
    await until('the first nodes to join', async () => (joined.size >= 10 ? true : undefined), 60_000);
    const killedAt = Date.now();
    const joinedBefore = joined.size;
    await leader.kill();
    await storm;
    stopWriting.abort();
    await writer;

    assert.deepEqual(failures, [], 'every join completed by itself');
    const newHolder = await until('the lease to move', async () => {
      const h = await lease().catch(() => undefined);
      return h === survivor.identity ? h : undefined;
    });
    assert.equal(newHolder, survivor.identity);
    const actedAt = firstSignatureAfter(survivor.auditLog, killedAt);
    assert.ok(actedAt !== undefined, 'the new leader signed');
    const takeoverMs = actedAt - killedAt;
    assert.ok(takeoverMs <= LEASE.durationMs + 5000, `the new leader acted ${takeoverMs} ms after the kill`);

    const held = await certificatesInEtcd(ha);
    const audited = auditedSerials(ha);
    for (let i = 0; i < STORM_NODES; i++) {
      const name = `storm-${i}`;
      const mine = readFileSync(join(ha.dir, name, 'pki', 'kubelet-client-current.pem'), 'utf8');
      assert.deepEqual(held.get(name)?.map(serialOf), [serialOf(mine)], `${name}: exactly one certificate in etcd, the one it holds`);
      assert.ok(audited.includes(serialOf(mine)), `${name}'s certificate is in an audit log`);
    }
    const inEtcd = new Set((await ha.etcd().list(storeKeyOf(CONFIGMAPS), { namespace: 'default' })).items.map((o) => o.metadata.name));
    const lost = acknowledged.filter((n) => !inEtcd.has(n));
    assert.deepEqual(lost, [], 'no acknowledged write is lost');
    const signedNotHeld = audited.length - [...held.values()].flat().length;
    process.stdout.write(
      `# storm: ${STORM_NODES} nodes, ${joinedBefore} joined before the kill; new leader signed ${takeoverMs} ms after it; ` +
        `joins retried ${retries.length} time(s) within themselves; ` +
        `${acknowledged.length} acknowledged writes; ${signedNotHeld} signature(s) in the audit logs that etcd does not hold\n`,
    );
  });
});

const WATCHED = 'default';

describe('HA: compaction while watches are open', { skip }, () => {
  let ha: HaCluster;
  before(async () => {
    ha = await startHaCluster({ members: 3, servers: 1 });
  });
  after(async () => {
    await ha?.close();
  });

  // A write in the second before etcd's followers notice their leader died is dropped by raft and
  // answered 503 at the store's deadline; a client asks again, as kubectl users and controllers do.
  const createConfigMap = async (namespace: string, name: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ha.admin.request(`/api/v1/namespaces/${namespace}/configmaps`, {
          method: 'POST',
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: {} },
        });
      } catch (error) {
        if (!(isTlsbootError(error) && error.code === 'UNAVAILABLE') || attempt >= 5) throw error;
      }
    }
  };

  test('our informer and client-node get 410, list again and see the next write', { timeout: 90_000 }, async () => {
    await createConfigMap(WATCHED, 'before');

    // Ours, with its lists and 410s counted.
    const inner = new HttpClusterClient(ha.admin).listWatch(CONFIGMAPS, WATCHED);
    let ourLists = 0;
    let ourGone = 0;
    const source: ListWatch<KubeObject> = {
      list: (signal) => {
        ourLists++;
        return inner.list(signal);
      },
      async *watch(resourceVersion, signal) {
        try {
          yield* inner.watch(resourceVersion, signal);
        } catch (error) {
          if (isTlsbootError(error) && error.code === 'GONE') ourGone++;
          throw error;
        }
      },
    };
    const ours = new Informer({ source, initialBackoffMs: 200 });
    await ours.start();

    // client-node's, with its lists counted.
    const config = new KubeConfig();
    config.loadFromFile(ha.kubeconfig);
    const core = config.makeApiClient(CoreV1Api);
    let theirLists = 0;
    const theirs = makeInformer<V1ConfigMap>(config, `/api/v1/namespaces/${WATCHED}/configmaps`, () => {
      theirLists++;
      return core.listNamespacedConfigMap({ namespace: WATCHED });
    });
    const theirErrors: unknown[] = [];
    theirs.on('error', (e) => theirErrors.push(e));
    await theirs.start();
    try {
      assert.ok(ours.get(WATCHED, 'before'));
      assert.deepEqual({ ourLists, theirLists }, { ourLists: 1, theirLists: 1 });

      // Other writes, then compaction past every revision the watchers have seen.
      for (let i = 0; i < 20; i++) await createConfigMap('kube-system', `noise-${i}`);
      const etcd = ha.etcd();
      await etcd.compact(await etcd.revision());
      // Every server's first endpoint: its watch streams break and resume from their old revision.
      await ha.members[0]?.kill();

      await until('both informers to list again', async () => (ourLists >= 2 && theirLists >= 2 ? true : undefined), 30_000);
      assert.ok(ourGone >= 1, 'our informer was told 410 Gone');
      await createConfigMap(WATCHED, 'after');
      await until('both informers to see the next write', async () =>
        ours.get(WATCHED, 'after') && theirs.get('after', WATCHED) ? true : undefined,
      );
      assert.deepEqual(theirErrors, [], 'client-node reported no error: a 410 is routine');
    } finally {
      await ours.close();
      await theirs.stop();
      await ha.members[0]?.start();
    }
  });
});
