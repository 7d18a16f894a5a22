/**
 * OpenAPI and the review APIs as real kubectls use them, against a real server process: Debian's
 * kubectl 1.20 validates `create -f` and `apply -f` from the protobuf `/openapi/v2` (and refuses
 * an unknown field itself); the current kubectl explains from `/openapi/v3`, leaves unknown
 * fields to the server's strict validation, and prints `auth whoami` and `auth can-i --list`.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject } from './helpers/pki.ts';
import { KUBECTL_OLD, kubectl, pathSkip, type RunningServer, startCluster, tempDir, toolSkip } from './helpers/processes.ts';

const configMap = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { a: '1' }, ...extra });

const role = (name: string) =>
  JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace: 'default' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
  });

const csrManifest = (name: string, spec: Record<string, unknown> = {}) => JSON.stringify(clientCsrObject(name, { spec }));

describe('OpenAPI and reviews with real kubectls', () => {
  const dir = tempDir('openapi-clients');
  let server: RunningServer;
  let kubeconfig: string;
  /** A kubeconfig that authenticates with a bootstrap token only. */
  let tokenConfig: string;
  let tokenId: string;
  const cache = join(dir.path, 'kubectl-cache');

  before(async () => {
    let token: string;
    ({ server, kubeconfig, token } = await startCluster(dir.path));
    tokenId = token.split('.')[0] ?? '';
    const caData = kubectl(kubeconfig, cache, [
      'config',
      'view',
      '--raw',
      '-o',
      'jsonpath={.clusters[0].cluster.certificate-authority-data}',
    ]);
    tokenConfig = join(dir.path, 'token.conf');
    writeFileSync(
      tokenConfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: server.url, 'certificate-authority-data': caData.stdout.trim() } }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: 'default' } }],
        'current-context': 'x',
      }),
    );
  });

  after(async () => {
    await server?.stop();
    dir.remove();
  });

  const old = { skip: pathSkip(KUBECTL_OLD, 'kubectl 1.20', ['version', '--client']) };
  const current = { skip: toolSkip('kubectl') };

  test('kubectl 1.20 creates and applies a CSR, a ConfigMap and a Role with validation on', old, () => {
    const manifests: [string, string][] = [
      ['csr', csrManifest('old-create')],
      ['configmap', configMap('old-create')],
      ['role', role('old-create')],
    ];
    for (const [what, manifest] of manifests) {
      const created = kubectl(kubeconfig, cache, ['create', '--validate=true', '-f', '-'], manifest, KUBECTL_OLD);
      assert.equal(created.code, 0, `create ${what}: ${created.stderr}`);
      const applied = kubectl(
        kubeconfig,
        cache,
        ['apply', '--validate=true', '-f', '-'],
        manifest.replaceAll('old-create', 'old-apply'),
        KUBECTL_OLD,
      );
      assert.equal(applied.code, 0, `apply ${what}: ${applied.stderr}`);
      assert.match(applied.stdout, /old-apply created/);
    }
    // A second apply patches the live object, by the patch strategies the v2 schemas give.
    const changed = configMap('old-apply').replace('"a":"1"', '"a":"2"');
    const again = kubectl(kubeconfig, cache, ['apply', '--validate=true', '-f', '-'], changed, KUBECTL_OLD);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /configmap\/old-apply configured/);
    const data = kubectl(kubeconfig, cache, ['get', 'configmap', 'old-apply', '-o', 'jsonpath={.data.a}'], undefined, KUBECTL_OLD);
    assert.equal(data.stdout, '2');
  });

  test('kubectl 1.20 refuses an unknown field itself, naming the definition', old, () => {
    const r = kubectl(kubeconfig, cache, ['create', '-f', '-'], configMap('old-unknown', { colour: 'blue' }), KUBECTL_OLD);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ValidationError\(ConfigMap\): unknown field "colour" in io\.k8s\.api\.core\.v1\.ConfigMap/);
    const csr = kubectl(kubeconfig, cache, ['create', '-f', '-'], csrManifest('old-unknown', { colour: 'blue' }), KUBECTL_OLD);
    assert.match(csr.stderr, /ValidationError\(CertificateSigningRequest\.spec\): unknown field "colour"/);
    const missing = JSON.parse(csrManifest('old-missing'));
    delete missing.spec.signerName;
    const m = kubectl(kubeconfig, cache, ['create', '-f', '-'], JSON.stringify(missing), KUBECTL_OLD);
    assert.match(m.stderr, /missing required field "signerName"/);
  });

  test('kubectl explains csr and csr.spec.usages from /openapi/v3', current, () => {
    const csr = kubectl(kubeconfig, cache, ['explain', 'csr']);
    assert.equal(csr.code, 0, csr.stderr);
    assert.match(csr.stdout, /KIND:\s+CertificateSigningRequest/);
    assert.match(csr.stdout, /VERSION:\s+v1/);
    assert.match(csr.stdout, /spec\s+<CertificateSigningRequestSpec> -required-/);
    assert.match(csr.stdout, /A request for a certificate from a named signer/);
    const usages = kubectl(kubeconfig, cache, ['explain', 'csr.spec.usages']);
    assert.equal(usages.code, 0, usages.stderr);
    assert.match(usages.stdout, /FIELD:\s+usages <\[\]string>/);
    assert.match(usages.stdout, /The key usages requested/);
    const recursive = kubectl(kubeconfig, cache, ['explain', 'csr.spec']);
    assert.match(recursive.stdout, /signerName\s+<string> -required-/);
  });

  test('kubectl create -f leaves unknown fields to the server, which refuses them strictly', current, () => {
    const ok = kubectl(kubeconfig, cache, ['create', '-f', '-'], csrManifest('new-create'));
    assert.equal(ok.code, 0, ok.stderr);
    for (const value of ['1', '2']) {
      const applied = kubectl(kubeconfig, cache, ['apply', '-f', '-'], configMap('new-apply').replace('"a":"1"', `"a":"${value}"`));
      assert.equal(applied.code, 0, applied.stderr);
    }
    const bad = kubectl(kubeconfig, cache, ['create', '-f', '-'], csrManifest('new-unknown', { colour: 'blue' }));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /strict decoding error: unknown field "spec\.colour"/);
    const cm = kubectl(kubeconfig, cache, ['create', '-f', '-'], configMap('new-unknown', { colour: 'blue' }));
    assert.notEqual(cm.code, 0, 'kubectl sends fieldValidation=Strict and the server refuses the unknown field');
    assert.match(cm.stderr, /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "colour"/);
    const loose = kubectl(kubeconfig, cache, ['create', '--validate=warn', '-f', '-'], configMap('new-warned', { colour: 'blue' }));
    assert.equal(loose.code, 0, loose.stderr);
    assert.match(loose.stderr, /Warning: unknown field "colour"/);
  });

  test('kubectl auth whoami prints the user and groups of a client certificate and of a bootstrap token', current, () => {
    const cert = kubectl(kubeconfig, cache, ['auth', 'whoami']);
    assert.equal(cert.code, 0, cert.stderr);
    assert.match(cert.stdout, /Username\s+kubernetes-admin/);
    assert.match(cert.stdout, /Groups\s+\[kubeadm:cluster-admins system:authenticated\]/);
    const boot = kubectl(tokenConfig, cache, ['auth', 'whoami']);
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stdout, new RegExp(`Username\\s+system:bootstrap:${tokenId}`));
    assert.match(boot.stdout, /Groups\s+\[system:bootstrappers.*system:authenticated\]/);
  });

  test('kubectl auth can-i --list prints the RBAC rules of the user in the namespace', current, () => {
    const grant = [
      role('cm-reader'),
      JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'token-reads', namespace: 'default' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `system:bootstrap:${tokenId}` }],
      }),
    ];
    for (const manifest of grant) assert.equal(kubectl(kubeconfig, cache, ['create', '-f', '-'], manifest).code, 0);
    const list = (namespace: string) => {
      const r = kubectl(tokenConfig, cache, ['auth', 'can-i', '--list', '-n', namespace]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const inDefault = list('default');
    assert.match(inDefault, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs/);
    assert.match(inDefault, /\nconfigmaps\s+\[\]\s+\[\]\s+\[get list\]/);
    assert.match(inDefault, /\ncertificatesigningrequests\.certificates\.k8s\.io\s+\[\]\s+\[\]\s+\[create get list watch\]/);
    assert.match(inDefault, /\nselfsubjectreviews\.authentication\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]/);
    assert.match(inDefault, /\n\s+\[\/healthz\]\s+\[\]\s+\[get\]/);
    assert.doesNotMatch(list('kube-system'), /\nconfigmaps\s/);
  });
});
