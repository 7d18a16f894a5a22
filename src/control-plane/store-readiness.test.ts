/** /readyz's store probe: an answer is ready, a failure or silence past the bound is not, and probes asked meanwhile share one read. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { UnavailableError } from '../base/errors.ts';
import { storeReadiness } from './store-readiness.ts';

test('the store answering is ready; failing or silent past the bound is not; probes meanwhile share one read', async () => {
  const clock = new FakeClock(0);
  let reads = 0;
  let answer: 'ok' | 'fail' | 'silent' = 'ok';
  const ready = storeReadiness(
    {
      revision: () => {
        reads++;
        if (answer === 'ok') return Promise.resolve(7);
        if (answer === 'fail') return Promise.reject(new UnavailableError('STORE_UNAVAILABLE', 'no quorum'));
        return new Promise<number>(() => undefined);
      },
    },
    clock,
    2000,
  );
  assert.equal(await ready(), true);
  answer = 'fail';
  assert.equal(await ready(), false);
  answer = 'silent';
  const before = reads;
  const probes = [ready(), ready(), ready()];
  clock.advance(1999);
  await Promise.resolve();
  clock.advance(1);
  assert.deepEqual(await Promise.all(probes), [false, false, false]);
  assert.equal(reads - before, 1, 'three probes, one read');
  answer = 'ok';
  assert.equal(await ready(), true, 'a new probe after the last one ended');
});
