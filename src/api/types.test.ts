/**
 * The resource guards: a well-formed object passes as itself, and every field of the wrong type is
 * refused with INVALID / OBJECT_FIELD whose `field` names it, for the CSR field by field and for
 * the shared and other resource shapes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isTlsbootError } from '../base/errors.ts';

import { isObject, type JsonObject } from '../base/json.ts';

import type { CertificateSigningRequest } from './index.ts';

import {
  asCertificateSigningRequest,
  asConfigMap,
  asLease,
  asList,
  asObjectMeta,
  asSecret,
  asStatus,
  asWatchEvent,
  CERTIFICATE_SIGNING_REQUEST,
  csrCertificatePem,
  csrConditions,
  csrIsApproved,
  csrIsDenied,
  csrIsFailed,
  csrIsPending,
  isStatus,
  looseMetadataOf,
  metadataOf,
  metadataString,
} from './index.ts';

/** The `field` of the OBJECT_FIELD error `fn` throws; fails on any other outcome. */
function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: 'INVALID', reason: 'OBJECT_FIELD' });
    return e.field;
  }
  assert.fail('expected the guard to refuse the value');
}

/** A deep copy of `obj` with the value at `path` (dot-separated, numeric parts index lists) replaced. */
function withField(obj: unknown, path: string, value: unknown): unknown {
  const copy: unknown = structuredClone(obj);
  const parts = path.split('.');
  let cur: unknown = copy;
  for (const p of parts.slice(0, -1)) cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
  const last = parts.at(-1) ?? '';
  if (Array.isArray(cur)) cur[Number(last)] = value;
  else if (isObject(cur)) cur[last] = value;
  else assert.fail(`no field ${path}`);
  return copy;
}

const CERT = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64');

const csr = {
  apiVersion: 'certificates.k8s.io/v1',
  kind: 'CertificateSigningRequest',
  metadata: { name: 'node-csr-1', resourceVersion: '7', labels: { a: 'b' }, creationTimestamp: '2026-12-01T10:00:00Z' },
  spec: {
    request: 'UkVR',
    signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
    expirationSeconds: 3600,
    usages: ['digital signature', 'client auth'],
    username: 'system:bootstrap:abcdef',
    uid: 'u-1',
    groups: ['system:bootstrappers', 'system:authenticated'],
    extra: { scopes: ['a', 'b'] },
  },
  status: {
    conditions: [
      {
        type: 'Approved',
        status: 'True',
        reason: 'AutoApproved',
        message: 'ok',
        lastUpdateTime: '2026-12-01T10:00:00Z',
        lastTransitionTime: '2026-12-01T10:00:00Z',
      },
    ],
    certificate: CERT,
  },
};

describe('CertificateSigningRequest guard', () => {
  test('a complete CSR passes as the same object, unknown fields kept', () => {
    const withExtra = { ...csr, extraField: 1 };
    assert.equal(asCertificateSigningRequest(withExtra), withExtra);
    assert.equal(asCertificateSigningRequest({ spec: { request: 'UkVR', signerName: 'example.com/x' } }).spec.signerName, 'example.com/x');
  });

  const wrong: readonly (readonly [string, unknown])[] = [
    ['apiVersion', 1],
    ['kind', 1],
    ['metadata', 'x'],
    ['metadata.name', 1],
    ['metadata.resourceVersion', 7],
    ['metadata.labels', []],
    ['metadata.creationTimestamp', 0],
    ['spec', 'x'],
    ['spec.request', 1],
    ['spec.request', undefined],
    ['spec.signerName', null],
    ['spec.signerName', undefined],
    ['spec.expirationSeconds', '3600'],
    ['spec.expirationSeconds', 1.5],
    ['spec.usages', 'client auth'],
    ['spec.usages.1', 7],
    ['spec.username', ['a']],
    ['spec.uid', 1],
    ['spec.groups', 'system:nodes'],
    ['spec.groups.0', {}],
    ['spec.extra', ['a']],
    ['spec.extra.scopes', 'a'],
    ['spec.extra.scopes.1', 2],
    ['status', []],
    ['status.conditions', {}],
    ['status.conditions.0', 'Approved'],
    ['status.conditions.0.type', 1],
    ['status.conditions.0.type', undefined],
    ['status.conditions.0.status', true],
    ['status.conditions.0.status', undefined],
    ['status.conditions.0.reason', 1],
    ['status.conditions.0.message', 1],
    ['status.conditions.0.lastUpdateTime', 1],
    ['status.conditions.0.lastTransitionTime', 1],
    ['status.certificate', 1],
  ];
  for (const [path, value] of wrong) {
    test(`${path} = ${JSON.stringify(value) ?? 'absent'} is refused naming ${path}`, () => {
      const expected = path.replace(/\.(\d+)/g, '[$1]').replace(/^spec\.extra\.scopes/, 'spec.extra[scopes]');
      assert.equal(
        fieldOf(() => asCertificateSigningRequest(withField(csr, path, value))),
        expected,
      );
    });
  }

  test('something that is not an object is refused as a whole', () => {
    assert.equal(
      fieldOf(() => asCertificateSigningRequest('csr')),
      'object',
    );
  });
});

describe('typed resources and raw JSON objects (checked by tsc)', () => {
  test('a typed object goes where a JsonObject is taken; a JsonObject becomes typed only through a guard', () => {
    const typed: CertificateSigningRequest = asCertificateSigningRequest(csr);
    const raw: JsonObject = typed;
    // @ts-expect-error an unchecked JsonObject is not a CertificateSigningRequest
    const unchecked: CertificateSigningRequest = raw;
    const lease: JsonObject = asLease({ spec: { holderIdentity: 'a' } });
    assert.equal(unchecked, raw);
    assert.ok(lease);
  });
});

describe('CSR readers', () => {
  const typed = asCertificateSigningRequest(csr);
  const conditions = (types: readonly string[]) => ({ ...csr, status: { conditions: types.map((type) => ({ type, status: 'True' })) } });

  test('conditions, certificate and the approval predicates read the typed CSR', () => {
    assert.deepEqual(
      csrConditions(typed).map((c) => c.type),
      ['Approved'],
    );
    assert.match(csrCertificatePem(typed) ?? '', /BEGIN CERTIFICATE/);
    assert.equal(csrIsPending(typed), false);
    assert.equal(csrIsApproved(conditions(['Approved'])), true);
    assert.equal(csrIsApproved(conditions(['Approved', 'Denied'])), false, 'Denied wins, as client-go decides');
    assert.equal(csrIsDenied(conditions(['Denied'])), true);
    assert.equal(csrIsFailed(conditions(['Approved', 'Failed'])), true);
    assert.equal(csrIsPending(conditions(['Approved'])), true, 'approved but not yet issued');
    assert.equal(csrIsPending(conditions(['Failed'])), false);
    assert.equal(csrIsPending(conditions(['Denied'])), false);
  });

  test('an untyped object with malformed conditions yields only the well-formed ones', () => {
    const raw = {
      status: { conditions: [{ type: 'Approved', status: 'True' }, { type: 1, status: 'True' }, 'Denied', { status: 'True' }] },
    };
    assert.deepEqual(csrConditions(raw), [{ type: 'Approved', status: 'True' }]);
    assert.deepEqual(csrConditions({}), []);
    assert.equal(csrCertificatePem({ status: { certificate: '' } }), undefined);
  });
});

describe('shared shapes', () => {
  test('ObjectMeta names the field, and metadataOf reads absent metadata as empty', () => {
    assert.equal(
      fieldOf(() => asObjectMeta({ annotations: { a: 1 } })),
      'metadata.annotations[a]',
    );
    assert.equal(
      fieldOf(() => asObjectMeta({ finalizers: [1] })),
      'metadata.finalizers[0]',
    );
    assert.equal(
      fieldOf(() => asObjectMeta({ generation: '1' })),
      'metadata.generation',
    );
    assert.deepEqual(metadataOf({}), {});
    assert.equal(metadataOf({ metadata: { name: 'n' } }).name, 'n');
    assert.equal(
      fieldOf(() => metadataOf({ metadata: { namespace: 3 } })),
      'metadata.namespace',
    );
  });

  test('metadataString reads one field and never fails on another unusual one', () => {
    const odd = { metadata: { name: 'n', resourceVersion: 5, ownerReferences: 'x' } };
    assert.equal(metadataString(odd, 'name'), 'n');
    assert.equal(metadataString(odd, 'resourceVersion'), undefined);
    assert.equal(metadataString({ metadata: 'x' }, 'name'), undefined);
    assert.deepEqual(looseMetadataOf({ metadata: [] }), {});
  });

  test('List checks every item with the item guard and names items[i]', () => {
    const list = { kind: 'CertificateSigningRequestList', metadata: { resourceVersion: '9' }, items: [csr, csr] };
    assert.equal(asList(list, CERTIFICATE_SIGNING_REQUEST).items.length, 2);
    assert.equal(
      fieldOf(() => asList({ ...list, items: [csr, withField(csr, 'spec.signerName', 1)] }, CERTIFICATE_SIGNING_REQUEST)),
      'items[1].spec.signerName',
    );
    assert.equal(
      fieldOf(() => asList({ metadata: { continue: 1 }, items: [] }, CERTIFICATE_SIGNING_REQUEST)),
      'metadata.continue',
    );
    assert.equal(
      fieldOf(() => asList({ metadata: {} }, CERTIFICATE_SIGNING_REQUEST)),
      'items',
    );
  });

  test('WatchEvent accepts the five event types only, with an object', () => {
    for (const type of ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']) assert.equal(asWatchEvent({ type, object: {} }).type, type);
    assert.equal(
      fieldOf(() => asWatchEvent({ type: 'CHANGED', object: {} })),
      'type',
    );
    assert.equal(
      fieldOf(() => asWatchEvent({ type: 'ADDED', object: [] })),
      'object',
    );
  });

  test('Status: kind Status, typed details', () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      details: { name: 'x', causes: [{ field: 'spec' }], retryAfterSeconds: 1 },
    };
    assert.equal(asStatus(status).code, 409);
    assert.equal(isStatus(status), true);
    assert.equal(isStatus({ ...status, kind: 'Secret' }), false);
    assert.equal(
      fieldOf(() => asStatus({ ...status, code: '409' })),
      'code',
    );
    assert.equal(
      fieldOf(() => asStatus({ ...status, details: { causes: [{ field: 1 }] } })),
      'details.causes[0].field',
    );
    assert.equal(
      fieldOf(() => asStatus({ ...status, status: 'Failed' })),
      'status',
    );
  });
});

describe('Secret, ConfigMap and Lease guards', () => {
  test('well-formed objects pass', () => {
    assert.equal(
      asSecret({ type: 'bootstrap.kubernetes.io/token', data: { 'token-id': 'YWJj' }, immutable: true }).type,
      'bootstrap.kubernetes.io/token',
    );
    assert.equal(asConfigMap({ data: { kubeconfig: 'x' }, binaryData: { b: 'AA==' } }).data?.kubeconfig, 'x');
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'tlsboot-controllers', namespace: 'kube-system' },
      spec: {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTime: '2026-12-01T10:00:00.000000Z',
        renewTime: '2026-12-01T10:00:05.000000Z',
        leaseTransitions: 2,
      },
    };
    assert.equal(asLease(lease).spec?.leaseTransitions, 2);
  });

  const cases: readonly (readonly [string, () => unknown, string])[] = [
    ['Secret type', () => asSecret({ type: 1 }), 'type'],
    ['Secret data value', () => asSecret({ data: { 'token-id': 1 } }), 'data[token-id]'],
    ['Secret stringData', () => asSecret({ stringData: 'x' }), 'stringData'],
    ['Secret immutable', () => asSecret({ immutable: 'true' }), 'immutable'],
    ['Secret metadata', () => asSecret({ metadata: { name: 1 } }), 'metadata.name'],
    ['ConfigMap data value', () => asConfigMap({ data: { k: {} } }), 'data[k]'],
    ['ConfigMap binaryData', () => asConfigMap({ binaryData: [] }), 'binaryData'],
    ['ConfigMap immutable', () => asConfigMap({ immutable: 1 }), 'immutable'],
    ['Lease spec', () => asLease({ spec: 'x' }), 'spec'],
    ['Lease holderIdentity', () => asLease({ spec: { holderIdentity: 1 } }), 'spec.holderIdentity'],
    ['Lease leaseDurationSeconds', () => asLease({ spec: { leaseDurationSeconds: '15' } }), 'spec.leaseDurationSeconds'],
    ['Lease acquireTime', () => asLease({ spec: { acquireTime: 1 } }), 'spec.acquireTime'],
    ['Lease renewTime', () => asLease({ spec: { renewTime: 1 } }), 'spec.renewTime'],
    ['Lease leaseTransitions', () => asLease({ spec: { leaseTransitions: 1.5 } }), 'spec.leaseTransitions'],
  ];
  for (const [what, fn, field] of cases) {
    test(`${what} of the wrong type is refused naming ${field}`, () => assert.equal(fieldOf(fn), field));
  }
});
