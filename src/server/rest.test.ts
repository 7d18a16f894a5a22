/** The generic create path: a generated name that collides is retried with a fresh suffix, a chosen name is not. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openSqliteStore } from '../store/index.ts';
import { configMapResource } from './resources.ts';
import { RestHandlers } from './rest.ts';

describe('RestHandlers.create', () => {
  test('retries a colliding generateName suffix, but not a chosen name', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const suffixes = ['aaaaa', 'aaaaa', 'bbbbb'];
    const rest = new RestHandlers({
      store,
      now: () => new Date(),
      uid: () => 'uid',
      randomSuffix: () => suffixes.shift() ?? 'zzzzz',
      admission: { admit: async () => {} },
    });
    const user = { name: 'u', groups: [] };
    const target = { namespace: 'default', name: '', subresource: '' };
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'x-' }, data: {} };
    const first = await rest.create(configMapResource, target, body, user, false);
    const second = await rest.create(configMapResource, target, body, user, false);
    assert.equal((first.metadata as { name: string }).name, 'x-aaaaa');
    assert.equal((second.metadata as { name: string }).name, 'x-bbbbb');
    await assert.rejects(
      rest.create(configMapResource, target, { ...body, metadata: { name: 'x-aaaaa' } }, user, false),
      (e: unknown) => (e as { code?: string }).code === 'ALREADY_EXISTS',
    );
    await store.close();
  });
});
