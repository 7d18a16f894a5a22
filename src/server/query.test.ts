/** Query parameters parsed as apimachinery parses them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { queryBool, queryDryRun } from './query.ts';
import { requestInfo } from './request-info.ts';

const q = (s = '') => new URLSearchParams(s);

describe('queryBool (apimachinery Convert_Slice_string_To_bool)', () => {
  test('absent, 0 and false in any case are false; every other value, empty included, is true', () => {
    for (const s of ['', 'watch=0', 'watch=false', 'watch=False', 'watch=FALSE', 'other=true'])
      assert.equal(queryBool(q(s), 'watch'), false, s);
    for (const s of ['watch=true', 'watch=True', 'watch=1', 'watch=yes', 'watch=', 'watch', 'watch=no'])
      assert.equal(queryBool(q(s), 'watch'), true, s);
  });

  test('the first value decides', () => {
    assert.equal(queryBool(q('watch=false&watch=true'), 'watch'), false);
    assert.equal(queryBool(q('watch=True&watch=0'), 'watch'), true);
  });

  test('a collection GET with watch=True (python3-kubernetes) is a watch, with watch=False a list', () => {
    const verb = (s: string) => {
      const info = requestInfo('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests', q(s));
      return info.kind === 'resource' ? info.verb : info.kind;
    };
    assert.equal(verb('watch=True'), 'watch');
    assert.equal(verb('watch=False'), 'list');
    assert.equal(verb('watch=0'), 'list');
  });
});

describe('queryDryRun', () => {
  test('absent is false, All is true, anything else is refused', () => {
    assert.equal(queryDryRun(q()), false);
    assert.equal(queryDryRun(q('dryRun=All')), true);
    assert.throws(
      () => queryDryRun(q('dryRun=true')),
      (e: unknown) => isTlsbootError(e) && e.code === 'BAD_REQUEST',
    );
  });
});
