/**
 * Field ownership as kube-apiserver keeps it in `metadata.managedFields` (structured-merge-diff):
 * field sets and their FieldsV1 encoding, the Update entry every create, update and patch records,
 * and server-side apply's merge, conflicts and release of fields an applier stopped sending.
 * Lists are atomic (owned and replaced whole) except the few Kubernetes declares associative for
 * the served kinds (ASSOCIATIVE_LISTS); maps (labels, annotations, data) are granular.
 */
import { ConflictError, InternalError, InvalidError, type TlsbootError } from '../base/errors.ts';
import { equalJson, isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339, rfc3339Millis } from '../base/rfc3339.ts';
import { apiVersionOf, type ResourceDef } from './registry.ts';

/** One path element as FieldsV1 writes it: `f:name`, `k:{"type":"Approved"}`, `v:"x"`. */
type PathElement = string;
type Path = readonly PathElement[];
/** A set of paths, keyed by their encoding; the values keep the elements. */
export type FieldSet = Map<string, Path>;

const SEP = '\u0000';

export interface ManagedFieldsEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  readonly time?: string;
  readonly fieldsType: 'FieldsV1';
  readonly fieldsV1: JsonObject;
  readonly subresource?: string;
}

interface Manager {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  readonly subresource: string;
  time: string | undefined;
  set: FieldSet;
}

/**
 * Lists Kubernetes marks `listType=map` (keyed) or `listType=set` for the served kinds; every other
 * list is atomic. RBAC rules and subjects, CSR usages and groups are atomic in Kubernetes too.
 */
const ASSOCIATIVE_LISTS: Readonly<Record<string, { readonly keys: readonly string[] } | 'set'>> = {
  'f:status/f:conditions': { keys: ['type'] },
  'f:metadata/f:ownerReferences': { keys: ['uid'] },
  'f:metadata/f:finalizers': 'set',
};

/** Go structs that are never absent (not pointers): creating them does not make them members, as in kube. */
const ALWAYS_PRESENT = new Set(['f:metadata', 'f:spec', 'f:status', 'f:roleRef', 'f:involvedObject', 'f:source']);

/** Fields the server sets or that name the object: never owned by anyone (fieldmanager's stripped set). */
const STRIPPED = new Set([
  'f:apiVersion',
  'f:kind',
  'f:metadata/f:name',
  'f:metadata/f:namespace',
  'f:metadata/f:uid',
  'f:metadata/f:creationTimestamp',
  'f:metadata/f:resourceVersion',
  'f:metadata/f:generation',
  'f:metadata/f:selfLink',
  'f:metadata/f:managedFields',
  'f:metadata/f:deletionTimestamp',
  'f:metadata/f:deletionGracePeriodSeconds',
]);

/** What each subresource may change; the rest of a write through it is the strategy's to reset, never owned. */
function ownable(def: ResourceDef, subresource: string, path: Path): boolean {
  const top = path[0];
  if (!def.subresources.includes('status')) return true;
  return subresource === '' ? top !== 'f:status' : top === 'f:status';
}

const keyOf = (path: Path) => path.join(SEP);
const schemaKey = (path: Path) => path.filter((e) => e.startsWith('f:')).join('/');

function add(set: FieldSet, path: Path): void {
  if (path.length === 0) return;
  const key = keyOf(path);
  // Every stripped field is apiVersion, kind or under metadata: only those keys are looked up.
  if ((key.startsWith('f:metadata') || key === 'f:apiVersion' || key === 'f:kind') && STRIPPED.has(key.replaceAll(SEP, '/'))) return;
  set.set(key, path);
}

/** Go's encoding of a list key: fields sorted by name, compact JSON. */
function itemElement(list: { readonly keys: readonly string[] } | 'set', item: unknown): PathElement | undefined {
  if (list === 'set') return `v:${JSON.stringify(item)}`;
  if (!isObject(item)) return undefined;
  const key: Record<string, unknown> = {};
  for (const k of [...list.keys].sort()) {
    if (item[k] === undefined) return undefined;
    key[k] = item[k];
  }
  return `k:${JSON.stringify(key)}`;
}

/** An associative list as a map from item element to item; undefined when an item has no key (then it is atomic). */
function itemsByKey(path: Path, value: unknown): Map<PathElement, unknown> | undefined {
  // Only a list can be associative: the schema key is built for lists alone.
  if (!Array.isArray(value)) return undefined;
  const list = ASSOCIATIVE_LISTS[schemaKey(path)];
  if (list === undefined) return undefined;
  const out = new Map<PathElement, unknown>();
  for (const item of value) {
    const e = itemElement(list, item);
    if (e === undefined) return undefined;
    out.set(e, item);
  }
  return out;
}

/** The fields an applied configuration sets: its leaves, atomic lists whole, keyed list items by key. */
export function fieldSetOf(value: JsonObject): FieldSet {
  const set: FieldSet = new Map();
  const walk = (v: unknown, path: Path) => {
    // An empty map sets nothing, so it owns nothing (structured-merge-diff's ToFieldSet).
    if (isObject(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, `f:${k}`]);
      return;
    }
    const items = itemsByKey(path, v);
    if (items === undefined) return add(set, path);
    for (const [e, item] of items) {
      add(set, [...path, e]);
      if (isObject(item)) for (const [k, child] of Object.entries(item)) walk(child, [...path, e, `f:${k}`]);
    }
  };
  walk(value, []);
  return set;
}

interface Comparison {
  readonly added: FieldSet;
  readonly modified: FieldSet;
  readonly removed: FieldSet;
}

/** What changed from `before` to `after`, path by path, as structured-merge-diff's Compare. */
export function compare(before: unknown, after: unknown): Comparison {
  const out: Comparison = { added: new Map(), modified: new Map(), removed: new Map() };
  // Everything under a path that appeared or vanished; a map or keyed item is a member itself too.
  const all = (v: unknown, path: Path, into: FieldSet) => {
    const items = itemsByKey(path, v);
    if (!isObject(v) && items === undefined) return add(into, path);
    if (path.length > 0 && !ALWAYS_PRESENT.has(keyOf(path))) add(into, path);
    if (isObject(v)) for (const [k, child] of Object.entries(v)) all(child, [...path, `f:${k}`], into);
    else if (items !== undefined) for (const [e, item] of items) all(item, [...path, e], into);
  };
  const walk = (a: unknown, b: unknown, path: Path) => {
    // Equal values add, modify and remove nothing: most of an update (a CSR's spec) is skipped whole.
    if (equalJson(a, b)) return;
    if (isObject(a) && isObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const p = [...path, `f:${k}`];
        if (!(k in a)) all(b[k], p, out.added);
        else if (!(k in b)) all(a[k], p, out.removed);
        else walk(a[k], b[k], p);
      }
      return;
    }
    const ia = itemsByKey(path, a);
    const ib = itemsByKey(path, b);
    if (ia !== undefined && ib !== undefined) {
      for (const [e, item] of ib) {
        if (!ia.has(e)) all(item, [...path, e], out.added);
        else walk(ia.get(e), item, [...path, e]);
      }
      for (const [e, item] of ia) if (!ib.has(e)) all(item, [...path, e], out.removed);
      return;
    }
    if (!equalJson(a, b)) add(out.modified, path);
  };
  walk(before, after, []);
  return out;
}

function union(...sets: FieldSet[]): FieldSet {
  const out: FieldSet = new Map();
  for (const s of sets) for (const [k, p] of s) out.set(k, p);
  return out;
}

function without(set: FieldSet, ...others: FieldSet[]): FieldSet {
  return new Map([...set].filter(([k]) => !others.some((o) => o.has(k))));
}

/** FieldsV1: a tree of path elements; `.` marks a path that is itself a member besides its children. */
export function toFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {};
  const order = (e: string) => (e === '.' ? 0 : 'fkvi'.indexOf(e[0] ?? 'i') + 1);
  for (const path of set.values()) {
    let node = root;
    path.forEach((e, i) => {
      const child = isObject(node[e]) ? node[e] : {};
      node[e] = child;
      if (i === path.length - 1) child['.'] = {};
      node = child;
    });
  }
  // A member without children is written `{}`, one with children keeps its `.`; keys in Go's order.
  const finish = (node: JsonObject): JsonObject => {
    const keys = Object.keys(node).filter((k) => k !== '.');
    if (keys.length === 0) return {};
    const out: JsonObject = '.' in node ? { '.': {} } : {};
    keys.sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const k of keys) {
      const child = node[k];
      out[k] = finish(isObject(child) ? child : {});
    }
    return out;
  };
  return finish(root);
}

function fromFieldsV1(tree: unknown, field: string): FieldSet {
  const set: FieldSet = new Map();
  const walk = (node: unknown, path: PathElement[]) => {
    if (!isObject(node)) throw invalidManagedFields(field, 'fieldsV1 must be an object of objects');
    const keys = Object.keys(node);
    if (path.length > 0 && (keys.length === 0 || '.' in node)) set.set(keyOf(path), [...path]);
    for (const k of keys) {
      if (k === '.') continue;
      if (!/^[fkvi]:/.test(k)) throw invalidManagedFields(field, `fieldsV1 has an unknown path element ${JSON.stringify(k)}`);
      walk(node[k], [...path, k]);
    }
  };
  walk(tree, []);
  return set;
}

function invalidManagedFields(field: string, message: string): InvalidError {
  return new InvalidError('MANAGED_FIELDS', `${field}: Invalid value: ${message}`, { field });
}

function decodeManagers(value: unknown): Manager[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidManagedFields('metadata.managedFields', 'must be a list');
  return value.map((e, i): Manager => {
    const field = `metadata.managedFields[${i}]`;
    if (!isObject(e)) throw invalidManagedFields(field, 'must be an object');
    const { manager, operation, apiVersion, time, subresource, fieldsType } = e;
    if (operation !== 'Apply' && operation !== 'Update') throw invalidManagedFields(`${field}.operation`, 'must be Apply or Update');
    if (fieldsType !== undefined && fieldsType !== 'FieldsV1') throw invalidManagedFields(`${field}.fieldsType`, 'must be FieldsV1');
    return {
      manager: typeof manager === 'string' ? manager : '',
      operation,
      apiVersion: typeof apiVersion === 'string' ? apiVersion : '',
      subresource: typeof subresource === 'string' ? subresource : '',
      time: typeof time === 'string' ? time : undefined,
      set: fromFieldsV1(e.fieldsV1 ?? {}, `${field}.fieldsV1`),
    };
  });
}

function encodeManagers(managers: readonly Manager[]): ManagedFieldsEntry[] {
  // Each time parsed once, not once per comparison.
  const parsed = new Map(managers.map((m) => [m, m.time === undefined ? 0 : rfc3339Millis(m.time)]));
  const seconds = (m: Manager) => parsed.get(m) ?? 0;
  return managers
    .filter((m) => m.set.size > 0)
    .sort(
      (p, q) =>
        p.operation.localeCompare(q.operation) ||
        seconds(p) - seconds(q) ||
        (p.manager < q.manager ? -1 : p.manager > q.manager ? 1 : 0) ||
        (p.apiVersion < q.apiVersion ? -1 : 1),
    )
    .map((m) => ({
      manager: m.manager,
      operation: m.operation,
      apiVersion: m.apiVersion,
      ...(m.time === undefined ? {} : { time: m.time }),
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(m.set),
      ...(m.subresource === '' ? {} : { subresource: m.subresource }),
    }));
}

/** kube's manager identifier: an applier is one manager whatever its apiVersion. */
function sameManager(m: Manager, manager: string, operation: 'Apply' | 'Update', apiVersion: string, subresource: string): boolean {
  return (
    m.manager === manager &&
    m.operation === operation &&
    m.subresource === subresource &&
    (operation === 'Apply' || m.apiVersion === apiVersion)
  );
}

/** How kube's conflict messages name a manager (printManager). */
function describe(m: Manager): string {
  const name = `${JSON.stringify(m.manager)}${m.subresource === '' ? '' : ` with subresource ${JSON.stringify(m.subresource)}`}`;
  return m.operation === 'Update' ? `${name} using ${m.apiVersion}` : name;
}

/** structured-merge-diff's Path.String(): `.spec.x`, `[type="Approved"]`, `[="value"]`. */
export function pathString(path: Path): string {
  return path
    .map((e) => {
      const body = e.slice(2);
      if (e.startsWith('f:')) return `.${body}`;
      if (e.startsWith('v:')) return `[=${body}]`;
      if (e.startsWith('i:')) return `[${body}]`;
      const key = JSON.parse(body) as unknown;
      const parts = isObject(key) ? Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`) : [];
      return `[${parts.join(',')}]`;
    })
    .join('');
}

function conflictError(conflicts: readonly { manager: Manager; path: Path }[]): TlsbootError {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${describe(c.manager)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0] as { manager: Manager; path: Path };
    message = `Apply failed with 1 conflict: conflict with ${describe(c.manager)}: ${pathString(c.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(describe(c.manager), [...(byManager.get(describe(c.manager)) ?? []), pathString(c.path)]);
    const lines = [...byManager.keys()].sort().flatMap((m) => [`conflicts with ${m}:`, ...(byManager.get(m) ?? []).map((p) => `- ${p}`)]);
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ConflictError('FIELD_MANAGER_CONFLICT', message, { status: { causes } });
}

export interface Operation {
  readonly manager: string;
  readonly subresource: string;
  readonly now: Date;
}

function managedFieldsOf(obj: JsonObject | undefined): unknown {
  return obj !== undefined && isObject(obj.metadata) ? obj.metadata.managedFields : undefined;
}

function withoutManagedFields(obj: JsonObject | undefined): JsonObject {
  if (obj === undefined) return {};
  const meta = isObject(obj.metadata) ? { ...obj.metadata } : {};
  delete meta.managedFields;
  return { ...obj, metadata: meta };
}

/**
 * The managedFields after an ordinary write from `old` (undefined on create) to `next`: the writer
 * gains what it added or changed, everyone loses what was changed or removed. `requested` is what
 * the client sent in metadata.managedFields (undefined keeps the stored ones, `[]` clears them).
 */
export function trackUpdate(
  def: ResourceDef,
  old: JsonObject | undefined,
  next: JsonObject,
  requested: unknown,
  op: Operation,
): ManagedFieldsEntry[] {
  if (Array.isArray(requested) && requested.length === 0) return [];
  const managers = decodeManagers(requested ?? managedFieldsOf(old));
  const diff = compare(withoutManagedFields(old), withoutManagedFields(next));
  const changed = union(diff.added, diff.modified);
  for (const m of managers) m.set = without(m.set, changed, diff.removed);
  if (changed.size > 0 || diff.removed.size > 0) {
    const apiVersion = apiVersionOf(def);
    let mine = managers.find((m) => sameManager(m, op.manager, 'Update', apiVersion, op.subresource));
    if (mine === undefined) {
      mine = { manager: op.manager, operation: 'Update', apiVersion, subresource: op.subresource, time: undefined, set: new Map() };
      managers.push(mine);
    }
    mine.set = new Map([...mine.set, ...changed].filter(([, p]) => ownable(def, op.subresource, p)));
    mine.time = formatRfc3339(op.now);
  }
  return encodeManagers(managers);
}

/** Removes the field at `path` (field names only) from `obj`, and each parent it leaves empty. */
function removePath(obj: JsonObject, path: Path): void {
  const [head, ...rest] = path;
  if (head === undefined || !head.startsWith('f:')) return;
  const key = head.slice(2);
  if (rest.length === 0) {
    delete obj[key];
    return;
  }
  const child = obj[key];
  if (!isObject(child)) return;
  removePath(child, rest);
  if (Object.keys(child).length === 0 && key !== 'metadata') delete obj[key];
}

/** Applies `config` onto `live`: objects merge key by key, keyed lists item by item, everything else is replaced. */
function merge(live: unknown, config: unknown, path: Path): unknown {
  if (isObject(live) && isObject(config)) {
    const out: JsonObject = { ...live };
    for (const [k, v] of Object.entries(config)) {
      if (v === null) delete out[k];
      else out[k] = merge(live[k], v, [...path, `f:${k}`]);
    }
    return out;
  }
  const list = ASSOCIATIVE_LISTS[schemaKey(path)];
  const liveItems = itemsByKey(path, live);
  const configItems = itemsByKey(path, config);
  if (list !== undefined && liveItems !== undefined && configItems !== undefined && Array.isArray(live)) {
    const out: unknown[] = live.map((item) => {
      const e = itemElement(list, item);
      return e !== undefined && configItems.has(e) ? merge(item, configItems.get(e), [...path, e]) : item;
    });
    for (const [e, item] of configItems) if (!liveItems.has(e)) out.push(item);
    return out;
  }
  return config;
}

/** Removes the keyed-list items and fields named by `paths` (released by their last owner). */
function prune(obj: JsonObject, paths: FieldSet): JsonObject {
  const out: JsonObject = structuredClone(obj);
  for (const path of paths.values()) {
    const k = path.findIndex((e) => !e.startsWith('f:'));
    if (k === -1) {
      removePath(out, path);
      continue;
    }
    // A released keyed-list item: drop the item itself, or one field of it.
    const listPath = path.slice(0, k);
    const list = ASSOCIATIVE_LISTS[schemaKey(listPath)];
    const field = listPath[listPath.length - 1]?.slice(2) ?? '';
    let holder: unknown = out;
    for (const e of listPath.slice(0, -1)) holder = isObject(holder) ? holder[e.slice(2)] : undefined;
    const items = isObject(holder) ? holder[field] : undefined;
    if (list === undefined || !isObject(holder) || !Array.isArray(items)) continue;
    if (path.length === k + 1) holder[field] = items.filter((item) => itemElement(list, item) !== path[k]);
    else for (const item of items) if (isObject(item) && itemElement(list, item) === path[k]) removePath(item, path.slice(k + 1));
  }
  return out;
}

export interface ApplyPlan {
  /** The object to write: live merged with the configuration, minus fields the applier released. */
  readonly merged: JsonObject;
  /** The managedFields for the prepared object; throws the 409 conflict unless forced. */
  readonly track: (old: JsonObject | undefined, prepared: JsonObject) => ManagedFieldsEntry[];
}

/**
 * Server-side apply of `config` by `op.manager` to `live` (undefined when the apply creates). The
 * merge and the release of fields come first; ownership and conflicts are settled on the object
 * the strategy prepared, so that a field the strategy resets is neither owned nor in conflict.
 */
export function planApply(def: ResourceDef, live: JsonObject | undefined, config: JsonObject, op: Operation, force: boolean): ApplyPlan {
  const managers = decodeManagers(managedFieldsOf(live));
  const apiVersion = apiVersionOf(def);
  const mine = managers.find((m) => sameManager(m, op.manager, 'Apply', apiVersion, op.subresource));
  const applied = new Map([...fieldSetOf(config)].filter(([, p]) => ownable(def, op.subresource, p)));
  const others = union(...managers.filter((m) => m !== mine).map((m) => m.set));
  const released = mine === undefined ? new Map() : without(mine.set, applied, others);
  const base = withoutManagedFields(live);
  const configBody = withoutManagedFields(config);
  const mergedBody = merge(base, configBody, []);
  // Two objects merge into an object; anything else is a bug in merge, not bad input.
  if (!isObject(mergedBody)) throw new InternalError('APPLY_MERGE', 'server-side apply merged two objects into a non-object');
  const merged = prune(mergedBody, released);
  const track = (old: JsonObject | undefined, prepared: JsonObject): ManagedFieldsEntry[] => {
    const diff = compare(withoutManagedFields(old), withoutManagedFields(prepared));
    const changed = union(diff.added, diff.modified);
    const conflicts: { manager: Manager; path: Path }[] = [];
    for (const m of managers) {
      if (m === mine) continue;
      for (const [k, p] of m.set) if (changed.has(k)) conflicts.push({ manager: m, path: p });
    }
    if (conflicts.length > 0 && !force) throw conflictError(conflicts);
    for (const m of managers) if (m !== mine) m.set = without(m.set, changed, diff.removed);
    const entry: Manager = mine ?? {
      manager: op.manager,
      operation: 'Apply',
      apiVersion,
      subresource: op.subresource,
      time: undefined,
      set: new Map(),
    };
    entry.set = applied;
    entry.time = formatRfc3339(op.now);
    return encodeManagers(mine === undefined ? [...managers, entry] : managers);
  };
  return { merged, track };
}
