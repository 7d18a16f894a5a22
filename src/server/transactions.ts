/**
 * tlsboot's transactions API (`transactions.tlsboot.io/v1alpha1`, create-only, never stored):
 * several ordinary writes (creates, and updates of objects or of their `status` and `approval`
 * subresources) applied all or none in one store transaction, so that a controller that decides
 * and signs makes the approval, the certificate and their bookkeeping durable in one write
 * instead of one each. Every write passes exactly what it would pass as a request of its own: RBAC
 * on its verb, resource, subresource, namespace and name; the per-requester create limit; the
 * resource's strategy and managedFields; admission. A second update of one object applies on top
 * of the first (a CSR's approval, then its certificate), each checked against its own change,
 * and the two become one store write. Creates name their objects (no generateName: a retried
 * suffix cannot be part of an all-or-none commit).
 */

import { BadRequestError, ForbiddenError, InternalError, InvalidError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { ObjectKey, Store, StoredObject, TxnOp, UpdateOptions } from '../store/index.ts';
import type { UserInfo } from './authn.ts';
import { type Authorizer, forbiddenMessage } from './authz.ts';
import type { Registry, ResourceDef, VirtualResource } from './registry.ts';
import type { RestHandlers, WriteTarget } from './rest.ts';

/** Most writes in one transaction: an issuance needs five. */
export const MAX_TRANSACTION_WRITES = 16;

export const TRANSACTION_API_VERSION = 'tlsboot.io/v1alpha1';

export interface TransactionDeps {
  readonly rest: RestHandlers;
  readonly registry: Registry;
  readonly authorizer: Authorizer;
  readonly store: Store;
  /** Whether a resource is stored (not served by code): only those can be written in a transaction. */
  readonly stored: (def: ResourceDef) => boolean;
  /** The per-requester create limit, as a create request takes it. @throws RATE_LIMITED */
  readonly takeCreate: (user: string) => void;
}

interface ParsedWrite {
  readonly verb: 'create' | 'update';
  readonly def: ResourceDef;
  readonly namespace: string;
  readonly name: string;
  readonly subresource: string;
  readonly object: JsonObject;
}

function invalid(field: string, message: string): InvalidError {
  return new InvalidError('TRANSACTION', `${field}: ${message}`, { field });
}

function optionalString(w: JsonObject, key: string, field: string): string {
  const v = w[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`${field}.${key}`, 'must be a string');
  return v;
}

function parseWrite(raw: unknown, field: string, deps: TransactionDeps): ParsedWrite {
  if (!isObject(raw)) throw invalid(field, 'must be an object');
  const verb = raw.verb;
  if (verb !== 'create' && verb !== 'update') throw invalid(`${field}.verb`, 'must be create or update');
  const apiVersion = optionalString(raw, 'apiVersion', field);
  const slash = apiVersion.indexOf('/');
  const [group, version] = slash < 0 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
  const resource = optionalString(raw, 'resource', field);
  const def = deps.registry.find(group, version, resource);
  if (def === undefined || !deps.stored(def) || def.alone === true || !def.verbs.includes(verb)) {
    throw invalid(
      field,
      `${verb} of ${resource || '(no resource)'} in ${apiVersion || '(no apiVersion)'} is not a write this server stores`,
    );
  }
  const subresource = optionalString(raw, 'subresource', field);
  if (subresource !== '' && (verb === 'create' || !def.subresources.includes(subresource))) {
    throw invalid(`${field}.subresource`, `${def.resource} has no subresource "${subresource}" to ${verb}`);
  }
  const namespace = optionalString(raw, 'namespace', field);
  if (def.namespaced !== (namespace !== '')) {
    throw invalid(
      `${field}.namespace`,
      def.namespaced ? `${def.resource} are namespaced: a namespace is required` : `${def.resource} are cluster-scoped`,
    );
  }
  const object = raw.object;
  if (!isObject(object)) throw invalid(`${field}.object`, 'must be an object');
  const meta = isObject(object.metadata) ? object.metadata : {};
  const name = verb === 'create' ? meta.name : raw.name;
  if (typeof name !== 'string' || name === '') {
    throw invalid(
      verb === 'create' ? `${field}.object.metadata.name` : `${field}.name`,
      verb === 'create' ? 'a create in a transaction names its object (generateName is not supported)' : 'required',
    );
  }
  return { verb, def, namespace, name, subresource, object };
}

/** The writes of a Transaction body, each authorised as its own request would be. */
function parseTransaction(body: unknown, user: UserInfo, deps: TransactionDeps): ParsedWrite[] {
  if (!isObject(body)) throw invalid('body', 'must be a Transaction object');
  if (body.apiVersion !== undefined && body.apiVersion !== TRANSACTION_API_VERSION) {
    throw invalid('apiVersion', `must be ${TRANSACTION_API_VERSION}`);
  }
  const spec = isObject(body.spec) ? body.spec : {};
  const raw = spec.writes;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_TRANSACTION_WRITES) {
    throw invalid('spec.writes', `must list 1 to ${MAX_TRANSACTION_WRITES} writes`);
  }
  const writes = raw.map((w, i) => parseWrite(w, `spec.writes[${i}]`, deps));
  for (const w of writes) {
    const attrs = {
      user,
      verb: w.verb,
      apiGroup: w.def.group,
      resource: w.def.resource,
      subresource: w.subresource,
      // As for a create request: the URL names no object, so RBAC's resourceNames cannot apply.
      name: w.verb === 'create' ? '' : w.name,
      namespace: w.namespace,
    };
    if (!deps.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
  }
  return writes;
}

function keyId(key: ObjectKey): string {
  return JSON.stringify([key.resource, key.namespace, key.name]);
}

/**
 * The writes of one transaction as the REST handlers make them: each is staged, not written, and
 * its promise settles when the whole commits. A read of an object staged already sees the staged
 * object, so a second update of it builds on the first.
 */
class TransactionBatch implements WriteTarget {
  private readonly ops: TxnOp[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly outcome = Promise.withResolvers<StoredObject[]>();
  private step = Promise.withResolvers<void>();

  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
    // Settled for the staged writes' promises, which are awaited; this one may have no reader.
    this.outcome.promise.catch(() => undefined);
  }

  /** Resolves when the next write reaches the point where it would write. */
  nextStep(): Promise<void> {
    this.step = Promise.withResolvers<void>();
    return this.step.promise;
  }

  async get(key: ObjectKey): Promise<StoredObject> {
    const i = this.byKey.get(keyId(key));
    const op = i === undefined ? undefined : this.ops[i];
    if (op === undefined) return this.store.get(key);
    if (op.op !== 'update') throw invalid('spec.writes', `${key.name} is created by this transaction and cannot be updated in it too`);
    return { ...op.object, metadata: { ...op.object.metadata, resourceVersion: op.expectedResourceVersion } };
  }

  create(key: ObjectKey, object: StoredObject): Promise<StoredObject> {
    if (this.byKey.has(keyId(key))) throw invalid('spec.writes', `${key.name} is written twice`);
    return this.stage({ op: 'create', key, object });
  }

  update(key: ObjectKey, object: StoredObject, options: UpdateOptions): Promise<StoredObject> {
    const i = this.byKey.get(keyId(key));
    if (i === undefined) return this.stage({ op: 'update', key, object, expectedResourceVersion: options.expectedResourceVersion });
    const op = this.ops[i];
    if (op?.op !== 'update') throw invalid('spec.writes', `${key.name} is created by this transaction and cannot be updated in it too`);
    this.ops[i] = { ...op, object };
    return this.settled(i);
  }

  private stage(op: TxnOp): Promise<StoredObject> {
    this.byKey.set(keyId(op.key), this.ops.length);
    this.ops.push(op);
    return this.settled(this.ops.length - 1);
  }

  /** The object op `i` stored, once the transaction committed (an update on top of another shares its op). */
  private async settled(i: number): Promise<StoredObject> {
    this.step.resolve();
    const stored = (await this.outcome.promise)[i];
    if (stored === undefined) throw new InternalError('TRANSACTION_RESULT', 'the store answered a transaction with fewer objects than ops');
    return stored;
  }

  async commit(): Promise<void> {
    try {
      this.outcome.resolve(await this.store.txn(this.ops));
    } catch (error) {
      this.outcome.reject(error);
    }
  }

  abort(error: unknown): void {
    this.outcome.reject(error);
  }
}

/** `transactions.tlsboot.io`: the handler of its create. */
export function transactionApi(deps: TransactionDeps): VirtualResource {
  return {
    create: async (body: unknown, user: UserInfo, _namespace: string, options?: { readonly dryRun: boolean }) => {
      // Its writes would each have to see the ones before them staged, which a dry run never stages.
      if (options?.dryRun === true) throw new BadRequestError('DRY_RUN', 'a dry run of a transaction is not supported');
      const writes = parseTransaction(body, user, deps);
      for (const w of writes) if (w.verb === 'create') deps.takeCreate(user.name);
      const batch = new TransactionBatch(deps.store);
      const results: Promise<JsonObject>[] = [];
      try {
        for (const w of writes) {
          const reached = batch.nextStep();
          const t = { namespace: w.namespace, name: w.name, subresource: w.subresource };
          const result =
            w.verb === 'create'
              ? deps.rest.create(w.def, t, w.object, user, false, '', batch)
              : deps.rest.update(w.def, t, w.object, user, false, '', batch);
          result.catch(() => undefined);
          results.push(result);
          await Promise.race([reached, result]);
        }
      } catch (error) {
        batch.abort(error);
        await Promise.allSettled(results);
        throw error;
      }
      await batch.commit();
      const objects = await Promise.all(results);
      return { apiVersion: TRANSACTION_API_VERSION, kind: 'Transaction', metadata: { creationTimestamp: null }, status: { objects } };
    },
  };
}
