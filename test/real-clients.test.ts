/**
 * Clients nobody here wrote, against a real server: Debian's kubectl 1.20 beside the machine's
 * current kubectl, Debian's python3-kubernetes, and @kubernetes/client-node. Each creates or reads
 * CSRs, so a server change that breaks any of them fails here; the wire-fidelity work adds to it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertificatesV1Api, KubeConfig } from '@kubernetes/client-node';
import { clientCsrObject } from './helpers/pki.ts';
import { KUBECTL_OLD, kubectl, PYTHON_KUBERNETES, pathSkip, type RunningServer, startCluster, tempDir } from './helpers/processes.ts';

const csrManifest = (name: string) => JSON.stringify(clientCsrObject(name));

describe('real clients', () => {
  const dir = tempDir('clients');
  let server: RunningServer;
  let kubeconfig: string;
  const cache = join(dir.path, 'kubectl-cache');

  before(async () => {
    ({ server, kubeconfig } = await startCluster(dir.path));
  });

  after(async () => {
    await server?.stop();
    dir.remove();
  });

  test('kubectl 1.20 creates and gets a CSR', { skip: pathSkip(KUBECTL_OLD, 'kubectl 1.20', ['version', '--client']) }, () => {
    const created = kubectl(kubeconfig, cache, ['create', '--validate=false', '-f', '-'], csrManifest('old-kubectl'), KUBECTL_OLD);
    assert.equal(created.code, 0, created.stderr);
    const listed = kubectl(kubeconfig, cache, ['get', 'csr', 'old-kubectl', '-o', 'name'], undefined, KUBECTL_OLD);
    assert.equal(listed.stdout.trim(), 'certificatesigningrequest.certificates.k8s.io/old-kubectl', listed.stderr);
  });

  test('python3-kubernetes lists CSRs', { skip: pathSkip(PYTHON_KUBERNETES, 'python3-kubernetes', ['-c', 'import kubernetes']) }, () => {
    const script = [
      'import sys',
      'from kubernetes import client, config',
      'config.load_kube_config(sys.argv[1])',
      'print(",".join(sorted(c.metadata.name for c in client.CertificatesV1Api().list_certificate_signing_request().items)))',
    ].join('\n');
    const r = spawnSync(PYTHON_KUBERNETES, ['-c', script, kubeconfig], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /old-kubectl|^\s*$/);
  });

  test('python3-kubernetes approves a CSR through /approval', {
    skip: pathSkip(PYTHON_KUBERNETES, 'python3-kubernetes', ['-c', 'import kubernetes']),
  }, () => {
    const created = kubectl(kubeconfig, cache, ['create', '-f', '-'], csrManifest('py-approve'));
    assert.equal(created.code, 0, created.stderr);
    const script = [
      'import sys, datetime',
      'from kubernetes import client, config',
      'config.load_kube_config(sys.argv[1])',
      'api = client.CertificatesV1Api()',
      'csr = api.read_certificate_signing_request("py-approve")',
      'now = datetime.datetime.now(datetime.timezone.utc)',
      'csr.status.conditions = [client.V1CertificateSigningRequestCondition(type="Approved", status="True", reason="PythonTest", message="approved from python", last_update_time=now)]',
      'api.replace_certificate_signing_request_approval("py-approve", csr)',
      'print(",".join(c.type for c in api.read_certificate_signing_request("py-approve").status.conditions))',
    ].join('\n');
    const r = spawnSync(PYTHON_KUBERNETES, ['-c', script, kubeconfig], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Approved');
  });

  test('@kubernetes/client-node creates and reads a CSR', async () => {
    const config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    const api = config.makeApiClient(CertificatesV1Api);
    const body = JSON.parse(csrManifest('client-node'));
    await api.createCertificateSigningRequest({ body });
    const read = await api.readCertificateSigningRequest({ name: 'client-node' });
    assert.equal(read.spec.signerName, 'kubernetes.io/kube-apiserver-client');
  });
});
