/**
 * The generic REST verbs over the Store, the way kube-apiserver's registry does them: metadata
 * rules (name or generateName, namespace agreement, uid and creation time set by the server,
 * immutable fields kept), the resource's strategy for validation, admission, and compare-and-swap
 * writes so that concurrent writers get 409 Conflict instead of lost updates.
 */
import { looseMetadataOf } from '../api/index.ts';
import { BadRequestError, ConflictError, InternalError, InvalidError, MethodNotAllowedError, TlsbootError } from '../base/errors.ts';
import { isObject, type JsonObject, withoutNullFields } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import type { ObjectKey, Store, StoredObject, UpdateOptions } from '../store/index.ts';
import type { UserInfo } from './authn.ts';
import { type ManagedFieldsEntry, planApply, trackUpdate } from './managed-fields.ts';
import { applyMergePatch } from './merge-patch.ts';
import { apiVersionOf, qualifiedResource, type ResourceDef, storeResourceOf } from './registry.ts';

export interface Admission {
  /** Throws FORBIDDEN when the change may not be made by this user. */
  admit(params: { def: ResourceDef; subresource: string; old: JsonObject | undefined; obj: JsonObject; user: UserInfo }): Promise<void>;
  /**
   * Runs before a create's validation and may only warm caches (a CSR parsed on a crypto worker);
   * validation and admit decide, with the same answers as without it.
   */
  beforeCreate?(params: { def: ResourceDef; obj: JsonObject }): Promise<void>;
  /** Runs once a create is stored (never for a dry run or inside a transaction): records what must be audited. */
  afterCreate?(params: { def: ResourceDef; stored: JsonObject; user: UserInfo }): void;
  /**
   * Throws when the object may not be deleted by anyone. `current` reads it (only when the rule
   * needs it); the delete then removes exactly the version that was admitted.
   */
  admitDelete?(params: { def: ResourceDef; current: () => Promise<JsonObject> }): Promise<void>;
}

/** Room a requester holds for an object until its create is written (or fails). */
export interface QuotaReservation {
  /** The create was stored as `stored`. */
  commit(stored: JsonObject): void;
  /** The create failed, or was a dry run: give the room back. */
  cancel(): void;
}

export interface CreateQuota {
  /**
   * Checks, in the same synchronous step as it takes the room, that `user` may store one more
   * `obj`, so that concurrent creates cannot all pass one check. Undefined when the resource has
   * no quota. @throws FORBIDDEN naming the limit
   */
  reserve(def: ResourceDef, obj: JsonObject, user: UserInfo): QuotaReservation | undefined;
}

/**
 * Where a create or update reads the object it changes and writes the result: the store itself,
 * or a transaction gathering several writes for one commit (transactions.ts).
 */
export interface WriteTarget {
  get(key: ObjectKey): Promise<StoredObject>;
  create(key: ObjectKey, object: StoredObject): Promise<StoredObject>;
  update(key: ObjectKey, object: StoredObject, options: UpdateOptions): Promise<StoredObject>;
}

export interface RestDeps {
  readonly store: Store;
  readonly now: () => Date;
  readonly uid: () => string;
  readonly randomSuffix: () => string;
  readonly admission: Admission;
  readonly quota?: CreateQuota;
  /** Told of every update once it is stored (a transaction's, once it committed): the audit of approvals. */
  readonly onUpdated?: (p: { def: ResourceDef; subresource: string; old: JsonObject; stored: JsonObject; user: UserInfo }) => void;
}

/** Kubernetes' TotalAnnotationSizeLimitB: the keys and values of an object's annotations together. */
export const TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024;

export interface Target {
  readonly namespace: string;
  readonly name: string;
  readonly subresource: string;
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * A strategy's result as the store takes it, its fields in the order GET presents them (apiVersion
 * and kind first, whatever order the client sent): then the stored JSON text is already what GET
 * and LIST send, and a LIST passes it through without decoding it. The store itself checks that
 * the name matches the key.
 */
function storable(def: ResourceDef, obj: JsonObject): StoredObject {
  const meta = looseMetadataOf(obj);
  if (typeof meta.name !== 'string') throw new InternalError('STRATEGY_RESULT', 'a strategy returned an object without metadata.name');
  return { ...present(def, obj), metadata: { ...meta, name: meta.name } };
}

/** A field error as kube's field.Invalid writes it; `message` starts with the field path. */
function invalid(field: string, message: string): InvalidError {
  return new InvalidError('FIELD_INVALID', message, { field });
}

/**
 * A body as kube-apiserver's decoder sees it: a JSON null in a field is the field's absence (Go
 * leaves the zero value), so `lastTransitionTime: null` from Go clients (kubectl 1.20's
 * `certificate approve`) or `labels: null` are accepted, not refused. A null map value becomes
 * absent here where Go would store "" — a difference no client we know of relies on.
 */
function decoded(body: unknown): unknown {
  return withoutNullFields(body);
}

export function validateName(def: ResourceDef, name: string, field = 'metadata.name'): void {
  // Kubernetes validates RBAC and CSR names only as path segments (node-csr-<base64url> has capitals).
  if (def.group === 'rbac.authorization.k8s.io' || def.resource === 'certificatesigningrequests') {
    if (name === '' || name === '.' || name === '..' || /[/%]/.test(name)) {
      throw invalid(field, `${field}: Invalid value: "${name}": may not be '.' or '..' and may not contain '/' or '%'`);
    }
    return;
  }
  if (!DNS_SUBDOMAIN.test(name)) {
    throw invalid(
      field,
      `${field}: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

function checkTypeMeta(def: ResourceDef, obj: JsonObject): void {
  const apiVersion = apiVersionOf(def);
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
    throw new BadRequestError(
      'BAD_REQUEST',
      `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersion})`,
    );
  }
  if (obj.kind !== undefined && obj.kind !== def.kind) {
    throw new BadRequestError('BAD_REQUEST', `the kind in the data (${String(obj.kind)}) does not match the expected kind (${def.kind})`);
  }
}

function stringMap(meta: JsonObject, key: 'labels' | 'annotations'): void {
  const m = meta[key];
  if (m === undefined || m === null) return;
  if (!isObject(m) || !Object.values(m).every((v) => typeof v === 'string')) {
    throw invalid(`metadata.${key}`, `metadata.${key}: must be a map of strings`);
  }
}

/** The metadata rules every create, update and patch of every resource passes, as apimachinery's ValidateObjectMeta. */
function checkMetadataMaps(meta: JsonObject): void {
  stringMap(meta, 'labels');
  stringMap(meta, 'annotations');
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  let total = 0;
  // Bytes as Go's len() counts them, so the limit is Kubernetes' to the byte.
  for (const [k, v] of Object.entries(annotations)) total += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT_B) {
    throw invalid('metadata.annotations', `metadata.annotations: Too long: may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes`);
  }
}

/** Output shape: apiVersion and kind first, as clients expect them on every object. */
export function present(def: ResourceDef, obj: StoredObject | JsonObject): JsonObject {
  return { apiVersion: apiVersionOf(def), kind: def.kind, ...obj };
}

/** The object with its managedFields, or none when no one owns anything. */
function withManagedFields(obj: JsonObject, entries: ManagedFieldsEntry[]): JsonObject {
  const meta = { ...looseMetadataOf(obj) };
  delete meta.managedFields;
  if (entries.length > 0) meta.managedFields = entries;
  return { ...obj, metadata: meta };
}

/** Ownership of the prepared object's fields; it sees the stored object (undefined on create). */
type Track = (old: JsonObject | undefined, prepared: JsonObject) => ManagedFieldsEntry[];

/** A server-side apply: who applies, whether it takes fields from other managers, and dry run. */
export interface ApplyOptions {
  readonly manager: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  /** Called before an apply creates the object: the per-requester create limit. */
  readonly beforeCreate?: () => void;
}

export class RestHandlers {
  private readonly deps: RestDeps;

  constructor(deps: RestDeps) {
    this.deps = deps;
  }

  key(def: ResourceDef, t: Pick<Target, 'namespace' | 'name'>): ObjectKey {
    return { resource: storeResourceOf(def), namespace: def.namespaced ? t.namespace : '', name: t.name };
  }

  async get(def: ResourceDef, t: Target): Promise<JsonObject> {
    return present(def, await this.deps.store.get(this.key(def, t)));
  }

  /** `manager` names the writer in metadata.managedFields (kube: the fieldManager parameter, else the user agent). */
  async create(
    def: ResourceDef,
    t: Target,
    raw: unknown,
    user: UserInfo,
    dryRun: boolean,
    manager = '',
    target: WriteTarget = this.deps.store,
  ): Promise<JsonObject> {
    const now = this.deps.now();
    return this.createTracked(
      def,
      t,
      decoded(raw),
      user,
      dryRun,
      (old, prepared) => trackUpdate(def, old, prepared, undefined, { manager, subresource: '', now }),
      target,
    );
  }

  private async createTracked(
    def: ResourceDef,
    t: Target,
    body: unknown,
    user: UserInfo,
    dryRun: boolean,
    track: Track,
    target: WriteTarget = this.deps.store,
  ): Promise<JsonObject> {
    if (t.subresource !== '') throw new MethodNotAllowedError('METHOD', `create is not supported on ${t.subresource}`);
    if (!isObject(body)) throw new BadRequestError('BAD_REQUEST', 'the request body must be a JSON object');
    checkTypeMeta(def, body);
    const meta = { ...looseMetadataOf(body) };
    checkMetadataMaps(meta);
    if (def.namespaced) {
      const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
      if (ns !== '' && ns !== t.namespace)
        throw new BadRequestError('BAD_REQUEST', 'the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = t.namespace;
    } else {
      delete meta.namespace;
    }
    let name = typeof meta.name === 'string' ? meta.name : '';
    const prefix = typeof meta.generateName === 'string' ? meta.generateName : '';
    const generated = name === '';
    if (generated) {
      if (prefix === '') throw invalid('metadata.name', 'metadata.name: Required value: name or generateName is required');
      name = `${prefix.slice(0, 58)}${this.deps.randomSuffix()}`;
    }
    validateName(def, name);
    const now = this.deps.now();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.managedFields;
    const obj: JsonObject = {
      ...body,
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      metadata: { ...meta, name, uid: this.deps.uid(), creationTimestamp: formatRfc3339(now) },
    };
    await this.deps.admission.beforeCreate?.({ def, obj });
    const untracked = withManagedFields(def.prepareCreate(obj, { user, now }), []);
    let prepared = withManagedFields(untracked, track(undefined, untracked));
    await this.deps.admission.admit({ def, subresource: '', old: undefined, obj: prepared, user });
    const reservation = this.deps.quota?.reserve(def, prepared, user);
    if (dryRun) {
      reservation?.cancel();
      return present(def, prepared);
    }
    // A generated name can collide (5 random characters); like kube-apiserver since 1.30, try
    // fresh suffixes a few times before answering AlreadyExists.
    for (let attempt = 0; ; attempt++) {
      try {
        const stored = await target.create(this.key(def, { namespace: t.namespace, name }), storable(def, prepared));
        reservation?.commit(stored);
        if (target === this.deps.store) this.deps.admission.afterCreate?.({ def, stored, user });
        return present(def, stored);
      } catch (error) {
        if (!(generated && error instanceof TlsbootError && error.code === 'ALREADY_EXISTS' && attempt < 7)) {
          reservation?.cancel();
          throw error;
        }
        name = `${prefix.slice(0, 58)}${this.deps.randomSuffix()}`;
        prepared = { ...prepared, metadata: { ...looseMetadataOf(prepared), name } };
      }
    }
  }

  /** PUT on the resource or a subresource. */
  async update(
    def: ResourceDef,
    t: Target,
    raw: unknown,
    user: UserInfo,
    dryRun = false,
    manager = '',
    target: WriteTarget = this.deps.store,
  ): Promise<JsonObject> {
    const body = decoded(raw);
    if (!isObject(body)) throw new BadRequestError('BAD_REQUEST', 'the request body must be a JSON object');
    checkTypeMeta(def, body);
    const bodyMeta = looseMetadataOf(body);
    if (typeof bodyMeta.name === 'string' && bodyMeta.name !== t.name) {
      throw new BadRequestError('BAD_REQUEST', `the name of the object (${bodyMeta.name}) does not match the name on the URL (${t.name})`);
    }
    const old = await target.get(this.key(def, t));
    const rv = typeof bodyMeta.resourceVersion === 'string' && bodyMeta.resourceVersion !== '' ? bodyMeta.resourceVersion : undefined;
    return this.write(def, t, old, body, rv, user, this.updateTracker(def, t, body, manager), dryRun, target);
  }

  /** kube's Update entry; on the main resource the client may replace or clear (`[]`) the managedFields it read. */
  private updateTracker(def: ResourceDef, t: Target, body: JsonObject, manager: string): Track {
    const requested = t.subresource === '' ? looseMetadataOf(body).managedFields : undefined;
    const now = this.deps.now();
    return (old, prepared) => trackUpdate(def, old, prepared, requested, { manager, subresource: t.subresource, now });
  }

  /** PATCH with a JSON merge patch (also used for strategic merge patches). Retries lost races. */
  async patch(def: ResourceDef, t: Target, body: unknown, user: UserInfo, dryRun = false, manager = ''): Promise<JsonObject> {
    if (!isObject(body)) throw new BadRequestError('BAD_REQUEST', 'the patch must be a JSON object');
    const pinned = looseMetadataOf(body).resourceVersion;
    for (let attempt = 0; ; attempt++) {
      const old = await this.deps.store.get(this.key(def, t));
      const merged = decoded(applyMergePatch(old, body));
      if (!isObject(merged)) throw new BadRequestError('BAD_REQUEST', 'the patch must leave an object');
      const rv = typeof pinned === 'string' ? pinned : String(looseMetadataOf(old).resourceVersion ?? '');
      try {
        return await this.write(def, t, old, merged, rv, user, this.updateTracker(def, t, merged, manager), dryRun);
      } catch (error) {
        if (error instanceof TlsbootError && error.code === 'CONFLICT' && typeof pinned !== 'string' && attempt < 5) continue;
        throw error;
      }
    }
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): creates the object when it is missing,
   * otherwise merges the configuration into it; either way through the same strategy, admission
   * and compare-and-swap as create and update. Lost races are retried; field conflicts are not.
   */
  async apply(
    def: ResourceDef,
    t: Target,
    config: JsonObject,
    user: UserInfo,
    opts: ApplyOptions,
  ): Promise<{ created: boolean; obj: JsonObject }> {
    checkTypeMeta(def, config);
    if (config.apiVersion === undefined || config.kind === undefined) {
      throw new BadRequestError(
        'BAD_REQUEST',
        `invalid object type: ${String(config.apiVersion ?? '')}, Kind=${String(config.kind ?? '')}`,
      );
    }
    const { name, managedFields, resourceVersion } = looseMetadataOf(config);
    if (name !== undefined && name !== t.name) {
      throw new BadRequestError('BAD_REQUEST', `the name of the object (${String(name)}) does not match the name on the URL (${t.name})`);
    }
    // Ownership is the server's record; an applier states fields, never who owns them.
    if (managedFields !== undefined && managedFields !== null)
      throw new BadRequestError('BAD_REQUEST', 'metadata.managedFields must be nil');
    // A resourceVersion in the configuration is a precondition, as in an update: never retried past.
    const pinned = typeof resourceVersion === 'string' && resourceVersion !== '' ? resourceVersion : undefined;
    for (let attempt = 0; ; attempt++) {
      const op = { manager: opts.manager, subresource: t.subresource, now: this.deps.now() };
      let live: JsonObject | undefined;
      try {
        live = await this.deps.store.get(this.key(def, t));
      } catch (error) {
        if (!(error instanceof TlsbootError && error.code === 'NOT_FOUND' && t.subresource === '')) throw error;
      }
      const retry = (error: unknown) =>
        error instanceof TlsbootError &&
        ((error.code === 'CONFLICT' && error.reason === 'STORE_CONFLICT' && pinned === undefined) || error.code === 'ALREADY_EXISTS') &&
        attempt < 5;
      try {
        if (live === undefined) {
          opts.beforeCreate?.();
          const plan = planApply(def, undefined, config, op, opts.force);
          const body = { ...plan.merged, metadata: { ...looseMetadataOf(plan.merged), name: t.name } };
          return { created: true, obj: await this.createTracked(def, t, body, user, opts.dryRun, plan.track) };
        }
        const plan = planApply(def, live, config, op, opts.force);
        const rv = pinned ?? (looseMetadataOf(live).resourceVersion as string);
        return { created: false, obj: await this.write(def, t, live, plan.merged, rv, user, plan.track, opts.dryRun) };
      } catch (error) {
        if (retry(error)) continue;
        throw error;
      }
    }
  }

  private async write(
    def: ResourceDef,
    t: Target,
    old: JsonObject,
    body: JsonObject,
    expectedRv: string | undefined,
    user: UserInfo,
    track: Track,
    dryRun = false,
    target: WriteTarget = this.deps.store,
  ): Promise<JsonObject> {
    const oldMeta = looseMetadataOf(old);
    const currentRv = oldMeta.resourceVersion as string;
    if (expectedRv !== undefined && expectedRv !== currentRv) {
      throw new ConflictError(
        'RESOURCE_VERSION',
        `Operation cannot be fulfilled on ${qualifiedResource(def)} "${t.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const bodyMeta = looseMetadataOf(body);
    checkMetadataMaps(bodyMeta);
    const meta: JsonObject =
      t.subresource === ''
        ? {
            ...bodyMeta,
            name: oldMeta.name,
            ...(def.namespaced ? { namespace: oldMeta.namespace } : {}),
            uid: oldMeta.uid,
            creationTimestamp: oldMeta.creationTimestamp,
          }
        : { ...oldMeta };
    delete meta.resourceVersion;
    delete meta.namespace;
    if (def.namespaced) meta.namespace = oldMeta.namespace;
    const candidate: JsonObject = { ...body, apiVersion: apiVersionOf(def), kind: def.kind, metadata: meta };
    const now = this.deps.now();
    const untracked = withManagedFields(def.prepareUpdate(old, candidate, t.subresource, { user, now }), []);
    const prepared = withManagedFields(untracked, track(old, untracked));
    await this.deps.admission.admit({ def, subresource: t.subresource, old, obj: prepared, user });
    if (dryRun) return present(def, { ...prepared, metadata: { ...looseMetadataOf(prepared), resourceVersion: currentRv } });
    const stored = await target.update(this.key(def, t), storable(def, prepared), { expectedResourceVersion: currentRv });
    this.deps.onUpdated?.({ def, subresource: t.subresource, old, stored, user });
    return present(def, stored);
  }

  async delete(def: ResourceDef, t: Target, body: unknown, dryRun = false): Promise<JsonObject> {
    if (t.subresource !== '') throw new MethodNotAllowedError('METHOD', `delete is not supported on ${t.subresource}`);
    let expectedRv: string | undefined;
    let expectedUid: string | undefined;
    if (isObject(body) && isObject(body.preconditions)) {
      const p = body.preconditions;
      if (typeof p.resourceVersion === 'string') expectedRv = p.resourceVersion;
      if (typeof p.uid === 'string') expectedUid = p.uid;
    }
    if (expectedUid !== undefined) {
      const current = looseMetadataOf(await this.deps.store.get(this.key(def, t)));
      if (current.uid !== expectedUid) {
        throw new ConflictError(
          'PRECONDITION',
          `Precondition failed: UID in precondition: ${expectedUid}, UID in object meta: ${String(current.uid)}`,
        );
      }
      expectedRv ??= current.resourceVersion as string;
    }
    const admitDelete = this.deps.admission.admitDelete;
    if (admitDelete !== undefined) {
      await admitDelete.call(this.deps.admission, {
        def,
        current: async () => {
          const current = await this.deps.store.get(this.key(def, t));
          expectedRv ??= looseMetadataOf(current).resourceVersion as string;
          return current;
        },
      });
    }
    if (dryRun) {
      const current = await this.deps.store.get(this.key(def, t));
      const rv = looseMetadataOf(current).resourceVersion;
      if (expectedRv !== undefined && rv !== expectedRv)
        throw new ConflictError(
          'PRECONDITION',
          `Precondition failed: ResourceVersion in precondition: ${expectedRv}, ResourceVersion in object meta: ${String(rv)}`,
        );
      return present(def, current);
    }
    const deleted = await this.deps.store.delete(this.key(def, t), expectedRv === undefined ? {} : { expectedResourceVersion: expectedRv });
    return present(def, deleted);
  }
}
