/**
 * Attack (issue 13, node restriction): src/server/node-restriction.ts says it does what
 * kube-apiserver's NodeRestriction does for Node objects, but it only refuses labels under
 * `node-restriction.kubernetes.io/`. Kubernetes' NodeRestriction also refuses any label a kubelet
 * sets under kubernetes.io/ or k8s.io/ outside the kubelet's allowed set (kubernetes.io/hostname,
 * /arch, /os, topology.kubernetes.io/*, node.kubernetes.io/*, kubelet.kubernetes.io/* ...), so a
 * node cannot, e.g., label itself `node-role.kubernetes.io/control-plane` to attract control-plane
 * workloads. Here a node creates and then updates its own Node with that label. Low severity for
 * tlsboot itself (it schedules nothing), but it breaks the stated Kubernetes parity.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { reservedIdentities } from '../src/api/index.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';

let cluster: InProcessCluster;
before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now: () => new Date() });
});
after(async () => {
  await cluster?.close();
});

const asNode = (node: string, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown) => cluster.asNode(node, method, url, body);

test('a node may not give itself a kubernetes.io label outside the kubelet set (node-role.kubernetes.io/control-plane)', async () => {
  const created = await asNode('w9', 'POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'w9', labels: { 'node-role.kubernetes.io/control-plane': '' } },
  });
  const plain = await asNode('w10', 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'w10' } });
  assert.equal(plain.status, 201, JSON.stringify(plain.body));
  const updated = await asNode('w10', 'PUT', '/api/v1/nodes/w10', {
    ...plain.body,
    metadata: { ...(plain.body.metadata as object), labels: { 'node-role.kubernetes.io/control-plane': '' } },
  });
  assert.deepEqual({ create: created.status, update: updated.status }, { create: 403, update: 403 });
});
