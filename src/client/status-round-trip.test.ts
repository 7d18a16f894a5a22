/**
 * The one code<->HTTP table, both ways: every ErrorCode, thrown on the server as its own class and
 * written as a Kubernetes Status by api/status.ts, comes back from the client's errorFromStatus as
 * the same code and class (409's two codes told apart by the Status reason, a 429's Retry-After
 * kept). Statuses no row names fall back as documented.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STATUS_TABLE, toStatus } from '../api/status.ts';
import { type ErrorCode, errorForCode, RateLimitedError } from '../base/errors.ts';
import { errorFromStatus } from './client.ts';

const CODES = Object.keys(STATUS_TABLE) as ErrorCode[];

describe('code -> HTTP -> code', () => {
  test('the table has a row for each of the 16 codes, and no two rows share a Status reason', () => {
    assert.equal(CODES.length, 16);
    assert.equal(new Set(CODES.map((c) => STATUS_TABLE[c].reason)).size, CODES.length);
  });

  for (const code of CODES) {
    test(code, () => {
      const thrown = errorForCode(code, 'SOME_REASON', 'it went wrong', { retryAfterSeconds: 7 });
      assert.equal(thrown.code, code);
      const status = toStatus(thrown);
      assert.equal(status.code, STATUS_TABLE[code].http);
      const back = errorFromStatus(status.code, status.body);
      assert.equal(back.code, code);
      assert.equal(back.constructor, thrown.constructor, 'the same class on both sides');
      assert.equal(back.message, 'it went wrong');
      if (code === 'RATE_LIMITED') assert.ok(back instanceof RateLimitedError && back.retryAfterSeconds === 7);
    });
  }

  test('without a Status body: a bare 409 is CONFLICT, an unnamed 5xx UNAVAILABLE, an unknown 4xx INTERNAL', () => {
    assert.equal(errorFromStatus(409, undefined).code, 'CONFLICT');
    assert.equal(errorFromStatus(500, 'oops').code, 'UNAVAILABLE');
    assert.equal(errorFromStatus(502, undefined).code, 'UNAVAILABLE');
    assert.equal(errorFromStatus(418, undefined).code, 'INTERNAL');
    assert.equal(errorFromStatus(404, undefined).code, 'NOT_FOUND');
  });
});
