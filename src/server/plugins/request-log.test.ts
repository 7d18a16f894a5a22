import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { ADMIN_TOKEN, startTestApi } from '../testing.ts';

test('one log line per request, also for requests injected in process (the in-process controllers)', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const api = await startTestApi({ logger: pino({ level: 'info' }, sink) });
  try {
    const res = await api.server.app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.statusCode, 200);
    const created = await api.server.app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/default/configmaps',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'logged' }, data: { a: 'b' } }),
    });
    assert.equal(created.statusCode, 201);
    await new Promise((r) => setTimeout(r, 20));
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    assert.deepEqual(
      logged.map((l) => `${l.method} ${l.status}`),
      ['GET 200', 'POST 201'],
    );
    assert.equal(logged[0].path, '/api/v1/namespaces/default/configmaps');
    assert.equal(logged[0].user, 'admin');
  } finally {
    await api.close();
  }
});
