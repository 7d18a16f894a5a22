/**
 * The manager's readiness (what /readyz of `tlsboot server` waits for): not synced until every
 * informer of the chosen controllers has loaded its first list, and only the chosen controllers'
 * resources are read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiResource, ClusterClient, KubeObject } from '../api/cluster-client.ts';
import { reservedIdentities } from '../api/index.ts';
import type { ListWatch } from '../api/list-watch.ts';
import { ControllerManager } from './manager.ts';

/** Lists answer only when `open()` is called; records which resources were listed. */
class GatedCluster implements ClusterClient {
  readonly listed: string[] = [];
  private release: () => void = () => {};
  private readonly gate = new Promise<void>((r) => {
    this.release = r;
  });
  open(): void {
    this.release();
  }
  listWatch(r: ApiResource): ListWatch<KubeObject> {
    const gate = this.gate;
    const listed = this.listed;
    return {
      async list() {
        listed.push(r.resource);
        await gate;
        return { items: [], resourceVersion: '1' };
      },
      async *watch(_rv: string, signal: AbortSignal) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  }
  async get(): Promise<undefined> {
    return undefined;
  }
  async list(): Promise<KubeObject[]> {
    return [];
  }
  create(): never {
    throw new Error('not used');
  }
  update(): never {
    throw new Error('not used');
  }
  delete(): never {
    throw new Error('not used');
  }
  async allowed(): Promise<boolean> {
    return false;
  }
}

const quiet = { warn: () => {}, info: () => {} };

describe('ControllerManager readiness', () => {
  test('is not synced while a first list is outstanding, and is once start() resolves', async () => {
    const cluster = new GatedCluster();
    const manager = new ControllerManager({
      client: cluster,
      signer: undefined,
      now: () => new Date(),
      logger: quiet,
      reserved: () => reservedIdentities([]),
      controllers: new Set(['approver', 'token-cleaner']),
    });
    const started = manager.start();
    await new Promise((r) => setImmediate(r));
    assert.equal(manager.hasSynced(), false);
    cluster.open();
    await started;
    assert.equal(manager.hasSynced(), true);
    await manager.close();
  });

  test('reads only what the chosen controllers need', async () => {
    const cluster = new GatedCluster();
    cluster.open();
    const manager = new ControllerManager({
      client: cluster,
      signer: undefined,
      now: () => new Date(),
      logger: quiet,
      reserved: () => reservedIdentities([]),
      controllers: new Set(['token-cleaner']),
    });
    await manager.start();
    assert.deepEqual([...new Set(cluster.listed)].sort(), ['configmaps', 'secrets']);
    await manager.close();
  });
});
