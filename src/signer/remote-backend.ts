/**
 * The cluster's side of `--signer remote`: a session is opened with a grant credential; while it
 * lasts, approved CSRs are sent to the remote signer over mutual TLS and what comes back is checked
 * against what was approved before it is accepted. The cluster holds no CA key, only the grant's
 * short-lived transport key, in memory, for the session. An unreachable signer or a refused grant
 * makes CSRs wait (UNAVAILABLE); a request the signer refuses, or a wrong certificate, fails them.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { SignedCertificate, Signer, SignRequest } from '../api/signer.ts';
import { errorForCode, ForbiddenError, InvalidError, TlsbootError, UnavailableError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { type CrlContent, readSignedCrl } from '../pki/crl.ts';
import { type Certificate, certificateToPem, parseCertificatePem } from '../pki/index.ts';
import { checkReturnedCertificate, type GrantCredential, parseGrantCredential, remoteCrlBody, remoteSignBody } from './remote-protocol.ts';
import type { SessionBackend, SessionSecret, Unlocked } from './session-signer.ts';
import { DEFAULT_MAX_TTL_MS, signingValidity } from './signer.ts';

const CLOCK_SKEW_MS = 5 * 60_000;

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 256 * 1024;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

class RemoteClient {
  private readonly agent: Agent;
  readonly grant: GrantCredential;

  constructor(grant: GrantCredential) {
    this.grant = grant;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 8,
      ca: grant.certificateAuthority,
      cert: grant.clientCertificate,
      key: grant.clientKey,
    });
  }

  call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    const url = new URL(path, this.grant.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: isObject(parsed) ? parsed : {} });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e: Error & { code?: string }) => {
        // A TLS alert from the signer means it rejected our client certificate: the grant is not
        // one it issued (forged, or from another signer). Anything else is the signer being away.
        if (typeof e.code === 'string' && e.code.includes('ALERT'))
          reject(new ForbiddenError('REMOTE_GRANT_REFUSED', `the remote signer at ${this.grant.server} rejected the grant's certificate`));
        else
          reject(
            new UnavailableError('REMOTE_UNREACHABLE', `waiting for the remote signer at ${this.grant.server}: ${e.message}`, {
              cause: e,
            }),
          );
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function remoteMessage(a: Answer): string {
  return typeof a.body.message === 'string' ? a.body.message : `HTTP ${a.status}`;
}

export class RemoteSigner implements Signer {
  readonly caCertificate: Certificate;
  private client: RemoteClient | undefined;
  private readonly maxTtlMs: number;
  /** Calls under way: closing waits for them, since the signer may already have signed. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(client: RemoteClient, caCertificate: Certificate, maxTtlMs: number) {
    this.client = client;
    this.caCertificate = caCertificate;
    this.maxTtlMs = maxTtlMs;
  }

  async sign(request: SignRequest, now: Date): Promise<SignedCertificate> {
    const client = this.client;
    if (!client) throw new UnavailableError('SIGNER_CLOSED', 'the signing session has ended');
    // The cluster's own lifetime rules travel with every request and bound what comes back: the
    // signer's maximum may be longer than this cluster allows.
    const validity = signingValidity({
      now,
      requestedTtlMs: request.requestedTtlMs,
      maxTtlMs: this.maxTtlMs,
      caNotAfter: this.caCertificate.notAfter,
    });
    const ttlMs = validity.notAfter.getTime() - now.getTime();
    let answer: Answer;
    try {
      const call = client.call('POST', '/v1/sign', {
        ...remoteSignBody(request),
        expirationSeconds: Math.max(1, Math.floor(ttlMs / 1000)),
      });
      this.inFlight.add(call);
      try {
        answer = await call;
      } finally {
        this.inFlight.delete(call);
      }
    } catch (error) {
      if (error instanceof TlsbootError && error.code === 'FORBIDDEN')
        throw new UnavailableError(error.reason, `waiting for a signing session: ${error.message}`);
      throw error;
    }
    if (answer.status === 403)
      throw new UnavailableError(
        'REMOTE_GRANT_REFUSED',
        `waiting for a signing session: the remote signer refused the grant (${remoteMessage(answer)})`,
      );
    if (answer.status === 422) throw new InvalidError('REMOTE_REFUSED', `the remote signer refused to sign: ${remoteMessage(answer)}`);
    if (answer.status !== 200 || typeof answer.body.certificate !== 'string')
      throw new UnavailableError('REMOTE_ERROR', `waiting for the remote signer: ${remoteMessage(answer)}`);
    let cert: Certificate;
    try {
      cert = parseCertificatePem(answer.body.certificate, 'remote certificate');
    } catch (error) {
      throw new InvalidError('REMOTE_CERT_MISMATCH', 'the remote signer returned something that is not one certificate; refused', {
        cause: error,
      });
    }
    checkReturnedCertificate(cert, request, this.caCertificate, now);
    if (cert.notAfter.getTime() > validity.notAfter.getTime() + CLOCK_SKEW_MS)
      throw new InvalidError(
        'REMOTE_CERT_MISMATCH',
        `the remote signer returned a certificate valid until ${cert.notAfter.toISOString()}, beyond this cluster's limit; refused (serial ${cert.serialNumber})`,
      );
    return { certificate: cert, pem: certificateToPem(cert) };
  }

  /**
   * Has the remote signer sign a CRL under the grant; what comes back must verify under the
   * cluster CA and carry the times asked for, or it is refused.
   */
  async signCrl(content: CrlContent, _now: Date): Promise<Uint8Array> {
    const client = this.client;
    if (!client) throw new UnavailableError('SIGNER_CLOSED', 'the signing session has ended');
    const call = client.call('POST', '/v1/crl', remoteCrlBody(content));
    this.inFlight.add(call);
    let answer: Answer;
    try {
      answer = await call;
    } finally {
      this.inFlight.delete(call);
    }
    if (answer.status === 403)
      throw new UnavailableError('REMOTE_GRANT_REFUSED', `the remote signer refused the grant for a CRL (${remoteMessage(answer)})`);
    if (answer.status !== 200 || typeof answer.body.crl !== 'string')
      throw new UnavailableError('REMOTE_ERROR', `the remote signer did not sign the CRL: ${remoteMessage(answer)}`);
    const der = Buffer.from(answer.body.crl, 'base64');
    const times = readSignedCrl(der, this.caCertificate);
    if (
      times === undefined ||
      times.thisUpdate.getTime() !== Math.floor(content.thisUpdate.getTime() / 1000) * 1000 ||
      times.nextUpdate.getTime() !== Math.floor(content.nextUpdate.getTime() / 1000) * 1000
    )
      throw new InvalidError(
        'REMOTE_CRL_MISMATCH',
        'the remote signer returned a CRL that is not the one asked for under the cluster CA; refused',
      );
    return der;
  }

  /** Ends the session's use of the grant: new calls are refused, calls already sent are awaited. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await Promise.allSettled([...this.inFlight]);
    c?.close();
  }
}

export class RemoteBackend implements SessionBackend {
  readonly mode = 'remote' as const;
  private readonly caCertificate: Certificate;
  private readonly now: () => Date;

  private readonly maxTtlMs: number;

  constructor(caCertificate: Certificate, now: () => Date, maxTtlMs = DEFAULT_MAX_TTL_MS) {
    this.caCertificate = caCertificate;
    this.now = now;
    this.maxTtlMs = maxTtlMs;
  }

  async unlock(secret: SessionSecret): Promise<Unlocked> {
    if (secret.credential === undefined)
      throw new InvalidError('SESSION_SECRET', 'the remote signer needs a grant credential (--grant-file)', { field: 'grant' });
    const grant = parseGrantCredential(secret.credential);
    if (this.now() >= grant.expiresAt)
      throw new ForbiddenError('GRANT_EXPIRED', `grant ${grant.id} expired at ${grant.expiresAt.toISOString()}`);
    const client = new RemoteClient(grant);
    let answer: Answer;
    try {
      answer = await client.call('GET', '/v1/grant');
    } catch (error) {
      client.close();
      throw error;
    }
    if (answer.status !== 200) {
      client.close();
      // Only a grant the signer never issued counts as a failed unlock; an expired, revoked or
      // used-up one is the operator's honest mistake, not a guess.
      const forged = answer.status === 403 && answer.body.reason === 'GRANT_UNKNOWN';
      throw errorForCode(
        forged ? 'FORBIDDEN' : answer.status === 403 ? 'INVALID' : 'UNAVAILABLE',
        'REMOTE_GRANT_REFUSED',
        `the remote signer refused the grant: ${remoteMessage(answer)}`,
      );
    }
    const body = answer.body;
    const signed = typeof body.signed === 'number' ? body.signed : 0;
    const names = Array.isArray(body.signerNames) ? body.signerNames.filter((n): n is string => typeof n === 'string') : undefined;
    return {
      signer: new RemoteSigner(client, this.caCertificate, this.maxTtlMs),
      notAfter: grant.expiresAt,
      ...(typeof body.maxCertificates === 'number' ? { maxCertificates: Math.max(0, body.maxCertificates - signed) } : {}),
      ...(names === undefined ? {} : { signerNames: names }),
    };
  }
}
