/** Request attributes from paths and methods, selectors and merge patches, as kube-apiserver derives them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyMergePatch } from './merge-patch.ts';
import { requestInfo } from './request-info.ts';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';

const q = (s = '') => new URLSearchParams(s);

describe('requestInfo', () => {
  test('a cluster-scoped collection GET is list, or watch with ?watch=1', () => {
    const list = requestInfo('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests', q());
    assert.deepEqual(list, {
      kind: 'resource',
      verb: 'list',
      group: 'certificates.k8s.io',
      version: 'v1',
      namespace: '',
      resource: 'certificatesigningrequests',
      name: '',
      subresource: '',
    });
    assert.equal(
      (requestInfo('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests', q('watch=1')) as { verb: string }).verb,
      'watch',
    );
    assert.equal(
      (requestInfo('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests', q('watch=true')) as { verb: string }).verb,
      'watch',
    );
  });

  test('subresources and namespaced core resources are recognised', () => {
    const approval = requestInfo('PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/x/approval', q());
    assert.equal(approval.kind === 'resource' && `${approval.verb} ${approval.name} ${approval.subresource}`, 'update x approval');
    const secret = requestInfo('DELETE', '/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef', q());
    assert.equal(
      secret.kind === 'resource' && `${secret.verb} ${secret.group}|${secret.namespace}|${secret.resource}|${secret.name}`,
      'delete |kube-system|secrets|bootstrap-token-abcdef',
    );
    const all = requestInfo('DELETE', '/api/v1/namespaces/kube-system/secrets', q());
    assert.equal(all.kind === 'resource' && all.verb, 'deletecollection');
  });

  test('discovery and health paths are non-resource requests', () => {
    for (const path of ['/api', '/apis', '/api/v1', '/apis/certificates.k8s.io/v1', '/healthz', '/version']) {
      const info = requestInfo('GET', path, q());
      assert.equal(info.kind === 'nonresource' || (info.kind === 'resource' && info.resource === ''), true, path);
    }
    assert.equal(requestInfo('GET', '/api/v1', q()).kind, 'nonresource');
  });
});

describe('label selectors', () => {
  test('equality, inequality, set and existence requirements', () => {
    const labels = { app: 'web', tier: 'front' };
    assert.equal(matchesLabels(parseLabelSelector('app=web'), labels), true);
    assert.equal(matchesLabels(parseLabelSelector('app==web,tier!=back'), labels), true);
    assert.equal(matchesLabels(parseLabelSelector('app in (api, web)'), labels), true);
    assert.equal(matchesLabels(parseLabelSelector('tier notin (front)'), labels), false);
    assert.equal(matchesLabels(parseLabelSelector('app,!missing'), labels), true);
    assert.equal(matchesLabels(parseLabelSelector('missing'), labels), false);
  });

  test('malformed selectors are a BAD_REQUEST', () => {
    assert.throws(
      () => parseLabelSelector('a=b=c'),
      (e: unknown) => e instanceof Error && 'code' in e && e.code === 'BAD_REQUEST',
    );
    assert.throws(
      () => parseLabelSelector('in (x)'),
      (e: unknown) => e instanceof Error && 'code' in e && e.code === 'BAD_REQUEST',
    );
  });
});

describe('field selectors', () => {
  const fields = { 'metadata.name': (o: Record<string, unknown>) => String((o.metadata as Record<string, unknown>).name) };
  test('match on declared fields with = and !=', () => {
    const obj = { metadata: { name: 'a' } };
    assert.equal(matchesFields(parseFieldSelector('metadata.name=a', fields, 'x'), obj), true);
    assert.equal(matchesFields(parseFieldSelector('metadata.name!=a', fields, 'x'), obj), false);
  });

  test('an undeclared field is refused', () => {
    assert.throws(
      () => parseFieldSelector('spec.nope=1', fields, 'x'),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'SELECTOR',
    );
  });
});

describe('merge patch (RFC 7386)', () => {
  test('merges objects, replaces lists and deletes with null', () => {
    const out = applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2], d: 'x' }, { a: { b: 9 }, l: [3], d: null });
    assert.deepEqual(out, { a: { b: 9, c: 2 }, l: [3] });
  });
});
