/**
 * Attack (issue 13, idea 3): the RBAC `tlsboot controllers manifests` prints (and `tlsboot server`
 * seeds for system:tlsboot:controllers) grants `sign` on kubernetes.io/legacy-unknown, a signer the
 * signer controller never signs for (BUILT_IN_SIGNERS leaves it out; reconcileSigning returns
 * early). The credential may thus write status.certificate / Failed on legacy-unknown CSRs, a
 * right the controllers never use (least privilege). Low severity. Safe behaviour: `sign` is
 * granted on exactly the signers the signer controller signs for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { controllerRbac } from '../src/controllers/manifests.ts';
import { BUILT_IN_SIGNERS } from '../src/controllers/signer.ts';

test('the controllers may sign only for the signers the signer controller serves', () => {
  const { clusterScoped } = controllerRbac({ kind: 'User', name: 'system:tlsboot:controllers' });
  const role = clusterScoped.find((o) => o.kind === 'ClusterRole') as {
    rules: { resources?: string[]; resourceNames?: string[]; verbs: string[] }[];
  };
  const signable = role.rules
    .filter((r) => r.resources?.includes('signers') && r.verbs.includes('sign'))
    .flatMap((r) => r.resourceNames ?? ['*']);
  assert.deepEqual([...signable].sort(), [...BUILT_IN_SIGNERS].sort());
});
