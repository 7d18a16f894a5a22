/** The CSR cleaner's windows (reference §6): 1 h after approval+issue, denial or failure, 24 h pending, or expired. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cleanupReason } from './csr-cleaner.ts';

const now = new Date('2026-06-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const H = 3_600_000;

function csr(conditions: { type: string; at: string }[], created: string, certificate?: string) {
  return {
    metadata: { name: 'x', creationTimestamp: created },
    status: {
      conditions: conditions.map((c) => ({ type: c.type, status: 'True', lastUpdateTime: c.at })),
      ...(certificate ? { certificate } : {}),
    },
  };
}

describe('cleanupReason', () => {
  test('pending: kept for a day, then deleted', () => {
    assert.equal(cleanupReason(csr([], ago(23 * H)), now), undefined);
    assert.equal(cleanupReason(csr([], ago(25 * H)), now), 'pending for over a day');
  });
  test('denied or failed: deleted an hour after the condition', () => {
    assert.equal(cleanupReason(csr([{ type: 'Denied', at: ago(0.5 * H) }], ago(2 * H)), now), undefined);
    assert.equal(cleanupReason(csr([{ type: 'Denied', at: ago(2 * H) }], ago(2 * H)), now), 'denied over an hour ago');
    assert.equal(cleanupReason(csr([{ type: 'Failed', at: ago(2 * H) }], ago(2 * H)), now), 'failed over an hour ago');
  });
  test('approved: deleted an hour after issue, but an approved-and-unsigned request is kept', () => {
    const cert = Buffer.from('not parsed here').toString('base64');
    assert.equal(cleanupReason(csr([{ type: 'Approved', at: ago(2 * H) }], ago(2 * H)), now), undefined);
    assert.equal(cleanupReason(csr([{ type: 'Approved', at: ago(2 * H) }], ago(2 * H), cert), now), 'approved and issued over an hour ago');
  });
  test('missing timestamps never count as old', () => {
    assert.equal(cleanupReason({ metadata: { name: 'x' }, status: { conditions: [{ type: 'Denied', status: 'True' }] } }, now), undefined);
  });
});
