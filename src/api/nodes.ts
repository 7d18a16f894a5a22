/**
 * The core `v1` Node as tlsboot serves it: the typed resource and its guard, the create and update
 * strategies (spec and status written through their own endpoints, addresses checked), who counts
 * as a node user, and the one rule that says whether a Node's `status.addresses` vouch for a
 * serving SAN. The rest of a Node (conditions, capacity, nodeInfo) is stored as sent.
 */
import { InvalidError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { canonicalIp, comparableIp } from '../pki/index.ts';
import { nodeNameOf } from './identity.ts';
import type { UserInfo } from './rbac.ts';

type JsonObject = Record<string, unknown>;

export const NODE_ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'] as const;
export type NodeAddressType = (typeof NODE_ADDRESS_TYPES)[number];

const IP_TYPES: readonly NodeAddressType[] = ['InternalIP', 'ExternalIP'];
const NAME_TYPES: readonly NodeAddressType[] = ['Hostname', 'InternalDNS', 'ExternalDNS'];

export interface NodeAddress {
  readonly type: NodeAddressType;
  readonly address: string;
}

export interface NodeTaint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

export interface Node {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>>; readonly [k: string]: unknown };
  readonly spec?: { readonly taints?: readonly NodeTaint[]; readonly unschedulable?: boolean; readonly [k: string]: unknown };
  readonly status?: { readonly addresses?: readonly NodeAddress[]; readonly [k: string]: unknown };
}

/** The group every node's client certificate carries (reference §7.2). */
export const NODES_GROUP = 'system:nodes';

/** Labels under this prefix are for the operator to set on a node, never for the node itself. */
export const NODE_RESTRICTION_LABEL_PREFIX = 'node-restriction.kubernetes.io/';

function isNodeAddressType(v: unknown): v is NodeAddressType {
  return typeof v === 'string' && (NODE_ADDRESS_TYPES as readonly string[]).includes(v);
}

function isNodeAddress(v: unknown): v is NodeAddress {
  return isObject(v) && isNodeAddressType(v.type) && typeof v.address === 'string';
}

/** A stored or received object that has a Node's shape where tlsboot reads it (name, addresses). */
export function isNode(v: unknown): v is Node {
  if (!isObject(v) || !isObject(v.metadata) || typeof v.metadata.name !== 'string') return false;
  if (v.status === undefined) return true;
  if (!isObject(v.status)) return false;
  const a = v.status.addresses;
  return a === undefined || (Array.isArray(a) && a.every(isNodeAddress));
}

/** The node a user is: `system:node:<name>` in group `system:nodes`, as kube's node identifier decides. */
export function nodeOfUser(user: UserInfo): string | undefined {
  const name = nodeNameOf(user.name);
  return name !== undefined && name !== '' && user.groups.includes(NODES_GROUP) ? name : undefined;
}

function invalid(field: string, message: string): InvalidError {
  return new InvalidError('NODE_INVALID', `${field}: ${message}`, { field });
}

/** Checks `status.addresses` and stores IPs in canonical form, so comparisons need no second parse. */
function checkedAddresses(raw: unknown): NodeAddress[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw invalid('status.addresses', 'must be a list of {type, address}');
  return raw.map((a, i) => {
    const field = `status.addresses[${i}]`;
    if (!isObject(a)) throw invalid(field, 'must be an object with type and address');
    if (!isNodeAddressType(a.type))
      throw invalid(`${field}.type`, `Unsupported value: "${String(a.type)}": supported values: ${NODE_ADDRESS_TYPES.join(', ')}`);
    if (typeof a.address !== 'string' || a.address === '') throw invalid(`${field}.address`, 'Required value');
    if (!IP_TYPES.includes(a.type)) return { type: a.type, address: a.address };
    try {
      return { type: a.type, address: canonicalIp(a.address) };
    } catch {
      throw invalid(`${field}.address`, `Invalid value: "${a.address}": must be an IP address for type ${a.type}`);
    }
  });
}

function withStatus(obj: JsonObject, status: unknown): JsonObject {
  if (status === undefined) {
    const { status: _dropped, ...rest } = obj;
    return rest;
  }
  if (!isObject(status)) throw invalid('status', 'must be an object');
  const addresses = checkedAddresses(status.addresses);
  return { ...obj, status: addresses === undefined ? status : { ...status, addresses } };
}

function checkSpec(spec: unknown): void {
  if (spec !== undefined && !isObject(spec)) throw invalid('spec', 'must be an object');
  const taints = isObject(spec) ? spec.taints : undefined;
  if (
    taints !== undefined &&
    !(Array.isArray(taints) && taints.every((t) => isObject(t) && typeof t.key === 'string' && typeof t.effect === 'string'))
  )
    throw invalid('spec.taints', 'must be a list of {key, value, effect}');
}

/** Create: spec and status as sent (kubelet registers with its addresses in one create), both checked. */
export function prepareNodeCreate(obj: JsonObject): JsonObject {
  checkSpec(obj.spec);
  return withStatus(obj, obj.status);
}

/** Update of the Node (status kept) or of `status` (spec and metadata kept), as kube's node strategies. */
export function prepareNodeUpdate(old: JsonObject, next: JsonObject, subresource: string): JsonObject {
  if (subresource === 'status') return withStatus({ ...old, metadata: next.metadata }, next.status);
  checkSpec(next.spec);
  return withStatus(next, old.status);
}

/** The Node's addresses; none for an object that is not a Node. */
export function nodeAddresses(obj: unknown): readonly NodeAddress[] {
  return isNode(obj) ? (obj.status?.addresses ?? []) : [];
}

function addressKey(a: NodeAddress): string | undefined {
  if (NAME_TYPES.includes(a.type)) return `dns:${a.address.toLowerCase().replace(/\.$/, '')}`;
  try {
    return `ip:${comparableIp(a.address)}`;
  } catch {
    return undefined;
  }
}

/**
 * Which Node lists which address, kept as Nodes change, for the addresses that vouch for one node
 * alone: a node reports its own addresses, so one that another Node also lists, or that is another
 * Node's name, proves nothing (two nodes, at least one of them lying); such a SAN waits for a
 * person instead. Indexed so that a decision costs its own node's addresses, not every Node.
 */
export class NodeAddressIndex {
  private readonly nodes = new Map<string, { readonly addresses: readonly NodeAddress[]; readonly keys: readonly string[] }>();
  private readonly holders = new Map<string, Set<string>>();

  /** Records Node `name` as it is now (`undefined`: deleted). */
  set(name: string, node: unknown): void {
    for (const key of this.nodes.get(name)?.keys ?? []) {
      const held = this.holders.get(key);
      held?.delete(name);
      if (held?.size === 0) this.holders.delete(key);
    }
    this.nodes.delete(name);
    if (!isNode(node)) return;
    const addresses = nodeAddresses(node);
    const keys = [`dns:${name.toLowerCase()}`, ...addresses.flatMap((a) => addressKey(a) ?? [])];
    this.nodes.set(name, { addresses, keys });
    for (const key of keys) {
      const held = this.holders.get(key) ?? new Set<string>();
      held.add(name);
      this.holders.set(key, held);
    }
  }

  /** The addresses of Node `name` that no other Node lists or is named; undefined when there is no Node. */
  ownedBy(name: string): readonly NodeAddress[] | undefined {
    const entry = this.nodes.get(name);
    if (entry === undefined) return undefined;
    return entry.addresses.filter((a) => {
      const key = addressKey(a);
      const held = key === undefined ? undefined : this.holders.get(key);
      return held !== undefined && held.size === 1 && held.has(name);
    });
  }
}

/** Whether a Node's addresses vouch for a serving SAN: DNS names as host or DNS names, IPs as IP addresses. */
export function nodeAddressesInclude(addresses: readonly NodeAddress[], san: { readonly dns: string } | { readonly ip: string }): boolean {
  if ('dns' in san) return addresses.some((a) => NAME_TYPES.includes(a.type) && a.address === san.dns);
  const wanted = comparableIp(san.ip);
  return addresses.some((a) => {
    if (!IP_TYPES.includes(a.type)) return false;
    try {
      return comparableIp(a.address) === wanted;
    } catch {
      return false;
    }
  });
}
