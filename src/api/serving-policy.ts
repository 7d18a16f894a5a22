/**
 * The policy that decides kubelet-serving CSRs (peers-and-approvers.md, security.md §5 "Serving
 * certificates"): the requester must be the node the CSR names, the request must have the
 * kubelet-serving shape, and every IP and DNS SAN must belong to that node by the operator's
 * policy (an address inventory per node, allowed CIDRs, and DNS suffixes under the node's own
 * name, and optionally DNS names that resolve only to the node's own addresses). Loopback, unspecified, link-local (metadata), multicast, service-range and API-server
 * names and addresses are always refused, as is anything owned by another node. Each refusal says
 * which SAN and why, so a person can act on it. Where the requesting node has a Node object, its
 * `status.addresses` are the strongest evidence (as on a real cluster): every SAN must be among
 * them, which suffices without a policy; a policy's rules then apply as well. Pure.
 */
import { InvalidError } from '../base/errors.ts';
import { isObject, isStringArray } from '../base/json.ts';
import { type CertificateRequest, canonicalIp, commonName, comparableIp, ipToBytes } from '../pki/index.ts';
import { SIGNER_KUBELET_SERVING, signerPolicyProblem } from './certificates.ts';
import {
  NodeNameIndex,
  nodeNameOf,
  nodeNameProblem,
  normalDnsName,
  type ReservedIdentities,
  reservedIdentities,
  reservedIpSource,
  reservedSanProblems,
} from './identity.ts';
import { type NodeAddress, nodeAddressesInclude, nodeOfUser } from './nodes.ts';

export interface NodeAddresses {
  readonly ips: readonly string[];
  readonly dns: readonly string[];
}

export interface ServingPolicy {
  /** Decide and record what would happen, but neither approve nor deny. */
  readonly dryRun: boolean;
  /** Known addresses of each node: the strongest evidence of ownership. */
  readonly nodes: Readonly<Record<string, NodeAddresses>>;
  /** Node IPs outside the inventory are accepted when inside one of these. */
  readonly allowedCidrs: readonly string[];
  /** DNS names `<node-name><suffix>` are accepted for these suffixes (each starting with a dot). */
  readonly dnsSuffixes: readonly string[];
  /** Never in a node certificate: the service range and anything else the operator lists. */
  readonly forbiddenCidrs: readonly string[];
  /** The cluster DNS domain, to recognise service names. */
  readonly clusterDomain: string;
  readonly maxSans: number;
  /** Accept a DNS name not otherwise owned when it resolves only to addresses of the node. */
  readonly resolveDns: boolean;
}

/** What resolving a DNS SAN gave: its addresses, or a transient failure worth retrying. */
export type Resolution = readonly string[] | 'transient';

export const DEFAULT_SERVING_POLICY: ServingPolicy = {
  dryRun: false,
  nodes: {},
  allowedCidrs: [],
  dnsSuffixes: [],
  forbiddenCidrs: ['10.96.0.0/12'],
  clusterDomain: 'cluster.local',
  maxSans: 16,
  resolveDns: false,
};

export type ServingDecision =
  | { readonly kind: 'not-serving' }
  | { readonly kind: 'approve'; readonly reason: 'ServingPolicyApproved' | 'NodeAddressesApproved'; readonly message: string }
  | { readonly kind: 'deny'; readonly reason: string; readonly problems: readonly string[] }
  | { readonly kind: 'retry'; readonly message: string }
  | { readonly kind: 'wait'; readonly message: string };

interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly text: string;
}

function parseCidr(text: string, field: string): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  let bytes: Uint8Array;
  try {
    bytes = ipToBytes(m?.[1] ?? '');
  } catch {
    throw new InvalidError('SERVING_POLICY', `${field}: "${text}" is not a CIDR`, { field });
  }
  const prefix = Number(m?.[2]);
  if (prefix > bytes.length * 8)
    throw new InvalidError('SERVING_POLICY', `${field}: "${text}" has a prefix longer than the address`, { field });
  return { bytes, prefix, text };
}

function inCidr(ip: Uint8Array, cidr: Cidr): boolean {
  if (ip.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (((ip[bit >> 3] as number) & mask) !== ((cidr.bytes[bit >> 3] as number) & mask)) return false;
  }
  return true;
}

const ALWAYS_FORBIDDEN: readonly [string, string][] = [
  ['127.0.0.0/8', 'a loopback address'],
  ['::1/128', 'a loopback address'],
  ['0.0.0.0/8', 'an unspecified or "this network" address'],
  ['::/128', 'the unspecified address'],
  ['169.254.0.0/16', 'a link-local address (cloud metadata services live here)'],
  ['fe80::/10', 'a link-local address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['ff00::/8', 'a multicast address'],
  ['255.255.255.255/32', 'the broadcast address'],
];

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Names no node may hold in a serving certificate, whoever signs it: wildcards, and the API
 * server's in-cluster names (a node holding them could pose as the API server).
 */
export function reservedServingNameProblem(name: string): string | undefined {
  if (name.includes('*')) return 'is a wildcard';
  const n = normalDnsName(name);
  if (n === 'kubernetes' || n.startsWith('kubernetes.default')) return 'is an API server name';
  return undefined;
}

function dnsProblem(name: string, clusterDomain: string): string | undefined {
  if (name !== name.toLowerCase()) return 'is not lower case';
  if (name.endsWith('.')) return 'has a trailing dot';
  const reserved = reservedServingNameProblem(name);
  if (reserved) return reserved;
  if (name.length > 253) return 'is longer than 253 characters';
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return 'is not a valid DNS name (empty, over-long or invalid label)';
  if (labels.some((l) => l.startsWith('xn--'))) return 'has an internationalised (punycode) label, which can impersonate other names';
  if (name === 'localhost' || name.endsWith('.localhost') || name === 'localhost.localdomain') return 'is a loopback name';
  if (name.endsWith('.svc') || name.endsWith(`.svc.${clusterDomain}`) || name.endsWith(`.${clusterDomain}`))
    return 'is a cluster service name';
  return undefined;
}

/** Checks a policy document (parsed YAML/JSON) and fills in defaults. */
export function parseServingPolicy(doc: unknown): ServingPolicy {
  if (!isObject(doc)) throw new InvalidError('SERVING_POLICY', 'the serving policy must be a mapping', { field: 'policy' });
  const o = doc;
  const list = (key: string): string[] => {
    const v = o[key];
    if (v === undefined) return [];
    if (!isStringArray(v)) throw new InvalidError('SERVING_POLICY', `${key} must be a list of strings`, { field: key });
    return v;
  };
  const nodes: Record<string, NodeAddresses> = {};
  const rawNodes = o.nodes ?? {};
  if (typeof rawNodes !== 'object' || rawNodes === null || Array.isArray(rawNodes))
    throw new InvalidError('SERVING_POLICY', 'nodes must be a mapping of node name to {ips, dns}', { field: 'nodes' });
  for (const [name, value] of Object.entries(rawNodes)) {
    const v = isObject(value) ? value : {};
    const ips = Array.isArray(v.ips) ? v.ips.map(String) : [];
    const dns = Array.isArray(v.dns) ? v.dns.map(String) : [];
    for (const ip of ips) {
      try {
        canonicalIp(ip);
      } catch {
        throw new InvalidError('SERVING_POLICY', `nodes.${name}.ips: "${ip}" is not an IP address`, { field: `nodes.${name}.ips` });
      }
    }
    nodes[name] = { ips: ips.map(canonicalIp), dns };
  }
  const policy: ServingPolicy = {
    dryRun: o.dryRun === true,
    nodes,
    allowedCidrs: list('allowedCidrs'),
    dnsSuffixes: list('dnsSuffixes'),
    forbiddenCidrs: o.forbiddenCidrs === undefined ? DEFAULT_SERVING_POLICY.forbiddenCidrs : list('forbiddenCidrs'),
    clusterDomain: typeof o.clusterDomain === 'string' ? o.clusterDomain : DEFAULT_SERVING_POLICY.clusterDomain,
    maxSans: typeof o.maxSans === 'number' && o.maxSans > 0 ? o.maxSans : DEFAULT_SERVING_POLICY.maxSans,
    resolveDns: o.resolveDns === true,
  };
  for (const c of policy.allowedCidrs) parseCidr(c, 'allowedCidrs');
  for (const c of policy.forbiddenCidrs) parseCidr(c, 'forbiddenCidrs');
  for (const s of policy.dnsSuffixes)
    if (!s.startsWith('.') || dnsProblem(s.slice(1), '\0') !== undefined)
      throw new InvalidError('SERVING_POLICY', `dnsSuffixes: "${s}" must be a DNS suffix starting with "."`, { field: 'dnsSuffixes' });
  return policy;
}

export interface ServingRequest {
  readonly signerName: string;
  readonly csr: CertificateRequest;
  readonly usages: readonly string[];
  readonly username: string;
  readonly groups: readonly string[];
}

/** What the cluster knows beside the policy: its own identities, its nodes, who holds which address. */
export interface ServingContext {
  readonly reserved: ReservedIdentities;
  readonly nodes: NodeNameIndex;
  /** The node whose live serving certificate holds this (comparable) IP, if any. */
  readonly addressHolder: (ip: string) => string | undefined;
}

export const EMPTY_SERVING_CONTEXT: ServingContext = {
  reserved: reservedIdentities([]),
  nodes: new NodeNameIndex(),
  addressHolder: () => undefined,
};

function ownsName(name: string, node: string, policy: ServingPolicy): boolean {
  return name === node || (policy.nodes[node]?.dns.includes(name) ?? false) || policy.dnsSuffixes.some((s) => name === `${node}${s}`);
}

/** The DNS SANs that only resolution could vouch for (with `resolveDns`), for the caller to resolve. */
export function namesToResolve(r: ServingRequest, policy: ServingPolicy | undefined): string[] {
  const node = nodeNameOf(r.username);
  if (!policy?.resolveDns || !node || r.signerName !== SIGNER_KUBELET_SERVING) return [];
  return r.csr.sans.dns.filter((n) => dnsProblem(n, policy.clusterDomain) === undefined && !ownsName(n, node, policy));
}

/** Another known node whose name is `name` or whose name space holds it or lies inside it. */
function nodeOwningName(nodes: NodeNameIndex, name: string, node: string): string | undefined {
  if (name === node || name.startsWith(`${node}.`)) return undefined;
  if (nodes.has(name)) return name;
  const other = nodes.overlapping(name);
  return other === node ? undefined : other;
}

/**
 * Decides a kubelet-serving request. With a policy, every SAN must be shown to belong to the node
 * or the request is denied. Without one (`policy` undefined) nothing is approved, but what no
 * policy could allow (reserved, loopback, link-local, service and multicast addresses, names and
 * addresses of other nodes) is still denied with its reason; the rest waits for a person.
 * `nodeAddresses` are the requesting node's Node `status.addresses`, undefined when it has no Node:
 * with them every SAN must also be one of them (DNS names as Hostname/InternalDNS/ExternalDNS, IPs
 * as InternalIP/ExternalIP), and that alone is enough when there is no policy.
 */
export function evaluateServingRequest(
  r: ServingRequest,
  policy: ServingPolicy | undefined,
  resolved: ReadonlyMap<string, Resolution> = new Map(),
  ctx: ServingContext = EMPTY_SERVING_CONTEXT,
  nodeAddresses?: readonly NodeAddress[],
): ServingDecision {
  if (r.signerName !== SIGNER_KUBELET_SERVING) return { kind: 'not-serving' };
  const node = nodeOfUser({ name: r.username, groups: [...r.groups] });
  if (node === undefined) {
    return {
      kind: 'deny',
      reason: 'RequesterNotANode',
      problems: [`the requester ${r.username} is not a node (system:node:<name> in group system:nodes)`],
    };
  }
  if (commonName(r.csr.subject) !== r.username) {
    return {
      kind: 'deny',
      reason: 'SubjectNotRequester',
      problems: [
        `the CSR is for ${commonName(r.csr.subject) ?? '(no CN)'} but was sent by ${r.username}; a node may only ask for its own name`,
      ],
    };
  }
  const rules = policy ?? DEFAULT_SERVING_POLICY;
  const badName = nodeNameProblem(node, { reserved: ctx.reserved, dnsSuffixes: rules.dnsSuffixes, nodes: ctx.nodes });
  if (badName) return { kind: 'deny', reason: 'InvalidNodeName', problems: [badName] };
  const shape = signerPolicyProblem(r.signerName, r.csr, r.usages);
  if (shape) return { kind: 'deny', reason: 'InvalidServingRequest', problems: [shape] };
  const { dns, ip } = r.csr.sans;
  if (dns.length + ip.length > rules.maxSans) {
    return {
      kind: 'deny',
      reason: 'TooManySANs',
      problems: [`${dns.length + ip.length} SANs requested; the policy allows at most ${rules.maxSans}`],
    };
  }
  const reserved = reservedSanProblems(ctx.reserved, { dns, ip });
  if (reserved.length > 0) return { kind: 'deny', reason: 'ReservedIdentity', problems: reserved };
  /** Proof against the node: denied with or without a policy. */
  const problems: string[] = [];
  /** Merely not shown to be the node's: denied under a policy, left to a person without one. */
  const unproven: string[] = [];
  const mine = rules.nodes[node];
  const owner = (pred: (a: NodeAddresses) => boolean) => Object.entries(rules.nodes).find(([n, a]) => n !== node && pred(a))?.[0];
  const forbidden = [
    ...ALWAYS_FORBIDDEN.map(([c, why]) => ({ cidr: parseCidr(c, 'builtin'), why })),
    ...rules.forbiddenCidrs.map((c) => ({
      cidr: parseCidr(c, 'forbiddenCidrs'),
      why: `inside the forbidden range ${c} (service addresses)`,
    })),
  ];
  const allowed = rules.allowedCidrs.map((c) => parseCidr(c, 'allowedCidrs'));
  const otherHolder = (shown: string) => {
    const holder = ctx.addressHolder(shown);
    return holder !== undefined && holder !== node ? holder : undefined;
  };
  for (const text of ip) {
    const shown = comparableIp(text);
    const bytes = ipToBytes(shown);
    const hit = forbidden.find((f) => inCidr(bytes, f.cidr));
    if (hit) {
      problems.push(`IP ${text} is ${hit.why}`);
      continue;
    }
    const other = owner((a) => a.ips.includes(shown));
    if (other) {
      problems.push(`IP ${text} belongs to node ${other}`);
      continue;
    }
    const holder = otherHolder(shown);
    if (holder) {
      problems.push(`IP ${text} is held by node ${holder}'s serving certificate until it expires`);
      continue;
    }
    if (nodeAddresses !== undefined) {
      if (!nodeAddressesInclude(nodeAddresses, { ip: text })) {
        unproven.push(`IP ${text} is not among Node ${node}'s status.addresses (InternalIP or ExternalIP)`);
        continue;
      }
      if (policy === undefined) continue;
    }
    if (mine?.ips.includes(shown) || allowed.some((c) => inCidr(bytes, c))) continue;
    unproven.push(
      `IP ${text} is not an address of ${node}: add it to nodes.${node}.ips in the serving policy${rules.allowedCidrs.length > 0 ? ` (it is outside ${rules.allowedCidrs.join(', ')})` : ''}`,
    );
  }
  for (const name of dns) {
    const bad = dnsProblem(name, rules.clusterDomain);
    if (bad) {
      problems.push(`DNS name ${name} ${bad}`);
      continue;
    }
    const other =
      owner((a) => a.dns.includes(name)) ??
      Object.keys(rules.nodes).find((n) => n !== node && (name === n || name.startsWith(`${n}.`))) ??
      nodeOwningName(ctx.nodes, name, node);
    if (other) {
      problems.push(`DNS name ${name} belongs to node ${other}`);
      continue;
    }
    if (nodeAddresses !== undefined) {
      if (!nodeAddressesInclude(nodeAddresses, { dns: name })) {
        unproven.push(`DNS name ${name} is not among Node ${node}'s status.addresses (Hostname, InternalDNS or ExternalDNS)`);
        continue;
      }
      if (policy === undefined) continue;
    }
    if (policy !== undefined && ownsName(name, node, policy)) continue;
    const addresses = policy?.resolveDns ? resolved.get(name) : undefined;
    if (addresses === 'transient') return { kind: 'retry', message: `DNS lookup of ${name} failed transiently; will retry` };
    if (addresses !== undefined) {
      const foreign = addresses.filter((a) => {
        const shown = comparableIp(a);
        const bytes = ipToBytes(shown);
        if (forbidden.some((f) => inCidr(bytes, f.cidr)) || owner((n) => n.ips.includes(shown)) || otherHolder(shown)) return true;
        if (reservedIpSource(ctx.reserved, shown) !== undefined) return true;
        return !(mine?.ips.includes(shown) || allowed.some((c) => inCidr(bytes, c)));
      });
      if (addresses.length > 0 && foreign.length === 0) continue;
      unproven.push(
        addresses.length === 0
          ? `DNS name ${name} does not resolve`
          : `DNS name ${name} resolves to ${foreign.join(', ')}, which is not an address of ${node}`,
      );
      continue;
    }
    unproven.push(
      `DNS name ${name} is not a name of ${node}: it must be ${node}, ${node}<suffix> for a configured suffix, or listed in nodes.${node}.dns`,
    );
  }
  if (problems.length > 0) return { kind: 'deny', reason: 'SANNotOwnedByNode', problems: [...problems, ...unproven] };
  if (policy === undefined && nodeAddresses !== undefined) {
    if (unproven.length === 0) {
      return {
        kind: 'approve',
        reason: 'NodeAddressesApproved',
        message: `Every SAN (${[...dns, ...ip].join(', ')}) is among Node ${node}'s status.addresses.`,
      };
    }
    return { kind: 'wait', message: `No serving policy is configured, so a person decides: ${unproven.join('; ')}` };
  }
  if (policy === undefined) {
    return {
      kind: 'wait',
      message: `No serving policy is configured, so a person decides: nothing in the request is known to be wrong. ${[...dns, ...ip].join(', ')}`,
    };
  }
  if (unproven.length > 0) return { kind: 'deny', reason: 'SANNotOwnedByNode', problems: unproven };
  return {
    kind: 'approve',
    reason: 'ServingPolicyApproved',
    message: `Every SAN (${[...dns, ...ip].join(', ')}) belongs to ${node} by the serving policy${nodeAddresses === undefined ? '' : ` and is among Node ${node}'s status.addresses`}.`,
  };
}
