/**
 * The control-plane PKI as kubeadm lays it out (reference §8.1, §8.2), as pure data: which CAs,
 * which leaf certificates with which subject, SANs and usages, and which kubeconfigs, derived
 * from the init options. Nothing here reads or writes files.
 */
import { InvalidError } from '../base/errors.ts';
import {
  bytesToIp,
  canonicalIp,
  type ExtKeyUsage,
  ipToBytes,
  type KeyAlgorithm,
  type NameAttribute,
  type SubjectAltNames,
} from '../pki/index.ts';

export type CaName = 'ca' | 'front-proxy-ca' | 'etcd-ca';

export interface CaSpec {
  readonly name: CaName;
  /** Path under DIR/pki without extension. */
  readonly file: string;
  readonly commonName: string;
  readonly dnsSans: readonly string[];
}

export interface LeafSpec {
  /** kubeadm's name for it (`certs renew NAME`, check-expiration rows). */
  readonly name: string;
  readonly file: string;
  readonly ca: CaName;
  readonly subject: readonly NameAttribute[];
  readonly sans: SubjectAltNames;
  readonly extKeyUsage: readonly ExtKeyUsage[];
}

export interface KubeconfigSpec {
  readonly file: string;
  readonly subject: readonly NameAttribute[];
  readonly server: string;
}

export interface InitOptions {
  readonly nodeName: string;
  readonly advertiseAddress: string;
  readonly bindPort: number;
  /** `HOST[:PORT]`; defaults to the advertise address and bind port. */
  readonly controlPlaneEndpoint?: string;
  readonly extraSans: readonly string[];
  readonly serviceCidr: string;
  readonly dnsDomain: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly certValidityMs: number;
  readonly caValidityMs: number;
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_DNS_DOMAIN = 'cluster.local';
export const DEFAULT_BIND_PORT = 6443;
export const DEFAULT_CERT_VALIDITY_MS = 8760 * 3_600_000;
export const DEFAULT_CA_VALIDITY_MS = 87600 * 3_600_000;

/** The CN of a subject attribute list ('' when it has none). */
export function subjectCommonName(subject: readonly NameAttribute[]): string {
  return subject.find((a) => a.type === 'CN')?.value ?? '';
}

/** Every leaf certificate file of the layout, by kubeadm name, with the CA that signs it. */
export const LEAF_FILES: readonly { readonly name: string; readonly file: string; readonly ca: CaName }[] = [
  { name: 'apiserver', file: 'apiserver', ca: 'ca' },
  { name: 'apiserver-kubelet-client', file: 'apiserver-kubelet-client', ca: 'ca' },
  { name: 'front-proxy-client', file: 'front-proxy-client', ca: 'front-proxy-ca' },
  { name: 'etcd-server', file: 'etcd/server', ca: 'etcd-ca' },
  { name: 'etcd-peer', file: 'etcd/peer', ca: 'etcd-ca' },
  { name: 'etcd-healthcheck-client', file: 'etcd/healthcheck-client', ca: 'etcd-ca' },
  { name: 'apiserver-etcd-client', file: 'apiserver-etcd-client', ca: 'etcd-ca' },
];

export const KUBECONFIG_FILES: readonly string[] = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf'];

export const CAS: readonly CaSpec[] = [
  { name: 'ca', file: 'ca', commonName: 'kubernetes', dnsSans: ['kubernetes'] },
  { name: 'front-proxy-ca', file: 'front-proxy-ca', commonName: 'front-proxy-ca', dnsSans: ['front-proxy-ca'] },
  { name: 'etcd-ca', file: 'etcd/ca', commonName: 'etcd-ca', dnsSans: ['etcd-ca'] },
];

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function optionError(field: string, message: string): InvalidError {
  return new InvalidError('INIT_OPTION', message, { field });
}

export function isIp(text: string): boolean {
  try {
    ipToBytes(text);
    return true;
  } catch {
    return false;
  }
}

function sans(dns: readonly string[], ip: readonly string[]): SubjectAltNames {
  return { dns: [...new Set(dns)], ip: [...new Set(ip.map(canonicalIp))], email: [], uri: [] };
}

/** The first usable address of a CIDR (the Kubernetes service VIP for `10.96.0.0/12` is 10.96.0.1). */
export function firstServiceIp(cidr: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m || !isIp(m[1] as string)) throw optionError('service-cidr', `--service-cidr "${cidr}" is not a CIDR such as 10.96.0.0/12`);
  const bytes = ipToBytes(m[1] as string);
  const prefix = Number(m[2]);
  if (prefix > bytes.length * 8 - 2) throw optionError('service-cidr', `--service-cidr "${cidr}" is too small for a service range`);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const i = bit >> 3;
    bytes[i] = (bytes[i] as number) & ~(0x80 >> (bit & 7));
  }
  const last = bytes.length - 1;
  bytes[last] = (bytes[last] as number) + 1;
  return bytesToIp(bytes);
}

/** Splits `HOST[:PORT]` (IPv6 hosts in brackets when a port follows). */
/** `host[:port]`; errors name `flag`, the option the text came from. */
export function parseEndpoint(text: string, defaultPort: number, flag = 'control-plane-endpoint'): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracketed) {
    host = bracketed[1] as string;
    port = bracketed[2];
  } else if (isIp(text)) {
    host = text;
  } else {
    const i = text.lastIndexOf(':');
    host = i < 0 ? text : text.slice(0, i);
    port = i < 0 ? undefined : text.slice(i + 1);
  }
  const portNumber = port === undefined ? defaultPort : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
    throw optionError(flag, `--${flag} "${text}" has an invalid port (1 to 65535)`);
  }
  if (!isIp(host) && !DNS_SUBDOMAIN.test(host)) {
    throw optionError(flag, `--${flag} "${text}" is neither an IP address nor a DNS name`);
  }
  return { host: isIp(host) ? canonicalIp(host) : host, port: portNumber };
}

export function endpointUrl(host: string, port: number): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Checks the options a user can get wrong and names the flag. */
export function validateInitOptions(o: InitOptions): void {
  if (!DNS_SUBDOMAIN.test(o.nodeName)) {
    throw optionError('node-name', `--node-name "${o.nodeName}" must be a lower-case DNS subdomain (RFC 1123)`);
  }
  if (!isIp(o.advertiseAddress))
    throw optionError('apiserver-advertise-address', `--apiserver-advertise-address "${o.advertiseAddress}" is not an IP address`);
  if (!DNS_SUBDOMAIN.test(o.dnsDomain)) throw optionError('dns-domain', `--dns-domain "${o.dnsDomain}" is not a DNS domain`);
  for (const san of o.extraSans) {
    if (!isIp(san) && !isApiserverDnsSan(san)) {
      throw optionError('apiserver-cert-extra-sans', `--apiserver-cert-extra-sans entry "${san}" is neither an IP address nor a DNS name`);
    }
  }
  firstServiceIp(o.serviceCidr);
  if (o.controlPlaneEndpoint !== undefined) parseEndpoint(o.controlPlaneEndpoint, o.bindPort);
  if (!(o.certValidityMs > 0)) throw optionError('cert-validity', '--cert-validity must be positive');
  if (!(o.caValidityMs > 0)) throw optionError('ca-validity', '--ca-validity must be positive');
}

/** The URL kubeconfigs for remote users (admin, super-admin) point at. */
export function clusterServerUrl(o: InitOptions): string {
  if (o.controlPlaneEndpoint !== undefined) {
    const ep = parseEndpoint(o.controlPlaneEndpoint, o.bindPort);
    return endpointUrl(ep.host, ep.port);
  }
  return endpointUrl(canonicalIp(o.advertiseAddress), o.bindPort);
}

/**
 * Where a leaf's SANs come from. The CA machine signing offline (`certs sign-offline`) does not
 * know the init options, so it checks a CSR against the rule rather than against a list.
 */
export type SanRule = 'none' | 'apiserver' | 'etcd-node';

export interface LeafProfile {
  /** The subject for a node name (only the etcd server and peer certificates use it). */
  readonly subject: (nodeName: string) => readonly NameAttribute[];
  readonly sanRule: SanRule;
  readonly extKeyUsage: readonly ExtKeyUsage[];
}

const cn = (value: string): NameAttribute[] => [{ type: 'CN', value }];

/** Subject and usages of every leaf by kubeadm name (reference §8.1). */
export const LEAF_PROFILES: Readonly<Record<string, LeafProfile>> = {
  apiserver: { subject: () => cn('kube-apiserver'), sanRule: 'apiserver', extKeyUsage: ['serverAuth'] },
  'apiserver-kubelet-client': {
    subject: () => [...cn('kube-apiserver-kubelet-client'), { type: 'O', value: 'kubeadm:cluster-admins' }],
    sanRule: 'none',
    extKeyUsage: ['clientAuth'],
  },
  'front-proxy-client': { subject: () => cn('front-proxy-client'), sanRule: 'none', extKeyUsage: ['clientAuth'] },
  'etcd-server': { subject: (node) => cn(node), sanRule: 'etcd-node', extKeyUsage: ['serverAuth', 'clientAuth'] },
  'etcd-peer': { subject: (node) => cn(node), sanRule: 'etcd-node', extKeyUsage: ['serverAuth', 'clientAuth'] },
  'etcd-healthcheck-client': { subject: () => cn('kube-etcd-healthcheck-client'), sanRule: 'none', extKeyUsage: ['clientAuth'] },
  'apiserver-etcd-client': { subject: () => cn('kube-apiserver-etcd-client'), sanRule: 'none', extKeyUsage: ['clientAuth'] },
};

/** The subject of each kubeconfig's client certificate (reference §8.2). */
export const KUBECONFIG_SUBJECTS: Readonly<Record<string, readonly NameAttribute[]>> = {
  'admin.conf': [...cn('kubernetes-admin'), { type: 'O', value: 'kubeadm:cluster-admins' }],
  'super-admin.conf': [...cn('kubernetes-super-admin'), { type: 'O', value: 'system:masters' }],
  'controller-manager.conf': cn('system:kube-controller-manager'),
  'scheduler.conf': cn('system:kube-scheduler'),
};

/** Whether a name may be a node name (what `--node-name` accepts). */
export function isNodeName(name: string): boolean {
  return DNS_SUBDOMAIN.test(name);
}

/** Whether an API server SAN is a DNS name `--apiserver-cert-extra-sans` accepts (wildcards included). */
export function isApiserverDnsSan(name: string): boolean {
  return DNS_SUBDOMAIN.test(name.replace(/^\*\./, 'wildcard.'));
}

export function leafSpecs(o: InitOptions): LeafSpec[] {
  const advertise = canonicalIp(o.advertiseAddress);
  const apiDns = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${o.dnsDomain}`, o.nodeName];
  const apiIp = [firstServiceIp(o.serviceCidr), advertise];
  if (o.controlPlaneEndpoint !== undefined) {
    const { host } = parseEndpoint(o.controlPlaneEndpoint, o.bindPort);
    (isIp(host) ? apiIp : apiDns).push(host);
  }
  for (const san of o.extraSans) (isIp(san) ? apiIp : apiDns).push(san);
  const bySanRule: Record<SanRule, SubjectAltNames> = {
    none: sans([], []),
    apiserver: sans(apiDns, apiIp),
    'etcd-node': sans([o.nodeName, 'localhost'], [advertise, '127.0.0.1', '::1']),
  };
  return LEAF_FILES.map((f) => {
    const profile = LEAF_PROFILES[f.name] as LeafProfile;
    return { ...f, subject: profile.subject(o.nodeName), sans: bySanRule[profile.sanRule], extKeyUsage: profile.extKeyUsage };
  });
}

export function kubeconfigSpecs(o: InitOptions): KubeconfigSpec[] {
  const remote = clusterServerUrl(o);
  const local = endpointUrl(canonicalIp(o.advertiseAddress), o.bindPort);
  const servers: Record<string, string> = {
    'admin.conf': remote,
    'super-admin.conf': remote,
    'controller-manager.conf': local,
    'scheduler.conf': local,
  };
  return KUBECONFIG_FILES.map((file) => ({
    file,
    subject: KUBECONFIG_SUBJECTS[file] as readonly NameAttribute[],
    server: servers[file] as string,
  }));
}
