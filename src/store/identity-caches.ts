/**
 * The informers behind the identity rules: which node names the cluster knows (registered with a
 * client certificate, or claimed by an approved first request) and which node holds which IP in
 * a live serving certificate. Shared by admission and the controllers so both judge from one
 * reading; the serving policy's inventory adds its names as static entries.
 */
import {
  ADDRESS_CLAIM_RESOURCE,
  addressClaimName,
  NODE_CLIENT_RESOURCE,
  NODE_NAME_CLAIM_RESOURCE,
  type NodeNameContext,
  NodeNameIndex,
  nodeNameOf,
  type ReservedIdentities,
} from '../api/index.ts';
import type { ServingContext } from '../api/serving-policy.ts';
import { ObjectCache } from './cache.ts';
import type { Store } from './types.ts';

export interface IdentityCachesOptions {
  readonly store: Store;
  /** The cluster's own names and addresses, current (they change when the PKI does). */
  readonly reserved: () => ReservedIdentities;
  /** Node names known from configuration (the serving policy's inventory). */
  readonly staticNodes?: readonly string[];
  /** The serving policy's DNS suffixes: a node's name with one of them is also its name. */
  readonly dnsSuffixes?: readonly string[];
  readonly now: () => Date;
  readonly onError: (error: unknown) => void;
}

export class IdentityCaches {
  readonly nodes = new NodeNameIndex();
  private readonly registered: ObjectCache;
  private readonly claimed: ObjectCache;
  private readonly addresses: ObjectCache;

  private readonly o: IdentityCachesOptions;

  constructor(o: IdentityCachesOptions) {
    this.o = o;
    for (const n of o.staticNodes ?? []) this.nodes.set(`static/${n}`, n);
    const nameOf = (key: string) => key.slice(key.indexOf('/') + 1);
    this.registered = new ObjectCache({
      store: o.store,
      resource: NODE_CLIENT_RESOURCE,
      onChange: (key, type) => this.nodes.set(`registered/${key}`, type === 'DELETED' ? undefined : nodeNameOf(nameOf(key))),
      onError: o.onError,
    });
    this.claimed = new ObjectCache({
      store: o.store,
      resource: NODE_NAME_CLAIM_RESOURCE,
      onChange: (key, type) => this.nodes.set(`claimed/${key}`, type === 'DELETED' ? undefined : nameOf(key)),
      onError: o.onError,
    });
    this.addresses = new ObjectCache({ store: o.store, resource: ADDRESS_CLAIM_RESOURCE, onError: o.onError });
  }

  async start(): Promise<void> {
    for (const c of [this.registered, this.claimed, this.addresses]) await c.start();
  }

  /** The claim in progress per first label: only names that share one can overlap. */
  private readonly claiming = new Map<string, Promise<unknown>>();

  /**
   * Runs `fn` alone among first-time claims of names that could overlap `name` (a name lies in
   * another's name space only if both start with the same label), so the check of a new name
   * against every known name and the claim itself cannot interleave with such a claim (two
   * concurrent requests for `web` and `web.example` would otherwise both pass), while unrelated
   * names claim concurrently. Several processes need leader election so that one approver claims.
   */
  async claimAlone<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const label = name.split('.')[0] ?? name;
    const run = (this.claiming.get(label) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.claiming.set(label, tail);
    void tail.then(() => {
      if (this.claiming.get(label) === tail) this.claiming.delete(label);
    });
    return run;
  }

  /** Makes a claim just written known at once, not when its watch event arrives. */
  noteClaimed(name: string): void {
    this.nodes.set(`claimed//${name}`, name);
  }

  /** What the node-name rule judges by, now. */
  nodeNames(): NodeNameContext {
    return { reserved: this.o.reserved(), dnsSuffixes: this.o.dnsSuffixes ?? [], nodes: this.nodes };
  }

  /** What the serving approver judges by, now. */
  serving(): ServingContext {
    const now = this.o.now();
    return { reserved: this.o.reserved(), nodes: this.nodes, addressHolder: (ip) => this.addressHolder(ip, now) };
  }

  /** The node whose serving certificate, live at `now`, holds this IP. */
  addressHolder(ip: string, now: Date): string | undefined {
    const claim = this.addresses.get('', addressClaimName(ip));
    if (!claim || typeof claim.node !== 'string' || typeof claim.notAfter !== 'string') return undefined;
    return Date.parse(claim.notAfter) > now.getTime() ? claim.node : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.registered.close(), this.claimed.close(), this.addresses.close()]);
  }
}
