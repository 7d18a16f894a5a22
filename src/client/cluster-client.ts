/**
 * The controllers' cluster port (src/api/cluster-client.ts) over the Kubernetes REST API: plain
 * verbs on resource paths, compare-and-swap through metadata.resourceVersion, deletes with a
 * resourceVersion precondition, list-then-watch for informers (an ERROR event carrying 410 is
 * GONE, so the informer re-lists), and SubjectAccessReview for `allowed`. Works against
 * `tlsboot server`, in process or over HTTPS, and against any Kubernetes API server.
 */
import {
  type ApiResource,
  apiVersionOfResource,
  type ClusterClient,
  type ClusterWrite,
  type KubeObject,
  resourcePath,
  TRANSACTIONS,
} from '../api/cluster-client.ts';
import type { ListWatch, ListWatchEvent } from '../api/list-watch.ts';
import type { AuthorizationAttributes } from '../api/rbac.ts';
import { InternalError, isTlsbootError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { errorFromStatus, type KubeClient } from './client.ts';

function isKubeObject(v: unknown): v is KubeObject {
  return isObject(v) && isObject(v.metadata) && typeof v.metadata.name === 'string';
}

function kubeObject(v: unknown, what: string): KubeObject {
  if (!isKubeObject(v)) throw new InternalError('CLIENT_BODY', `the server answered ${what} with something that is not an object`);
  return v;
}

function metaOf(obj: JsonObject): { name: string; namespace: string } {
  const m = isObject(obj.metadata) ? obj.metadata : {};
  return { name: typeof m.name === 'string' ? m.name : '', namespace: typeof m.namespace === 'string' ? m.namespace : '' };
}

function withTypeMeta(r: ApiResource, obj: JsonObject): JsonObject {
  return { ...obj, apiVersion: apiVersionOfResource(r), kind: r.kind };
}

export class HttpClusterClient implements ClusterClient {
  private readonly kube: KubeClient;
  private transactions: Promise<boolean> | undefined;

  constructor(kube: KubeClient) {
    this.kube = kube;
  }

  async get(r: ApiResource, namespace: string, name: string): Promise<KubeObject | undefined> {
    try {
      return kubeObject(await this.kube.request(resourcePath(r, namespace, name)), `GET ${r.resource}`);
    } catch (error) {
      if (isTlsbootError(error) && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  async list(r: ApiResource, namespace?: string): Promise<KubeObject[]> {
    return (await this.listAt(r, namespace)).items;
  }

  private async listAt(
    r: ApiResource,
    namespace: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const items: KubeObject[] = [];
    let resourceVersion = '';
    let next: string | undefined;
    do {
      const page = await this.kube.request(resourcePath(r, namespace), {
        query: { limit: '500', ...(next === undefined ? {} : { continue: next }) },
        ...(signal === undefined ? {} : { signal }),
      });
      const list = Array.isArray(page.items) ? page.items : [];
      for (const item of list) if (isKubeObject(item)) items.push(item);
      const meta = isObject(page.metadata) ? page.metadata : {};
      if (typeof meta.resourceVersion === 'string') resourceVersion = meta.resourceVersion;
      next = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
    } while (next !== undefined);
    return { items, resourceVersion };
  }

  async create(r: ApiResource, obj: JsonObject): Promise<KubeObject> {
    const { namespace } = metaOf(obj);
    return kubeObject(
      await this.kube.request(resourcePath(r, namespace), { method: 'POST', body: withTypeMeta(r, obj) }),
      `POST ${r.resource}`,
    );
  }

  async update(r: ApiResource, obj: JsonObject, subresource?: 'status' | 'approval'): Promise<KubeObject> {
    const { name, namespace } = metaOf(obj);
    return kubeObject(
      await this.kube.request(resourcePath(r, namespace, name, subresource), { method: 'PUT', body: withTypeMeta(r, obj) }),
      `PUT ${r.resource}`,
    );
  }

  async delete(r: ApiResource, namespace: string, name: string, resourceVersion: string): Promise<void> {
    await this.kube.request(resourcePath(r, namespace, name), {
      method: 'DELETE',
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } },
    });
  }

  listWatch(r: ApiResource, namespace?: string): ListWatch<KubeObject> {
    const kube = this.kube;
    return {
      list: (signal) => this.listAt(r, namespace, signal),
      async *watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<ListWatchEvent<KubeObject>> {
        const query = { resourceVersion, allowWatchBookmarks: 'true' };
        for await (const e of kube.watch(resourcePath(r, namespace), query, signal)) {
          if (e.type === 'ERROR') {
            const code = typeof e.object.code === 'number' ? e.object.code : 500;
            throw errorFromStatus(code, e.object);
          }
          if (!isKubeObject(e.object)) continue;
          yield { type: e.type, object: e.object };
        }
      },
    };
  }

  /** Asked of discovery once; an answer that is not a clear yes or no is asked again next time. */
  servesTransactions(): Promise<boolean> {
    this.transactions ??= this.kube.request(`/apis/${TRANSACTIONS.group}/${TRANSACTIONS.version}`).then(
      (list) => Array.isArray(list.resources) && list.resources.some((r) => isObject(r) && r.name === TRANSACTIONS.resource),
      (error: unknown) => {
        if (isTlsbootError(error) && error.code === 'NOT_FOUND') return false;
        this.transactions = undefined;
        return false;
      },
    );
    return this.transactions;
  }

  async transaction(writes: readonly ClusterWrite[]): Promise<KubeObject[]> {
    const answer = await this.kube.request(resourcePath(TRANSACTIONS), {
      method: 'POST',
      body: {
        apiVersion: apiVersionOfResource(TRANSACTIONS),
        kind: TRANSACTIONS.kind,
        spec: {
          writes: writes.map((w) => {
            const { name, namespace } = metaOf(w.object);
            return {
              verb: w.verb,
              apiVersion: apiVersionOfResource(w.resource),
              resource: w.resource.resource,
              ...(w.subresource === undefined ? {} : { subresource: w.subresource }),
              ...(namespace === '' ? {} : { namespace }),
              ...(w.verb === 'update' ? { name } : {}),
              object: withTypeMeta(w.resource, w.object),
            };
          }),
        },
      },
    });
    const objects = isObject(answer.status) && Array.isArray(answer.status.objects) ? answer.status.objects : [];
    if (objects.length !== writes.length)
      throw new InternalError('CLIENT_BODY', `the server answered a transaction of ${writes.length} writes with ${objects.length} objects`);
    return objects.map((o) => kubeObject(o, 'POST transactions'));
  }

  async allowed(a: AuthorizationAttributes): Promise<boolean> {
    const { user } = a;
    const spec: JsonObject = {
      user: user.name,
      groups: [...user.groups],
      ...(user.uid === undefined ? {} : { uid: user.uid }),
      ...(user.extra === undefined ? {} : { extra: user.extra }),
      ...('nonResourceURL' in a
        ? { nonResourceAttributes: { path: a.nonResourceURL, verb: a.verb } }
        : {
            resourceAttributes: {
              verb: a.verb,
              group: a.apiGroup,
              resource: a.resource,
              ...(a.subresource === undefined ? {} : { subresource: a.subresource }),
              ...(a.name === undefined ? {} : { name: a.name }),
              ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
            },
          }),
    };
    const review = await this.kube.request('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      method: 'POST',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
    });
    return isObject(review.status) && review.status.allowed === true;
  }
}
