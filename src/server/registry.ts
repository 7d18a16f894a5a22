/**
 * What the server knows about each resource it serves: its group/version/kind, scope, discovery
 * names, storage key, table columns, field selectors and the create/update strategy that
 * validates a request body and decides what is stored. The generic REST handlers work only
 * through these definitions.
 */

import type { JsonObject } from '../base/json.ts';
import type { UserInfo } from './authn.ts';
import type { FieldGetter } from './selectors.ts';
import type { TableColumn } from './table.ts';

export interface StrategyContext {
  readonly user: UserInfo;
  readonly now: Date;
}

export interface ResourceDef {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural resource name, as in URLs. */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly subresources: readonly string[];
  /** Verbs served (for discovery and to answer 405 for the rest). */
  readonly verbs: readonly string[];
  readonly columns: readonly TableColumn[];
  /** Field selectors beyond metadata.name and metadata.namespace. */
  readonly fields: Readonly<Record<string, FieldGetter>>;
  /**
   * Validates a create body (its metadata name and namespace already settled) and returns the
   * object to store. Throws INVALID naming the field.
   */
  readonly prepareCreate: (obj: JsonObject, ctx: StrategyContext) => JsonObject;
  /** Validates an update of the main resource ('' ) or a subresource and returns what to store. */
  readonly prepareUpdate: (old: JsonObject, obj: JsonObject, subresource: string, ctx: StrategyContext) => JsonObject;
  /** Written one request at a time, never in a transaction: admission audits each create once it is stored (revocations). */
  readonly alone?: boolean;
}

export function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

/** The store's opaque resource key: group/resource, with `core` for the core group. */
export function storeResourceOf(def: ResourceDef): string {
  return `${def.group === '' ? 'core' : def.group}/${def.resource}`;
}

/** `certificatesigningrequests.certificates.k8s.io`, as Kubernetes names a resource in messages. */
export function qualifiedResource(def: ResourceDef): string {
  return def.group === '' ? def.resource : `${def.resource}.${def.group}`;
}

export class Registry {
  private readonly byPath = new Map<string, ResourceDef>();
  readonly all: readonly ResourceDef[];

  constructor(defs: readonly ResourceDef[]) {
    this.all = defs;
    for (const d of defs) this.byPath.set(`${d.group}/${d.version}/${d.resource}`, d);
  }

  find(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.byPath.get(`${group}/${version}/${resource}`);
  }

  /** group -> versions served, in registration order. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const d of this.all) {
      const versions = out.get(d.group) ?? [];
      if (!versions.includes(d.version)) versions.push(d.version);
      out.set(d.group, versions);
    }
    return out;
  }
}

/**
 * A resource whose objects are not stored: each verb it serves is a function of the request.
 * Verbs left out answer 405. Authentication, authorization and auditing happen first, as for any resource.
 */
export interface VirtualResource {
  /** `namespace` is the request's, "" for a cluster-scoped resource; `dryRun` the request's `dryRun=All`. */
  create?(body: unknown, user: UserInfo, namespace: string, options?: { readonly dryRun: boolean }): Promise<JsonObject>;
  get?(name: string, user: UserInfo): Promise<JsonObject>;
  list?(user: UserInfo): Promise<JsonObject[]>;
  delete?(name: string, user: UserInfo): Promise<JsonObject>;
}
