/**
 * A typed HTTPS client for the Kubernetes-style API: connection settings from a kubeconfig (CA,
 * client certificate or bearer token), JSON requests whose failures come back as TlsbootErrors
 * mapped from the Kubernetes Status, and watches as async iterables of events. One keep-alive
 * agent per client; `close()` ends it and every watch it opened.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { isWatchEvent, type WatchEvent } from '../api/index.ts';
import { parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import { codeFromStatus } from '../api/status.ts';
import {
  CancelledError,
  errorForCode,
  InternalError,
  InvalidError,
  TlsbootError,
  TooLargeError,
  UnavailableError,
} from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';

export interface ConnectionConfig {
  readonly server: string;
  /** PEM bundle to trust; absent means the system store (or nothing, with insecure). */
  readonly caPem?: string;
  readonly clientCertificatePem?: string;
  readonly clientKeyPem?: string;
  readonly token?: string;
  /** Only for the first, pinned step of discovery: the caller verifies what it fetched. */
  readonly insecureSkipTlsVerify?: boolean;
  readonly timeoutMs?: number;
  /** Responses larger than this are aborted (bounded memory against hostile servers). */
  readonly maxResponseBytes?: number;
}

/** A request as a transport sees it: the path carries the query string. */
export interface TransportRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/**
 * Carries requests to a server other than over HTTPS: in process, through the server's own
 * request path (`tlsboot server` runs its controllers this way), so that they pass the same
 * authentication, authorisation and admission as any client.
 */
export interface Transport {
  send(request: TransportRequest): Promise<{ status: number; body: Buffer }>;
  /** A response read as it arrives (a watch); ends when the server ends it or `signal` aborts. */
  stream(request: TransportRequest, signal: AbortSignal): Promise<{ status: number; body: NodeJS.ReadableStream }>;
}

export type { WatchEvent };

/** A TlsbootError from an HTTP status and a Kubernetes Status body (if the body is one), by the one table in api/status.ts. */
export function errorFromStatus(httpStatus: number, body: unknown): TlsbootError {
  const statusReason = isObject(body) ? body.reason : undefined;
  const code = codeFromStatus(httpStatus, statusReason);
  const reason = typeof statusReason === 'string' ? statusReason : `HTTP_${httpStatus}`;
  const message = isObject(body) && typeof body.message === 'string' ? body.message : `the server answered HTTP ${httpStatus}`;
  const details = isObject(body) && isObject(body.details) ? body.details : {};
  const retryAfterSeconds = typeof details.retryAfterSeconds === 'number' ? details.retryAfterSeconds : undefined;
  return errorForCode(code, reason, message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
}

function readRelative(base: string, path: string | undefined): string | undefined {
  return path === undefined ? undefined : readFileSync(resolve(base, path), 'utf8');
}

/** Connection settings from a kubeconfig file (its current context). */
export function loadKubeconfig(path: string): ConnectionConfig {
  const text = readFileSync(path, 'utf8');
  const resolved = resolveKubeconfig(parseKubeconfig(text));
  const base = dirname(path);
  const { cluster, user } = resolved;
  const caPem = cluster.certificateAuthorityData ?? readRelative(base, cluster.certificateAuthority);
  const clientCertificatePem = user.clientCertificateData ?? readRelative(base, user.clientCertificate);
  const clientKeyPem = user.clientKeyData ?? readRelative(base, user.clientKey);
  return {
    server: cluster.server,
    ...(caPem === undefined ? {} : { caPem }),
    ...(clientCertificatePem === undefined ? {} : { clientCertificatePem }),
    ...(clientKeyPem === undefined ? {} : { clientKeyPem }),
    ...(user.token === undefined ? {} : { token: user.token }),
    ...(cluster.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
  };
}

export interface RequestOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly accept?: string;
}

export class KubeClient {
  readonly config: ConnectionConfig;
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly watches = new Set<AbortController>();
  private readonly transport: Transport | undefined;

  constructor(config: ConnectionConfig, transport?: Transport) {
    this.config = config;
    this.transport = transport;
    this.base = new URL(config.server);
    if (this.base.protocol !== 'https:') throw new InvalidError('CLIENT_SERVER', `server ${config.server} must be an https:// URL`);
    this.agent = new Agent({
      keepAlive: true,
      ...(config.caPem === undefined ? {} : { ca: config.caPem }),
      ...(config.clientCertificatePem === undefined ? {} : { cert: config.clientCertificatePem }),
      ...(config.clientKeyPem === undefined ? {} : { key: config.clientKeyPem }),
      rejectUnauthorized: config.insecureSkipTlsVerify !== true,
    });
  }

  private url(path: string, query?: Readonly<Record<string, string>>): URL {
    const u = new URL(path, this.base);
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u;
  }

  private headers(contentType: string | undefined, hasBody: boolean, accept = 'application/json'): Record<string, string> {
    return {
      Accept: accept,
      ...(hasBody ? { 'Content-Type': contentType ?? 'application/json' } : {}),
      ...(this.config.token === undefined ? {} : { Authorization: `Bearer ${this.config.token}` }),
    };
  }

  /** One request; resolves with the raw body bytes and status. */
  raw(path: string, options: RequestOptions = {}): Promise<{ status: number; body: Buffer }> {
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    if (this.transport) {
      const u = this.url(path, options.query);
      return this.transport.send({
        method: options.method ?? 'GET',
        path: `${u.pathname}${u.search}`,
        headers: this.headers(options.contentType, payload !== undefined, options.accept),
        ...(payload === undefined ? {} : { body: payload }),
      });
    }
    return new Promise((resolvePromise, reject) => {
      const req = request(
        this.url(path, options.query),
        {
          method: options.method ?? 'GET',
          agent: this.agent,
          headers: this.headers(options.contentType, payload !== undefined, options.accept),
          timeout: this.config.timeoutMs ?? 30_000,
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const cap = this.config.maxResponseBytes ?? 16 * 1024 * 1024;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > cap) {
              req.destroy(new TooLargeError('CLIENT_RESPONSE_TOO_LARGE', `the response from ${this.config.server} exceeds ${cap} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      const timedOut = () => req.destroy(new UnavailableError('CLIENT_TIMEOUT', `request to ${this.config.server} timed out`));
      req.on('timeout', timedOut);
      // The socket timeout only measures idleness; a server trickling bytes needs a total deadline.
      const deadline = setTimeout(timedOut, this.config.timeoutMs ?? 30_000);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', (error) => {
        if (error instanceof TlsbootError) return reject(error);
        // The caller's signal ended it: a deadline (AbortSignal.timeout) is a failure to get an
        // answer in time, anything else the caller giving up, which is no failure at all.
        const reason: unknown = options.signal?.reason;
        if (options.signal?.aborted && !(reason instanceof DOMException && reason.name === 'TimeoutError'))
          return reject(new CancelledError('CLIENT_CANCELLED', `request to ${this.config.server} cancelled`, { cause: error }));
        reject(new UnavailableError('CLIENT_CONNECT', `cannot reach ${this.config.server}: ${error.message}`, { cause: error }));
      });
      req.end(payload);
    });
  }

  /**
   * A JSON request answered by a JSON object (every Kubernetes answer is one); a non-2xx answer
   * throws the TlsbootError its Status maps to. With `decode` (an api guard such as
   * `asCertificateSigningRequest`), the answer comes back typed or the guard's INVALID naming the field.
   */
  request(path: string, options?: RequestOptions): Promise<JsonObject>;
  request<T>(path: string, options: RequestOptions, decode: (value: JsonObject) => T): Promise<T>;
  async request<T>(path: string, options: RequestOptions = {}, decode?: (value: JsonObject) => T): Promise<JsonObject | T> {
    const parsed = await this.requestObject(path, options);
    return decode === undefined ? parsed : decode(parsed);
  }

  private async requestObject(path: string, options: RequestOptions): Promise<JsonObject> {
    const { status, body } = await this.raw(path, options);
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (status < 200 || status > 299) throw errorFromStatus(status, parsed);
    if (!isObject(parsed)) throw new InternalError('CLIENT_BODY', `the server sent a body that is not a JSON object for ${path}`);
    return parsed;
  }

  /** A list as kubectl's Table (server-side columns). */
  async requestTable(path: string): Promise<JsonObject> {
    return this.request(path, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
  }

  /** A watch stream; ends when the server ends it, on `signal`, or on `close()`. */
  async *watch(path: string, query: Readonly<Record<string, string>> = {}, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    const controller = new AbortController();
    this.watches.add(controller);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let response: NodeJS.ReadableStream | undefined;
    try {
      const { status, body: res } = await this.open(path, query, controller.signal);
      if (status !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(Buffer.from(c));
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          parsed = undefined;
        }
        throw errorFromStatus(status, parsed);
      }
      response = res;
      // Ending a watch aborts its response; the stream's error must have a listener, and a real
      // failure is reported below once the lines stop.
      let streamError: Error | undefined;
      res.on('error', (error) => {
        streamError = error;
      });
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const event: unknown = JSON.parse(line);
        if (!isWatchEvent(event)) throw new InternalError('CLIENT_WATCH', 'the server sent a malformed watch event');
        yield event;
      }
      if (streamError && !controller.signal.aborted) throw streamError;
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof TlsbootError) throw error;
      throw new UnavailableError('CLIENT_WATCH', `watch on ${path} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Destroyed without an error first, so the socket's close does not raise 'aborted' on it.
      if (response && 'destroy' in response && typeof response.destroy === 'function') response.destroy();
      controller.abort();
      this.watches.delete(controller);
    }
  }

  private async open(
    path: string,
    query: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<{ status: number; body: NodeJS.ReadableStream }> {
    const u = this.url(path, { ...query, watch: '1' });
    if (this.transport)
      return this.transport.stream({ method: 'GET', path: `${u.pathname}${u.search}`, headers: this.headers(undefined, false) }, signal);
    const res = await new Promise<import('node:http').IncomingMessage>((resolvePromise, reject) => {
      const req = request(u, { agent: this.agent, headers: this.headers(undefined, false), signal }, resolvePromise);
      req.on('error', reject);
      req.end();
    });
    return { status: res.statusCode ?? 0, body: res };
  }

  close(): void {
    for (const w of this.watches) w.abort();
    this.agent.destroy();
  }
}
