/**
 * Authentication as an onRequest hook, in kube-apiserver's order: a client certificate verified
 * against the cluster CA (once per connection; its validity window on every request, since a
 * certificate can expire while its keep-alive connection stays open), else a bearer token (the
 * static token file, then bootstrap tokens), else anonymous. A presented but invalid credential is
 * a 401, never anonymous. Failed bearer tokens are counted per source and in total; over budget
 * they are slowed and answered 429, but a valid token is checked first and always succeeds. An
 * authenticated connection is exempt from the connection cap's eviction. A revoked client
 * certificate is refused on its next request, and the connections it authenticated (watches,
 * keep-alive) are closed when its revocation arrives.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { RateLimitedError, UnauthenticatedError } from '../../base/errors.ts';
import type { AuthnMethod } from '../../base/metrics.ts';
import type { Certificate } from '../../pki/index.ts';
import type { AuthThrottle } from '../auth-throttle.ts';
import {
  ANONYMOUS,
  bearerToken,
  parsePeerCertificate,
  type RevokedSerials,
  type StaticTokens,
  type UserInfo,
  userFromCertificate,
  withAuthenticatedGroup,
} from '../authn.ts';
import type { BootstrapTokenAuthenticator } from './bootstrap-tokens.ts';
import { type Plugin, shared, stateOf } from './shared.ts';

export interface AuthnOptions {
  readonly clientCas: readonly Certificate[];
  readonly staticTokens: StaticTokens;
  readonly bootstrapTokens: BootstrapTokenAuthenticator;
  readonly now: () => Date;
  readonly throttle: AuthThrottle;
  /** Waits `ms` or until `signal` aborts (the tarpit). */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Aborted at shutdown: ends tarpit waits. */
  readonly shutdown: AbortSignal;
  /** Exempts an authenticated connection from eviction (connections.ts). */
  readonly trust: (socket: Socket) => void;
  /** Told of each credential that did not authenticate (tlsboot_authentication_failures_total). */
  readonly onFailure?: (method: AuthnMethod) => void;
  /** The revoked serials; none when absent. */
  readonly revoked?: RevokedSerials;
}

type PeerUser = { readonly user: UserInfo; readonly serial: string; readonly notBefore: number; readonly notAfter: number } | null;

export function authnPlugin(o: AuthnOptions): Plugin {
  const peerUsers = new WeakMap<TLSSocket, PeerUser>();
  /** The open connections each client certificate authenticated, to close when it is revoked. */
  const bySerial = new Map<string, Set<TLSSocket>>();

  function track(socket: TLSSocket, serial: string): void {
    const sockets = bySerial.get(serial) ?? new Set<TLSSocket>();
    bySerial.set(serial, sockets);
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0 && bySerial.get(serial) === sockets) bySerial.delete(serial);
    });
  }

  function peerOf(socket: Socket, now: Date): PeerUser {
    // In-process requests (inject) have no TLS socket and so no client certificate.
    if (!(socket instanceof TLSSocket)) return null;
    let peer = peerUsers.get(socket);
    if (peer === undefined) {
      const x509 = socket.getPeerX509Certificate();
      if (x509) {
        const leaf = parsePeerCertificate(x509.raw);
        const user = userFromCertificate(leaf, o.clientCas, now);
        peer = user ? { user, serial: leaf.serialNumber, notBefore: leaf.notBefore.getTime(), notAfter: leaf.notAfter.getTime() } : null;
        if (peer) track(socket, peer.serial);
        // Counted once per connection: the request goes on as anonymous, as kube-apiserver's would not, but the failure is real.
        if (!user) o.onFailure?.('x509');
      } else {
        peer = null;
      }
      peerUsers.set(socket, peer);
    }
    return peer;
  }

  async function authenticate(req: IncomingMessage): Promise<UserInfo> {
    const now = o.now();
    const peer = peerOf(req.socket, now);
    if (peer && (now.getTime() < peer.notBefore || now.getTime() > peer.notAfter)) {
      o.onFailure?.('x509');
      throw new UnauthenticatedError('AUTHN_FAILED', 'Unauthorized: the client certificate is not valid now');
    }
    if (peer && o.revoked?.has(peer.serial)) {
      throw new UnauthenticatedError('AUTHN_FAILED', `Unauthorized: the client certificate (serial ${peer.serial}) has been revoked`);
    }
    if (peer) return withAuthenticatedGroup(peer.user);
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) return ANONYMOUS;
    // The token is checked before anything is throttled: a valid credential always succeeds.
    const user = o.staticTokens.lookup(token) ?? (await o.bootstrapTokens(token, now));
    if (user) return withAuthenticatedGroup(user);
    o.onFailure?.('token');
    const penalty = o.throttle.recordFailure(req.socket.remoteAddress ?? '');
    if (penalty) {
      await o.sleep(penalty.delayMs, o.shutdown);
      throw new RateLimitedError('AUTHN_THROTTLED', 'too many failed authentication attempts; try again later', penalty.retryAfterSeconds);
    }
    throw new UnauthenticatedError('AUTHN_FAILED', 'Unauthorized');
  }

  return shared(async (app) => {
    const unsubscribe = o.revoked?.onRevoked((serial) => {
      for (const socket of bySerial.get(serial) ?? []) socket.destroy();
    });
    app.addHook('onClose', async () => unsubscribe?.());
    app.addHook('onRequest', async (req) => {
      const state = stateOf(req);
      const user = await authenticate(req.raw);
      state.authenticated = user;
      if (user !== ANONYMOUS) o.trust(req.socket);
    });
  });
}
