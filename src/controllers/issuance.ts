/**
 * Deciding and signing in one write. When an approver approves a CSR whose signer runs in the
 * same controller manager, and the API server applies transactions, the signer signs at once and
 * the approval, the name claim, the certificate, its inventory record and the node's registration
 * reach the API as one transaction: two durable writes per auto-approved certificate (the CSR's
 * create, then this) instead of six. The approver's and the signer's own reconcilers run against
 * a GatheringClient, so every rule still lives in one place and is checked as before; only the
 * moment the writes land changes. A transaction that fails lands nothing: the CSR is looked at
 * again from what the API holds, and a certificate signed for it is kept for that retry (the
 * signer's `unrecorded`; a record another writer made wins), so the CA does not sign it twice.
 */

import type { ClusterWrite } from '../api/cluster-client.ts';
import { csrConditions } from '../api/index.ts';
import { InternalError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import { type ApiResource, type ClusterClient, CSRS, ISSUED_CERTIFICATES, type KubeObject } from './cluster.ts';
import { reconcileSigning, type SignerControllerOptions } from './signer.ts';

function metaOf(obj: JsonObject): { name: string; namespace: string } {
  const m = isObject(obj.metadata) ? obj.metadata : {};
  return { name: typeof m.name === 'string' ? m.name : '', namespace: typeof m.namespace === 'string' ? m.namespace : '' };
}

function asKubeObject(obj: JsonObject): KubeObject {
  const { name } = metaOf(obj);
  if (name === '') throw new InternalError('TRANSACTION_WRITE', 'a write of a transaction names no object');
  return { ...obj, metadata: { ...(isObject(obj.metadata) ? obj.metadata : {}), name } };
}

/**
 * A ClusterClient that gathers writes instead of making them: reads see the writes gathered so
 * far, so a reconciler that reads back what it wrote sees it. Writes of one object and one
 * subresource fold into one (a create then updated stays one create; an update keeps the
 * resourceVersion it was read at), as the transaction can write each object once per subresource.
 */
export class GatheringClient implements ClusterClient {
  private readonly base: ClusterClient;
  readonly writes: ClusterWrite[] = [];

  constructor(base: ClusterClient) {
    this.base = base;
  }

  /** The last write of this object; with `subresource` ('' for the object itself), the last write of exactly that. */
  private indexOf(r: ApiResource, namespace: string, name: string, subresource?: string): number {
    return this.writes.findLastIndex((w) => {
      const m = metaOf(w.object);
      return (
        w.resource === r &&
        m.name === name &&
        m.namespace === namespace &&
        (subresource === undefined || (w.subresource ?? '') === subresource)
      );
    });
  }

  /** The object as the gathered writes leave it, or undefined when none touches it. */
  latest(r: ApiResource, namespace: string, name: string): KubeObject | undefined {
    const w = this.writes[this.indexOf(r, namespace, name)];
    return w === undefined ? undefined : asKubeObject(w.object);
  }

  /** The object a gathered create of `r` makes (the signer's inventory record), if any. */
  created(r: ApiResource): JsonObject | undefined {
    return this.writes.find((w) => w.resource === r && w.verb === 'create')?.object;
  }

  async get(r: ApiResource, namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.latest(r, namespace, name) ?? this.base.get(r, namespace, name);
  }

  list(r: ApiResource, namespace?: string): Promise<KubeObject[]> {
    return this.base.list(r, namespace);
  }

  listWatch(r: ApiResource, namespace?: string) {
    return this.base.listWatch(r, namespace);
  }

  allowed(...args: Parameters<ClusterClient['allowed']>): Promise<boolean> {
    return this.base.allowed(...args);
  }

  async create(r: ApiResource, obj: JsonObject): Promise<KubeObject> {
    this.writes.push({ verb: 'create', resource: r, object: obj });
    return asKubeObject(obj);
  }

  async update(r: ApiResource, obj: JsonObject, subresource?: 'status' | 'approval'): Promise<KubeObject> {
    const { name, namespace } = metaOf(obj);
    const i = this.indexOf(r, namespace, name, subresource ?? '');
    const earlier = this.writes[i];
    if (earlier === undefined) {
      this.writes.push({ verb: 'update', resource: r, object: obj, ...(subresource === undefined ? {} : { subresource }) });
    } else {
      const meta = isObject(obj.metadata) ? obj.metadata : {};
      const first = isObject(earlier.object.metadata) ? earlier.object.metadata : {};
      const folded = { ...obj, metadata: { ...meta, resourceVersion: first.resourceVersion } };
      if (earlier.verb === 'create') delete folded.metadata.resourceVersion;
      this.writes[i] = { ...earlier, object: folded };
    }
    return asKubeObject(obj);
  }

  async delete(): Promise<void> {
    throw new InternalError('TRANSACTION_DELETE', 'a transaction does not delete');
  }
}

export interface IssuanceOptions {
  readonly client: ClusterClient;
  /** The signer controller's options; its client and CSR lister are replaced for the gathered run. */
  readonly signing: SignerControllerOptions;
}

/**
 * Runs `decide` (an approver's reconcile) against a GatheringClient; if it approved the CSR, runs
 * the signer on the approved copy; then lands everything in one transaction (a single write as
 * itself). `transaction` must be served (ClusterClient.servesTransactions).
 */
export async function reconcileIssuance(
  name: string,
  o: IssuanceOptions,
  decide: (client: ClusterClient) => Promise<ReconcileResult | undefined>,
): Promise<ReconcileResult | undefined> {
  return gatherAndLand(name, o, async (gathered) => {
    const result = await decide(gathered);
    const approved = gathered.latest(CSRS, '', name);
    if (approved !== undefined && csrConditions(approved).some((c) => c.type === 'Approved')) {
      const csrs = (n: string) => (n === name ? approved : o.signing.csrs(n));
      // Its retry (a signer unavailable now) is the signer controller's: it sees the approval land.
      await reconcileSigning(name, { ...o.signing, client: gathered, csrs });
    }
    return result;
  });
}

/**
 * The signer controller's reconcile for a CSR approved by someone else (a person, another
 * approver): the inventory record, the registration and the certificate in one transaction.
 */
export function reconcileSigningInOneWrite(name: string, o: IssuanceOptions): Promise<ReconcileResult | undefined> {
  return gatherAndLand(name, o, (gathered) => reconcileSigning(name, { ...o.signing, client: gathered }));
}

/**
 * Runs `run` against a GatheringClient, then lands what it gathered. Whatever fails before the
 * writes land (a read after signing, the transaction, a race it lost) lands nothing: the signer
 * must ask the API again rather than trust what it noted of the gathered record, and the
 * certificate it signed stays kept for the retry, so the CA does not sign the CSR twice.
 */
async function gatherAndLand(
  name: string,
  o: IssuanceOptions,
  run: (gathered: GatheringClient) => Promise<ReconcileResult | undefined>,
): Promise<ReconcileResult | undefined> {
  const gathered = new GatheringClient(o.client);
  try {
    const result = await run(gathered);
    await land(o, gathered.writes);
    return result;
  } catch (error) {
    o.signing.memory?.forget(name);
    const record = gathered.created(ISSUED_CERTIFICATES);
    const uid = isObject(record?.metadata) ? record.metadata.name : undefined;
    if (record !== undefined && typeof uid === 'string') o.signing.unrecorded?.set(uid, record);
    throw error;
  }
}

async function land(o: IssuanceOptions, writes: readonly ClusterWrite[]): Promise<void> {
  const [only] = writes;
  if (only === undefined) return;
  if (writes.length > 1) {
    if (o.client.transaction === undefined) throw new InternalError('NO_TRANSACTIONS', 'the cluster client applies no transactions');
    await o.client.transaction(writes);
  } else if (only.verb === 'create') await o.client.create(only.resource, only.object);
  else await o.client.update(only.resource, only.object, only.subresource);
}
