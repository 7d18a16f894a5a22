/**
 * The Lease port over the cluster client: what the API answers is checked to be a Lease and
 * reduced to the fields leader election reads (a field of the wrong type is dropped, a body
 * that is no Lease is refused), writes go to the leases resource, and a LeaderElector runs on it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterClient, KubeObject } from '../api/cluster-client.ts';
import { FakeClock } from '../base/clock.ts';
import { ConflictError, UnavailableError } from '../base/errors.ts';
import { LeaderElector } from './leader-election.ts';
import { leaseClientOf } from './leases.ts';

/** A cluster client holding Leases only, with compare-and-swap; `answer` replaces what get returns. */
function leaseApi() {
  const objects = new Map<string, KubeObject>();
  const calls: string[] = [];
  let rv = 0;
  let answer: ((stored: KubeObject | undefined) => KubeObject | undefined) | undefined;
  const notUsed = (): never => {
    throw new UnavailableError('NOT_USED', 'not used by leader election');
  };
  const store = (obj: Record<string, unknown>, name: string, namespace: string): KubeObject => {
    const stored: KubeObject = {
      ...structuredClone(obj),
      metadata: { ...structuredClone(obj.metadata ?? {}), name, namespace, resourceVersion: String(++rv) },
    };
    objects.set(`${namespace}/${name}`, stored);
    return structuredClone(stored);
  };
  const nameOf = (obj: Record<string, unknown>): [string, string] => {
    const meta = obj.metadata;
    if (typeof meta !== 'object' || meta === null || !('name' in meta) || !('namespace' in meta))
      throw new UnavailableError('NO_META', 'no metadata');
    return [String(meta.name), String(meta.namespace)];
  };
  const client: ClusterClient = {
    async get(r, namespace, name) {
      calls.push(`get ${r.resource} ${namespace}/${name}`);
      const stored = objects.get(`${namespace}/${name}`);
      return answer ? answer(stored) : stored && structuredClone(stored);
    },
    async create(r, obj) {
      const [name, namespace] = nameOf(obj);
      calls.push(`create ${r.resource} ${namespace}/${name}`);
      return store(obj, name, namespace);
    },
    async update(r, obj) {
      const [name, namespace] = nameOf(obj);
      calls.push(`update ${r.resource} ${namespace}/${name}`);
      const current = objects.get(`${namespace}/${name}`);
      const expected =
        typeof obj.metadata === 'object' && obj.metadata !== null && 'resourceVersion' in obj.metadata
          ? obj.metadata.resourceVersion
          : undefined;
      if (current?.metadata.resourceVersion !== expected) throw new ConflictError('STALE', 'stale resourceVersion');
      return store(obj, name, namespace);
    },
    list: notUsed,
    delete: notUsed,
    listWatch: notUsed,
    allowed: notUsed,
  };
  return {
    client,
    calls,
    objects,
    answerWith: (f: typeof answer) => {
      answer = f;
    },
  };
}

describe('leaseClientOf', () => {
  test('a LeaderElector on it creates and renews the Lease through the leases resource', async () => {
    const api = leaseApi();
    const clock = new FakeClock(Date.parse('2026-12-01T10:00:00Z'));
    let leading = false;
    const elector = new LeaderElector({
      client: leaseClientOf(api.client),
      namespace: 'kube-system',
      name: 'tlsboot',
      identity: 'a',
      clock,
      random: () => 0,
      onStartedLeading: () => {
        leading = true;
      },
      onStoppedLeading: () => undefined,
    });
    elector.start();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(leading, true);
    clock.advance(2_000);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(api.calls, [
      'get leases kube-system/tlsboot',
      'create leases kube-system/tlsboot',
      'update leases kube-system/tlsboot',
    ]);
    const stored = api.objects.get('kube-system/tlsboot');
    assert.equal(stored?.apiVersion, 'coordination.k8s.io/v1');
    assert.equal(stored?.kind, 'Lease');
    await elector.close();
  });

  test('fields of the wrong type are dropped, other metadata is kept, and a body that is no Lease is refused', async () => {
    const api = leaseApi();
    const leases = leaseClientOf(api.client);
    api.answerWith(() => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '7', uid: 'u-1' },
      spec: {
        holderIdentity: 'a',
        leaseDurationSeconds: '15',
        renewTime: 5,
        leaseTransitions: 2.5,
        acquireTime: '2026-12-01T10:00:00.000000Z',
      },
    }));
    assert.deepEqual(await leases.get('ns', 'l'), {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '7', uid: 'u-1' },
      spec: { holderIdentity: 'a', acquireTime: '2026-12-01T10:00:00.000000Z' },
    });
    api.answerWith(() => undefined);
    assert.equal(await leases.get('ns', 'l'), undefined);
    api.answerWith(() => ({ metadata: { name: 'l' }, spec: 'not an object' }));
    await assert.rejects(leases.get('ns', 'l'), (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'LEASE_BODY');
  });
});
