/**
 * The watch stream over a real socket, on a fake clock: the 200 arrives before any event; a
 * `timeoutSeconds` of weeks holds (a bare Node timer would end it after 1 ms); bookmarks come
 * every minute only when allowed and never claim a revision the watcher was not brought to;
 * a watch-list (`sendInitialEvents=true`) ends its initial events with the annotated bookmark;
 * `sendInitialEvents=false` starts at the newest revision; a compacted revision is one ERROR
 * event with kube-apiserver's 410 Status.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { describe, test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { isObject } from '../base/json.ts';
import { openSqliteStore, type Store } from '../store/index.ts';
import { parseReadOptions } from './list-options.ts';
import { configMapResource } from './resources.ts';
import { statusFor } from './status.ts';
import { serveWatch, watchTimeoutMs } from './watch.ts';

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
        options: parseReadOptions(new URLSearchParams({ watch: 'true', timeoutSeconds: String(30 * 86_400) }), true),
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
    const res = await requestOf(server);
    const first = await new Promise<string>((resolve) => res.once('data', (chunk: unknown) => resolve(String(chunk))));
    assert.match(first, /"ADDED"/);
    assert.deepEqual(clock.pending(), [30 * DAY], 'the timeout is one timer on the clock, for the whole 30 days');
    const ended = once(res, 'end');
    clock.advance(30 * DAY);
    await ended;
    assert.deepEqual(clock.pending(), []);
  });
});

const CM = (name: string) => ({ resource: 'core/configmaps', namespace: 'default', name });
const cm = (name: string, data: Record<string, string> = {}) => ({ metadata: { name, namespace: 'default' }, data });

interface Event {
  readonly type: string;
  readonly object: {
    readonly metadata?: { readonly name?: string; readonly resourceVersion?: string; readonly annotations?: Record<string, string> };
  } & Record<string, unknown>;
}

function isEvent(value: unknown): value is Event {
  if (!isObject(value) || typeof value.type !== 'string' || !isObject(value.object)) return false;
  const meta = value.object.metadata;
  return meta === undefined || isObject(meta);
}

/** The response to a GET; bounded, as a server that holds back its status line until the first event would leave it waiting. */
/** Listens on a free loopback port and GETs `/`: the response once its status line arrived. */
async function requestOf(server: Server): Promise<IncomingMessage> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return responseOf(address.port);
}

function responseOf(port: number): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no status line within 2 s')), 2000);
    get({ host: '127.0.0.1', port, path: '/' }, (r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
}

/** A watch served by serveWatch on a socket, its query parsed as the app parses it; events read one by one. */
async function openWatch(t: import('node:test').TestContext, store: Store, clock: FakeClock, query: string, name?: string) {
  const shutdown = new AbortController();
  const server = createServer((_req, response) => {
    void serveWatch({
      def: configMapResource,
      store,
      namespace: 'default',
      options: parseReadOptions(new URLSearchParams(query), true),
      matches: () => true,
      ...(name === undefined ? {} : { name }),
      table: undefined,
      response,
      shutdown: shutdown.signal,
      statusFor: (e) => statusFor(e).body,
      clock,
    });
  });
  t.after(() => {
    shutdown.abort();
    server.closeAllConnections();
    server.close();
  });
  const res = await requestOf(server);
  assert.equal(res.statusCode, 200);
  const lines: string[] = [];
  let buffered = '';
  let ended = false;
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  res.on('end', () => {
    ended = true;
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
  return {
    /** The next event, waiting at most 5 s of real time for it. */
    async next(): Promise<Event> {
      for (let i = 0; i < 250 && lines.length === 0; i++) await settle();
      const line = lines.shift();
      assert.ok(line !== undefined, 'an event within 5 s');
      const event: unknown = JSON.parse(line);
      assert.ok(isEvent(event), line);
      return event;
    },
    /** Whether nothing more has arrived after a short real-time pause. */
    async quiet(): Promise<boolean> {
      await settle();
      await settle();
      return lines.length === 0;
    },
    get ended() {
      return ended;
    },
  };
}

async function storeWith(t: import('node:test').TestContext, names: readonly string[]): Promise<Store> {
  const store = openSqliteStore({ path: ':memory:' });
  t.after(() => store.close());
  for (const name of names) await store.create(CM(name), cm(name));
  return store;
}

describe('watch stream', () => {
  test('the status line arrives before any event, on a resource with none', async (t) => {
    const store = await storeWith(t, []);
    // openWatch asserts the 200 as soon as the response starts; no event is ever written here.
    const w = await openWatch(t, store, new FakeClock(0), 'watch=true&resourceVersion=0');
    assert.equal(await w.quiet(), true);
  });

  test('with allowWatchBookmarks a BOOKMARK of the watched kind comes every minute, at the revision reached', async (t) => {
    const store = await storeWith(t, ['a']);
    const clock = new FakeClock(0);
    const w = await openWatch(t, store, clock, 'watch=true&allowWatchBookmarks=true');
    assert.equal((await w.next()).type, 'ADDED');
    assert.deepEqual(clock.pending(), [60_000], 'one bookmark timer, a minute out');
    clock.advance(59_999);
    assert.equal(await w.quiet(), true, 'nothing before the minute');
    clock.advance(1);
    assert.deepEqual(await w.next(), {
      type: 'BOOKMARK',
      object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '1' } },
    });
    await store.update(CM('a'), cm('a', { k: 'v' }), { expectedResourceVersion: '1' });
    const modified = await w.next();
    assert.equal(modified.type, 'MODIFIED');
    clock.advance(60_000);
    const second = await w.next();
    assert.equal(second.type, 'BOOKMARK');
    assert.equal(second.object.metadata?.resourceVersion, '2', 'the bookmark moved with the event');
  });

  test('without allowWatchBookmarks no bookmark is ever sent', async (t) => {
    const store = await storeWith(t, ['a']);
    const clock = new FakeClock(0);
    const w = await openWatch(t, store, clock, 'watch=true');
    assert.equal((await w.next()).type, 'ADDED');
    assert.deepEqual(clock.pending(), []);
    clock.advance(10 * 60_000);
    assert.equal(await w.quiet(), true);
  });

  test('a bookmark never claims a revision of another resource the watcher has not been brought to', async (t) => {
    const store = await storeWith(t, ['a']);
    const clock = new FakeClock(0);
    const w = await openWatch(t, store, clock, 'watch=true&allowWatchBookmarks=true');
    assert.equal((await w.next()).type, 'ADDED');
    await store.create({ resource: 'core/secrets', namespace: 'default', name: 's' }, { metadata: { name: 's', namespace: 'default' } });
    clock.advance(60_000);
    assert.equal((await w.next()).object.metadata?.resourceVersion, '1');
  });

  test('sendInitialEvents=true: the current objects as ADDED, then the bookmark that ends them, then live events', async (t) => {
    const store = await storeWith(t, ['a', 'b']);
    const clock = new FakeClock(0);
    const w = await openWatch(
      t,
      store,
      clock,
      'watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=1',
    );
    const first = await w.next();
    const second = await w.next();
    assert.deepEqual([first.type, first.object.metadata?.name, second.type, second.object.metadata?.name], ['ADDED', 'a', 'ADDED', 'b']);
    assert.deepEqual(await w.next(), {
      type: 'BOOKMARK',
      object: {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: { resourceVersion: '2', annotations: { 'k8s.io/initial-events-end': 'true' } },
      },
    });
    await store.create(CM('c'), cm('c'));
    const live = await w.next();
    assert.deepEqual([live.type, live.object.metadata?.name, live.object.metadata?.resourceVersion], ['ADDED', 'c', '3']);
  });

  test('a watch pinned to one name hears only that object, with the same bytes as a watch on the collection', async (t) => {
    const store = await storeWith(t, ['a']);
    const clock = new FakeClock(0);
    // matches() lets everything through here: only the store's name index keeps "c" away.
    const one = await openWatch(t, store, clock, 'watch=true&resourceVersion=1', 'b');
    const all = await openWatch(t, store, clock, 'watch=true&resourceVersion=1');
    await store.create(CM('c'), cm('c'));
    await store.create(CM('b'), cm('b'));
    const fromAll = [await all.next(), await all.next()];
    assert.deepEqual(
      fromAll.map((e) => e.object.metadata?.name),
      ['c', 'b'],
    );
    const fromOne = await one.next();
    assert.deepEqual(fromOne, fromAll[1]);
    assert.equal(await one.quiet(), true);
  });

  test('sendInitialEvents=false without a resourceVersion starts at the newest revision: no initial events', async (t) => {
    const store = await storeWith(t, ['a']);
    const w = await openWatch(t, store, new FakeClock(0), 'watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan');
    assert.equal(await w.quiet(), true);
    await store.create(CM('b'), cm('b'));
    const live = await w.next();
    assert.deepEqual([live.type, live.object.metadata?.name], ['ADDED', 'b']);
  });

  test('without timeoutSeconds a watch ends as kube-apiserver ends it: between --min-request-timeout and twice that', async (t) => {
    const options = parseReadOptions(new URLSearchParams('watch=true'), true);
    assert.equal(watchTimeoutMs({ options, minRequestTimeoutSeconds: 1800, random: () => 0 }), 1_800_000);
    assert.equal(watchTimeoutMs({ options, minRequestTimeoutSeconds: 1800, random: () => 0.5 }), 2_700_000);
    assert.equal(watchTimeoutMs({ options }), undefined, 'never, without a server minimum');
    const client = parseReadOptions(new URLSearchParams('watch=true&timeoutSeconds=5'), true);
    assert.equal(watchTimeoutMs({ options: client, minRequestTimeoutSeconds: 1800 }), 5000, "the client's timeoutSeconds wins");
    const store = await storeWith(t, []);
    const clock = new FakeClock(0);
    const shutdown = new AbortController();
    const server = createServer((_req, response) => {
      void serveWatch({
        def: configMapResource,
        store,
        namespace: 'default',
        options,
        matches: () => true,
        table: undefined,
        response,
        shutdown: shutdown.signal,
        statusFor: () => ({}),
        clock,
        minRequestTimeoutSeconds: 2,
        random: () => 0.25,
      });
    });
    t.after(() => {
      shutdown.abort();
      server.closeAllConnections();
      server.close();
    });
    const res = await requestOf(server);
    res.resume();
    assert.deepEqual(clock.pending(), [2500]);
    const ended = once(res, 'end');
    clock.advance(2500);
    await ended;
  });

  test('a watch from a compacted revision is one ERROR event: 410 Expired, "too old resource version: R (C)"', async (t) => {
    const store = await storeWith(t, ['a', 'b', 'c']);
    await store.compact(3);
    const w = await openWatch(t, store, new FakeClock(0), 'watch=true&resourceVersion=1');
    assert.deepEqual(await w.next(), {
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'too old resource version: 1 (3)',
        reason: 'Expired',
        code: 410,
      },
    });
    for (let i = 0; i < 100 && !w.ended; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(w.ended, true, 'the stream ends after the ERROR');
  });
});
