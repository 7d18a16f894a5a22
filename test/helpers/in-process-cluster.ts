/**
 * The controllers' cluster as `tlsboot server` gives it to them, in one process for tests: an
 * in-memory store, the server with real RBAC (the bootstrap policy and the controllers' printed
 * RBAC), node restriction, admission and access reviews, and clients over the server's request
 * path: one as the in-process controllers' identity, one as a cluster admin. The identity caches
 * that admission judges by are kept over the store, as in `tlsboot server`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type ClusterClient, type ClusterWrite, CSRS, storeKeyOf } from '../../src/api/cluster-client.ts';
import {
  csrCertificatePem,
  parseBootstrapToken,
  prepareCsrCreate,
  type ReservedIdentities,
  reservedIdentities,
} from '../../src/api/index.ts';
import type { Signer } from '../../src/api/signer.ts';
import { isObject, type JsonObject } from '../../src/base/json.ts';
import { HttpClusterClient } from '../../src/client/cluster-client.ts';
import { inProcessKubeClient, newInProcessToken } from '../../src/control-plane/in-process-client.ts';
import { ControllerManager, type ControllerName } from '../../src/controllers/manager.ts';
import { controllerRbac, IN_PROCESS_CONTROLLERS_USER } from '../../src/controllers/manifests.ts';
import { createCsrPem, generatePrivateKey } from '../../src/pki/index.ts';
import { IdentityCaches } from '../../src/runtime/identity-caches.ts';
import { accessReviewHandlers, ControlPlaneAdmission } from '../../src/server/admission.ts';
import { StaticTokens } from '../../src/server/authn.ts';
import { RbacAuthorizer, startRbacInformers } from '../../src/server/authz.ts';
import {
  BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
  BOOTSTRAP_CLUSTER_ROLES,
  BOOTSTRAP_ROLE_BINDINGS,
  BOOTSTRAP_ROLES,
} from '../../src/server/bootstrap-policy.ts';
import { NodeRestrictingAuthorizer } from '../../src/server/node-restriction.ts';
import { ADMIN_TOKEN, putBootstrapToken, startTestApi, type TestApi } from '../../src/server/testing.ts';
import { LocalSigner } from '../../src/signer/signer.ts';
import { openSqliteStore, type Store, type StoredObject, storeListWatch } from '../../src/store/index.ts';
import { csrObject, nodeSubject, selfSignedCa } from './pki.ts';

const RBAC = 'rbac.authorization.k8s.io';

export interface InProcessCluster {
  readonly store: Store;
  readonly api: TestApi;
  /** As `system:tlsboot:controllers`, with only the RBAC `tlsboot controllers manifests` prints. */
  readonly client: ClusterClient;
  /** As a member of system:masters. */
  readonly admin: ClusterClient;
  /** What admission judges node names by (over the store). */
  readonly identity: IdentityCaches;
  /** A request through the API path as node `node` (the admin impersonating `system:node:<node>`). */
  asNode(node: string, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown): Promise<{ status: number; body: JsonObject }>;
  /** Node `node` registers its Node with a Hostname and these InternalIPs; answers the create. */
  registerNode(
    node: string,
    ips: readonly string[],
    extra?: readonly { type: string; address: string }[],
  ): Promise<{ status: number; body: JsonObject }>;
  /** Node `node` submits a kubelet-serving CSR for these SANs; returns its name. */
  servingCsr(node: string, sans: { dns: readonly string[]; ip: readonly string[] }): Promise<string>;
  close(): Promise<void>;
}

function storable(obj: JsonObject): { namespace: string; name: string; object: StoredObject } {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  return { namespace, name, object: { ...obj, metadata: { ...meta, name } } };
}

export async function startInProcessCluster(o: {
  reserved: () => ReservedIdentities;
  dnsSuffixes?: readonly string[];
  now: () => Date;
}): Promise<InProcessCluster> {
  const store = openSqliteStore({ path: ':memory:' });
  const controllers = controllerRbac({ kind: 'User', name: IN_PROCESS_CONTROLLERS_USER });
  const seeds: [string, readonly JsonObject[]][] = [
    ['clusterroles', [...BOOTSTRAP_CLUSTER_ROLES, ...controllers.clusterScoped.filter((x) => x.kind === 'ClusterRole')]],
    [
      'clusterrolebindings',
      [...BOOTSTRAP_CLUSTER_ROLE_BINDINGS, ...controllers.clusterScoped.filter((x) => x.kind === 'ClusterRoleBinding')],
    ],
    ['roles', [...BOOTSTRAP_ROLES, ...controllers.namespaced.filter((x) => x.kind === 'Role')]],
    ['rolebindings', [...BOOTSTRAP_ROLE_BINDINGS, ...controllers.namespaced.filter((x) => x.kind === 'RoleBinding')]],
  ];
  for (const [resource, objs] of seeds)
    for (const obj of objs) {
      const { namespace, name, object } = storable(obj);
      await store.create({ resource: `${RBAC}/${resource}`, namespace, name }, object);
    }
  const rbac = await startRbacInformers(store);
  const identity = new IdentityCaches({
    source: (r, namespace) => storeListWatch(store, storeKeyOf(r), namespace),
    reserved: o.reserved,
    dnsSuffixes: o.dnsSuffixes ?? [],
    now: o.now,
    onError: () => {},
  });
  await identity.start();
  const authorizer = new NodeRestrictingAuthorizer(new RbacAuthorizer(rbac));
  const token = newInProcessToken();
  const api = await startTestApi({
    store,
    authorizer,
    admission: new ControlPlaneAdmission(authorizer, () => identity.nodeNames()),
    virtualResources: new Map(accessReviewHandlers(authorizer)),
    staticTokens: StaticTokens.empty()
      .withToken(token, { name: IN_PROCESS_CONTROLLERS_USER, groups: [] })
      .withToken(ADMIN_TOKEN, { name: 'admin', groups: ['system:masters'] }),
    now: o.now,
  });
  const kube = inProcessKubeClient(api.server.app, token);
  const adminKube = inProcessKubeClient(api.server.app, ADMIN_TOKEN);
  const asNode = async (node: string, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown) => {
    const res = await api.server.app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        'impersonate-user': `system:node:${node}`,
        'impersonate-group': 'system:nodes',
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    const parsed: unknown = res.json();
    return { status: res.statusCode, body: isObject(parsed) ? parsed : {} };
  };
  return {
    store,
    api,
    asNode,
    registerNode: (node, ips, extra = []) =>
      asNode(node, 'POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: node },
        status: {
          addresses: [{ type: 'Hostname', address: node }, ...ips.map((address) => ({ type: 'InternalIP', address })), ...extra],
        },
      }),
    async servingCsr(node, sans) {
      const name = `serving-${node}-${randomUUID().slice(0, 8)}`;
      const res = await asNode(
        node,
        'POST',
        '/apis/certificates.k8s.io/v1/certificatesigningrequests',
        csrObject(name, {
          subject: nodeSubject(node),
          signerName: 'kubernetes.io/kubelet-serving',
          usages: ['digital signature', 'server auth'],
          sans: { dns: [...sans.dns], ip: [...sans.ip] },
        }),
      );
      if (res.status !== 201) throw new Error(`serving CSR for ${node}: ${res.status} ${JSON.stringify(res.body)}`);
      return name;
    },
    client: new HttpClusterClient(kube),
    admin: new HttpClusterClient(adminKube),
    identity,
    async close() {
      kube.close();
      adminKube.close();
      await api.close();
      await identity.close();
      await rbac.close();
      await store.close();
    },
  };
}

/**
 * Stores a CSR for the kube-apiserver-client signer, already approved, straight into `store` (as
 * if a person had approved it): what the signer controller acts on.
 */
export async function storeApprovedClientCsr(store: Store, name: string): Promise<void> {
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [{ type: 'CN', value: `user-${name}` }],
    sans: { dns: [], ip: [], email: [], uri: [] },
  });
  const obj = prepareCsrCreate(
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
      spec: { request: Buffer.from(pem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'] },
    },
    { name: 'someone', groups: ['system:authenticated'] },
  );
  const approved = { type: 'Approved', status: 'True', reason: 'Test', message: 'ok', lastUpdateTime: new Date().toISOString() };
  await store.create(
    { resource: storeKeyOf(CSRS), namespace: '', name },
    { ...obj, metadata: { ...(isObject(obj.metadata) ? obj.metadata : {}), name }, status: { conditions: [approved] } },
  );
}

/**
 * Starts `controllers` against the in-process cluster as `tlsboot server` runs them, signing with
 * a fresh local CA and no reserved identities; `warn` hears the controllers' warnings.
 */
export async function startSigningManager(
  cluster: InProcessCluster,
  o: { controllers: readonly ControllerName[]; now: () => Date; warn?: (obj: Record<string, unknown>, msg: string) => void },
): Promise<ControllerManager> {
  const ca = selfSignedCa();
  const manager = new ControllerManager({
    client: cluster.client,
    signer: new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes }),
    now: o.now,
    logger: { warn: o.warn ?? (() => {}), info: () => {} },
    reserved: () => reservedIdentities([]),
    controllers: new Set(o.controllers),
  });
  await manager.start();
  return manager;
}

/** A local signer with a fresh CA that counts its signatures (whether the CA signed twice). */
export function countingSigner(): Signer & { signed: number } {
  const ca = selfSignedCa();
  const local = new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes });
  const s = {
    signed: 0,
    caCertificate: local.caCertificate,
    async sign(request: Parameters<Signer['sign']>[0], at: Date) {
      s.signed++;
      return local.sign(request, at);
    },
    close: () => local.close(),
  };
  return s;
}

/** The controllers' client with hooks that may fail (throw from) a read or a transaction before it reaches the server. */
export function hookedClient(
  base: ClusterClient,
  hooks: { get?: (resource: string, name: string) => void; transaction?: (writes: readonly ClusterWrite[]) => void },
): ClusterClient {
  return {
    get: (r, ns, n) => {
      hooks.get?.(r.resource, n);
      return base.get(r, ns, n);
    },
    list: base.list.bind(base),
    create: base.create.bind(base),
    update: base.update.bind(base),
    delete: base.delete.bind(base),
    listWatch: base.listWatch.bind(base),
    allowed: base.allowed.bind(base),
    servesTransactions: async () => (await base.servesTransactions?.()) === true,
    async transaction(writes) {
      hooks.transaction?.(writes);
      if (base.transaction === undefined) throw new Error('no transactions');
      return base.transaction(writes);
    },
  };
}

/** Starts `controllers` on `client` with `signer`, as `tlsboot server` runs them, with no reserved identities. */
export async function startControllers(
  client: ClusterClient,
  signer: Signer,
  controllers: readonly ControllerName[],
  now: () => Date,
): Promise<ControllerManager> {
  const manager = new ControllerManager({
    client,
    signer,
    now,
    logger: { warn: () => {}, info: () => {} },
    reserved: () => reservedIdentities([]),
    controllers: new Set(controllers),
  });
  await manager.start();
  return manager;
}

/** A bootstrap token in kubeadm's default node-token group, which the bootstrap policy lets create node CSRs. */
export function putNodeBootstrapToken(store: Store, token: string): Promise<void> {
  return putBootstrapToken(store, {
    token: parseBootstrapToken(token),
    usages: ['authentication'],
    groups: ['system:bootstrappers:kubeadm:default-node-token'],
  });
}

/** The certificate CSR `name` gets, waiting up to 10 s for it. */
export async function issuedCertificate(cluster: InProcessCluster, name: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const csr = await cluster.admin.get(CSRS, '', name);
    const pem = csr === undefined ? undefined : csrCertificatePem(csr);
    if (pem !== undefined) return pem;
    if (Date.now() >= deadline) throw new Error(`no certificate for ${name}: ${JSON.stringify(csr?.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A kubelet client CertificateSigningRequest named `name` for node `node`, with a fresh key, as a kubelet sends it. */
export function kubeletClientCsr(name: string, node: string): JsonObject {
  return csrObject(name, {
    subject: nodeSubject(node),
    signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
    usages: ['digital signature', 'client auth'],
  });
}
