/**
 * Issue 11's wire-fidelity findings, each with a client nobody here wrote, against a real server
 * process: python3-kubernetes' watch (`watch=True`), kubectl impersonating two groups, kubectl 1.20
 * approving and denying (it sends `lastTransitionTime: null`), `kubectl get csr`'s CONDITION for a
 * withheld CSR, and kubectl's rendering of an Invalid Status.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeClient } from '../src/client/client.ts';
import { clientCsrObject } from './helpers/pki.ts';
import {
  KUBECTL_OLD,
  kubectl,
  PYTHON_KUBERNETES,
  pathSkip,
  type RunningServer,
  startCluster,
  tempDir,
  tlsboot,
  toolSkip,
} from './helpers/processes.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

const csrManifest = (name: string, signerName?: string) =>
  JSON.stringify(clientCsrObject(name, signerName === undefined ? {} : { signerName }));

describe('wire fidelity with real clients', () => {
  const dir = tempDir('wire');
  let server: RunningServer;
  let kubeconfig: string;
  let admin: KubeClient;
  const cache = join(dir.path, 'kubectl-cache');
  const kube = (args: readonly string[], input?: string, bin?: string) => kubectl(kubeconfig, cache, args, input, bin);

  before(async () => {
    ({ server, kubeconfig, admin } = await startCluster(dir.path));
  });

  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  // Finding 2: the Python client sends `watch=True`; a List answer made the stream yield nothing.
  test('python3-kubernetes Watch().stream (watch=True) yields the CSRs as events', {
    skip: pathSkip(PYTHON_KUBERNETES, 'python3-kubernetes', ['-c', 'import kubernetes']),
  }, async () => {
    await admin.request(CSRS, { method: 'POST', body: JSON.parse(csrManifest('py-watch')) });
    const script = [
      'import sys',
      'from kubernetes import client, config, watch',
      'config.load_kube_config(sys.argv[1])',
      'w = watch.Watch()',
      'for ev in w.stream(client.CertificatesV1Api().list_certificate_signing_request, timeout_seconds=10):',
      '    print(ev["type"], ev["object"].metadata.name, flush=True)',
      '    if ev["object"].metadata.name == "py-watch":',
      '        w.stop()',
    ].join('\n');
    const r = spawnSync(PYTHON_KUBERNETES, ['-c', script, kubeconfig], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ADDED py-watch$/m, `${r.stdout}\n${r.stderr}`);
  });

  // Finding 3: two --as-group flags are two Impersonate-Group header lines, not one group "a, b".
  test('kubectl --as u --as-group system:masters --as-group g2 acts with both groups', { skip: toolSkip('kubectl') }, () => {
    const as = ['--as', 'u', '--as-group', 'system:masters', '--as-group', 'g2'];
    const canI = kube(['auth', 'can-i', 'create', 'certificatesigningrequests', ...as]);
    assert.equal(canI.stdout.trim(), 'yes', canI.stderr);
    const created = kube(['create', '-f', '-', ...as], csrManifest('as-two-groups'));
    assert.equal(created.code, 0, created.stderr);
    const groups = kube(['get', 'csr', 'as-two-groups', '-o', 'jsonpath={.spec.username} {.spec.groups}']);
    assert.equal(groups.stdout, 'u ["system:masters","g2","system:authenticated"]', groups.stderr);
    const withUid = kube(['create', '-f', '-', ...as, '--as-uid', '42'], csrManifest('as-uid'));
    assert.equal(withUid.code, 0, withUid.stderr);
    assert.equal(kube(['get', 'csr', 'as-uid', '-o', 'jsonpath={.spec.uid}']).stdout, '42');
  });

  // Finding 4: kubectl 1.20 sends the new condition with `lastTransitionTime: null`.
  test('kubectl 1.20 certificate approve and certificate deny', {
    skip: pathSkip(KUBECTL_OLD, 'kubectl 1.20', ['version', '--client']),
  }, () => {
    for (const name of ['old-approve', 'old-deny']) {
      const created = kube(['create', '--validate=false', '-f', '-'], csrManifest(name), KUBECTL_OLD);
      assert.equal(created.code, 0, created.stderr);
    }
    const approved = kube(['certificate', 'approve', 'old-approve'], undefined, KUBECTL_OLD);
    assert.equal(approved.code, 0, approved.stderr);
    const denied = kube(['certificate', 'deny', 'old-deny'], undefined, KUBECTL_OLD);
    assert.equal(denied.code, 0, denied.stderr);
    const types = kube(['get', 'csr', 'old-approve', 'old-deny', '-o', 'jsonpath={.items[*].status.conditions[*].type}']);
    assert.equal(types.stdout, 'Approved Denied', types.stderr);
    const times = kube(['get', 'csr', 'old-approve', '-o', 'jsonpath={.status.conditions[0].lastTransitionTime}']);
    assert.match(times.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'the server defaults the null time');
  });

  // Finding 5: `kubectl get csr | grep Pending` must find a CSR whose only condition is AutoApprovalWithheld.
  test("a withheld CSR's CONDITION is Pending in kubectl get csr, old and new, and in tlsboot csr describe", {
    skip: toolSkip('kubectl'),
  }, async () => {
    await admin.request(CSRS, { method: 'POST', body: JSON.parse(csrManifest('withheld')) });
    const current = await admin.request(`${CSRS}/withheld`);
    const withheld = { type: 'AutoApprovalWithheld', status: 'True', reason: 'NoServingPolicy', message: 'a person decides' };
    await admin.request(`${CSRS}/withheld/status`, { method: 'PUT', body: { ...current, status: { conditions: [withheld] } } });
    const bins = ['kubectl', ...(pathSkip(KUBECTL_OLD, 'kubectl 1.20', ['version', '--client']) === false ? [KUBECTL_OLD] : [])];
    for (const bin of bins) {
      const got = kube(['get', 'csr', 'withheld'], undefined, bin);
      assert.equal(got.code, 0, got.stderr);
      const [header, row] = got.stdout.trim().split('\n');
      assert.deepEqual(header?.split(/\s+/), ['NAME', 'AGE', 'SIGNERNAME', 'REQUESTOR', 'REQUESTEDDURATION', 'CONDITION'], bin);
      assert.deepEqual(row?.split(/\s+/).slice(2), ['kubernetes.io/kube-apiserver-client', 'kubernetes-admin', '<none>', 'Pending'], bin);
    }
    const described = tlsboot(['csr', 'describe', 'withheld'], { env: { KUBECONFIG: kubeconfig } });
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Status:\s+Pending$/m);
  });

  // Finding 7: kubectl prints `The <details.kind> "<details.name>" is invalid: <field>: <cause message>`.
  test("kubectl renders an invalid create as kube-apiserver's: Kind, name, the field once", { skip: toolSkip('kubectl') }, () => {
    const created = kube(['create', '-f', '-'], csrManifest('bad-signer', 'nodomain'));
    assert.notEqual(created.code, 0);
    assert.match(
      created.stderr,
      /The CertificateSigningRequest "bad-signer" is invalid: spec\.signerName: Invalid value: "nodomain": must be a fully qualified domain/,
    );
    assert.doesNotMatch(created.stderr, /spec\.signerName: spec\.signerName/);
  });
});
