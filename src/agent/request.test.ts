/** The deterministic bootstrap CSR name (reference §7.1 step 6): same key and subject, same name. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generatePrivateKey } from '../pki/index.ts';
import { kubeletClientSpec } from './join.ts';
import { bootstrapCsrName } from './request.ts';

describe('bootstrapCsrName', () => {
  test('is stable for one key and node, and differs for another key or node', () => {
    const key = generatePrivateKey('ecdsa-p256');
    const name = bootstrapCsrName(key, kubeletClientSpec('n1'));
    assert.match(name, /^node-csr-[A-Za-z0-9_-]{43}$/);
    assert.equal(bootstrapCsrName(key, kubeletClientSpec('n1')), name);
    assert.notEqual(bootstrapCsrName(generatePrivateKey('ecdsa-p256'), kubeletClientSpec('n1')), name);
    assert.notEqual(bootstrapCsrName(key, kubeletClientSpec('n2')), name);
  });
});
