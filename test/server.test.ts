/**
 * The control plane end to end: a real `tlsboot server` process, driven by a real kubectl and by
 * tlsboot's own client. Covers kubectl get/describe/create/apply/approve/deny, secrets, the
 * Status of bad input (nothing stored), refused credentials (another CA, expired, deleted
 * bootstrap token), anonymous access, watch, SIGTERM shutdown and durability under kill -9.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  asCertificateSigningRequestList,
  asConfigMap,
  asList,
  CERTIFICATE_SIGNING_REQUEST,
  CONFIG_MAP,
  type ConfigMap,
  metadataString,
} from '../src/api/index.ts';
import { isObject } from '../src/base/json.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import {
  certificateToPem,
  createCsrPem,
  generatePrivateKey,
  issueCertificate,
  parseCertificatePem,
  parsePrivateKeyPem,
  privateKeyToPem,
  spkiOf,
} from '../src/pki/index.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { kubectl, openssl, type RunningServer, startServer, tempDir, tlsbootAsync, toolSkip } from './helpers/processes.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function csrManifest(name: string, subject: { CN: string; O?: string }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const key = generatePrivateKey('ecdsa-p256');
  const pem = createCsrPem({ key, subject: [...(subject.O ? [{ type: 'O', value: subject.O }] : []), { type: 'CN', value: subject.CN }] });
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: {
      request: Buffer.from(pem).toString('base64'),
      signerName: 'kubernetes.io/kube-apiserver-client',
      usages: ['digital signature', 'client auth'],
      ...extra,
    },
  };
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

describe('tlsboot server', () => {
  const dir = tempDir('server');
  let server: RunningServer;
  let admin: KubeClient;
  let kubeconfig: string;
  const cache = join(dir.path, 'kube-cache');

  before(async () => {
    server = await startServer(join(dir.path, 'cluster'));
    kubeconfig = join(server.dir, 'admin.conf');
    // init wrote the server URL for port 6443; point the kubeconfig at the test port.
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(/https:\/\/127\.0\.0\.1:6443/, server.url));
    admin = new KubeClient(loadKubeconfig(kubeconfig));
  });

  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  test('serves health, readiness, version and discovery', async () => {
    assert.equal((await admin.raw('/healthz')).body.toString(), 'ok');
    assert.equal((await admin.raw('/readyz')).status, 200);
    const version = await admin.request('/version');
    assert.match(String(version.gitVersion), /^v1\.33\.0-tlsboot/);
    const resources = (await admin.request('/apis/certificates.k8s.io/v1')).resources;
    assert.ok(Array.isArray(resources));
    assert.deepEqual(resources.map((r) => (isObject(r) ? r.name : undefined)).sort(), [
      'certificatesigningrequests',
      'certificatesigningrequests/approval',
      'certificatesigningrequests/status',
    ]);
  });

  describe('with kubectl', { skip: toolSkip('kubectl') }, () => {
    const k = (...args: string[]) => kubectl(kubeconfig, cache, args);

    test('get csr on an empty cluster and get secrets in kube-system', () => {
      const csr = k('get', 'csr');
      assert.equal(csr.code, 0, csr.stderr);
      const secrets = k('get', 'secrets', '-n', 'kube-system');
      assert.equal(secrets.code, 0, secrets.stderr);
    });

    test('create, describe, approve: the certificate is issued and verifies against the cluster CA', () => {
      const manifest = join(dir.path, 'alice.json');
      writeFileSync(manifest, JSON.stringify(csrManifest('alice', { CN: 'alice', O: 'devs' }, { expirationSeconds: 3600 })));
      const created = k('create', '-f', manifest);
      assert.equal(created.code, 0, created.stderr);
      const listed = k('get', 'csr');
      assert.match(listed.stdout, /^NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION$/m);
      assert.match(listed.stdout, /alice\s+\S+\s+kubernetes\.io\/kube-apiserver-client\s+kubernetes-admin\s+60m\s+Pending/);
      const described = k('describe', 'csr', 'alice');
      assert.equal(described.code, 0, described.stderr);
      assert.match(described.stdout, /Common Name:\s+alice/);
      const approved = k('certificate', 'approve', 'alice');
      assert.equal(approved.code, 0, approved.stderr);
      let cert = '';
      for (let i = 0; i < 50 && cert === ''; i++) {
        cert = Buffer.from(k('get', 'csr', 'alice', '-o', 'jsonpath={.status.certificate}').stdout, 'base64').toString();
        if (cert === '') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      }
      assert.match(k('get', 'csr', 'alice').stdout, /Approved,Issued/);
      writeFileSync(join(dir.path, 'alice.crt'), cert);
      const verified = openssl(['verify', '-x509_strict', '-CAfile', join(server.dir, 'pki', 'ca.crt'), join(dir.path, 'alice.crt')]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const text = openssl([
        'x509',
        '-in',
        join(dir.path, 'alice.crt'),
        '-noout',
        '-subject',
        '-ext',
        'extendedKeyUsage,basicConstraints',
      ]).stdout;
      assert.match(text, /CN = alice, O = devs|O = devs, CN = alice/);
      assert.match(text, /TLS Web Client Authentication/);
      assert.match(text, /CA:FALSE/);
    });

    test('apply is idempotent and deny marks the request Denied, which a later approve cannot undo', () => {
      const manifest = join(dir.path, 'bob.json');
      writeFileSync(manifest, JSON.stringify(csrManifest('bob', { CN: 'bob' })));
      assert.equal(k('apply', '-f', manifest).code, 0);
      assert.match(k('apply', '-f', manifest).stdout, /unchanged/);
      assert.equal(k('certificate', 'deny', 'bob').code, 0);
      assert.match(k('get', 'csr', 'bob').stdout, /Denied/);
      const again = k('certificate', 'approve', 'bob');
      assert.notEqual(again.stdout + again.stderr, '');
      assert.doesNotMatch(k('get', 'csr', 'bob').stdout, /Approved/);
    });

    test('a CSR for system:masters or kubeadm:cluster-admins on the client signer is forbidden by admission', () => {
      for (const [name, group] of [
        ['masters', 'system:masters'],
        ['cluster-admins', 'kubeadm:cluster-admins'],
      ] as const) {
        const manifest = join(dir.path, `${name}.json`);
        writeFileSync(manifest, JSON.stringify(csrManifest(name, { CN: 'evil', O: group })));
        const r = k('create', '-f', manifest);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`Forbidden.*${group}`));
        assert.match(k('get', 'csr', name).stderr, /NotFound/);
      }
    });
  });

  describe('kubectl paging', { skip: toolSkip('kubectl') }, () => {
    const k = (...args: string[]) => kubectl(kubeconfig, cache, args);

    test('get with --chunk-size pages through limit/continue: every object once, in the table and as names', async () => {
      const names = Array.from({ length: 7 }, (_, i) => `page-${i}`);
      for (const name of names) {
        await admin.request('/api/v1/namespaces/paging/configmaps', {
          method: 'POST',
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: {} },
        });
      }
      const table = k('get', 'configmaps', '-n', 'paging', '--chunk-size=2', '-v=6');
      assert.equal(table.code, 0, table.stderr);
      assert.deepEqual(
        table.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)[0]),
        ['NAME', ...names],
      );
      assert.match(table.stderr, /limit=2/);
      assert.equal(table.stderr.match(/continue=/g)?.length, 3, 'four pages of 2: three follow-up requests');
      const byName = k('get', 'cm', '-n', 'paging', '--chunk-size=3', '-o', 'name');
      assert.equal(byName.code, 0, byName.stderr);
      assert.deepEqual(
        byName.stdout.trim().split('\n'),
        names.map((n) => `configmap/${n}`),
      );
      for (const name of ['paged-1', 'paged-2', 'paged-3'])
        await admin.request(CSRS, { method: 'POST', body: csrManifest(name, { CN: name }) });
      const csrs = k('get', 'csr', '--chunk-size=2', '-o', 'name');
      const whole = k('get', 'csr', '--chunk-size=0', '-o', 'name');
      assert.equal(csrs.code, 0, csrs.stderr);
      assert.equal(csrs.stdout, whole.stdout);
      const csrTable = k('get', 'csr', '--chunk-size=2');
      assert.equal(csrTable.code, 0, csrTable.stderr);
      assert.equal(csrTable.stdout.trim().split('\n').length, whole.stdout.trim().split('\n').length + 1);
    });
  });

  describe('bad input gets a Status and stores nothing', () => {
    const expectError = async (path: string, body: unknown, expected: string, method = 'POST') => {
      const count = async () => asList(await admin.request(CSRS), CERTIFICATE_SIGNING_REQUEST).items.length;
      const before = await count();
      await assert.rejects(admin.request(path, { method, body }), (e: unknown) => code(e) === expected);
      assert.equal(await count(), before);
    };

    test('a request field that is not a CSR, a short expiration, unknown usages, a bad name', async () => {
      await expectError(CSRS, csrManifest('bad-request', { CN: 'x' }, { request: Buffer.from('not a csr').toString('base64') }), 'INVALID');
      await expectError(CSRS, csrManifest('short', { CN: 'x' }, { expirationSeconds: 100 }), 'INVALID');
      await expectError(CSRS, csrManifest('usage', { CN: 'x' }, { usages: ['client auth', 'flying'] }), 'INVALID');
      await expectError(CSRS, csrManifest('..', { CN: 'x' }), 'INVALID');
      await expectError(
        '/api/v1/namespaces/default/configmaps',
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_A_Name' } },
        'INVALID',
      );
      await expectError(CSRS, { ...csrManifest('kind', { CN: 'x' }), kind: 'Secret' }, 'BAD_REQUEST');
      await expectError(CSRS, csrManifest('legacy', { CN: 'x' }, { signerName: 'kubernetes.io/legacy-unknown' }), 'INVALID');
    });

    test('malformed JSON is 400, an oversized body 413, an unknown resource 404', async () => {
      const raw = await admin.raw(CSRS, { method: 'POST', body: undefined, contentType: 'application/json' });
      assert.ok(raw.status === 400 || raw.status === 422 || raw.status === 415, `empty body: ${raw.status}`);
      // Its own connection: the server closes it after a 413 on an unread body.
      const oneShot = new KubeClient(loadKubeconfig(kubeconfig));
      try {
        await assert.rejects(
          oneShot.request(CSRS, { method: 'POST', body: { big: 'x'.repeat(400 * 1024) } }),
          (e: unknown) => code(e) === 'TOO_LARGE',
        );
      } finally {
        oneShot.close();
      }
      await assert.rejects(admin.request('/apis/certificates.k8s.io/v1/nosuchthings'), (e: unknown) => code(e) === 'NOT_FOUND');
      const status = await admin.raw('/apis/certificates.k8s.io/v1/nosuchthings');
      const body = JSON.parse(status.body.toString()) as Record<string, unknown>;
      assert.equal(body.kind, 'Status');
      assert.equal(body.reason, 'NotFound');
    });

    test('an update with a stale resourceVersion is a 409 Conflict', async () => {
      const created = await admin.request(
        '/api/v1/namespaces/default/configmaps',
        { method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cas' }, data: { a: '1' } } },
        asConfigMap,
      );
      const meta = created.metadata;
      await admin.request('/api/v1/namespaces/default/configmaps/cas', { method: 'PUT', body: { ...created, data: { a: '2' } } });
      await assert.rejects(
        admin.request('/api/v1/namespaces/default/configmaps/cas', {
          method: 'PUT',
          body: { ...created, metadata: meta, data: { a: '3' } },
        }),
        (e: unknown) => code(e) === 'CONFLICT',
      );
      const now = await admin.request('/api/v1/namespaces/default/configmaps/cas', {}, asConfigMap);
      assert.deepEqual(now.data, { a: '2' });
    });
  });

  describe('authentication', () => {
    const caCert = () => parseCertificatePem(readFileSync(join(server.dir, 'pki', 'ca.crt')));
    const caKey = () => parsePrivateKeyPem(readFileSync(join(server.dir, 'pki', 'ca.key')));

    function clientWith(cert: string, key: string): KubeClient {
      return new KubeClient({
        server: server.url,
        caPem: readFileSync(join(server.dir, 'pki', 'ca.crt'), 'utf8'),
        clientCertificatePem: cert,
        clientKeyPem: key,
      });
    }

    function leaf(
      issuer: { certificate: ReturnType<typeof parseCertificatePem>; key: ReturnType<typeof generatePrivateKey> } | undefined,
      notAfter: Date,
    ) {
      const key = generatePrivateKey('ecdsa-p256');
      const selfKey = generatePrivateKey('ecdsa-p256');
      const der = issueCertificate({
        subject: [
          { type: 'CN', value: 'kubernetes-admin' },
          { type: 'O', value: 'system:masters' },
        ],
        publicKey: spkiOf(issuer ? key : selfKey),
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['clientAuth'],
        notBefore: new Date(Date.now() - 7200_000),
        notAfter,
        issuer: issuer ? { kind: 'ca', certificate: issuer.certificate, key: issuer.key } : { kind: 'self', key: selfKey },
        randomBytes,
      });
      return { cert: certificateToPem(der), key: privateKeyToPem(issuer ? key : selfKey) };
    }

    test('a client certificate from another CA is refused with 401', async () => {
      const { cert, key } = leaf(selfSignedCa({ hours: 1 }), new Date(Date.now() + 3600_000));
      const c = clientWith(cert, key);
      try {
        await assert.rejects(c.request(CSRS), (e: unknown) => code(e) === 'UNAUTHENTICATED');
      } finally {
        c.close();
      }
    });

    test('an expired client certificate from the cluster CA is refused with 401', async () => {
      const { cert, key } = leaf({ certificate: caCert(), key: caKey() }, new Date(Date.now() - 60_000));
      const c = clientWith(cert, key);
      try {
        await assert.rejects(c.request(CSRS), (e: unknown) => code(e) === 'UNAUTHENTICATED');
      } finally {
        c.close();
      }
    });

    test('a client certificate that expires while its keep-alive connection is open stops working', async () => {
      const { cert, key } = leaf({ certificate: caCert(), key: caKey() }, new Date(Date.now() + 2000));
      const c = clientWith(cert, key);
      try {
        assert.equal((await c.raw(CSRS)).status, 200);
        await new Promise((r) => setTimeout(r, 2500));
        assert.equal((await c.raw(CSRS)).status, 401);
      } finally {
        c.close();
      }
    });

    test('a bootstrap token authenticates until its Secret is deleted', async () => {
      const id = 'abcdef';
      const secret = 'ghijklmnopqrstuv';
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      await admin.request('/api/v1/namespaces/kube-system/secrets', {
        method: 'POST',
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `bootstrap-token-${id}` },
          type: 'bootstrap.kubernetes.io/token',
          data: {
            'token-id': b64(id),
            'token-secret': b64(secret),
            'usage-bootstrap-authentication': b64('true'),
            'auth-extra-groups': b64('system:bootstrappers:kubeadm:default-node-token'),
          },
        },
      });
      const tokenClient = new KubeClient({
        server: server.url,
        caPem: readFileSync(join(server.dir, 'pki', 'ca.crt'), 'utf8'),
        token: `${id}.${secret}`,
      });
      const wrong = new KubeClient({
        server: server.url,
        caPem: readFileSync(join(server.dir, 'pki', 'ca.crt'), 'utf8'),
        token: `${id}.wrongwrongwrong0`,
      });
      try {
        await tokenClient.request(CSRS);
        await assert.rejects(wrong.request(CSRS), (e: unknown) => code(e) === 'UNAUTHENTICATED');
        await assert.rejects(tokenClient.request('/api/v1/namespaces/kube-system/secrets'), (e: unknown) => code(e) === 'FORBIDDEN');
        await admin.request(`/api/v1/namespaces/kube-system/secrets/bootstrap-token-${id}`, { method: 'DELETE' });
        await assert.rejects(tokenClient.request(CSRS), (e: unknown) => code(e) === 'UNAUTHENTICATED');
      } finally {
        tokenClient.close();
        wrong.close();
      }
    });

    test('a wrong secret and an unknown token id get the same 401 body; guessing is slowed with 429, a valid token from the same address is not', async () => {
      const ca = readFileSync(join(server.dir, 'pki', 'ca.crt'), 'utf8');
      const body = async (token: string) => {
        const c = new KubeClient({ server: server.url, caPem: ca, token });
        try {
          const r = await c.raw(CSRS);
          return `${r.status} ${r.body.toString()}`;
        } finally {
          c.close();
        }
      };
      const unknown = await body('zzzzzz.0123456789abcdef');
      const wrongSecret = await body('abcdef.zzzzzzzzzzzzzzzz');
      assert.equal(unknown, wrongSecret);
      assert.match(unknown, /^401 /);
      const guesser = new KubeClient({ server: server.url, caPem: ca, token: 'qqqqqq.0123456789abcdef' });
      const statuses: number[] = [];
      const slow: number[] = [];
      let lastBody = '';
      try {
        // Over budget, every failure waits the one-second tarpit: keep the overshoot small.
        for (let i = 0; i < 102; i++) {
          const started = performance.now();
          const r = await guesser.raw(CSRS);
          statuses.push(r.status);
          if (r.status === 429) {
            slow.push(performance.now() - started);
            lastBody = r.body.toString();
          }
        }
      } finally {
        guesser.close();
      }
      const first429 = statuses.indexOf(429);
      assert.ok(first429 > 0 && first429 <= 100, 'throttled after at most 100 failures in a minute');
      assert.ok(statuses.slice(0, first429).every((s) => s === 401));
      // The budget drains as time passes (100 a minute), so a guesser slowed to one try a second
      // may fit in again now and then: never faster than the budget, never a success.
      assert.ok(statuses.slice(first429).every((s) => s === 429 || s === 401));
      assert.ok(
        slow.every((ms) => ms >= 900),
        `every 429 waited the tarpit: ${slow.map(Math.round).join(', ')} ms`,
      );
      assert.match(lastBody, /"retryAfterSeconds":[1-9]\d*/, 'the 429 says when to retry');
      assert.equal((await admin.raw(CSRS)).status, 200, 'a client certificate is not throttled');
      const b64 = (v: string) => Buffer.from(v).toString('base64');
      await admin.request('/api/v1/namespaces/kube-system/secrets', {
        method: 'POST',
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'bootstrap-token-nat123' },
          type: 'bootstrap.kubernetes.io/token',
          data: {
            'token-id': b64('nat123'),
            'token-secret': b64('0123456789abcdef'),
            'usage-bootstrap-authentication': b64('true'),
            'auth-extra-groups': b64('system:bootstrappers:kubeadm:default-node-token'),
          },
        },
      });
      assert.equal((await body('nat123.0123456789abcdef')).slice(0, 4), '200 ', 'a valid token from the throttled address succeeds');
    });

    test('the token cleaner deletes an expired bootstrap token', async () => {
      const b64 = (v: string) => Buffer.from(v).toString('base64');
      await admin.request('/api/v1/namespaces/kube-system/secrets', {
        method: 'POST',
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'bootstrap-token-old111' },
          type: 'bootstrap.kubernetes.io/token',
          data: { 'token-id': b64('old111'), 'token-secret': b64('0123456789abcdef'), expiration: b64('2020-01-01T00:00:00Z') },
        },
      });
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        try {
          await admin.request('/api/v1/namespaces/kube-system/secrets/bootstrap-token-old111');
          await new Promise((r) => setTimeout(r, 100));
        } catch (e) {
          gone = code(e) === 'NOT_FOUND';
        }
      }
      assert.ok(gone, 'the expired token was deleted');
    });

    test('anonymous may read kube-public/cluster-info but not list CSRs', async () => {
      const anon = new KubeClient({ server: server.url, caPem: readFileSync(join(server.dir, 'pki', 'ca.crt'), 'utf8') });
      try {
        const info = await anon.request('/api/v1/namespaces/kube-public/configmaps/cluster-info', {}, asConfigMap);
        assert.match(info.data?.kubeconfig ?? '', /certificate-authority-data/);
        await assert.rejects(anon.request(CSRS), (e: unknown) => code(e) === 'FORBIDDEN');
      } finally {
        anon.close();
      }
    });
  });

  test('a watch delivers CSR events from a resourceVersion', async () => {
    const list = await admin.request(CSRS, {}, asCertificateSigningRequestList);
    const stop = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of admin.watch(CSRS, { resourceVersion: list.metadata?.resourceVersion ?? '' }, stop.signal)) {
        seen.push(`${e.type} ${String(metadataString(e.object, 'name'))}`);
        if (seen.length >= 2) break;
      }
    })();
    await admin.request(CSRS, { method: 'POST', body: csrManifest('watched', { CN: 'w' }) });
    await admin.request(`${CSRS}/watched`, { method: 'DELETE' });
    await watching;
    stop.abort();
    assert.deepEqual(seen, ['ADDED watched', 'DELETED watched']);
  });

  test('tlsboot csr list and approve work against the server', async () => {
    await admin.request(CSRS, { method: 'POST', body: csrManifest('via-cli', { CN: 'cli' }) });
    const listed = await tlsbootAsync(['csr', 'list', '--kubeconfig', kubeconfig]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /via-cli\s+.*Pending/);
    const approved = await tlsbootAsync(['csr', 'approve', 'via-cli', '--kubeconfig', kubeconfig]);
    assert.equal(approved.code, 0, approved.stderr);
    const twice = await tlsbootAsync(['csr', 'deny', 'via-cli', '--kubeconfig', kubeconfig]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already approved/);
  });
});

describe('tlsboot server durability', () => {
  test('every write acknowledged before kill -9 is there after a restart, and SIGTERM exits cleanly', async () => {
    const dir = tempDir('durable');
    let server = await startServer(join(dir.path, 'cluster'));
    const conf = join(server.dir, 'admin.conf');
    const fix = () => writeFileSync(conf, readFileSync(conf, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, server.url));
    fix();
    let client = new KubeClient(loadKubeconfig(conf));
    const acknowledged: string[] = [];
    try {
      let stopWriting = false;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; !stopWriting; i++) {
          const name = `burst-${w}-${i}`;
          try {
            await client.request('/api/v1/namespaces/default/configmaps', {
              method: 'POST',
              body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } },
            });
            acknowledged.push(name);
          } catch {
            return;
          }
        }
      });
      while (acknowledged.length < 100) await new Promise((r) => setTimeout(r, 10));
      server.child.kill('SIGKILL');
      stopWriting = true;
      await Promise.all(writers);
      client.close();
      server = await startServer(server.dir, [], server.port);
      fix();
      client = new KubeClient(loadKubeconfig(conf));
      const { items } = await client.request('/api/v1/namespaces/default/configmaps', {}, (v) => asList<ConfigMap>(v, CONFIG_MAP));
      const stored = new Set(items.map((i) => i.metadata?.name));
      assert.deepEqual(
        acknowledged.filter((a) => !stored.has(a)),
        [],
      );
    } finally {
      client.close();
      assert.equal(await server.stop(), 0, 'SIGTERM shuts the server down with exit code 0');
      dir.remove();
    }
  });
});
