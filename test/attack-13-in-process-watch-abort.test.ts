/**
 * Attack (issue 13, in-process seam): the in-process controllers' watches go through Fastify
 * inject() with `payloadAsStream` and an abort signal (src/control-plane/in-process-client.ts).
 * When a watch is aborted before inject() has answered (an informer closed, e.g. `tlsboot server`
 * shutting down, or a deposed manager closing, just as a watch is being opened or re-opened),
 * light-my-request's response stream emits an AbortError that nobody listens to (the client only
 * attaches its error listener after inject resolves): an uncaught exception in the server process,
 * and the inject promise never settles, so Informer.close() and with it ControllerManager.close()
 * can hang. Safe behaviour: closing an informer over the in-process client right after it started
 * returns promptly and raises nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODES } from '../src/api/cluster-client.ts';
import { reservedIdentities } from '../src/api/index.ts';
import { Informer } from '../src/runtime/informer.ts';
import { startInProcessCluster } from './helpers/in-process-cluster.ts';

test('closing an in-process informer while its watch is being opened raises nothing and returns promptly', async () => {
  const cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now: () => new Date() });
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.prependListener('uncaughtException', onUncaught);
  try {
    const informer = new Informer({ source: cluster.client.listWatch(NODES) });
    await informer.start(); // the first list is in; the watch request is now in flight through inject()
    const closed = await Promise.race([
      informer.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still closing after 3 s'), 3000)),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual({ closed, uncaught: uncaught.map(String) }, { closed: 'closed', uncaught: [] });
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    await cluster.close();
  }
});
