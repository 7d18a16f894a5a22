/**
 * RFC 3339 as Kubernetes reads and writes it: the writer drops milliseconds, the parser takes
 * every form Go's time.RFC3339 takes (fraction, offsets) and refuses what Date.parse lets through.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from './errors.ts';
import { formatRfc3339, parseRfc3339, requireRfc3339 } from './rfc3339.ts';

describe('formatRfc3339', () => {
  test('writes UTC to the second, dropping milliseconds', () => {
    assert.equal(formatRfc3339(new Date(Date.UTC(2026, 11, 1, 14, 0, 0, 999))), '2026-12-01T14:00:00Z');
  });
});

describe('parseRfc3339', () => {
  test('accepts Z, offsets and fractions', () => {
    assert.equal(parseRfc3339('2026-12-01T14:00:00Z')?.getTime(), Date.UTC(2026, 11, 1, 14));
    assert.equal(parseRfc3339('2026-12-01T15:30:00+01:30')?.getTime(), Date.UTC(2026, 11, 1, 14));
    assert.equal(parseRfc3339('2026-12-01T13:00:00-01:00')?.getTime(), Date.UTC(2026, 11, 1, 14));
    assert.equal(parseRfc3339('2026-12-01T14:00:00.250Z')?.getTime(), Date.UTC(2026, 11, 1, 14, 0, 0, 250));
    assert.equal(parseRfc3339('2024-02-29T00:00:00Z')?.getTime(), Date.UTC(2024, 1, 29));
    assert.equal(parseRfc3339('0099-01-01T00:00:00Z')?.getUTCFullYear(), 99);
  });

  test('round-trips what it writes', () => {
    const d = new Date(Date.UTC(2031, 0, 2, 3, 4, 5));
    assert.equal(parseRfc3339(formatRfc3339(d))?.getTime(), d.getTime());
  });

  for (const text of [
    '2030-01-01',
    '2030-01-01T00:00Z',
    '2030-01-01T00:00:00',
    '2030-01-01 00:00:00Z',
    '2030-01-01t00:00:00Z',
    '2030-01-01T00:00:00z',
    'Tue, 01 Jan 2030 00:00:00 GMT',
    '2030-13-01T00:00:00Z',
    '2030-02-29T00:00:00Z',
    '2030-04-31T00:00:00Z',
    '2030-01-01T24:00:00Z',
    '2030-01-01T00:60:00Z',
    '2030-01-01T00:00:60Z',
    '2030-01-01T00:00:00+24:00',
    '2030-01-01T00:00:00+0100',
    '2030-01-01T00:00:00.Z',
    ' 2030-01-01T00:00:00Z',
    '',
  ]) {
    test(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseRfc3339(text), undefined));
  }

  test('requireRfc3339 names the field', () => {
    assert.throws(
      () => requireRfc3339('2030-01-01', 'data[expiration]'),
      (e) => isTlsbootError(e) && e.code === 'INVALID' && e.reason === 'TIME_FORMAT' && e.field === 'data[expiration]',
    );
  });
});
