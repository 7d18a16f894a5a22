/**
 * Test fixture (used only by tests): the cluster port over a map, for reconcilers that read, list,
 * update and delete Secrets and ConfigMaps (the token cleaner, the bootstrap signer). Objects are
 * keyed `resource/name`; `failures` makes the next reads fail as an outage would.
 */
import type { ApiResource, ClusterClient, KubeObject } from '../api/cluster-client.ts';
import type { ListWatch } from '../api/list-watch.ts';
import { InternalError, UnavailableError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';

function asKube(obj: JsonObject): KubeObject {
  const meta = obj.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string') throw new InternalError('TEST_OBJECT', 'a test object needs metadata.name');
  return { ...obj, metadata: { ...meta, name: meta.name } };
}

export class MemoryCluster implements ClusterClient {
  readonly objects = new Map<string, JsonObject>();
  readonly deleted: string[] = [];
  failures = 0;

  put(r: ApiResource, obj: JsonObject): void {
    this.objects.set(`${r.resource}/${asKube(obj).metadata.name}`, obj);
  }

  async get(r: ApiResource, _namespace: string, name: string): Promise<KubeObject | undefined> {
    if (this.failures > 0) {
      this.failures--;
      throw new UnavailableError('TEST_OUTAGE', 'the store is away');
    }
    const obj = this.objects.get(`${r.resource}/${name}`);
    return obj === undefined ? undefined : asKube(obj);
  }
  async list(r: ApiResource): Promise<KubeObject[]> {
    return [...this.objects].filter(([key]) => key.startsWith(`${r.resource}/`)).map(([, obj]) => asKube(obj));
  }
  async update(r: ApiResource, obj: JsonObject): Promise<KubeObject> {
    const kube = asKube(obj);
    this.objects.set(`${r.resource}/${kube.metadata.name}`, obj);
    return kube;
  }
  async delete(r: ApiResource, _namespace: string, name: string): Promise<void> {
    this.objects.delete(`${r.resource}/${name}`);
    this.deleted.push(name);
  }
  create(): never {
    throw new Error('not used here');
  }
  listWatch(): ListWatch<KubeObject> {
    throw new Error('not used here');
  }
  allowed(): never {
    throw new Error('not used here');
  }
}
