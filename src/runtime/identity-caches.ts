/**
 * The informers behind the identity rules: which node names the cluster knows (registered with a
 * client certificate, or claimed by an approved first request) and which node holds which IP in
 * a live serving certificate, and what every control-plane server reserves (the published
 * ConfigMap, src/api/published-reserved.ts) beside this process's own reserved set. Admission (over
 * the store) and the controllers (over the API) each keep one; the serving policy's inventory adds
 * its names as static entries.
 */
import {
  ADDRESS_CLAIMS,
  type ApiResource,
  CONFIGMAPS,
  type KubeObject,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
} from '../api/cluster-client.ts';
import {
  addressClaimName,
  type NodeNameContext,
  NodeNameIndex,
  type ReservedIdentities,
  type ReservedSource,
  reservedIdentities,
} from '../api/index.ts';
import type { ListWatch } from '../api/list-watch.ts';
import { PUBLISHED_RESERVED_NAME, PUBLISHED_RESERVED_NAMESPACE, parsePublishedReserved } from '../api/published-reserved.ts';
import type { ServingContext } from '../api/serving-policy.ts';
import type { Clock } from '../base/clock.ts';
import { Informer } from './informer.ts';

/** An informer's source for one resource (in one namespace, or all): the store in the server, the API for controllers. */
export type SourceOf = (resource: ApiResource, namespace?: string) => ListWatch<KubeObject>;

export interface IdentityCachesOptions {
  readonly source: SourceOf;
  readonly clock?: Clock;
  /** This process's own reserved names and addresses, current (they change when the PKI does); the published ones are added. */
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
  private readonly registered: Informer<KubeObject>;
  private readonly claimed: Informer<KubeObject>;
  private readonly addresses: Informer<KubeObject>;
  private readonly published: Informer<KubeObject>;
  /** The union last computed, and what it was computed from (so an unchanged pair is not merged again). */
  private merged: { local: ReservedIdentities; from: KubeObject | undefined; value: ReservedIdentities } | undefined;

  private readonly o: IdentityCachesOptions;

  constructor(o: IdentityCachesOptions) {
    this.o = o;
    for (const n of o.staticNodes ?? []) this.nodes.set(`static/${n}`, n);
    const nameOf = (key: string) => key.slice(key.indexOf('/') + 1);
    const clock = o.clock === undefined ? {} : { clock: o.clock };
    this.registered = new Informer({
      source: o.source(NODE_CLIENT_CERTIFICATES),
      ...clock,
      onChange: (key, type) => this.nodes.set(`registered/${key}`, type === 'DELETED' ? undefined : nameOf(key)),
      onError: o.onError,
    });
    this.claimed = new Informer({
      source: o.source(NODE_NAME_CLAIMS),
      ...clock,
      onChange: (key, type) => this.nodes.set(`claimed/${key}`, type === 'DELETED' ? undefined : nameOf(key)),
      onError: o.onError,
    });
    this.addresses = new Informer({ source: o.source(ADDRESS_CLAIMS), ...clock, onError: o.onError });
    this.published = new Informer({
      source: o.source(CONFIGMAPS, PUBLISHED_RESERVED_NAMESPACE),
      ...clock,
      onChange: (key) => {
        if (key !== `${PUBLISHED_RESERVED_NAMESPACE}/${PUBLISHED_RESERVED_NAME}`) return;
        const { malformed } = parsePublishedReserved(this.published.get(PUBLISHED_RESERVED_NAMESPACE, PUBLISHED_RESERVED_NAME));
        if (malformed.length > 0)
          o.onError(
            new Error(
              `${PUBLISHED_RESERVED_NAMESPACE}/${PUBLISHED_RESERVED_NAME}: entries ${malformed.join(', ')} are not lists of {source, dns, ip}; their names are not reserved until they are fixed`,
            ),
          );
      },
      onError: o.onError,
    });
  }

  private informers(): Informer<KubeObject>[] {
    return [this.registered, this.claimed, this.addresses, this.published];
  }

  async start(): Promise<void> {
    for (const c of this.informers()) await c.start();
  }

  /** What this process reserves and what every server published, now. */
  reserved(): ReservedIdentities {
    const local = this.o.reserved();
    const from = this.published.get(PUBLISHED_RESERVED_NAMESPACE, PUBLISHED_RESERVED_NAME);
    if (this.merged?.local === local && this.merged.from === from) return this.merged.value;
    const { sources } = parsePublishedReserved(from);
    const value = sources.length === 0 ? local : withSources(local, sources);
    this.merged = { local, from, value };
    return value;
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
    return { reserved: this.reserved(), dnsSuffixes: this.o.dnsSuffixes ?? [], nodes: this.nodes };
  }

  /** What the serving approver judges by, now. */
  serving(): ServingContext {
    const now = this.o.now();
    return { reserved: this.reserved(), nodes: this.nodes, addressHolder: (ip) => this.addressHolder(ip, now) };
  }

  /**
   * The informer's copy of a node's client-certificate record (NODE_CLIENT_CERTIFICATES/<node>),
   * as of the last watch event: it may lag the store, so it is a first guess for a
   * compare-and-swap, never the ground for a decision not to write.
   */
  registeredRecord(node: string): KubeObject | undefined {
    return this.registered.get('', node);
  }

  /** The informer's copy of a node name's claim (NODE_NAME_CLAIMS/<node>); may lag like registeredRecord. */
  claimRecord(node: string): KubeObject | undefined {
    return this.claimed.get('', node);
  }

  /** The node whose serving certificate, live at `now`, holds this IP. */
  addressHolder(ip: string, now: Date): string | undefined {
    const claim = this.addresses.get('', addressClaimName(ip));
    if (!claim || typeof claim.node !== 'string' || typeof claim.notAfter !== 'string') return undefined;
    return Date.parse(claim.notAfter) > now.getTime() ? claim.node : undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.informers().map((c) => c.close()));
  }
}

/** `local` with the published sources added; a name both reserve keeps its local source. */
function withSources(local: ReservedIdentities, sources: readonly ReservedSource[]): ReservedIdentities {
  const published = reservedIdentities(sources);
  return {
    names: new Map([...published.names, ...local.names]),
    ips: new Map([...published.ips, ...local.ips]),
  };
}
