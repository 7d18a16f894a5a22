/**
 * Prometheus metrics: every metric name, label set and bucket layout tlsboot exposes, in one
 * place (README's table lists them). Each process object (an API server, a remote signer, an
 * agent) owns its own `MetricsRegistry`, never prom-client's global default, so that servers
 * started in one test process count apart; `close()` drops what it registered. Gauges that
 * describe state (pending CSRs, sessions, certificate expiry) are computed at scrape time from a
 * source the owner sets, so the hot paths only ever bump counters and observe histograms.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The one registry of a process object and its Prometheus text rendering. */
export class MetricsRegistry {
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.registry.clear();
  }
}

/** Seconds between two instants, for histograms; never negative (a clock step backwards reads 0). */
export function secondsBetween(fromMs: number, toMs: number): number {
  return Math.max(0, (toMs - fromMs) / 1000);
}

/**
 * Certificates issued, by signer name: on a server when the certificate lands in the CSR's
 * status, on a remote signer when it signs.
 */
export function issuedCertificates(m: MetricsRegistry): Counter<'signer'> {
  return new Counter({
    name: 'tlsboot_certificates_issued_total',
    help: 'Certificates issued, by signer name (a server counts those written into a CSR status, a remote signer those it signed).',
    labelNames: ['signer'],
    registers: [m.registry],
  });
}

/** Credentials that did not authenticate, by method. */
export function authenticationFailures(m: MetricsRegistry): Counter<'method'> {
  return new Counter({
    name: 'tlsboot_authentication_failures_total',
    help: 'Requests whose credentials did not authenticate, by method.',
    labelNames: ['method'],
    registers: [m.registry],
  });
}

/** One served CRL shard, as the CRL gauges see it. */
export interface ServedCrl {
  readonly shard: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

/**
 * Revocations this server stored, by reason, and the CRL shards it serves: how old each is and
 * when it says the next comes (an alert on nextUpdate - time() catches a sealed CA whose
 * sessions stopped before any relying party fails closed).
 */
export class RevocationMetrics {
  private readonly revokedTotal: Counter<'reason'>;

  constructor(m: MetricsRegistry, crls: () => readonly ServedCrl[], now: () => number) {
    const registers = [m.registry];
    this.revokedTotal = new Counter({
      name: 'tlsboot_certificates_revoked_total',
      help: 'Certificate revocations this server stored, by reason.',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'tlsboot_crl_age_seconds',
      help: 'Seconds since the served CRL of a shard was signed (its thisUpdate), by shard (absent before one is signed).',
      labelNames: ['shard'],
      registers,
      collect() {
        this.reset();
        for (const c of crls()) this.set({ shard: String(c.shard) }, secondsBetween(c.thisUpdate.getTime(), now()));
      },
    });
    new Gauge({
      name: 'tlsboot_crl_next_update_timestamp_seconds',
      help: 'The nextUpdate of the served CRL of a shard, in unix seconds, by shard (absent before one is signed).',
      labelNames: ['shard'],
      registers,
      collect() {
        this.reset();
        for (const c of crls()) this.set({ shard: String(c.shard) }, Math.floor(c.nextUpdate.getTime() / 1000));
      },
    });
  }

  revoked(reason: string): void {
    this.revokedTotal.inc({ reason });
  }
}

/** A CSR that is neither decided nor issued, as the pending gauges see it. */
export interface PendingCsr {
  readonly signer: string;
  readonly createdMs: number;
}

/** Age bands of tlsboot_csr_pending, upper bound in seconds (the last band is open-ended). */
export const PENDING_AGE_BANDS: readonly { readonly label: string; readonly below: number }[] = [
  { label: 'under_1m', below: 60 },
  { label: '1m_to_1h', below: 3600 },
  { label: '1h_to_1d', below: 86_400 },
  { label: 'over_1d', below: Number.POSITIVE_INFINITY },
];

/**
 * From CSR creation to its certificate: milliseconds with a local CA, up to hours when a sealed or
 * remote CA waits for a signing session, or a person's approval.
 */
const ISSUANCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400];

/**
 * The CSR lifecycle as the controllers see it: decisions, issued certificates, and (computed
 * at scrape from the controllers' informer cache) what is still pending.
 */
export class CsrMetrics {
  readonly issued: Counter<'signer'>;
  readonly issuanceSeconds: Histogram<'signer'>;
  readonly approvals: Counter<'controller' | 'reason'>;
  readonly denials: Counter<'controller' | 'reason'>;
  /** Where the pending gauges read from; nothing pending is reported while it is unset (no controllers, or not the leader). */
  pendingSource: (() => Iterable<PendingCsr>) | undefined;

  constructor(m: MetricsRegistry, now: () => number) {
    const registers = [m.registry];
    this.issued = issuedCertificates(m);
    this.issuanceSeconds = new Histogram({
      name: 'tlsboot_csr_issuance_duration_seconds',
      help: 'Seconds from a CSR creation to its certificate, by signer name.',
      labelNames: ['signer'],
      buckets: ISSUANCE_BUCKETS,
      registers,
    });
    this.approvals = new Counter({
      name: 'tlsboot_csr_approvals_total',
      help: 'CSRs approved by a controller, by controller and condition reason.',
      labelNames: ['controller', 'reason'],
      registers,
    });
    this.denials = new Counter({
      name: 'tlsboot_csr_denials_total',
      help: 'CSRs denied by a controller, by controller and condition reason.',
      labelNames: ['controller', 'reason'],
      registers,
    });
    const pending = (): PendingCsr[] => [...(this.pendingSource?.() ?? [])];
    new Gauge({
      name: 'tlsboot_csr_pending',
      help: 'CSRs neither decided nor issued, by signer name and age band.',
      labelNames: ['signer', 'age'],
      registers,
      collect() {
        this.reset();
        const t = now();
        for (const csr of pending()) {
          const age = secondsBetween(csr.createdMs, t);
          const band = PENDING_AGE_BANDS.find((b) => age < b.below) ?? PENDING_AGE_BANDS[PENDING_AGE_BANDS.length - 1];
          if (band) this.inc({ signer: csr.signer, age: band.label });
        }
      },
    });
    new Gauge({
      name: 'tlsboot_csr_pending_oldest_age_seconds',
      help: 'Age of the oldest CSR neither decided nor issued, by signer name.',
      labelNames: ['signer'],
      registers,
      collect() {
        this.reset();
        const t = now();
        const oldest = new Map<string, number>();
        for (const csr of pending()) oldest.set(csr.signer, Math.min(oldest.get(csr.signer) ?? t, csr.createdMs));
        for (const [signer, created] of oldest) this.set({ signer }, secondsBetween(created, t));
      },
    });
  }
}

/** Like kube-apiserver's apiserver_request_duration_seconds buckets. */
const REQUEST_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

export type RequestLabels = 'verb' | 'group' | 'resource' | 'subresource' | 'code';
export type AuthnMethod = 'x509' | 'token' | 'grant_certificate' | 'metrics_token';

/**
 * API requests as kube-apiserver counts them (apiserver_request_total and
 * apiserver_request_duration_seconds; watches count, but their duration is the watch's life and is
 * left out, as there), failed authentications, and open watches (computed at scrape).
 */
export class ApiMetrics {
  readonly requests: Counter<RequestLabels>;
  readonly requestSeconds: Histogram<Exclude<RequestLabels, 'code'>>;
  readonly authnFailures: Counter<'method'>;
  /** Where the open-watches gauge reads from. */
  watchSource: (() => number) | undefined;

  constructor(m: MetricsRegistry) {
    const registers = [m.registry];
    this.requests = new Counter({
      name: 'tlsboot_apiserver_request_total',
      help: 'API requests answered, by verb, API group, resource, subresource and HTTP code.',
      labelNames: ['verb', 'group', 'resource', 'subresource', 'code'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'tlsboot_apiserver_request_duration_seconds',
      help: 'API request latency in seconds (watches excluded), by verb, API group, resource and subresource.',
      labelNames: ['verb', 'group', 'resource', 'subresource'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.authnFailures = authenticationFailures(m);
    const watches = () => this.watchSource?.() ?? 0;
    new Gauge({
      name: 'tlsboot_apiserver_open_watches',
      help: 'Watch requests being served now.',
      registers,
      collect() {
        this.set(watches());
      },
    });
  }
}

/** Durable writes take from a millisecond (SQLite) to a commit round of etcd members. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type StoreWrite = 'create' | 'update' | 'delete' | 'txn';

export class StoreMetrics {
  readonly writeSeconds: Histogram<'operation'>;

  constructor(m: MetricsRegistry) {
    this.writeSeconds = new Histogram({
      name: 'tlsboot_store_write_duration_seconds',
      help: 'Store write latency in seconds (successful or not), by operation.',
      labelNames: ['operation'],
      buckets: STORE_BUCKETS,
      registers: [m.registry],
    });
  }
}

/** A signing session (sealed or remote CA) or a remote signer's grant, as the budget gauges see it. */
export interface SessionView {
  readonly open: boolean;
  readonly expiresAt?: Date;
  /** Certificates it may still sign; undefined when it has no count limit. */
  readonly certificatesLeft?: number;
}

/**
 * The sealed or remote CA's signing session: open or not, and the budget left (time and
 * certificates), computed at scrape.
 */
export class SessionMetrics {
  constructor(m: MetricsRegistry, mode: string, source: () => SessionView, now: () => number) {
    const registers = [m.registry];
    new Gauge({
      name: 'tlsboot_signing_session_open',
      help: 'Whether a signing session is open (1) or not (0), by CA mode.',
      labelNames: ['mode'],
      registers,
      collect() {
        this.set({ mode }, source().open ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tlsboot_signing_session_remaining_seconds',
      help: 'Seconds until the open signing session expires, by CA mode (absent when none is open).',
      // Labelled so that it can be absent: prom-client prints an unlabelled gauge as 0 after a reset.
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        const s = source();
        if (s.open && s.expiresAt) this.set({ mode }, secondsBetween(now(), s.expiresAt.getTime()));
      },
    });
    new Gauge({
      name: 'tlsboot_signing_session_remaining_certificates',
      help: 'Certificates the open signing session may still sign, by CA mode (absent when none is open or it has no count limit).',
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        const s = source();
        if (s.open && s.certificatesLeft !== undefined) this.set({ mode }, s.certificatesLeft);
      },
    });
  }
}

/** A remote signer's grant, for its budget gauges. */
export interface GrantView extends SessionView {
  readonly id: string;
}

/** The remote signer's live grants (its sessions): how many, and each one's budget. */
export class GrantMetrics {
  constructor(m: MetricsRegistry, source: () => readonly GrantView[], now: () => number) {
    const registers = [m.registry];
    new Gauge({
      name: 'tlsboot_signer_live_grants',
      help: 'Grants that can sign now (not expired, revoked or used up).',
      registers,
      collect() {
        this.set(source().filter((g) => g.open).length);
      },
    });
    new Gauge({
      name: 'tlsboot_signer_grant_remaining_seconds',
      help: 'Seconds until a live grant expires, by grant id.',
      labelNames: ['grant'],
      registers,
      collect() {
        this.reset();
        for (const g of source()) if (g.open && g.expiresAt) this.set({ grant: g.id }, secondsBetween(now(), g.expiresAt.getTime()));
      },
    });
    new Gauge({
      name: 'tlsboot_signer_grant_remaining_certificates',
      help: 'Certificates a live grant may still sign, by grant id (absent for grants without a count limit).',
      labelNames: ['grant'],
      registers,
      collect() {
        this.reset();
        for (const g of source()) if (g.open && g.certificatesLeft !== undefined) this.set({ grant: g.id }, g.certificatesLeft);
      },
    });
  }
}

/** One certificate whose expiry is watched. */
export interface CertificateExpiry {
  /** Its name: the kubeadm base name on a server (apiserver, ca, ...), kubelet-client or kubelet-server on a node. */
  readonly certificate: string;
  readonly notAfter: Date;
}

/**
 * The expiry (unix seconds) of the certificates this process depends on, read at scrape: an
 * operator renewing one on disk sees the new date at the next scrape.
 */
export class ExpiryMetrics {
  constructor(m: MetricsRegistry, source: () => readonly CertificateExpiry[], extraLabels: Readonly<Record<string, string>> = {}) {
    const extra = Object.keys(extraLabels);
    new Gauge({
      name: 'tlsboot_certificate_expiry_timestamp_seconds',
      help: 'When a certificate this process serves or uses expires (notAfter), in unix seconds, by certificate name.',
      labelNames: ['certificate', ...extra],
      registers: [m.registry],
      collect() {
        this.reset();
        for (const c of source()) this.set({ ...extraLabels, certificate: c.certificate }, Math.floor(c.notAfter.getTime() / 1000));
      },
    });
  }
}
