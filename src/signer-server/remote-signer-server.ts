/**
 * `tlsboot signer serve`: the remote signer, on the machine that keeps the CA key. It signs only
 * for a live grant, presented as a client certificate from its own transport CA over mutual TLS,
 * and re-applies the signer policy to the CSR itself: subject, SANs, usages and lifetime are its
 * rules, not the cluster's. It records every grant and signature in its own audit log. Grants are
 * issued and revoked through a Unix socket in the state directory, so only the local operator can.
 *
 * State directory: transport-ca.{crt,key}, grants.json, audit.log, admin.sock.
 */
import { createHash, type KeyObject, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import {
  type ReservedSource,
  reservedIdentities,
  reservedSanProblems,
  SIGNER_CONTROL_PLANE_SERVING,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  signerPolicyProblem,
  x509Usages,
} from '../api/index.ts';
import { reservedServingNameProblem } from '../api/serving-policy.ts';
import { assertShape, type Check, fields, hasShape, integer, listOf, optional, string } from '../api/shape.ts';
import { STATUS_TABLE } from '../api/status.ts';
import { BadRequestError, ForbiddenError, InternalError, InvalidError, isTlsbootError, NotFoundError } from '../base/errors.ts';
import { ensureDirectory, writeFilesAtomically } from '../base/fs.ts';
import { isObject } from '../base/json.ts';
import { authenticationFailures, ExpiryMetrics, GrantMetrics, issuedCertificates, MetricsRegistry } from '../base/metrics.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';
import { issueLeaf, issueSelfSignedCa } from '../kubeadm/control-plane-certs.ts';
import { isIp } from '../kubeadm/layout.ts';
import { KEY_MODE, readIfPresent } from '../kubeadm/pki-files.ts';
import { type Certificate, keyMatchesSpki, parseCertificatePem, parseCsr, parsePrivateKeyPem, privateKeyToPem } from '../pki/index.ts';
import { type AuditRotation, FileAuditLog } from '../signer/audit.ts';
import { formatGrantCredential, parseRemoteCrlBody, type RemoteSignBody } from '../signer/remote-protocol.ts';
import { LocalSigner } from '../signer/signer.ts';

export const REMOTE_SIGNERS = [SIGNER_KUBE_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING, SIGNER_CONTROL_PLANE_SERVING];
const MAX_GRANT_TTL_MS = 24 * 3_600_000;
const GRANT_RETENTION_MS = 7 * 24 * 3_600_000;
/** Signer names a grant covers when the operator names none: node certificates only. */
/** A CRL request's bounds: its body (a shard of 100k revocations is well under it), its lifetime, its clock. */
const MAX_CRL_REQUEST_BYTES = 8 * 1024 * 1024;
const MAX_CRL_VALIDITY_MS = 10 * 86_400_000;
const CRL_CLOCK_SKEW_MS = 10 * 60_000;

export const DEFAULT_GRANT_SIGNERS = [SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING];
const MAX_ISSUED_REMEMBERED = 100_000;
const TRANSPORT_CA_VALIDITY_MS = 10 * 365 * 24 * 3_600_000;

export interface GrantRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly expiresAt: string;
  readonly maxCertificates?: number;
  readonly signerNames?: readonly string[];
  readonly signed: number;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  /** SHA-256 of the grant's client certificate: only that exact certificate speaks for the grant. */
  readonly clientCertificateSha256: string;
}

export interface RemoteSignerOptions {
  readonly caCertificate: Certificate;
  readonly caKey: KeyObject;
  readonly stateDir: string;
  readonly host: string;
  readonly port: number;
  /** Extra names and addresses for the serving certificate (the address the cluster dials). */
  readonly sans: readonly string[];
  /** DNS names and IPs never certified for a node (the API server's service IP, its load balancer name...). */
  readonly deniedSans: readonly string[];
  /** The cluster's own identities, when its public server certificates are at hand (`--reserved-from`). */
  readonly reserved?: readonly ReservedSource[];
  readonly maxTtlMs: number;
  readonly now: () => Date;
  /** When the audit log rotates and how many rotated files it keeps (defaults when absent). */
  readonly auditRotation?: AuditRotation;
  readonly randomBytes: (size: number) => Uint8Array;
  /**
   * The bearer token a scraper presents for `/metrics` (`--metrics-token-file`): the signer's
   * peers hold grants, not accounts, so its metrics have a credential of their own. Without one,
   * `/metrics` is not served.
   */
  readonly metricsToken?: string;
}

export interface RemoteSignerServer {
  readonly url: string;
  readonly adminSocket: string;
  /** What `/metrics` serves. */
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

/** Metrics without a token configured are not served; a wrong or missing one is 401. */
const METRICS_PATH = '/metrics';

function sha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (isTlsbootError(error)) {
    return reply.code(STATUS_TABLE[error.code].http).send({ code: error.code, reason: error.reason, message: error.message });
  }
  return reply.code(500).send({ code: 'INTERNAL', reason: 'INTERNAL', message: 'internal error' });
}

const GRANT_RECORD: Check = fields({
  id: string,
  createdAt: string,
  createdBy: string,
  expiresAt: string,
  maxCertificates: optional(integer),
  signerNames: optional(listOf(string)),
  signed: integer,
  revokedAt: optional(string),
  revokedBy: optional(string),
  clientCertificateSha256: string,
});

class GrantBook {
  private grants: GrantRecord[];
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    const text = readIfPresent(path);
    const parsed: unknown = text ? JSON.parse(text.toString('utf8')) : { grants: [] };
    if (!isObject(parsed) || !Array.isArray(parsed.grants))
      throw new InvalidError('GRANTS_FORMAT', `${path} is not a grants file`, { field: path });
    const grants = parsed.grants;
    try {
      assertShape<GrantRecord[]>(listOf(GRANT_RECORD), grants, 'grants');
    } catch (error) {
      // A grant missing its certificate hash or count must not be trusted as it stands.
      if (!(error instanceof InvalidError)) throw error;
      throw new InvalidError('GRANTS_FORMAT', `${path}: ${error.message}`, { field: path, cause: error });
    }
    this.grants = grants;
  }

  all(): readonly GrantRecord[] {
    return this.grants;
  }

  get(id: string): GrantRecord | undefined {
    return this.grants.find((g) => g.id === id);
  }

  /** Every change is written whole before it takes effect, so a crash never forgets a signature's count or a revocation. */
  put(record: GrantRecord, now: Date): void {
    // Grants over for a week are dropped, so this file (rewritten on every signature) stays small;
    // the audit log keeps their history.
    const over = (g: GrantRecord) => rfc3339Millis(g.revokedAt ?? g.expiresAt) < now.getTime() - GRANT_RETENTION_MS;
    const next = [...this.grants.filter((g) => g.id !== record.id && !over(g)), record];
    writeFilesAtomically([{ path: this.path, content: `${JSON.stringify({ grants: next }, null, 2)}\n`, mode: KEY_MODE }]);
    this.grants = next;
  }
}

interface IssuedEntry {
  readonly csrUid: string;
  readonly csrSha256: string;
  readonly signerName: string;
  readonly certificate: string;
}

const ISSUED_ENTRY: Check = fields({ csrUid: string, csrSha256: string, signerName: string, certificate: string });

/**
 * What this signer issued, appended and fsynced before the certificate leaves (the signer's own
 * inventory), and the lookup that returns the same certificate to a retried CSR, under any live
 * grant that covers its signer, instead of minting and counting a second one.
 */
class IssuedLog {
  private readonly byUid = new Map<string, IssuedEntry>();
  private readonly fd: number;

  constructor(path: string) {
    const text = readIfPresent(path)?.toString('utf8') ?? '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const e: unknown = JSON.parse(line);
        if (hasShape<IssuedEntry>(ISSUED_ENTRY, e)) this.remember(e);
      } catch {
        // A torn last line from a crash mid-append: that certificate was never sent. (An entry of
        // another shape is skipped above for the same reason: it cannot answer a retried CSR.)
      }
    }
    this.fd = openSync(path, 'a', KEY_MODE);
  }

  private remember(e: IssuedEntry): void {
    this.byUid.delete(e.csrUid);
    this.byUid.set(e.csrUid, e);
    if (this.byUid.size > MAX_ISSUED_REMEMBERED) this.byUid.delete(this.byUid.keys().next().value as string);
  }

  /** The certificate already issued for exactly this CSR (same uid and bytes) and signer. */
  find(csrUid: string, csrSha256: string, signerName: string): string | undefined {
    const e = this.byUid.get(csrUid);
    return e && e.csrSha256 === csrSha256 && e.signerName === signerName ? e.certificate : undefined;
  }

  append(entry: IssuedEntry & { readonly grant: string; readonly serial: string; readonly notAfter: string }): void {
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.remember(entry);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function loadOrCreateTransportCa(
  stateDir: string,
  now: Date,
  randomBytes: (n: number) => Uint8Array,
): { certificate: Certificate; pem: string; key: KeyObject } {
  const crtPath = join(stateDir, 'transport-ca.crt');
  const keyPath = join(stateDir, 'transport-ca.key');
  const crt = readIfPresent(crtPath);
  const key = readIfPresent(keyPath);
  if (crt && key) {
    const certificate = parseCertificatePem(crt, crtPath);
    const k = parsePrivateKeyPem(key, keyPath);
    if (!keyMatchesSpki(k, certificate.spki))
      throw new InvalidError('PKI_KEY_MISMATCH', `${crtPath} does not match ${keyPath}`, { field: keyPath });
    return { certificate, pem: crt.toString('utf8'), key: k };
  }
  const ca = issueSelfSignedCa({
    commonName: 'tlsboot-signer-transport-ca',
    dnsSans: [],
    keyAlgorithm: 'ecdsa-p256',
    validityMs: TRANSPORT_CA_VALIDITY_MS,
    env: { now, randomBytes },
  });
  writeFilesAtomically([
    { path: crtPath, content: ca.certificatePem, mode: 0o644 },
    { path: keyPath, content: ca.keyPem, mode: KEY_MODE },
  ]);
  return { certificate: ca.certificate, pem: ca.certificatePem, key: ca.key };
}

function parseSignBody(body: unknown): RemoteSignBody {
  const bad = (f: string) => new BadRequestError('SIGN_BODY', `sign request: ${f} is missing or malformed`, { field: f });
  if (!isObject(body)) throw bad('body');
  const text = (k: string): string => {
    const v = body[k];
    if (typeof v !== 'string') throw bad(k);
    return v;
  };
  const signerName = text('signerName');
  const csr = text('csr');
  const csrName = text('csrName');
  const csrUid = text('csrUid');
  const requester = text('requester');
  const usages = body.usages;
  if (!Array.isArray(usages) || !usages.every((u): u is string => typeof u === 'string')) throw bad('usages');
  const e = body.expirationSeconds;
  if (e !== undefined && !(typeof e === 'number' && Number.isInteger(e) && e > 0)) throw bad('expirationSeconds');
  return { signerName, csr, usages, ...(e === undefined ? {} : { expirationSeconds: e }), csrName, csrUid, requester };
}

export async function startRemoteSigner(o: RemoteSignerOptions): Promise<RemoteSignerServer> {
  ensureDirectory(o.stateDir, 0o700);
  // The admin socket's only protection is this directory's mode.
  if ((statSync(o.stateDir).mode & 0o077) !== 0)
    throw new InvalidError('STATE_DIR_MODE', `${o.stateDir} must be accessible to its owner only (chmod 700)`, { field: o.stateDir });
  const transport = loadOrCreateTransportCa(o.stateDir, o.now(), o.randomBytes);
  const grants = new GrantBook(join(o.stateDir, 'grants.json'));
  const audit = new FileAuditLog(join(o.stateDir, 'audit.log'), o.now, o.auditRotation);
  const signer = new LocalSigner({ caCertificate: o.caCertificate, caKey: o.caKey, randomBytes: o.randomBytes, maxTtlMs: o.maxTtlMs });
  const issued = new IssuedLog(join(o.stateDir, 'issued.jsonl'));
  const reserved = reservedIdentities([
    { source: 'signer --deny-san list', dns: o.deniedSans.filter((n) => !isIp(n)), ip: o.deniedSans.filter(isIp) },
    ...(o.reserved ?? []),
  ]);

  const names = [...new Set([o.host, ...o.sans].filter((h) => h !== '0.0.0.0' && h !== '::'))];
  const serving = issueLeaf(
    {
      subject: [{ type: 'CN', value: 'tlsboot-signer' }],
      sans: { dns: names.filter((n) => !isIp(n)), ip: names.filter(isIp), email: [], uri: [] },
      extKeyUsage: ['serverAuth'],
      keyAlgorithm: 'ecdsa-p256',
      validityMs: TRANSPORT_CA_VALIDITY_MS,
    },
    transport,
    { now: o.now(), randomBytes: o.randomBytes },
  );

  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Client certificates are verified against the transport CA, but an unverified one is refused
    // in the handler rather than in the handshake, so the cluster learns why (a clear 403).
    https: { key: serving.keyPem, cert: serving.certificatePem, ca: transport.pem, requestCert: true, rejectUnauthorized: false },
  });

  const metrics = new MetricsRegistry();
  const issuedCount = issuedCertificates(metrics);
  const authnFailures = authenticationFailures(metrics);
  const nowMs = () => o.now().getTime();
  new GrantMetrics(
    metrics,
    () =>
      grants.all().map((g) => {
        const expiresAt = new Date(g.expiresAt);
        const left = g.maxCertificates === undefined ? undefined : Math.max(0, g.maxCertificates - g.signed);
        const open = g.revokedAt === undefined && expiresAt.getTime() > nowMs() && left !== 0;
        return { id: g.id, open, expiresAt, ...(left === undefined ? {} : { certificatesLeft: left }) };
      }),
    nowMs,
  );
  new ExpiryMetrics(metrics, () => [
    { certificate: 'ca', notAfter: o.caCertificate.notAfter },
    { certificate: 'transport-ca', notAfter: transport.certificate.notAfter },
    { certificate: 'signer-serving', notAfter: serving.certificate.notAfter },
  ]);
  const metricsTokenHash = o.metricsToken === undefined ? undefined : createHash('sha256').update(o.metricsToken).digest();
  const metricsAllowed = (authorization: string | undefined): boolean => {
    if (metricsTokenHash === undefined) return false;
    const presented = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    return presented !== undefined && timingSafeEqual(createHash('sha256').update(presented).digest(), metricsTokenHash);
  };

  // A peer without a certificate from the transport CA gets nothing: no body parsing, no log line.
  // `/metrics` has its own credential (a scraper holds no grant) and is checked in its handler.
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.split('?')[0] === METRICS_PATH) return;
    if (!(req.raw.socket as TLSSocket).authorized) {
      authnFailures.inc({ method: 'grant_certificate' });
      return reply
        .code(403)
        .send({ code: 'FORBIDDEN', reason: 'GRANT_UNKNOWN', message: 'the grant certificate was not issued by this signer' });
    }
  });

  app.get(METRICS_PATH, async (req, reply) => {
    if (metricsTokenHash === undefined)
      return reply
        .code(404)
        .send({ code: 'NOT_FOUND', reason: 'METRICS_OFF', message: 'start the signer with --metrics-token-file to serve /metrics' });
    if (!metricsAllowed(req.headers.authorization)) {
      authnFailures.inc({ method: 'metrics_token' });
      return reply.code(401).send({ code: 'UNAUTHENTICATED', reason: 'METRICS_TOKEN', message: 'Unauthorized' });
    }
    return reply.type(metrics.contentType).send(await metrics.text());
  });

  const liveGrant = (socket: TLSSocket, signerName: string | undefined, checkBudget = true): GrantRecord => {
    const peer = socket.getPeerCertificate();
    const cn = typeof peer.subject?.CN === 'string' ? peer.subject.CN : '';
    const id = cn.startsWith('grant:') ? cn.slice('grant:'.length) : '';
    const grant = grants.get(id);
    const refuse = (reason: string, message: string) => {
      // Only names this signer knows are echoed into the log: the body is the caller's text.
      const signer = signerName !== undefined && REMOTE_SIGNERS.includes(signerName) ? signerName : undefined;
      audit.record({ event: 'grant.refused', actor: `grant:${id}`, grant: id, reason, ...(signer ? { signer } : {}) });
      return new ForbiddenError(reason, message);
    };
    if (!socket.authorized || !grant || !peer.raw || sha256(peer.raw) !== grant.clientCertificateSha256) {
      authnFailures.inc({ method: 'grant_certificate' });
      throw refuse('GRANT_UNKNOWN', 'the grant certificate was not issued by this signer');
    }
    if (grant.revokedAt) throw refuse('GRANT_REVOKED', `grant ${id} was revoked at ${grant.revokedAt}`);
    if (o.now() >= new Date(grant.expiresAt)) throw refuse('GRANT_EXPIRED', `grant ${id} expired at ${grant.expiresAt}`);
    if (signerName !== undefined && grant.signerNames !== undefined && !grant.signerNames.includes(signerName))
      throw refuse('GRANT_SIGNER', `grant ${id} does not cover ${signerName}`);
    if (checkBudget && signerName !== undefined && grant.maxCertificates !== undefined && grant.signed >= grant.maxCertificates)
      throw refuse('GRANT_EXHAUSTED', `grant ${id} has used its ${grant.maxCertificates} certificates`);
    return grant;
  };

  app.get('/v1/grant', async (req, reply) => {
    try {
      const g = liveGrant(req.raw.socket as TLSSocket, undefined);
      return reply.send({
        id: g.id,
        expiresAt: g.expiresAt,
        signed: g.signed,
        maxCertificates: g.maxCertificates,
        signerNames: g.signerNames,
      });
    } catch (error) {
      return sendError(reply, error);
    }
  });

  // A CRL restates revocations the cluster decided (its audit log holds them), so any live grant
  // may have one signed, without using its certificate budget or needing a signer name; the
  // window is bounded so that a stolen grant cannot mint CRLs for a far future.
  app.post('/v1/crl', { bodyLimit: MAX_CRL_REQUEST_BYTES }, async (req, reply) => {
    try {
      const grant = liveGrant(req.raw.socket as TLSSocket, undefined, false);
      const content = parseRemoteCrlBody(req.body);
      const now = o.now().getTime();
      const span = content.nextUpdate.getTime() - content.thisUpdate.getTime();
      if (Math.abs(content.thisUpdate.getTime() - now) > CRL_CLOCK_SKEW_MS)
        throw new InvalidError('CRL_REQUEST', `thisUpdate ${content.thisUpdate.toISOString()} is not now on this signer's clock`, {
          field: 'thisUpdate',
        });
      if (span <= 0 || span > MAX_CRL_VALIDITY_MS)
        throw new InvalidError('CRL_REQUEST', `nextUpdate must come after thisUpdate, within ${MAX_CRL_VALIDITY_MS / 86_400_000} days`, {
          field: 'nextUpdate',
        });
      const crl = await signer.signCrl(content);
      audit.record({
        event: 'crl.signed',
        actor: `grant:${grant.id}`,
        grant: grant.id,
        crlNumber: content.crlNumber.toString(),
        entries: content.entries.length,
        ...(content.distributionPoint === undefined ? {} : { distributionPoint: content.distributionPoint }),
      });
      return reply.send({ crl: Buffer.from(crl).toString('base64') });
    } catch (error) {
      return sendError(reply, error);
    }
  });

  app.post('/v1/sign', async (req, reply) => {
    try {
      const body = parseSignBody(req.body);
      const socket = req.raw.socket as TLSSocket;
      const csrSha256 = createHash('sha256').update(body.csr).digest('hex');
      // A retry is answered before the budget: the last certificate of a grant whose answer was
      // lost must still reach the cluster, and it is not a second signature.
      const again = issued.find(body.csrUid, csrSha256, body.signerName);
      if (again !== undefined && liveGrant(socket, body.signerName, false)) return reply.send({ certificate: again });
      const grant = liveGrant(socket, body.signerName);
      const refuse = (reason: string, message: string) => {
        audit.record({
          event: 'certificate.refused',
          actor: body.requester,
          grant: grant.id,
          csr: body.csrName,
          signer: body.signerName,
          reason,
        });
        return new InvalidError(reason, message);
      };
      if (!REMOTE_SIGNERS.includes(body.signerName)) throw refuse('SIGNER_UNKNOWN', `this signer does not sign for ${body.signerName}`);
      let csr: ReturnType<typeof parseCsr>;
      try {
        csr = parseCsr(Buffer.from(body.csr, 'base64'));
      } catch (error) {
        throw refuse('CSR_INVALID', `the CSR is not valid: ${isTlsbootError(error) ? error.message : 'unreadable'}`);
      }
      const problem = signerPolicyProblem(body.signerName, csr, body.usages);
      if (problem !== undefined) throw refuse('SIGNER_POLICY', problem);
      // A control-plane serving certificate names the cluster's own identities by design; its
      // signer needs a grant that names it, which the default grant does not.
      if (body.signerName !== SIGNER_CONTROL_PLANE_SERVING) {
        const wildcard = csr.sans.dns.find((d) => reservedServingNameProblem(d) !== undefined);
        if (wildcard !== undefined) throw refuse('SIGNER_POLICY', `this signer does not certify ${wildcard} for a node`);
        const denied = reservedSanProblems(reserved, csr.sans);
        if (denied.length > 0) throw refuse('SIGNER_POLICY', `this signer does not certify these for a node: ${denied.join('; ')}`);
      }
      const { keyUsage, extKeyUsage } = x509Usages(body.usages);
      // Counted before signing: a crash after the count costs the grant one certificate, never gives one away.
      grants.put({ ...grant, signed: grant.signed + 1 }, o.now());
      const signed = await signer.sign(
        {
          signerName: body.signerName,
          subject: csr.subject.attributes,
          publicKey: csr.spki,
          sans: csr.sans,
          keyUsage,
          extKeyUsage,
          ...(body.expirationSeconds === undefined ? {} : { requestedTtlMs: body.expirationSeconds * 1000 }),
          csrDer: csr.der,
          usages: body.usages,
          csrName: body.csrName,
          csrUid: body.csrUid,
          requester: body.requester,
        },
        o.now(),
      );
      issued.append({
        csrUid: body.csrUid,
        csrSha256,
        signerName: body.signerName,
        certificate: signed.pem,
        grant: grant.id,
        serial: signed.certificate.serialNumber,
        notAfter: signed.certificate.notAfter.toISOString(),
      });
      audit.record({
        event: 'certificate.signed',
        actor: body.requester,
        grant: grant.id,
        csr: body.csrName,
        signer: body.signerName,
        serial: signed.certificate.serialNumber,
        notAfter: signed.certificate.notAfter.toISOString(),
      });
      issuedCount.inc({ signer: body.signerName });
      return reply.send({ certificate: signed.pem });
    } catch (error) {
      return sendError(reply, error);
    }
  });

  const admin: FastifyInstance = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  admin.post('/v1/grants', async (req, reply) => {
    try {
      const body = isObject(req.body) ? req.body : {};
      const ttl = body.ttlSeconds;
      if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 60 || ttl * 1000 > MAX_GRANT_TTL_MS)
        throw new InvalidError('GRANT_TTL', 'the grant TTL must be between 1m and 24h', { field: 'ttl' });
      const max = body.maxCertificates;
      if (max !== undefined && !(typeof max === 'number' && Number.isInteger(max) && max > 0))
        throw new InvalidError('GRANT_MAX', 'max-certificates must be a positive integer', { field: 'max-certificates' });
      const signerNames = body.signerNames;
      if (
        signerNames !== undefined &&
        !(
          Array.isArray(signerNames) &&
          signerNames.length > 0 &&
          signerNames.every((n) => typeof n === 'string' && REMOTE_SIGNERS.includes(n))
        )
      )
        throw new InvalidError('GRANT_SIGNERS', `signers must be some of ${REMOTE_SIGNERS.join(', ')}`, { field: 'signers' });
      const covered = (signerNames as string[] | undefined) ?? DEFAULT_GRANT_SIGNERS;
      const actor = typeof body.actor === 'string' && body.actor !== '' ? body.actor : 'operator';
      const now = o.now();
      const id = Buffer.from(o.randomBytes(16)).toString('hex');
      const expiresAt = new Date(now.getTime() + ttl * 1000);
      const client = issueLeaf(
        {
          subject: [{ type: 'CN', value: `grant:${id}` }],
          sans: { dns: [], ip: [], email: [], uri: [] },
          extKeyUsage: ['clientAuth'],
          keyAlgorithm: 'ecdsa-p256',
          validityMs: ttl * 1000,
        },
        transport,
        { now, randomBytes: o.randomBytes },
      );
      grants.put(
        {
          id,
          createdAt: now.toISOString(),
          createdBy: actor,
          expiresAt: expiresAt.toISOString(),
          ...(max === undefined ? {} : { maxCertificates: max as number }),
          signerNames: covered,
          signed: 0,
          clientCertificateSha256: sha256(client.certificate.der),
        },
        now,
      );
      audit.record({
        event: 'grant.issued',
        actor,
        grant: id,
        expiresAt: expiresAt.toISOString(),
        ...(max === undefined ? {} : { maxCertificates: max as number }),
        signers: covered,
      });
      const credential = formatGrantCredential({
        id,
        server: url,
        expiresAt,
        maxCertificates: max as number | undefined,
        signerNames: covered,
        certificateAuthority: transport.pem,
        clientCertificate: client.certificatePem,
        clientKey: privateKeyToPem(client.key),
      });
      return reply.code(201).send({ id, expiresAt: expiresAt.toISOString(), credential });
    } catch (error) {
      return sendError(reply, error);
    }
  });
  admin.get('/v1/grants', async (_req, reply) => reply.send({ grants: grants.all() }));
  admin.delete<{ Params: { id: string } }>('/v1/grants/:id', async (req, reply) => {
    try {
      const g = grants.get(req.params.id);
      if (!g) throw new NotFoundError('GRANT_UNKNOWN', `grant ${req.params.id} not found`);
      const actor = typeof req.headers['x-tlsboot-actor'] === 'string' ? req.headers['x-tlsboot-actor'] : 'operator';
      if (!g.revokedAt) {
        grants.put({ ...g, revokedAt: o.now().toISOString(), revokedBy: actor }, o.now());
        audit.record({ event: 'grant.revoked', actor, grant: g.id });
      }
      return reply.send(grants.get(g.id));
    } catch (error) {
      return sendError(reply, error);
    }
  });

  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new InternalError('LISTEN', 'signer has no address');
  const dialHost = names.find(isIp) ?? names[0] ?? '127.0.0.1';
  const url = `https://${dialHost.includes(':') ? `[${dialHost}]` : dialHost}:${addr.port}`;
  const adminSocket = join(o.stateDir, 'admin.sock');
  rmSync(adminSocket, { force: true });
  await admin.listen({ path: adminSocket });
  return {
    url,
    adminSocket,
    metrics,
    async close() {
      await admin.close();
      await app.close();
      rmSync(adminSocket, { force: true });
      await signer.close();
      issued.close();
      audit.close();
      metrics.close();
    },
  };
}
