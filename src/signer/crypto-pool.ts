/**
 * The crypto worker pool: CSR parsing with signature verification, and certificate issuance under
 * the local CA, on worker threads so that the main thread serves requests meanwhile. Sized to the
 * cores (one fewer than available, at least one), started on first use, batched per event-loop
 * turn, crash-safe (a worker that dies is replaced and its jobs run once more, then fail with
 * UNAVAILABLE), and closable. The synchronous functions it runs stay the path for everyone
 * without a pool; a result here is exactly theirs, errors included.
 */
import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type TlsbootError, UnavailableError } from '../base/errors.ts';
import type { Certificate, CertificateRequest } from '../pki/index.ts';
import {
  type CryptoJob,
  type CryptoWorkerData,
  errorFromWire,
  isCertificateRequest,
  isReady,
  isResultBatch,
  isSignedCertificate,
  type JobResult,
} from './crypto-protocol.ts';
import type { IssueTemplate, SignedCertificate, TemplateIssuer } from './signer.ts';

/**
 * `view` alone in its own buffer. Posting a view copies its whole ArrayBuffer, and a decoded CSR
 * sits in a 64 KiB one (profiled: postMessage was 8 % of the main thread before this).
 */
export function tight(view: Uint8Array): Uint8Array {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : new Uint8Array(view);
}

/** One fewer than the cores (the main thread has one), at least one. */
export function defaultCryptoWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

export interface CryptoPoolOptions {
  /** Worker threads; defaultCryptoWorkers() when absent. */
  readonly workers?: number;
  /** The CA that issuance runs under; without it the pool only verifies CSRs. */
  readonly ca?: { readonly certificate: Certificate; readonly key: KeyObject };
  /** Told when a worker dies (never with key material); the pool replaces it either way. */
  readonly onWorkerExit?: (message: string) => void;
  /** The worker module (crypto-worker.ts when absent); tests put one in front of it that crashes. */
  readonly workerUrl?: URL;
}

interface Pending {
  readonly id: number;
  readonly job: CryptoJob;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: TlsbootError) => void;
  /** How many workers this job was handed to; a job whose worker died runs once more. */
  attempts: number;
}

interface Slot {
  readonly worker: Worker;
  readonly inFlight: Map<number, Pending>;
  /** Whether this worker said it is ready; one that dies before that counts as a failed start. */
  ready: boolean;
}

/** Consecutive workers that die before they are ready (a broken install), after which the pool stops starting them. */
const MAX_FAILED_STARTS = 3;

export class CryptoPool implements TemplateIssuer {
  private readonly size: number;
  private readonly workerData: CryptoWorkerData;
  private readonly onWorkerExit: (message: string) => void;
  private readonly workerUrl: URL;
  private readonly slots = new Set<Slot>();
  private queue: Pending[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private failedStarts = 0;
  private closed = false;
  private broken: string | undefined;

  constructor(options: CryptoPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.workers ?? defaultCryptoWorkers()));
    this.workerData = { ca: options.ca ? { certificateDer: options.ca.certificate.der, key: options.ca.key } : undefined };
    this.onWorkerExit = options.onWorkerExit ?? (() => {});
    this.workerUrl = options.workerUrl ?? new URL('./crypto-worker.ts', import.meta.url);
  }

  /** `parseCsr(der)` on a worker: the same CertificateRequest, or the same error. */
  async parseCsr(der: Uint8Array): Promise<CertificateRequest> {
    const value = await this.submit({ kind: 'csr', der: tight(der) });
    if (!isCertificateRequest(value)) throw this.malformed('CSR');
    return value;
  }

  /** `issueFromTemplate` on a worker, under the pool's CA. */
  async issue(template: IssueTemplate): Promise<SignedCertificate> {
    const value = await this.submit({ kind: 'issue', template: { ...template, publicKey: tight(template.publicKey) } });
    if (!isSignedCertificate(value)) throw this.malformed('certificate');
    return value;
  }

  /**
   * `parseCsr` when a worker is ready; otherwise undefined (and the workers are started), so that
   * the caller does the work itself instead of waiting seconds for a thread to boot on a loaded
   * machine. Also undefined once the pool is closed or broken.
   */
  tryParseCsr(der: Uint8Array): Promise<CertificateRequest> | undefined {
    return this.warm() ? this.parseCsr(der) : undefined;
  }

  /** `issue` when a worker is ready, else undefined, as tryParseCsr. */
  tryIssue(template: IssueTemplate): Promise<SignedCertificate> | undefined {
    return this.warm() ? this.issue(template) : undefined;
  }

  /** Ends every worker; jobs not yet answered fail with UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new UnavailableError('CRYPTO_POOL_CLOSED', 'the crypto pool is closed');
    const slots = [...this.slots];
    this.slots.clear();
    for (const p of this.queue) p.reject(error);
    this.queue = [];
    for (const slot of slots) {
      for (const p of slot.inFlight.values()) p.reject(error);
      slot.inFlight.clear();
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Worker threads running now (for tests and metrics). */
  get workerCount(): number {
    return this.slots.size;
  }

  /** Whether a worker is ready; if none is, starts them. */
  private warm(): boolean {
    if (this.closed || this.broken !== undefined) return false;
    for (const slot of this.slots) if (slot.ready) return true;
    while (this.slots.size < this.size) this.slots.add(this.start());
    return false;
  }

  private malformed(what: string): TlsbootError {
    return new UnavailableError('CRYPTO_WORKER', `crypto worker answered with a malformed ${what}`);
  }

  private submit(job: CryptoJob): Promise<unknown> {
    if (this.closed) return Promise.reject(new UnavailableError('CRYPTO_POOL_CLOSED', 'the crypto pool is closed'));
    if (this.broken !== undefined) return Promise.reject(new UnavailableError('CRYPTO_POOL_BROKEN', this.broken));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject, attempts: 0 });
      this.scheduleFlush();
    });
  }

  /** Jobs submitted in one event-loop turn go out together: one message per worker, not per job. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0) return;
    if (this.broken !== undefined) {
      const error = new UnavailableError('CRYPTO_POOL_BROKEN', this.broken);
      for (const p of this.queue) p.reject(error);
      this.queue = [];
      return;
    }
    while (this.slots.size < this.size) this.slots.add(this.start());
    const slots = [...this.slots];
    const batches = new Map<Slot, { id: number; job: CryptoJob }[]>();
    for (const p of this.queue) {
      // The least busy worker, counting what this flush already gave it.
      let best = slots[0] as Slot;
      for (const s of slots) if (s.inFlight.size < best.inFlight.size) best = s;
      best.inFlight.set(p.id, p);
      p.attempts++;
      const batch = batches.get(best) ?? [];
      batch.push({ id: p.id, job: p.job });
      batches.set(best, batch);
    }
    this.queue = [];
    for (const [slot, jobs] of batches) {
      slot.worker.ref();
      slot.worker.postMessage({ jobs });
    }
  }

  private start(): Slot {
    const worker = new Worker(this.workerUrl, { workerData: this.workerData });
    const slot: Slot = { worker, inFlight: new Map(), ready: false };
    // An idle pool does not keep the process alive; a job in flight does.
    worker.unref();
    worker.on('message', (message: unknown) => this.answer(slot, message));
    let failure = '';
    worker.on('error', (error: unknown) => {
      failure = error instanceof Error ? error.message : String(error);
    });
    worker.on('exit', (code) => this.exited(slot, code, failure));
    return slot;
  }

  private answer(slot: Slot, message: unknown): void {
    if (isReady(message)) {
      slot.ready = true;
      this.failedStarts = 0;
      return;
    }
    if (!isResultBatch(message)) {
      // Our own worker broke its protocol: end it; its jobs are retried as after a crash.
      void slot.worker.terminate();
      return;
    }
    for (const result of message.results) this.settle(slot, result);
    if (slot.inFlight.size === 0) slot.worker.unref();
  }

  private settle(slot: Slot, result: JobResult): void {
    const p = slot.inFlight.get(result.id);
    if (!p) return;
    slot.inFlight.delete(result.id);
    if (result.ok) p.resolve(result.value);
    else p.reject(errorFromWire(result.error));
  }

  private exited(slot: Slot, code: number, failure: string): void {
    if (!this.slots.delete(slot)) return; // closed: its jobs were already rejected
    const how = `crypto worker exited (code ${code}${failure === '' ? '' : `: ${failure}`})`;
    this.onWorkerExit(how);
    if (!slot.ready && ++this.failedStarts >= MAX_FAILED_STARTS) {
      this.broken = `${how}; ${MAX_FAILED_STARTS} workers in a row died before answering, so the pool stopped`;
    }
    for (const p of slot.inFlight.values()) {
      if (this.broken !== undefined) p.reject(new UnavailableError('CRYPTO_POOL_BROKEN', this.broken));
      else if (p.attempts >= 2) p.reject(new UnavailableError('CRYPTO_WORKER_EXITED', `${how} twice while running this job`));
      else this.queue.push(p);
    }
    slot.inFlight.clear();
    if (this.queue.length > 0) this.scheduleFlush();
  }
}
