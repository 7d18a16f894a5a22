/**
 * The identity rules of the cluster (DESIGN.md "Identity rules"): which DNS names and IP
 * addresses belong to the cluster's own servers and so are never certified to a node, how names
 * and addresses compare, and which node names are acceptable. A node that held the API server's
 * name or address could pose as the API server to a pinned join or a kubelet; a node whose name
 * sits inside another node's name space could take that node's serving names. Pure.
 */
import { type CertificateRequest, commonName, comparableIp } from '../pki/index.ts';

/**
 * The controllers' bookkeeping of identities, kept as ordinary objects (DESIGN.md "Controllers"):
 * the latest kubelet client certificate per node (named by its CN), the claim on a new node's
 * name taken when it is first approved, and the claim on an IP address by the node whose serving
 * certificate holds it.
 */
export const NODE_CLIENT_RESOURCE = 'tlsboot.io/nodeclientcertificates';
export const NODE_NAME_CLAIM_RESOURCE = 'tlsboot.io/nodenameclaims';
export const ADDRESS_CLAIM_RESOURCE = 'tlsboot.io/addressclaims';
/** Per node, the addresses its live serving certificates hold (to bound how many one node holds). */
export const NODE_ADDRESSES_RESOURCE = 'tlsboot.io/nodeaddresses';

/** The claim object's name for an address: its comparable form, with ":" spelled "-" for IPv6. */
export function addressClaimName(ip: string): string {
  const name = `ip-${comparableIp(ip).replaceAll(':', '-')}`;
  // An object name must end alphanumeric; only an IPv6 address ending in `::` ends in `-`, and no
  // canonical address ends in `::0`, so the `0` added makes no two addresses share a name.
  return name.endsWith('-') ? `${name}0` : name;
}

/** One server certificate's contribution to the reserved set, named for people. */
export interface ReservedSource {
  readonly source: string;
  readonly dns: readonly string[];
  readonly ip: readonly string[];
}

export interface ReservedIdentities {
  /** Normalised DNS name (or `*.zone` wildcard) -> where it comes from. */
  readonly names: ReadonlyMap<string, string>;
  /** Comparable IP -> where it comes from. */
  readonly ips: ReadonlyMap<string, string>;
}

/** DNS names compare case-insensitively and without a trailing dot (RFC 4343, RFC 1034 §3.1). */
export function normalDnsName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** An IP in its comparable form, or undefined when the text is no address. */
function ipKey(text: string): string | undefined {
  try {
    return comparableIp(text);
  } catch {
    return undefined;
  }
}

export function reservedIdentities(sources: readonly ReservedSource[]): ReservedIdentities {
  const names = new Map<string, string>();
  const ips = new Map<string, string>();
  for (const s of sources) {
    for (const d of s.dns) if (!names.has(normalDnsName(d))) names.set(normalDnsName(d), s.source);
    for (const i of s.ip) {
      const k = ipKey(i);
      if (k !== undefined && !ips.has(k)) ips.set(k, s.source);
    }
  }
  return { names, ips };
}

/** Where a DNS name is reserved from (also when a reserved wildcard covers it), or undefined. */
export function reservedNameSource(reserved: ReservedIdentities, name: string): string | undefined {
  const n = normalDnsName(name);
  const exact = reserved.names.get(n);
  if (exact !== undefined) return exact;
  const dot = n.indexOf('.');
  if (dot > 0) return reserved.names.get(`*${n.slice(dot)}`);
  return undefined;
}

export function reservedIpSource(reserved: ReservedIdentities, ip: string): string | undefined {
  const k = ipKey(ip);
  return k === undefined ? undefined : reserved.ips.get(k);
}

/** One line per SAN of `sans` that is reserved, naming the server it belongs to. */
export function reservedSanProblems(reserved: ReservedIdentities, sans: { dns: readonly string[]; ip: readonly string[] }): string[] {
  const out: string[] = [];
  for (const d of sans.dns) {
    const src = reservedNameSource(reserved, d);
    if (src !== undefined) out.push(`DNS name ${d} is reserved: the cluster's ${src} presents it`);
  }
  for (const i of sans.ip) {
    const src = reservedIpSource(reserved, i);
    if (src !== undefined) out.push(`IP ${i} is reserved: the cluster's ${src} presents it`);
  }
  return out;
}

const NODE_PREFIX = 'system:node:';
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The node name of a `system:node:<name>` user or CN, or undefined for anything else. */
export function nodeNameOf(user: string | undefined): string | undefined {
  return user?.startsWith(NODE_PREFIX) ? user.slice(NODE_PREFIX.length) : undefined;
}

/** The node name a kubelet CSR asks for (its CN), or undefined when it names no node. */
export function requestedNodeName(csr: CertificateRequest): string | undefined {
  return nodeNameOf(commonName(csr.subject));
}

/** Why `name` is not a DNS-1123 subdomain (Kubernetes' rule for Node names), or undefined. */
export function dns1123SubdomainProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  if (name !== name.toLowerCase()) return 'is not lower case';
  if (!name.split('.').every((l) => l.length <= 63 && DNS1123_LABEL.test(l)))
    return 'is not a DNS-1123 subdomain (lower-case letters, digits, "-" and ".", each label starting and ending with a letter or digit)';
  return undefined;
}

/**
 * The node names the cluster knows (registered, claimed, or in the serving policy's inventory),
 * indexed so that "is one name inside the other's name space" costs a few set look-ups rather
 * than a scan of every node. Entries are keyed by where they come from, so one name known from
 * two places stays known until both are gone.
 */
export class NodeNameIndex {
  private readonly bySource = new Map<string, string>();
  private readonly names = new Map<string, number>();
  /** Every proper label-prefix ("a" and "a.b" of "a.b.c") of a known name, counted. */
  private readonly prefixes = new Map<string, number>();

  set(source: string, name: string | undefined): void {
    const old = this.bySource.get(source);
    if (old === name) return;
    if (old !== undefined) this.count(old, -1);
    if (name === undefined) this.bySource.delete(source);
    else {
      this.bySource.set(source, name);
      this.count(name, 1);
    }
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  private count(name: string, by: number): void {
    const bump = (m: Map<string, number>, k: string) => {
      const n = (m.get(k) ?? 0) + by;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    };
    bump(this.names, name);
    for (const p of labelPrefixes(name)) bump(this.prefixes, p);
  }

  /**
   * Another known node whose name space `name` overlaps: `name` lies under it ("web.x" under
   * "web", which is how suffix names like `web.nodes.example` are derived) or it lies under `name`.
   */
  overlapping(name: string): string | undefined {
    const parent = labelPrefixes(name).find((p) => this.names.has(p));
    if (parent !== undefined) return parent;
    if (this.prefixes.has(name)) {
      for (const known of this.names.keys()) if (known.startsWith(`${name}.`)) return known;
    }
    return undefined;
  }
}

function labelPrefixes(name: string): string[] {
  const labels = name.split('.');
  const out: string[] = [];
  for (let i = 1; i < labels.length; i++) out.push(labels.slice(0, i).join('.'));
  return out;
}

/** What the node-name rule needs to know about the cluster. */
export interface NodeNameContext {
  readonly reserved: ReservedIdentities;
  /** DNS suffixes (".nodes.example") under which a node's own name is also its serving name. */
  readonly dnsSuffixes: readonly string[];
  readonly nodes: NodeNameIndex;
}

/**
 * Why `name` may not be a node's name, or undefined: it must be a lower-case DNS-1123 subdomain,
 * neither it nor a name derived from it with a DNS suffix may be reserved, and it must not lie in
 * another node's name space or contain one (the same name is the same node: renewal and
 * re-registration are the approver's business), unless `firstTime`: a request by anyone but the
 * node itself is checked against every other name even when its own name is known.
 */
export function nodeNameProblem(name: string, ctx: NodeNameContext, firstTime = false): string | undefined {
  const syntax = dns1123SubdomainProblem(name);
  if (syntax !== undefined) return `node name "${name}" ${syntax}`;
  for (const candidate of [name, ...ctx.dnsSuffixes.map((s) => `${name}${s}`)]) {
    const src = reservedNameSource(ctx.reserved, candidate);
    if (src !== undefined)
      return `node name "${name}" is reserved: ${candidate === name ? 'it' : candidate} is a name the cluster's ${src} presents`;
  }
  // A known name renewing is the same node; a first-time request for it is checked in full, so
  // two overlapping names that were both claimed (before this rule, or by a race) get no more.
  if (ctx.nodes.has(name) && !firstTime) return undefined;
  const other = ctx.nodes.overlapping(name);
  if (other !== undefined)
    return `node name "${name}" collides with node "${other}": one name lies inside the other's DNS name space, so one node could hold the other's serving names`;
  return undefined;
}
