/**
 * A watch's `timeoutSeconds` is the client's to choose, up to weeks: the stream stays open that
 * long on the injected clock (a bare Node timer would end it after 1 ms and print a warning).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { openSqliteStore } from '../store/index.ts';
import { configMapResource } from './resources.ts';
import { serveWatch } from './watch.ts';

const DAY = 86_400_000;

describe('serveWatch', () => {
  test('a 30-day timeoutSeconds keeps the stream open 30 days on the clock, then ends it', async (t) => {
    const store = openSqliteStore({ path: ':memory:' });
    await store.create(
      { resource: 'core/configmaps', namespace: 'default', name: 'a' },
      { metadata: { name: 'a', namespace: 'default' }, data: {} },
    );
    const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
    const shutdown = new AbortController();
    const server = createServer((_req, response) => {
      void serveWatch({
        def: configMapResource,
        store,
        namespace: 'default',
        resourceVersion: null,
        timeoutSeconds: 30 * 86_400,
        matches: () => true,
        table: undefined,
        response,
        shutdown: shutdown.signal,
        statusFor: () => ({}),
        clock,
      });
    });
    t.after(async () => {
      shutdown.abort();
      server.closeAllConnections();
      server.close();
      await store.close();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const res = await new Promise<IncomingMessage>((resolve) => get({ host: '127.0.0.1', port: address.port, path: '/' }, resolve));
    const first = await new Promise<string>((resolve) => res.once('data', (chunk: unknown) => resolve(String(chunk))));
    assert.match(first, /"ADDED"/);
    assert.deepEqual(clock.pending(), [30 * DAY], 'the timeout is one timer on the clock, for the whole 30 days');
    const ended = once(res, 'end');
    clock.advance(30 * DAY);
    await ended;
    assert.deepEqual(clock.pending(), []);
  });
});
