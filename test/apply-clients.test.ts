/**
 * Server-side apply with clients nobody here wrote, against a real server process: the machine's
 * kubectl and Debian's kubectl 1.20 (`apply --server-side`, conflicts, `--force-conflicts`,
 * managedFields in `get -o yaml`) and @kubernetes/client-node's apply patch.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type V1ConfigMap } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { isObject } from '../src/base/json.ts';
import { clientCsrObject } from './helpers/pki.ts';
import { KUBECTL_OLD, kubectl, pathSkip, type RunningServer, startCluster, tempDir, toolSkip } from './helpers/processes.ts';

function configMap(name: string, data: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data });
}

const csr = (name: string, labels: Record<string, string>) => JSON.stringify(clientCsrObject(name, { metadata: { labels } }));

/** The managers named in an object's managedFields, read from `kubectl get -o yaml`. */
function managers(yamlText: string): string[] {
  const obj: unknown = parse(yamlText);
  const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : {};
  const entries = Array.isArray(meta.managedFields) ? meta.managedFields : [];
  return entries.map((e) => (isObject(e) ? `${String(e.manager)}/${String(e.operation)}` : ''));
}

describe('server-side apply with real clients', () => {
  const dir = tempDir('apply-clients');
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

  test('kubectl apply --server-side creates and updates a ConfigMap; another manager conflicts until it forces', {
    skip: toolSkip('kubectl'),
  }, () => {
    const run = (args: string[], input?: string) => kubectl(kubeconfig, cache, args, input);
    const ssa = ['apply', '--server-side', '--validate=false', '-f', '-'];
    const created = run(ssa, configMap('applied', { a: '1' }));
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /configmap\/applied serverside-applied/);
    const updated = run(ssa, configMap('applied', { a: '2', b: '1' }));
    assert.equal(updated.code, 0, updated.stderr);
    const conflict = run([...ssa, '--field-manager=other'], configMap('applied', { a: '3' }));
    assert.notEqual(conflict.code, 0, 'a second manager changing a field kubectl owns is refused');
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.a/);
    const forced = run([...ssa, '--field-manager=other', '--force-conflicts'], configMap('applied', { a: '3' }));
    assert.equal(forced.code, 0, forced.stderr);
    const got = run(['get', 'cm', 'applied', '-o', 'yaml', '--show-managed-fields']);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(managers(got.stdout).sort(), ['kubectl/Apply', 'other/Apply']);
    const data: unknown = parse(got.stdout);
    assert.deepEqual(isObject(data) ? data.data : undefined, { a: '3', b: '1' });
    // The fields kubectl stops applying and no one else owns go; `a` now belongs to `other`.
    const released = run(ssa, configMap('applied', {}));
    assert.equal(released.code, 0, released.stderr);
    const after = parse(run(['get', 'cm', 'applied', '-o', 'yaml']).stdout) as unknown;
    assert.deepEqual(isObject(after) ? after.data : undefined, { a: '3' });
    const table = run(['get', 'cm', 'applied']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^applied\s+1\s+/m);
  });

  test('kubectl apply --server-side creates and updates a CSR', { skip: toolSkip('kubectl') }, () => {
    const ssa = ['apply', '--server-side', '--validate=false', '-f', '-'];
    const first = kubectl(kubeconfig, cache, ssa, csr('applied-csr', { team: 'a' }));
    assert.equal(first.code, 0, first.stderr);
    const got = kubectl(kubeconfig, cache, ['get', 'csr', 'applied-csr', '-o', 'yaml', '--show-managed-fields']);
    const obj: unknown = parse(got.stdout);
    const spec = isObject(obj) && isObject(obj.spec) ? obj.spec : {};
    const relabel = JSON.parse(csr('applied-csr', { team: 'b' })) as { spec: { request: string } };
    relabel.spec.request = String(spec.request);
    const second = kubectl(kubeconfig, cache, ssa, JSON.stringify(relabel));
    assert.equal(second.code, 0, second.stderr);
    const labels = kubectl(kubeconfig, cache, ['get', 'csr', 'applied-csr', '-o', 'jsonpath={.metadata.labels.team}']);
    assert.equal(labels.stdout, 'b', labels.stderr);
    assert.deepEqual(managers(got.stdout), ['kubectl/Apply']);
  });

  test('kubectl 1.20 applies server-side and shows managedFields in -o yaml', {
    skip: pathSkip(KUBECTL_OLD, 'kubectl 1.20', ['version', '--client']),
  }, () => {
    const ssa = ['apply', '--server-side', '--validate=false', '-f', '-'];
    const created = kubectl(kubeconfig, cache, ssa, configMap('old-applied', { a: '1' }), KUBECTL_OLD);
    assert.equal(created.code, 0, created.stderr);
    const conflict = kubectl(kubeconfig, cache, [...ssa, '--field-manager=other'], configMap('old-applied', { a: '2' }), KUBECTL_OLD);
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /conflict with "kubectl": \.data\.a/);
    const got = kubectl(kubeconfig, cache, ['get', 'cm', 'old-applied', '-o', 'yaml'], undefined, KUBECTL_OLD);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(managers(got.stdout), ['kubectl/Apply']);
  });

  test('@kubernetes/client-node applies with application/apply-patch+yaml', async () => {
    const config = new KubeConfig();
    config.loadFromFile(kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(config);
    const spec: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'client-node-applied', namespace: 'default' },
      data: { a: '1' },
    };
    const created = await api.patch(spec, undefined, undefined, 'client-node', false, PatchStrategy.ServerSideApply);
    assert.deepEqual(
      created.metadata?.managedFields?.map((e) => [e.manager, e.operation]),
      [['client-node', 'Apply']],
    );
    await assert.rejects(
      api.patch({ ...spec, data: { a: '2' } }, undefined, undefined, 'someone-else', false, PatchStrategy.ServerSideApply),
      (error: unknown) => isObject(error) && error.code === 409,
    );
    const forced = await api.patch(
      { ...spec, data: { a: '2' } },
      undefined,
      undefined,
      'someone-else',
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal(forced.data?.a, '2');
  });
});
