/**
 * The console's HTTP server (`tlsboot console`): on loopback only, it serves the page and a small
 * JSON API that acts as the kubeconfig's user through the client, like `kubectl proxy` but with
 * a login. It owns the guards every request passes: the Host must be ours (no DNS rebinding),
 * /api needs the session cookie, every change needs the session's CSRF token in a header and an
 * Origin of ours if one is sent; and every answer carries a strict Content-Security-Policy.
 */
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CERTIFICATE_REVOCATIONS, resourcePath } from '../api/cluster-client.ts';
import {
  asCertificateSigningRequest,
  asCertificateSigningRequestList,
  asList,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  bootstrapTokenSecret,
  bootstrapTokenSecretName,
  generateToken,
  parseBootstrapToken,
  SECRET,
  type Secret,
  TOKEN_ID_PATTERN,
  toStatus,
} from '../api/index.ts';
import { LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE } from '../api/lease.ts';
import { isRevocationReason, REVOCATION_REASONS, revocationObject, serialProblem } from '../api/revocation.ts';
import { parseDuration } from '../base/duration.ts';
import { InvalidError, isTlsbootError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { errorFromStatus, type KubeClient } from '../client/client.ts';
import { CSR_PATH, decideCsr } from '../client/csr.ts';
import { DEFAULT_TOKEN_GROUP, joinCommand, TOKEN_SECRETS_PATH } from '../client/tokens.ts';
import { commonName, parseCertificate, parseCertificateBundle } from '../pki/index.ts';
import { type PageAssets, pageAssets } from './assets.ts';
import { metricsView } from './metrics.ts';
import { CSRF_HEADER, cookieValue, SESSION_COOKIE, Sessions } from './session.ts';
import { type CertificateView, controlPlaneCertificateView, csrView, issuedCertificateView, revocationView, tokenView } from './views.ts';

export const DEFAULT_LISTEN = '127.0.0.1:8080';
/** A page of the API's lists: enough to fill a screen, small enough that 10,000 nodes never come in one answer. */
export const DEFAULT_PAGE = 500;
const MAX_PAGE = 2000;
const ISSUED_PATH = '/apis/tlsboot.io/v1alpha1/issuedcertificates';
const SESSIONS_PATH = '/apis/ca.tlsboot.io/v1alpha1/signingsessions';
const REVOCATIONS_PATH = resourcePath(CERTIFICATE_REVOCATIONS);

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `HOST:PORT` for --listen; refuses any host that is not loopback, since the console acts with the kubeconfig's rights. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || host === undefined || !Number.isInteger(port) || port > 65535)
    throw new InvalidError('CONSOLE_LISTEN', `--listen ${text}: expected HOST:PORT, such as ${DEFAULT_LISTEN}`, { field: 'listen' });
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && host === '::1');
  if (!loopback)
    throw new InvalidError(
      'CONSOLE_NOT_LOOPBACK',
      `--listen ${text}: the console acts with the kubeconfig's rights, so it listens on loopback only (127.0.0.1, ::1 or localhost); reach it from elsewhere through an SSH tunnel`,
      { field: 'listen' },
    );
  return { host, port };
}

export interface ConsoleOptions {
  readonly client: KubeClient;
  readonly listen: ListenAddress;
  readonly now: () => Date;
  readonly randomBytes: (size: number) => Uint8Array;
}

export interface WebConsole {
  readonly app: FastifyInstance;
  /** The origin it serves, `http://127.0.0.1:8080`. */
  readonly origin: string;
  /** A new one-time login URL. */
  loginUrl(): string;
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function query(req: FastifyRequest): JsonObject {
  return isObject(req.query) ? req.query : {};
}

function queryString(req: FastifyRequest, key: string): string | undefined {
  const v = query(req)[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function pageSize(req: FastifyRequest): string {
  const n = Number(queryString(req, 'limit') ?? DEFAULT_PAGE);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw new HttpError(400, `limit must be an integer from 1 to ${MAX_PAGE}`);
  return String(n);
}

function listQuery(req: FastifyRequest): Record<string, string> {
  const next = queryString(req, 'continue');
  return { limit: pageSize(req), ...(next === undefined ? {} : { continue: next }) };
}

function bodyString(body: unknown, key: string): string | undefined {
  const v = isObject(body) ? body[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function listMeta(list: JsonObject): { resourceVersion: string; continue: string } {
  const meta = isObject(list.metadata) ? list.metadata : {};
  return {
    resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '',
    continue: typeof meta.continue === 'string' ? meta.continue : '',
  };
}

/** The certificates a client of the API server sees: its serving chain, from a TLS handshake. */
function servingChain(client: KubeClient, timeoutMs: number): Promise<Uint8Array[]> {
  const url = new URL(client.config.server);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      ...(isIP(url.hostname) ? {} : { servername: url.hostname }),
      ...(client.config.caPem === undefined ? {} : { ca: client.config.caPem }),
      rejectUnauthorized: client.config.insecureSkipTlsVerify !== true,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake with ${client.config.server} in ${timeoutMs} ms`)));
    socket.once('secureConnect', () => {
      const chain: Uint8Array[] = [];
      const seen = new Set<string>();
      let peer = socket.getPeerCertificate(true);
      while (peer?.raw && !seen.has(peer.fingerprint256)) {
        seen.add(peer.fingerprint256);
        chain.push(new Uint8Array(peer.raw));
        peer = peer.issuerCertificate;
      }
      socket.end();
      resolve(chain);
    });
    socket.once('error', reject);
  });
}

export async function createConsole(o: ConsoleOptions): Promise<WebConsole> {
  const assets: PageAssets = pageAssets();
  const sessions = new Sessions(() => o.now().getTime(), o.randomBytes);
  const streams = new Set<AbortController>();
  const { client } = o;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  let origin = '';
  const hosts = new Set<string>();

  const sessionOf = (req: FastifyRequest) => cookieValue(req.headers.cookie, SESSION_COOKIE);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('Content-Security-Policy', CSP);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Cache-Control', 'no-store');
    // A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) sends its own Host.
    if (!hosts.has(req.headers.host ?? '')) throw new HttpError(421, 'this console answers only on its own address');
    if (!req.url.startsWith('/api/')) return;
    if (sessions.csrfOf(sessionOf(req)) === undefined)
      throw new HttpError(401, 'not logged in: open the login URL that tlsboot console printed (it works once)');
    if (req.method === 'GET' || req.method === 'HEAD') return;
    const from = req.headers.origin;
    if (from !== undefined && from !== origin)
      throw new HttpError(403, `a change from ${from} is refused: only this console's own page may make one`);
    const presented = req.headers[CSRF_HEADER];
    if (!sessions.csrfMatches(sessionOf(req), typeof presented === 'string' ? presented : undefined))
      throw new HttpError(403, 'missing or wrong CSRF token: reload the page');
  });

  app.setErrorHandler(async (error: unknown, _req, reply: FastifyReply) => {
    if (error instanceof HttpError) return reply.code(error.status).type('application/json').send({ error: error.message });
    if (isTlsbootError(error)) {
      const status = toStatus(error);
      return reply.code(status.code).send({ error: error.message, code: error.code, reason: error.reason });
    }
    const fastifyStatus = isObject(error) && typeof error.statusCode === 'number' ? error.statusCode : 500;
    const message = error instanceof Error ? error.message : String(error);
    return reply.code(fastifyStatus).send({ error: fastifyStatus === 500 ? `internal error: ${message}` : message });
  });

  app.get('/login', async (req, reply) => {
    const id = sessions.login(queryString(req, 'token') ?? '');
    if (id === undefined) {
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(
          assets.message('This login link is used or expired: each one works once, for 5 minutes. Restart tlsboot console for a new one.'),
        );
    }
    // HttpOnly: the page's scripts never see it; SameSite=Strict: no other site's page sends it.
    reply.header('Set-Cookie', `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`);
    // A same-origin page moves on, so the Strict cookie travels and the token leaves the address bar.
    return reply.type('text/html; charset=utf-8').send(assets.redirect('/'));
  });

  app.get('/', async (req, reply) => {
    if (sessions.csrfOf(sessionOf(req)) === undefined)
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(assets.message('Not logged in. Open the login URL that tlsboot console printed in its terminal; each one works once.'));
    return reply.type('text/html; charset=utf-8').send(assets.index);
  });

  app.get('/assets/:file', async (req, reply) => {
    const file = isObject(req.params) && typeof req.params.file === 'string' ? req.params.file : '';
    const asset = assets.files.get(file);
    if (asset === undefined) throw new HttpError(404, `no asset ${file}`);
    return reply.type(asset.type).send(asset.body);
  });

  // Who the kubeconfig's user is, as the API server authenticated it (SelfSubjectReview, so token
  // users are named too); a server without that API leaves the client certificate's common name.
  const certificateUser =
    client.config.clientCertificatePem === undefined ? undefined : parseCertificateBundle(client.config.clientCertificatePem)[0];
  let user: string | undefined;
  const userName = async (): Promise<string> => {
    if (user !== undefined) return user;
    try {
      const review = await client.request('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        method: 'POST',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      const info = isObject(review.status) && isObject(review.status.userInfo) ? review.status.userInfo : {};
      if (typeof info.username === 'string' && info.username !== '') user = info.username;
    } catch {
      // Answered below from the certificate, and asked again next time.
    }
    return user ?? (certificateUser === undefined ? '' : (commonName(certificateUser.subject) ?? ''));
  };

  app.get('/api/session', async (req) => ({ csrf: sessions.csrfOf(sessionOf(req)), user: await userName(), server: client.config.server }));

  app.post('/api/logout', async (req) => {
    sessions.logout(sessionOf(req));
    return { ok: true };
  });

  app.get('/api/csrs', async (req) => {
    const list = asCertificateSigningRequestList(await client.request(CSR_PATH, { query: listQuery(req) }));
    const views = list.items.map(csrView);
    return { ...listMeta(list), scanned: views.length, items: views.filter((v) => v.pending) };
  });

  /**
   * An API watch from the list's resourceVersion, relayed as server-sent events named `event`
   * (each `{type, <event>: view}`); `gone` (410: list again), `failed` or `ended` close it.
   */
  const relayWatch = (req: FastifyRequest, reply: FastifyReply, path: string, event: string, view: (o: unknown) => unknown) => {
    const resourceVersion = queryString(req, 'resourceVersion');
    if (resourceVersion === undefined) throw new HttpError(400, 'resourceVersion is required (from the list)');
    const controller = new AbortController();
    streams.add(controller);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
    });
    const send = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    // A comment now and then keeps proxies and the browser from calling an idle stream dead.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      clearInterval(keepAlive);
      controller.abort();
      streams.delete(controller);
      res.end();
    };
    res.on('close', end);
    void (async () => {
      try {
        for await (const e of client.watch(path, { resourceVersion, allowWatchBookmarks: 'false' }, controller.signal)) {
          if (e.type === 'ERROR') {
            const code = isObject(e.object) ? e.object.code : undefined;
            send(code === 410 ? 'gone' : 'failed', { message: isObject(e.object) ? e.object.message : '' });
            break;
          }
          if (e.type === 'BOOKMARK') continue;
          const shown = view(e.object);
          if (shown !== undefined) send(event, { type: e.type, [event]: shown });
        }
        if (!controller.signal.aborted) send('ended', {});
      } catch (error) {
        if (!controller.signal.aborted)
          send(isTlsbootError(error) && error.code === 'GONE' ? 'gone' : 'failed', {
            message: error instanceof Error ? error.message : String(error),
          });
      } finally {
        end();
      }
    })();
  };

  app.get('/api/csrs/watch', (req, reply) => relayWatch(req, reply, CSR_PATH, 'csr', (o) => csrView(asCertificateSigningRequest(o))));

  for (const [verb, decision, reason] of [
    ['approve', 'Approved', 'TlsbootConsoleApprove'],
    ['deny', 'Denied', 'TlsbootConsoleDeny'],
  ] as const) {
    app.post(`/api/csrs/:name/${verb}`, async (req) => {
      const name = isObject(req.params) && typeof req.params.name === 'string' ? req.params.name : '';
      const uid = bodyString(req.body, 'uid');
      const message = (bodyString(req.body, 'message') ?? '').trim();
      if (uid === undefined || uid === '') throw new HttpError(400, 'uid is required: the request you decided on');
      if (decision === 'Denied' && message === '') throw new HttpError(400, 'a denial needs a reason for the requester');
      if (message.length > 1024) throw new HttpError(400, 'the reason is longer than 1024 characters');
      const user = await userName();
      const text = message !== '' ? message : `Approved in tlsboot console${user === '' ? '' : ` by ${user}`}.`;
      const decided = await decideCsr(client, name, decision, reason, text, o.now, uid);
      return csrView(decided);
    });
  }

  app.get('/api/certificates', async (req) => {
    const list = await client.request(ISSUED_PATH, { query: listQuery(req) });
    const items = (Array.isArray(list.items) ? list.items : []).filter(isObject).map(issuedCertificateView);
    return { ...listMeta(list), items };
  });

  // The reasons travel with the list, so the page offers exactly those the API accepts.
  app.get('/api/revocations', async (req) => {
    const list = await client.request(REVOCATIONS_PATH, { query: listQuery(req) });
    const items = (Array.isArray(list.items) ? list.items : []).map(revocationView).filter((v) => v !== undefined);
    return { ...listMeta(list), items, reasons: Object.keys(REVOCATION_REASONS) };
  });

  app.get('/api/revocations/watch', (req, reply) => relayWatch(req, reply, REVOCATIONS_PATH, 'revocation', revocationView));

  /** Revokes the one certificate the dialog named, by its serial; admission checks it against the inventory. */
  app.post('/api/revocations', async (req) => {
    const serial = bodyString(req.body, 'serial') ?? '';
    const reason = bodyString(req.body, 'reason') ?? '';
    const problem = serialProblem(serial);
    if (problem !== undefined) throw new HttpError(400, problem);
    if (!isRevocationReason(reason))
      throw new HttpError(400, `reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')} (RFC 5280), not "${reason}"`);
    const stored = revocationView(await client.request(REVOCATIONS_PATH, { method: 'POST', body: revocationObject(serial, reason) }));
    if (stored === undefined) throw new HttpError(502, `the API server stored the revocation of ${serial} but answered something else`);
    return stored;
  });

  app.get('/api/control-plane-certificates', async () => {
    const items: CertificateView[] = [];
    const problems: string[] = [];
    try {
      const chain = await servingChain(client, 10_000);
      chain.forEach((der, i) => {
        items.push(
          controlPlaneCertificateView(i === 0 ? 'API server serving certificate' : `API server chain ${i}`, parseCertificate(der)),
        );
      });
    } catch (error) {
      problems.push(`the API server's certificate: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const [i, cert] of parseCertificateBundle(client.config.caPem ?? '').entries())
      items.push(controlPlaneCertificateView(i === 0 ? 'cluster CA (kubeconfig)' : `kubeconfig CA ${i + 1}`, cert));
    if (client.config.clientCertificatePem !== undefined)
      for (const cert of parseCertificateBundle(client.config.clientCertificatePem).slice(0, 1))
        items.push(controlPlaneCertificateView('your client certificate (kubeconfig)', cert));
    // The kubeconfig's CA is often the chain's own root: one entry per certificate.
    const seen = new Set<string>();
    const unique = items.filter((c) => {
      const key = `${c.serialNumber}/${c.signer}/${c.notAfter}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return { items: unique, problems };
  });

  app.get('/api/cluster', async () => {
    const probe = async (path: string) => {
      try {
        const { status, body } = await client.raw(path, { signal: AbortSignal.timeout(5_000) });
        return { path, ok: status === 200, status, text: body.toString('utf8').slice(0, 200) };
      } catch (error) {
        return { path, ok: false, status: 0, text: error instanceof Error ? error.message : String(error) };
      }
    };
    const health = await Promise.all(['/livez', '/readyz'].map(probe));
    let leader: JsonObject = {};
    try {
      const lease = await client.request(`/apis/coordination.k8s.io/v1/namespaces/${LEADER_LEASE_NAMESPACE}/leases/${LEADER_LEASE_NAME}`);
      const spec = isObject(lease.spec) ? lease.spec : {};
      leader = { holder: spec.holderIdentity ?? '', renewTime: spec.renewTime ?? '', durationSeconds: spec.leaseDurationSeconds ?? 0 };
    } catch (error) {
      leader =
        isTlsbootError(error) && error.code === 'NOT_FOUND'
          ? {
              none: `no leader election Lease (${LEADER_LEASE_NAMESPACE}/${LEADER_LEASE_NAME}): a single tlsboot server runs its controllers itself; with several servers or tlsboot controllers it appears once one leads`,
            }
          : { error: error instanceof Error ? error.message : String(error) };
    }
    let signing: JsonObject;
    try {
      const list = await client.request(SESSIONS_PATH);
      const sessions = (Array.isArray(list.items) ? list.items : [])
        .filter(isObject)
        .map((s) => ({ name: isObject(s.metadata) ? s.metadata.name : '', spec: s.spec, ...(isObject(s.status) ? s.status : {}) }));
      signing = { sessions };
      // No session at all: ask for the current one, whose refusal says whether this signer has sessions.
      if (sessions.length === 0) await client.request(`${SESSIONS_PATH}/current`);
    } catch (error) {
      signing =
        isTlsbootError(error) && error.code === 'NOT_FOUND'
          ? { sessions: [] }
          : isTlsbootError(error) && error.code === 'INVALID'
            ? { none: error.message }
            : { error: error instanceof Error ? error.message : String(error) };
    }
    let version: JsonObject = {};
    try {
      version = await client.request('/version');
    } catch {
      // Shown as unknown.
    }
    return { server: client.config.server, health, leader, signing, version, now: o.now().toISOString() };
  });

  /** The API server's /metrics, read as the user (it needs `get` on that URL, as Prometheus does), summarised. */
  app.get('/api/metrics', async () => {
    const { status, body } = await client.raw('/metrics', { accept: 'text/plain', signal: AbortSignal.timeout(10_000) });
    const text = body.toString('utf8');
    if (status !== 200) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw errorFromStatus(status, parsed);
    }
    return metricsView(text);
  });

  app.get('/api/tokens', async () => {
    const list = await client.request(TOKEN_SECRETS_PATH, { query: { fieldSelector: `type=${BOOTSTRAP_TOKEN_SECRET_TYPE}` } }, (v) =>
      asList<Secret>(v, SECRET),
    );
    const now = o.now();
    return { items: list.items.filter((s) => s.type === BOOTSTRAP_TOKEN_SECRET_TYPE).map((s) => tokenView(s, now)) };
  });

  app.post('/api/tokens', async (req) => {
    const ttl = parseDuration(bodyString(req.body, 'ttl') ?? '24h', 'ttl');
    const description = bodyString(req.body, 'description') ?? '';
    if (description.length > 256) throw new HttpError(400, 'the description is longer than 256 characters');
    const text = generateToken(o.randomBytes);
    const secret = bootstrapTokenSecret({
      token: parseBootstrapToken(text),
      usages: ['signing', 'authentication'],
      groups: [DEFAULT_TOKEN_GROUP],
      ...(ttl > 0 ? { expiration: new Date(o.now().getTime() + ttl) } : {}),
      ...(description === '' ? {} : { description }),
    });
    await client.request(TOKEN_SECRETS_PATH, { method: 'POST', body: secret });
    return { token: text, joinCommand: joinCommand(client.config, text) };
  });

  app.delete('/api/tokens/:id', async (req) => {
    const id = isObject(req.params) && typeof req.params.id === 'string' ? req.params.id : '';
    if (!TOKEN_ID_PATTERN.test(id)) throw new HttpError(400, `"${id}" is not a token ID`);
    await client.request(`${TOKEN_SECRETS_PATH}/${bootstrapTokenSecretName(id)}`, { method: 'DELETE' });
    return { deleted: id };
  });

  const address = await app.listen({ host: o.listen.host, port: o.listen.port });
  const port = Number(new URL(address).port);
  const shown = o.listen.host.includes(':') ? `[${o.listen.host}]` : o.listen.host;
  origin = `http://${shown}:${port}`;
  hosts.add(`${shown}:${port}`);
  if (o.listen.host === 'localhost') hosts.add(`127.0.0.1:${port}`);

  return {
    app,
    origin,
    loginUrl: () => `${origin}/login?token=${sessions.newLogin()}`,
    async close() {
      for (const s of streams) s.abort();
      await app.close();
    },
  };
}
