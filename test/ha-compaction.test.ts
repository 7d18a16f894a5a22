/**
 * Compaction while watches are open (issue 15): two informers watch ConfigMaps through haproxy,
 * ours (src/runtime/informer.ts over HttpClusterClient) and @kubernetes/client-node's. Other
 * writes move etcd's revision on, etcd is compacted past the watchers' revision, and the etcd
 * member the server watches on is killed, so the server's watches resume from a revision etcd no
 * longer has: each client gets a 410 (an ERROR event), lists again and carries on, seeing the
 * next write.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from '@kubernetes/client-node';
import { CONFIGMAPS, type KubeObject } from '../src/api/cluster-client.ts';
import type { ListWatch } from '../src/api/list-watch.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { HttpClusterClient } from '../src/client/cluster-client.ts';
import { Informer } from '../src/runtime/informer.ts';
import { type HaCluster, startHaCluster } from './helpers/ha.ts';
import { toolSkip, until } from './helpers/processes.ts';

const skip = toolSkip('etcd') || toolSkip('haproxy');
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
