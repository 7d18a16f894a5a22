/**
 * The API server over real TLS sockets on 127.0.0.1: a refused request with a large, unfinished
 * body is answered at once and its connection closed without the body being read; idle and
 * trickling connections are closed after their (test-short) timeouts while a watch outlives
 * them; over the connection cap new connections are closed, and a real client gets in once
 * others leave.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { certificateToPem, privateKeyToPem } from '../pki/index.ts';
import { type ConnectionLimits, createLimitedServer, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';

interface Listening {
  readonly api: TestApi;
  readonly port: number;
  readonly parsed: string[];
}

async function listen(limits: Partial<ConnectionLimits>): Promise<Listening> {
  const api = await startTestApi({ connectionLimits: limits });
  const parsed: string[] = [];
  // preParsing is where a body starts to be read: record every request with a body that gets there.
  api.server.app.addHook('preParsing', async (req) => {
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
      parsed.push(`${req.method} ${req.url}`);
  });
  const { port } = await api.server.listen('127.0.0.1', 0);
  return { api, port, parsed };
}

/** Every socket a test opens, destroyed in `after` whatever happened. */
const opened = new Set<{ destroy(): void }>();

function tlsSocket(s: Listening): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: s.port, ca: s.api.caPem }, () => resolve(socket));
    opened.add(socket);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake finished')));
  });
}

/** Everything the server sends until it closes the connection, and when that happened. */
function untilClosed(socket: TLSSocket, timeoutMs: number): Promise<{ data: string; ms: number }> {
  const started = performance.now();
  let data = '';
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms; received: ${data.slice(0, 200)}`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, ms: performance.now() - started });
    });
    socket.on('error', () => {});
  });
}

function waitFor(socket: TLSSocket, pattern: RegExp, timeoutMs: number): Promise<string> {
  let data = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; received: ${data.slice(0, 300)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      data += d.toString('latin1');
      if (pattern.test(data)) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(data);
      }
    };
    socket.on('data', onData);
  });
}

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

function destroyOpened(): void {
  for (const s of opened) s.destroy();
  opened.clear();
}

describe('nothing is read before authentication', () => {
  let s: Listening;
  before(async () => {
    s = await listen({ headersTimeoutMs: 5000, requestTimeoutMs: 30_000 });
  });
  after(async () => {
    destroyOpened();
    await s?.api.close();
  });

  test('20 bad-token and anonymous clients announcing 255 KiB bodies get 401/403 at once, are closed, and no body is parsed', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => tlsSocket(s)));
    const answers = clients.map((socket, i) => {
      const done = untilClosed(socket, 3000);
      const auth = i % 2 === 0 ? { Authorization: 'Bearer qqqqqq.0123456789abcdef' } : {};
      // A first slice of the body, then nothing: the server must not wait for (or buffer) the rest.
      socket.write(head('POST', CSRS, { ...auth, 'Content-Type': 'application/json', 'Content-Length': 255 * 1024 }));
      socket.write(`{"x":"${'a'.repeat(64 * 1024)}`);
      return done;
    });
    for (const [i, { data, ms }] of (await Promise.all(answers)).entries()) {
      assert.match(data, i % 2 === 0 ? /^HTTP\/1\.1 401 / : /^HTTP\/1\.1 403 /);
      assert.match(data, /\r\nconnection: close\r\n/i);
      assert.ok(ms < 3000, `answered and closed after ${Math.round(ms)} ms, long before any timeout`);
    }
    assert.deepEqual(s.parsed, []);
  });

  test('Expect: 100-continue is answered only once the request is admitted', async () => {
    const anonymous = await tlsSocket(s);
    const refused = untilClosed(anonymous, 3000);
    anonymous.write(head('POST', CSRS, { 'Content-Type': 'application/json', 'Content-Length': 1000, Expect: '100-continue' }));
    assert.match((await refused).data, /^HTTP\/1\.1 403 /, 'no 100 Continue before the refusal');
    const admitted = await tlsSocket(s);
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'continued' } });
    admitted.write(
      head('POST', CONFIGMAPS, {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        'Content-Type': 'application/json',
        'Content-Length': body.length,
        Expect: '100-continue',
      }),
    );
    await waitFor(admitted, /^HTTP\/1\.1 100 Continue\r\n\r\n$/, 2000);
    const created = waitFor(admitted, /HTTP\/1\.1 201 .*\}$/s, 2000);
    admitted.write(body);
    await created;
    admitted.destroy();
    assert.deepEqual(s.parsed, [`POST ${CONFIGMAPS}`]);
    s.parsed.length = 0;
  });

  test('a request target that is not a URL is a 4xx, not a 500', async () => {
    const socket = await tlsSocket(s);
    socket.write(head('GET', '//[', { Authorization: `Bearer ${ADMIN_TOKEN}` }));
    assert.match(await waitFor(socket, /\r\n\r\n\{.*\}$/s, 2000), /^HTTP\/1\.1 4\d\d /);
    socket.destroy();
  });

  test('an admitted client on the same server has its body read', async () => {
    const socket = await tlsSocket(s);
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'read' } });
    socket.write(
      head('POST', CONFIGMAPS, {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        'Content-Type': 'application/json',
        'Content-Length': body.length,
      }) + body,
    );
    assert.match(await waitFor(socket, /\r\n\r\n.*\}/s, 3000), /^HTTP\/1\.1 201 /);
    socket.destroy();
    assert.deepEqual(s.parsed, [`POST ${CONFIGMAPS}`]);
  });
});

describe('timeouts', () => {
  let s: Listening;
  const limits = { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300 };
  before(async () => {
    s = await listen(limits);
  });
  after(async () => {
    destroyOpened();
    await s?.api.close();
  });

  test('a connection that never finishes its TLS handshake is closed after the header timeout', async () => {
    const started = performance.now();
    const closed = await new Promise<number>((resolve, reject) => {
      const raw = tcpConnect({ host: '127.0.0.1', port: s.port });
      opened.add(raw);
      const timer = setTimeout(() => reject(new Error('still open')), 3000);
      raw.on('error', () => {});
      raw.once('close', () => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      });
    });
    assert.ok(closed >= limits.headersTimeoutMs - 50, `closed after ${Math.round(closed)} ms`);
  });

  test('an idle connection and one trickling its headers are closed after the header timeout', async () => {
    const idle = await tlsSocket(s);
    const trickling = await tlsSocket(s);
    const idleClosed = untilClosed(idle, 3000);
    const tricklingClosed = untilClosed(trickling, 3000);
    trickling.write('GET /healthz HTTP/1.1\r\n');
    const drip = setInterval(() => trickling.write('X-Slow: 1\r\n'), 100);
    try {
      for (const { ms } of [await idleClosed, await tricklingClosed]) {
        assert.ok(ms >= limits.headersTimeoutMs - 50 && ms < 2500, `closed after ${Math.round(ms)} ms`);
      }
    } finally {
      clearInterval(drip);
    }
  });

  test('an admitted client trickling its body is closed after the request timeout', async () => {
    const socket = await tlsSocket(s);
    const closed = untilClosed(socket, 4000);
    socket.write(head('POST', CONFIGMAPS, { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Length': 1000 }));
    const drip = setInterval(() => socket.write(' '), 100);
    try {
      const { data, ms } = await closed;
      assert.ok(ms >= limits.requestTimeoutMs - 50 && ms < 3500, `closed after ${Math.round(ms)} ms`);
      assert.doesNotMatch(data, /^HTTP\/1\.1 20/);
    } finally {
      clearInterval(drip);
    }
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const socket = await tlsSocket(s);
    socket.write(head('GET', '/healthz', {}));
    await waitFor(socket, /\r\n\r\nok$/, 2000);
    const { ms } = await untilClosed(socket, 3000);
    // Node adds a one-second grace (keepAliveTimeoutBuffer) to the socket timeout.
    assert.ok(ms < limits.keepAliveTimeoutMs + 1000 + 2000, `closed after ${Math.round(ms)} ms`);
  });

  test('a watch outlives the request timeout and still delivers events', async () => {
    const socket = await tlsSocket(s);
    socket.write(head('GET', `${CONFIGMAPS}?watch=true`, { Authorization: `Bearer ${ADMIN_TOKEN}` }));
    const event = waitFor(socket, /^HTTP\/1\.1 200 .*"type":"ADDED".*"name":"late"/s, 4000);
    await new Promise((r) => setTimeout(r, limits.requestTimeoutMs + 600));
    const created = await s.api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } },
    });
    assert.equal(created.statusCode, 201);
    await event;
    socket.destroy();
  });
});

describe('connection cap', () => {
  let s: Listening;
  before(async () => {
    s = await listen({ maxConnections: 4, maxUnauthenticatedPerSource: 8, headersTimeoutMs: 10_000 });
  });
  after(async () => {
    destroyOpened();
    await s?.api.close();
  });

  const asAdmin = async (socket: TLSSocket) => {
    socket.write(head('GET', '/version', { Authorization: `Bearer ${ADMIN_TOKEN}` }));
    assert.match(await waitFor(socket, /\r\n\r\n\{.*\}$/s, 2000), /^HTTP\/1\.1 200 /);
  };
  const closed = (socket: TLSSocket) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) return resolve(true);
      const timer = setTimeout(() => resolve(false), 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  test('idle unauthenticated connections cannot hold the cap: the oldest gives way to a newcomer, which authenticates', async () => {
    const idle = await Promise.all(Array.from({ length: 4 }, () => tlsSocket(s)));
    const admin = await tlsSocket(s);
    await asAdmin(admin);
    assert.equal(await closed(idle[0] as TLSSocket), true, 'the oldest idle connection was closed');
    // Authenticated connections stay: fill the rest with admins, then a newcomer finds no room.
    const admins = [admin];
    for (let i = 0; i < 3; i++) {
      const more = await tlsSocket(s);
      await asAdmin(more);
      admins.push(more);
    }
    await assert.rejects(tlsSocket(s), 'with every connection authenticated the newcomer is closed');
    for (const a of admins) assert.equal(a.destroyed, false);
    for (const socket of [...idle, ...admins]) socket.destroy();
  });
});

describe('eviction at the cap', () => {
  test('a connection answering a request is not evicted; the oldest idle unauthenticated one is', async () => {
    const ca = selfSignedCa({ hours: 1, extKeyUsage: ['serverAuth'], sans: { dns: ['localhost'], ip: ['127.0.0.1'], email: [], uri: [] } });
    const pem = certificateToPem(ca.certificate);
    const limited = createLimitedServer(
      { cert: pem, key: privateKeyToPem(ca.key), ca: pem },
      { ...DEFAULT_CONNECTION_LIMITS, maxConnections: 2, maxUnauthenticatedPerSource: 8 },
    );
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    limited.server.on('request', async (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/slow') await held;
      res.end('ok');
    });
    limited.server.listen(0, '127.0.0.1');
    await new Promise((r) => limited.server.once('listening', r));
    const address = limited.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const open = () =>
      new Promise<TLSSocket>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: address.port, ca: pem, servername: 'localhost' }, () => resolve(socket));
        opened.add(socket);
        socket.once('error', reject);
      });
    try {
      const busy = await open();
      busy.write(head('GET', '/slow', {}));
      const idle = await open();
      const idleClosed = new Promise((r) => idle.once('close', r));
      await new Promise((r) => setTimeout(r, 100));
      const newcomer = await open();
      await Promise.race([
        idleClosed,
        new Promise((_, reject) => setTimeout(() => reject(new Error('the idle connection was not the one evicted')), 3000)),
      ]);
      assert.equal(busy.destroyed, false, 'the connection mid-request was kept');
      release();
      assert.match(await waitFor(busy, /\r\n\r\n.*ok/s, 2000), /^HTTP\/1\.1 200 /);
      newcomer.destroy();
    } finally {
      release();
      limited.destroyConnections();
      await new Promise((r) => limited.server.close(r));
      destroyOpened();
    }
  });
});

describe('unauthenticated connections per source', () => {
  let s: Listening;
  before(async () => {
    s = await listen({ maxConnections: 100, maxUnauthenticatedPerSource: 3, headersTimeoutMs: 10_000 });
  });
  after(async () => {
    destroyOpened();
    await s?.api.close();
  });

  test('one source holds at most its share before authenticating; another source is unaffected', async () => {
    const raw = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const r = tcpConnect({ host: '127.0.0.1', port: s.port });
        opened.add(r);
        r.on('error', () => {});
        await new Promise((done) => r.once('connect', done));
        return r;
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(tlsSocket(s), 'the fourth from 127.0.0.1 is closed');
    const from2 = tcpConnect({ host: '127.0.0.1', port: s.port, localAddress: '127.0.0.2' });
    opened.add(from2);
    const other = await new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ socket: from2, servername: 'localhost', ca: s.api.caPem }, () => resolve(socket));
      opened.add(socket);
      socket.once('error', reject);
    });
    other.write(head('GET', '/version', { Authorization: `Bearer ${ADMIN_TOKEN}` }));
    assert.match(await waitFor(other, /\r\n\r\n\{.*\}$/s, 2000), /^HTTP\/1\.1 200 /);
    for (const r of raw) r.destroy();
    other.destroy();
  });
});

describe('shutdown', () => {
  test('close() does not wait for a connection still in its TLS handshake', async () => {
    const s = await listen({ headersTimeoutMs: 10_000 });
    try {
      const raw = tcpConnect({ host: '127.0.0.1', port: s.port });
      opened.add(raw);
      raw.on('error', () => {});
      await new Promise((r) => raw.once('connect', r));
      let connections = 0;
      for (let i = 0; i < 100 && connections === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        connections = await new Promise<number>((resolve) => s.api.server.app.server.getConnections((_e, n) => resolve(n)));
      }
      const started = performance.now();
      await s.api.close();
      assert.ok(performance.now() - started < 2000, `closed in ${Math.round(performance.now() - started)} ms`);
    } finally {
      destroyOpened();
      await s.api.close();
    }
  });
});
