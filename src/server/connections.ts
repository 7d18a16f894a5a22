/**
 * What a connection may cost the API server: the Node https server it listens with, built with a
 * handshake-and-headers timeout, a timeout for receiving a whole request, an idle keep-alive
 * timeout and a cap on open connections, so that idle or trickling clients are closed and never
 * crowd out real ones. (Bodies are not read before authentication at all: see app.ts.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { InvalidError } from '../base/errors.ts';
import { sourceOf } from './auth-throttle.ts';

export interface ConnectionLimits {
  /** Time to finish the TLS handshake, and then again to send a request's headers. */
  readonly headersTimeoutMs: number;
  /**
   * Time to send a whole request, headers and body. It stops when the request has been received,
   * so it never cuts a response: watches and other long-running responses are not affected.
   */
  readonly requestTimeoutMs: number;
  /** How long a keep-alive connection may sit idle between requests. */
  readonly keepAliveTimeoutMs: number;
  /**
   * Open connections at most. At the cap a new connection takes the place of the oldest one that
   * has not authenticated (a client's first request proves who it is); only when every open
   * connection has authenticated is the new one closed.
   */
  readonly maxConnections: number;
  /** Connections one source (an IPv4 address, an IPv6 /64) may hold before they authenticate. */
  readonly maxUnauthenticatedPerSource: number;
}

/**
 * kube-apiserver allows 32 s for headers and Go's default idle time; these are tighter because a
 * tlsboot client (kubectl, a joining node, an agent) sends a small request at once. The cap
 * bounds memory (an idle TLS connection costs tens of KiB) while leaving room for every node of
 * a large cluster to hold a watch.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  maxConnections: 1024,
  // Half the cap: room for a join storm behind one NAT (discovery is anonymous, so every joining
  // node's connection counts here until it sends its token), while one source alone never fills it.
  maxUnauthenticatedPerSource: 512,
};

export function checkConnectionLimits(l: ConnectionLimits): void {
  const positive: [keyof ConnectionLimits, string][] = [
    ['headersTimeoutMs', 'header-timeout'],
    ['requestTimeoutMs', 'request-timeout'],
    ['keepAliveTimeoutMs', 'keep-alive-timeout'],
    ['maxConnections', 'max-connections'],
    ['maxUnauthenticatedPerSource', 'max-unauthenticated-connections-per-source'],
  ];
  for (const [key, field] of positive) {
    if (!Number.isSafeInteger(l[key]) || l[key] <= 0) {
      throw new InvalidError('CONNECTION_LIMITS', `--${field} must be a positive ${key.startsWith('max') ? 'integer' : 'duration'}`, {
        field,
      });
    }
  }
  if (l.headersTimeoutMs > l.requestTimeoutMs) {
    throw new InvalidError('CONNECTION_LIMITS', '--header-timeout must not be longer than --request-timeout', { field: 'header-timeout' });
  }
}

export interface TlsOptions {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface LimitedServer {
  /** Without a request listener: the HTTP framework adds its own. */
  readonly server: Server;
  /**
   * Destroys every open connection and any that still arrives. Node's closeAllConnections knows
   * only connections past the TLS handshake; the others would hold server.close() open until
   * their handshake timeout.
   */
  destroyConnections(): void;
  /** Marks the connection a request arrived on as authenticated: the cap no longer evicts it. */
  trust(socket: Socket): void;
}

/** A connection by the address pair the raw socket and its TLS socket share. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

export function createLimitedServer(tls: TlsOptions, limits: ConnectionLimits): LimitedServer {
  checkConnectionLimits(limits);
  const server = createServer({
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: limits.headersTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node enforces the two request timeouts by a periodic sweep (30 s by default), which would
    // let a connection outlive a 10 s header timeout threefold.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  });

  // Node answers `Expect: 100-continue` itself, before any authentication, inviting the body of a
  // request that will be refused. Handled as an ordinary request instead, the invitation is sent
  // only when the body is about to be read (see app.ts), as Go's server does.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  // Open connections in arrival order, so the oldest unauthenticated one is found first.
  const open = new Map<string, { socket: Socket; source: string; trusted: boolean; busy: number }>();
  const untrusted = new Map<string, number>();
  const count = (source: string, by: number) => {
    const n = (untrusted.get(source) ?? 0) + by;
    if (n <= 0) untrusted.delete(source);
    else untrusted.set(source, n);
  };
  let closing = false;
  server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const source = sourceOf(socket.remoteAddress ?? '');
    if ((untrusted.get(source) ?? 0) >= limits.maxUnauthenticatedPerSource) {
      socket.destroy();
      return;
    }
    if (open.size >= limits.maxConnections) {
      // An idle or trickling client cannot hold the cap: the oldest connection that never
      // authenticated gives way. Authenticated ones are kept, and then the newcomer is refused.
      const victim = [...open.values()].find((c) => !c.trusted && c.busy === 0);
      if (!victim) {
        socket.destroy();
        return;
      }
      victim.socket.destroy();
    }
    const key = connectionKey(socket);
    open.set(key, { socket, source, trusted: false, busy: 0 });
    count(source, 1);
    socket.once('close', () => {
      const entry = open.get(key);
      if (entry?.socket !== socket) return;
      open.delete(key);
      if (!entry.trusted) count(source, -1);
    });
  });
  // A connection answering a request is never the one evicted: an anonymous discovery mid-answer is real work.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const entry = open.get(connectionKey(req.socket));
    if (!entry) return;
    entry.busy++;
    res.once('close', () => {
      entry.busy--;
    });
  });
  return {
    server,
    destroyConnections() {
      closing = true;
      for (const { socket } of open.values()) socket.destroy();
    },
    trust(socket: Socket) {
      const entry = open.get(connectionKey(socket));
      if (!entry || entry.trusted) return;
      entry.trusted = true;
      count(entry.source, -1);
    },
  };
}
