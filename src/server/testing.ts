/**
 * Test fixture (used only by tests): the API server in process over an in-memory store, with a
 * throwaway CA and serving certificate for 127.0.0.1, a fake clock, and three credentials: an
 * admin token (system:masters), a bootstrap token (a real `bootstrap-token-abcdef` Secret, created
 * through the API) that may create CSRs, and anonymous, which may only read /healthz.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import {
  type AuthorizationAttributes,
  BOOTSTRAP_TOKEN_NAMESPACE,
  bootstrapTokenSecret,
  bootstrapTokenSecretName,
  type Decision,
  type PolicyRule,
  parseBootstrapToken,
  type RbacPolicy,
  type TokenSecretParams,
} from '../api/index.ts';
import { InternalError } from '../base/errors.ts';
import {
  type Certificate,
  certificateToPem,
  generatePrivateKey,
  issueCertificate,
  parseCertificate,
  privateKeyToPem,
  spkiOf,
} from '../pki/index.ts';
import { openSqliteStore, type Store } from '../store/index.ts';
import { accessReviewHandlers, ControlPlaneAdmission, type RevocationAdmission } from './admission.ts';
import { type ApiServer, type ApiServerDeps, createApiServer } from './app.ts';
import { StaticTokens } from './authn.ts';
import { PolicyAuthorizer } from './authz.ts';
import { Registry, storeResourceOf } from './registry.ts';
import { ALL_RESOURCES } from './resources.ts';

export const ADMIN_TOKEN = 'admin-token-0123456789';
export const BOOTSTRAP_TOKEN = 'abcdef.0123456789abcdef';

export interface TestApi {
  readonly server: ApiServer;
  readonly store: Store;
  /** The CA that signed the serving certificate, for clients that verify it. */
  readonly caPem: string;
  /** The fake clock; tests move it with `clock.ms += ...`. */
  readonly clock: { ms: number };
  /** A request through the server's request path (inject) with `token` as its bearer token. */
  request(token: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown): Promise<InjectedResponse>;
  close(): Promise<void>;
}

/** What tests read of an injected response. */
export interface InjectedResponse {
  readonly statusCode: number;
  readonly body: string;
  json<T>(): T;
}

function allow(a: AuthorizationAttributes): Decision {
  if (a.user.groups.includes('system:masters')) return { allowed: true, reason: 'masters' };
  if ('nonResourceURL' in a) return { allowed: a.nonResourceURL === '/healthz', reason: 'health' };
  const bootstrapper = a.user.groups.includes('system:bootstrappers');
  return { allowed: bootstrapper && a.resource === 'certificatesigningrequests' && a.verb === 'create', reason: 'bootstrap' };
}

/** Writes the Secret behind a bootstrap token straight to the store, as `tlsboot token create` would through the API. */
export async function putBootstrapToken(store: Store, params: TokenSecretParams): Promise<void> {
  const meta = { name: bootstrapTokenSecretName(params.token.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE };
  const secrets = new Registry(ALL_RESOURCES).find('', 'v1', 'secrets');
  if (!secrets) throw new InternalError('TEST_SEED', 'the registry serves no Secrets');
  await store.create({ resource: storeResourceOf(secrets), ...meta }, { ...bootstrapTokenSecret(params), metadata: meta });
}

export async function startTestApi(overrides: Partial<ApiServerDeps> = {}): Promise<TestApi> {
  const clock = { ms: Date.parse('2026-06-01T00:00:00Z') };
  const now = () => new Date(clock.ms);
  const caKey = generatePrivateKey('ecdsa-p256');
  const ca: Certificate = parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: 'test-ca' }],
      publicKey: spkiOf(caKey),
      keyUsage: ['digitalSignature', 'keyCertSign'],
      ca: {},
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 3_600_000),
      issuer: { kind: 'self', key: caKey },
      randomBytes,
    }),
  );
  const servingKey = generatePrivateKey('ecdsa-p256');
  const serving = issueCertificate({
    subject: [{ type: 'CN', value: 'kube-apiserver' }],
    publicKey: spkiOf(servingKey),
    sans: { dns: ['localhost'], ip: ['127.0.0.1'], email: [], uri: [] },
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['serverAuth'],
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 3_600_000),
    issuer: { kind: 'ca', certificate: ca, key: caKey },
    randomBytes,
  });
  const caPem = certificateToPem(ca.der);
  const store = openSqliteStore({ path: ':memory:' });
  const registry = new Registry(ALL_RESOURCES);
  const server = await createApiServer({
    store,
    registry,
    tls: { certPem: certificateToPem(serving), keyPem: privateKeyToPem(servingKey), clientCaPem: caPem },
    clientCas: [ca],
    staticTokens: StaticTokens.parse(`${ADMIN_TOKEN},admin,1,"system:masters"`, 'tokens.csv'),
    authorizer: { authorize: allow },
    admission: { admit: async () => {} },
    now,
    uid: () => randomBytes(8).toString('hex'),
    randomSuffix: () => randomBytes(3).toString('hex').slice(0, 5),
    logger: pino({ level: 'silent' }),
    version: { major: '1', minor: '33' },
    advertisedAddress: '127.0.0.1:6443',
    ready: () => true,
    ...overrides,
  });
  // Written to the store, not through the API: inject() would ready the app, and tests may still add hooks.
  await putBootstrapToken(store, { token: parseBootstrapToken(BOOTSTRAP_TOKEN), usages: ['authentication'], groups: [] });
  // Not readied here: a test may still add hooks (to observe body parsing) before inject or listen.
  return {
    server,
    store,
    caPem,
    clock,
    request: (token, method, url, payload) =>
      server.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      }),
    async close() {
      await server.close();
      await store.close();
    },
  };
}

/**
 * The test API with real RBAC evaluation and the control plane's admission: one user per role,
 * named as the role, whose bearer token is its name, bound to a ClusterRole of exactly those rules;
 * and `admin` (token `admin`) in system:masters. For client-signer CSRs: node names are not needed.
 * Revocations are admitted only with `revocations` (the control plane's revocationAdmission).
 */
export function startTestApiWithRoles(
  roles: Readonly<Record<string, PolicyRule[]>>,
  overrides: Partial<ApiServerDeps> = {},
  revocations?: RevocationAdmission,
): Promise<TestApi> {
  const policy: RbacPolicy = {
    clusterRoles: Object.entries(roles).map(([name, rules]) => ({ metadata: { name }, rules })),
    clusterRoleBindings: Object.keys(roles).map((name) => ({
      metadata: { name },
      roleRef: { kind: 'ClusterRole', name },
      subjects: [{ kind: 'User', name }],
    })),
    roles: [],
    roleBindings: [],
  };
  const authorizer = new PolicyAuthorizer(() => policy);
  const tokens = ['admin,admin,0,system:masters', ...Object.keys(roles).map((r, i) => `${r},${r},${i + 1}`)].join('\n');
  return startTestApi({
    staticTokens: StaticTokens.parse(tokens, 'tokens.csv'),
    authorizer,
    admission: new ControlPlaneAdmission(
      authorizer,
      () => {
        throw new InternalError('TEST', 'node names are not needed for the client signer');
      },
      undefined,
      revocations,
    ),
    virtualResources: accessReviewHandlers(authorizer),
    ...overrides,
  });
}
