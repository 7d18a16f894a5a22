/**
 * kubeconfig files (clientcmd `v1` Config): building them in the layout kubeadm writes and
 * parsing them strictly enough that a client never guesses. Paths inside a kubeconfig are
 * returned as written; resolving and reading them is the caller's I/O.
 */
import { parse, stringify } from 'yaml';
import { InvalidError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';

export interface KubeconfigCluster {
  readonly server: string;
  /** PEM bundle, decoded from `certificate-authority-data`. */
  readonly certificateAuthorityData?: string;
  readonly certificateAuthority?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

export interface KubeconfigUser {
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  readonly clientCertificate?: string;
  readonly clientKey?: string;
  readonly token?: string;
}

export interface KubeconfigContext {
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string;
}

export interface Kubeconfig {
  readonly clusters: ReadonlyMap<string, KubeconfigCluster>;
  readonly users: ReadonlyMap<string, KubeconfigUser>;
  readonly contexts: ReadonlyMap<string, KubeconfigContext>;
  readonly currentContext: string;
}

/** The cluster, user and context a kubeconfig selects. */
export interface ResolvedKubeconfig {
  readonly contextName: string;
  readonly clusterName: string;
  readonly cluster: KubeconfigCluster;
  readonly userName: string;
  readonly user: KubeconfigUser;
}

const b64 = (pem: string): string => Buffer.from(pem).toString('base64');

export interface ClientKubeconfigParams {
  readonly clusterName: string;
  readonly server: string;
  readonly caPem: string;
  readonly userName: string;
  /** Context name; `<user>@<cluster>` (kubeadm's form) when absent. */
  readonly contextName?: string;
  readonly clientCertificatePem?: string;
  readonly clientKeyPem?: string;
  /** Paths instead of embedded data, so a rotated file is picked up without rewriting the kubeconfig. */
  readonly clientCertificateFile?: string;
  readonly clientKeyFile?: string;
  readonly token?: string;
}

/** A single-cluster, single-user kubeconfig with everything embedded, keyed as client-go writes it. */
export function buildKubeconfig(p: ClientKubeconfigParams): string {
  const context = p.contextName ?? `${p.userName}@${p.clusterName}`;
  const user: Record<string, string> = {};
  if (p.clientCertificateFile !== undefined) user['client-certificate'] = p.clientCertificateFile;
  if (p.clientCertificatePem !== undefined) user['client-certificate-data'] = b64(p.clientCertificatePem);
  if (p.clientKeyFile !== undefined) user['client-key'] = p.clientKeyFile;
  if (p.clientKeyPem !== undefined) user['client-key-data'] = b64(p.clientKeyPem);
  if (p.token !== undefined) user.token = p.token;
  return stringify({
    apiVersion: 'v1',
    clusters: [{ cluster: { 'certificate-authority-data': b64(p.caPem), server: p.server }, name: p.clusterName }],
    contexts: [{ context: { cluster: p.clusterName, user: p.userName }, name: context }],
    'current-context': context,
    kind: 'Config',
    preferences: {},
    users: [{ name: p.userName, user }],
  });
}

function kcError(message: string, field: string): InvalidError {
  return new InvalidError('KUBECONFIG', `kubeconfig: ${message}`, { field });
}

function optString(o: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw kcError(`${field}.${key} must be a string`, `${field}.${key}`);
  return v;
}

function decodeData(o: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = optString(o, key, field);
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s+/g, ''))) throw kcError(`${field}.${key} is not base64`, `${field}.${key}`);
  return Buffer.from(v, 'base64').toString('utf8');
}

function namedList<T>(
  root: Record<string, unknown>,
  key: string,
  inner: string,
  read: (o: Record<string, unknown>, field: string) => T,
): Map<string, T> {
  const list = root[key] ?? [];
  if (!Array.isArray(list)) throw kcError(`${key} must be a list`, key);
  const out = new Map<string, T>();
  list.forEach((entry: unknown, i) => {
    const field = `${key}[${i}]`;
    if (!isObject(entry) || typeof entry.name !== 'string') throw kcError(`${field} needs a name`, field);
    if (out.has(entry.name)) throw kcError(`${key} has two entries named "${entry.name}"`, field);
    const body = entry[inner];
    if (!isObject(body)) throw kcError(`${field}.${inner} must be a mapping`, `${field}.${inner}`);
    out.set(entry.name, read(body, `${field}.${inner}`));
  });
  return out;
}

function withOptional<T extends object>(base: T, extra: Record<string, unknown>): T {
  // Only keys that have a value are added, which is what exactOptionalPropertyTypes asks for.
  const defined = Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined));
  return { ...base, ...defined };
}

/** Parses kubeconfig YAML. Throws INVALID (reason `KUBECONFIG`) naming the offending field. */
export function parseKubeconfig(text: string): Kubeconfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (cause) {
    throw new InvalidError('KUBECONFIG', 'kubeconfig is not valid YAML', { cause });
  }
  if (!isObject(doc)) throw kcError('the document must be a mapping', '');
  if (doc.kind !== undefined && doc.kind !== 'Config') throw kcError('kind must be Config', 'kind');
  const clusters = namedList(doc, 'clusters', 'cluster', (o, field) => {
    const server = optString(o, 'server', field);
    if (!server) throw kcError(`${field}.server is required`, `${field}.server`);
    const insecure = o['insecure-skip-tls-verify'];
    return withOptional<KubeconfigCluster>(
      { server },
      {
        certificateAuthorityData: decodeData(o, 'certificate-authority-data', field),
        certificateAuthority: optString(o, 'certificate-authority', field),
        insecureSkipTlsVerify: insecure === true ? true : undefined,
      },
    );
  });
  const users = namedList(doc, 'users', 'user', (o, field) =>
    withOptional<KubeconfigUser>(
      {},
      {
        clientCertificateData: decodeData(o, 'client-certificate-data', field),
        clientKeyData: decodeData(o, 'client-key-data', field),
        clientCertificate: optString(o, 'client-certificate', field),
        clientKey: optString(o, 'client-key', field),
        token: optString(o, 'token', field),
      },
    ),
  );
  const contexts = namedList(doc, 'contexts', 'context', (o, field) => {
    const cluster = optString(o, 'cluster', field) ?? '';
    const user = optString(o, 'user', field) ?? '';
    return withOptional<KubeconfigContext>({ cluster, user }, { namespace: optString(o, 'namespace', field) });
  });
  const currentContext = optString(doc, 'current-context', '') ?? '';
  return { clusters, users, contexts, currentContext };
}

/** The current context's cluster and user; each must exist. */
export function resolveKubeconfig(config: Kubeconfig, contextName?: string): ResolvedKubeconfig {
  const name = contextName ?? config.currentContext;
  const context = config.contexts.get(name);
  if (!context) throw kcError(name === '' ? 'no current-context is set' : `context "${name}" does not exist`, 'current-context');
  const cluster = config.clusters.get(context.cluster);
  if (!cluster) throw kcError(`context "${name}" names cluster "${context.cluster}", which does not exist`, 'contexts');
  const user = config.users.get(context.user) ?? {};
  return { contextName: name, clusterName: context.cluster, cluster, userName: context.user, user };
}
