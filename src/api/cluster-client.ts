/**
 * The controllers' port to the cluster (DESIGN.md "Controllers"): a small, asynchronous client of
 * the Kubernetes API for the resources they act on and keep their bookkeeping in. `tlsboot
 * server` implements it over its own request path in process and `tlsboot controllers` over
 * HTTPS (src/client), so the same reconcilers pass the same authorisation and admission either
 * way. Every update is compare-and-swap on the object's metadata.resourceVersion.
 */
import type { JsonObject } from '../base/json.ts';
import type { ListWatch, ListWatchObject } from './list-watch.ts';
import type { AuthorizationAttributes } from './rbac.ts';

/** Where a resource is served: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise. */
export interface ApiResource {
  readonly group: string;
  readonly version: string;
  /** Plural, as in URLs. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** tlsboot's own API group: the controllers' bookkeeping (CustomResourceDefinitions on a stock cluster). */
export const TLSBOOT_GROUP = 'tlsboot.io';
export const TLSBOOT_VERSION = 'v1alpha1';

function bookkeeping(resource: string, kind: string): ApiResource {
  return { group: TLSBOOT_GROUP, version: TLSBOOT_VERSION, resource, kind, namespaced: false };
}

export const CSRS: ApiResource = {
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  kind: 'CertificateSigningRequest',
  namespaced: false,
};
export const SECRETS: ApiResource = { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true };
export const CONFIGMAPS: ApiResource = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true };
export const NODES: ApiResource = { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false };
export const LEASES: ApiResource = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true };
/** Every certificate the signer issued, keyed by the CSR's uid: at most one per CSR, persisted first. */
export const ISSUED_CERTIFICATES = bookkeeping('issuedcertificates', 'IssuedCertificate');
/** Node names that hold a node client certificate (the registry of known nodes). */
export const NODE_CLIENT_CERTIFICATES = bookkeeping('nodeclientcertificates', 'NodeClientCertificate');
/** First-time claims of a node name: one certificate per new node. */
export const NODE_NAME_CLAIMS = bookkeeping('nodenameclaims', 'NodeNameClaim');
/** Which node holds which IP address in a live serving certificate. */
export const ADDRESS_CLAIMS = bookkeeping('addressclaims', 'AddressClaim');
/** The addresses each node's serving certificates carry (its claims, by node). */
export const NODE_ADDRESSES = bookkeeping('nodeaddresses', 'NodeAddresses');

/** Revoked certificates, named by serial (src/api/revocation.ts). */
export const CERTIFICATE_REVOCATIONS = bookkeeping('certificaterevocations', 'CertificateRevocation');

/** Several writes applied all or none, in one durable write (tlsboot's server only; never stored). */
export const TRANSACTIONS = bookkeeping('transactions', 'Transaction');

/** The bookkeeping kinds, in the order manifests list them. */
export const BOOKKEEPING_RESOURCES: readonly ApiResource[] = [
  ISSUED_CERTIFICATES,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
  ADDRESS_CLAIMS,
  NODE_ADDRESSES,
  CERTIFICATE_REVOCATIONS,
];

export function apiVersionOfResource(r: ApiResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The store's key for a resource: group/resource, `core` for the core group. */
export function storeKeyOf(r: ApiResource): string {
  return `${r.group === '' ? 'core' : r.group}/${r.resource}`;
}

/** The URL path of a collection, an object or one of its subresources. */
export function resourcePath(r: ApiResource, namespace?: string, name?: string, subresource?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace !== undefined && namespace !== '' ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const obj = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  const sub = name !== undefined && subresource !== undefined ? `/${subresource}` : '';
  return `${base}${ns}/${r.resource}${obj}${sub}`;
}

export type KubeObject = JsonObject & ListWatchObject;

/** One write of a transaction: a create, or an update of an object or of one of its subresources. */
export interface ClusterWrite {
  readonly verb: 'create' | 'update';
  readonly resource: ApiResource;
  readonly object: JsonObject;
  readonly subresource?: 'status' | 'approval';
}

export interface ClusterClient {
  get(r: ApiResource, namespace: string, name: string): Promise<KubeObject | undefined>;
  list(r: ApiResource, namespace?: string): Promise<KubeObject[]>;
  create(r: ApiResource, obj: JsonObject): Promise<KubeObject>;
  /** Compare-and-swap on `obj.metadata.resourceVersion`; a subresource writes only what it owns. */
  update(r: ApiResource, obj: JsonObject, subresource?: 'status' | 'approval'): Promise<KubeObject>;
  /** Deletes only the version read (a precondition on resourceVersion). */
  delete(r: ApiResource, namespace: string, name: string, resourceVersion: string): Promise<void>;
  listWatch(r: ApiResource, namespace?: string): ListWatch<KubeObject>;
  /** A SubjectAccessReview: may this user do this? */
  allowed(attributes: AuthorizationAttributes): Promise<boolean>;
  /** Whether the server applies transactions (tlsboot's `transactions.tlsboot.io`; a stock cluster does not). */
  servesTransactions?(): Promise<boolean>;
  /**
   * Applies the writes all or none, as one durable write; only where servesTransactions said so.
   * A second update of one object builds on the first (a CSR's approval, then its certificate).
   * @returns the stored objects, in write order
   */
  transaction?(writes: readonly ClusterWrite[]): Promise<KubeObject[]>;
}
