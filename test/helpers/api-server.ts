/**
 * An API server in process for `app.inject()` tests: an in-memory SQLite store, every resource
 * tlsboot serves, static bearer tokens for a few users, allow-all authorisation and admission
 * (the tests here are about the REST machinery, not RBAC), and a clock the test may move.
 * `listen()` also serves it on a loopback port for real clients such as kubectl.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { certificateToPem, createCsrPem, generatePrivateKey, privateKeyToPem } from '../../src/pki/index.ts';
import { type ApiServer, createApiServer } from '../../src/server/app.ts';
import { StaticTokens } from '../../src/server/authn.ts';
import type { RequesterLimitsConfig } from '../../src/server/limits.ts';
import { Registry } from '../../src/server/registry.ts';
import { ALL_RESOURCES } from '../../src/server/resources.ts';
import { openSqliteStore, type Store } from '../../src/store/index.ts';
import { selfSignedCa } from './pki.ts';

export const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/** Bearer tokens of the test users: `alice` and `bob` are ordinary users, `admin` is in system:masters. */
export const TOKENS = { admin: 'admin-token', alice: 'alice-token', bob: 'bob-token' } as const;

export interface TestApi {
  readonly server: ApiServer;
  readonly store: Store;
  /** Moves the server's clock. */
  advance(ms: number): void;
  /** A request as `user`, answered in process. */
  request(
    user: keyof typeof TOKENS,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, unknown>; json: () => unknown; body: string }>;
  /** Serves on 127.0.0.1 and writes a kubeconfig for `admin` into `dir`; returns its path. */
  listen(dir: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestApi(
  p: { limits?: Partial<RequesterLimitsConfig>; maxBodyBytes?: number; store?: Store } = {},
): Promise<TestApi> {
  const ca = selfSignedCa({ cn: 'test-ca', sans: { dns: ['localhost'], ip: ['127.0.0.1'], email: [], uri: [] } });
  const caPem = certificateToPem(ca.certificate.der);
  const store = p.store ?? openSqliteStore({ path: ':memory:' });
  let offset = 0;
  let uid = 0;
  let suffix = 0;
  const server = await createApiServer({
    store,
    registry: new Registry(ALL_RESOURCES),
    tls: { certPem: caPem, keyPem: privateKeyToPem(ca.key), clientCaPem: caPem },
    clientCas: [ca.certificate],
    staticTokens: StaticTokens.parse(
      `${TOKENS.admin},admin,1,system:masters\n${TOKENS.alice},alice,2,devs\n${TOKENS.bob},bob,3,devs\n`,
      'tokens.csv',
    ),
    authorizer: { authorize: () => ({ allowed: true, reason: 'test' }) },
    admission: { admit: async () => {} },
    now: () => new Date(Date.now() + offset),
    uid: () => `uid-${uid++}`,
    randomSuffix: () => String(suffix++).padStart(5, '0'),
    logger: pino({ level: 'silent' }),
    version: { major: '1', minor: '33', gitVersion: 'v1.33.0-tlsboot.test' },
    advertisedAddress: '127.0.0.1:0',
    ...(p.maxBodyBytes === undefined ? {} : { maxBodyBytes: p.maxBodyBytes }),
    ...(p.limits === undefined ? {} : { limits: p.limits }),
    ready: () => true,
  });
  return {
    server,
    store,
    advance: (ms) => {
      offset += ms;
    },
    async request(user, method, url, body, headers = {}) {
      const r = await server.app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${TOKENS[user]}`,
          ...(body === undefined ? {} : { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: r.statusCode, headers: r.headers, json: () => r.json(), body: r.body };
    },
    async listen(dir) {
      const { port } = await server.listen('127.0.0.1', 0);
      const kubeconfig = join(dir, 'admin.conf');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: test\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
          'users:',
          `- name: admin\n  user:\n    token: ${TOKENS.admin}`,
          'contexts:',
          '- name: test\n  context:\n    cluster: test\n    user: admin',
          'current-context: test',
          '',
        ].join('\n'),
      );
      return kubeconfig;
    },
    async close() {
      await server.close();
      await store.close();
    },
  };
}

const CSR_REQUEST = Buffer.from(
  createCsrPem({ key: generatePrivateKey('ecdsa-p256'), subject: [{ type: 'CN', value: 'someone' }] }),
).toString('base64');

/** A CSR body for the generic client signer, with optional annotations. */
export function csrBody(name: string, annotations?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { request: CSR_REQUEST, signerName: 'kubernetes.io/kube-apiserver-client', usages: ['digital signature', 'client auth'] },
  };
}
