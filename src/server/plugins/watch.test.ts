/**
 * A watch in process, as the lead's in-process controllers open one: `app.inject()` with
 * `payloadAsStream`, authenticated by a static token, streams an ADDED event for an object created
 * after the watch opened, and ends (releasing the requester's watch slot) when the client aborts
 * it through inject's `signal`.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';

/** Reads newline-separated JSON events from `stream` until `want` of them have arrived. */
async function events(stream: Readable, want: number): Promise<{ type: string; object: { metadata: { name: string } } }[]> {
  const out: { type: string; object: { metadata: { name: string } } }[] = [];
  let buffered = '';
  for await (const chunk of stream) {
    buffered += String(chunk);
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      out.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
    if (out.length >= want) return out;
  }
  return out;
}

describe('watch through inject()', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ limits: { maxWatchesPerUser: 1 } });
  });
  after(async () => {
    await api?.close();
  });

  test('a payloadAsStream watch sees ADDED for an object created after it opened, and ends when the client leaves', async () => {
    const client = new AbortController();
    const watch = await api.server.app.inject({
      method: 'GET',
      url: `${CONFIGMAPS}?watch=true&resourceVersion=0`,
      headers: admin,
      payloadAsStream: true,
      signal: client.signal,
    });
    assert.equal(watch.statusCode, 200);
    const stream = watch.stream();
    const created = await api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: admin,
      payload: { metadata: { name: 'seen' }, data: { a: '1' } },
    });
    assert.equal(created.statusCode, 201);
    const [first] = await events(stream, 1);
    assert.equal(first?.type, 'ADDED');
    assert.equal(first?.object.metadata.name, 'seen');
    // The requester may hold one watch: a second is refused while the first is open.
    const second = await api.server.app.inject({ method: 'GET', url: `${CONFIGMAPS}?watch=true`, headers: admin });
    assert.equal(second.statusCode, 429);
    const ended = finished(stream).catch(() => 'aborted');
    client.abort();
    await ended;
    // The server ended the watch and freed its slot.
    const again = new AbortController();
    const next = await api.server.app.inject({
      method: 'GET',
      url: `${CONFIGMAPS}?watch=true`,
      headers: admin,
      payloadAsStream: true,
      signal: again.signal,
    });
    assert.equal(next.statusCode, 200);
    again.abort();
  });
});
