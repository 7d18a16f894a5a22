/**
 * Keeps one certificate of the node fresh (reference §7.2). The rotation deadline is drawn once per
 * certificate, uniformly in 70-90% of its lifetime; a missing, expired or non-matching certificate
 * rotates at once. Each attempt reuses the persisted pending key (so a crash resumes rather than
 * piles up keys), authenticates with the current client certificate or, when that is unusable, the
 * bootstrap credential, waits for issuance with a watch, checks the result, and swaps it in.
 * Failures back off 2 s, 4 s, ... up to 32 s with 10% jitter. Time, randomness and sleep are injected.
 * A client certificate the server refuses (revoked) is not replaced by the bootstrap credential:
 * the failure says so, and the node must join again.
 */
import type { KeyObject } from 'node:crypto';
import { type Clock, sleep } from '../base/clock.ts';
import { TlsbootError, UnauthenticatedError } from '../base/errors.ts';
import { type ConnectionConfig, KubeClient } from '../client/client.ts';
import { type Certificate, certificateToPem, commonName, privateKeyToPem } from '../pki/index.ts';
import type { CertPrefix, CertStore, StoredPair } from './cert-store.ts';
import { type CertificateRequestSpec, csrBody, submitCsr, verifyIssued, waitForCertificate } from './request.ts';

export interface RotatorOptions {
  readonly store: CertStore;
  readonly prefix: CertPrefix;
  readonly spec: CertificateRequestSpec;
  readonly server: string;
  readonly caPem: string;
  /** The credential to request with: the current client pair, or undefined to fall back. */
  readonly clientCredential: () => StoredPair | undefined;
  /** The bootstrap credential, when there is one (token). */
  readonly bootstrapToken?: string;
  readonly clock: Clock;
  /** Uniform in [0, 1): the jitter of deadlines and retries. */
  readonly random: () => number;
  readonly log: (event: Record<string, unknown>, message: string) => void;
  /** Failures worth an operator's attention (a refused or failing rotation). */
  readonly warn: (event: Record<string, unknown>, message: string) => void;
  /** How long one request may wait for approval and signing. */
  readonly waitTimeoutMs?: number;
  /** Called after a new pair is installed (serving certificates reload their TLS context). */
  readonly onRotated?: (pair: StoredPair) => void;
}

/**
 * The deadline of reference §7.2: start + U x (NotAfter - start), U uniform in [0.7, 0.9). The
 * kubelet starts at NotBefore; because signers backdate NotBefore by 5 minutes, a short-lived
 * certificate's deadline then lies in the past and it rotates in a loop. tlsboot starts at the
 * later of NotBefore and the moment the certificate was installed.
 */
export function rotationDeadline(cert: Certificate, random: () => number, installedAt?: Date): Date {
  const start = Math.max(cert.notBefore.getTime(), installedAt?.getTime() ?? 0);
  const lifetime = cert.notAfter.getTime() - start;
  return new Date(start + lifetime * (0.7 + 0.2 * random()));
}

/** A connection authenticated by the node's client certificate, or undefined when it is missing or not valid `now`. */
export function certificateConnection(
  server: string,
  caPem: string,
  pair: StoredPair | undefined,
  now: Date,
): ConnectionConfig | undefined {
  const leaf = pair?.certificates[0];
  if (!pair || !leaf || leaf.notAfter <= now || leaf.notBefore > now) return undefined;
  return {
    server,
    caPem,
    clientCertificatePem: pair.certificates.map((c) => certificateToPem(c)).join(''),
    clientKeyPem: privateKeyToPem(pair.key),
  };
}

/** Backoff before attempt n (0-based) after failures: 2 s doubling to 32 s, +/-10% jitter. */
export function retryDelayMs(failures: number, random: () => number): number {
  const base = Math.min(32_000, 2000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (1 + 0.1 * (2 * random() - 1)));
}

function satisfies(pair: StoredPair, spec: CertificateRequestSpec): boolean {
  const leaf = pair.certificates[0];
  if (!leaf || commonName(leaf.subject) !== spec.commonName) return false;
  if (spec.sans) {
    if (!spec.sans.dns.every((d) => leaf.sans.dns.includes(d))) return false;
    if (!spec.sans.ip.every((i) => leaf.sans.ip.includes(i))) return false;
  }
  return true;
}

export class CertificateRotator {
  private readonly o: RotatorOptions;
  private deadline: { serial: string; at: Date } | undefined;
  private failures = 0;
  private reported: string | undefined;
  rotations = 0;

  constructor(options: RotatorOptions) {
    this.o = options;
  }

  /** When the current certificate should be replaced (now, when it is missing or unusable). */
  nextRotation(): Date {
    const { store, prefix, spec, clock } = this.o;
    const now = new Date(clock.now());
    let pair: StoredPair | undefined;
    try {
      pair = store.loadCurrent(prefix);
    } catch {
      return now;
    }
    const leaf = pair?.certificates[0];
    if (!pair || !leaf || leaf.notAfter <= now || !satisfies(pair, spec)) return now;
    if (this.deadline?.serial !== leaf.serialNumber)
      this.deadline = { serial: leaf.serialNumber, at: rotationDeadline(leaf, this.o.random, pair.installedAt) };
    return this.deadline.at;
  }

  /** The connection to request with, and the serial of the client certificate it presents (if any). */
  private connection(): { config: ConnectionConfig; serial?: string } {
    const { server, caPem, clock } = this.o;
    const credential = this.o.clientCredential();
    const byCertificate = certificateConnection(server, caPem, credential, new Date(clock.now()));
    const serial = credential?.certificates[0]?.serialNumber;
    if (byCertificate) return { config: byCertificate, ...(serial === undefined ? {} : { serial }) };
    if (this.o.bootstrapToken !== undefined) {
      this.o.log({ prefix: this.o.prefix }, 'client certificate unusable; falling back to the bootstrap credential');
      return { config: { server, caPem, token: this.o.bootstrapToken } };
    }
    throw new Error('no usable credential: the client certificate is missing or expired and there is no bootstrap credential');
  }

  /** One rotation attempt: request, wait, verify, install. */
  async rotateOnce(signal: AbortSignal): Promise<StoredPair> {
    const { store, prefix, spec, clock } = this.o;
    const key: KeyObject = store.pendingKey(prefix);
    const { config, serial } = this.connection();
    const client = new KubeClient(config);
    try {
      const body = csrBody(key, spec, { generateName: 'csr-' });
      const created = await submitCsr(client, body, key, spec, new Date(clock.now()));
      const pem = await waitForCertificate(client, created, this.o.waitTimeoutMs ?? 15 * 60_000, signal);
      const chain = verifyIssued(pem, key, spec, this.o.caPem, new Date(clock.now()));
      const path = store.install(prefix, chain, key, new Date(clock.now()));
      this.rotations++;
      const pair: StoredPair = { certificates: chain, key, path };
      this.o.log({ prefix, serial: chain[0]?.serialNumber, notAfter: chain[0]?.notAfter.toISOString() }, 'certificate rotated');
      this.o.onRotated?.(pair);
      return pair;
    } catch (error) {
      if (serial !== undefined && error instanceof TlsbootError && error.code === 'UNAUTHENTICATED') {
        throw new UnauthenticatedError(
          'CLIENT_CERTIFICATE_REFUSED',
          `the API server refused this node's client certificate (serial ${serial}): ${error.message}; the node cannot rotate with it. If it was revoked (tlsboot certs revoke), join the node again with a new bootstrap token`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      client.close();
    }
  }

  /** Runs until `signal` aborts. */
  /** Says which certificate is held and when it rotates, once per certificate. */
  private reportHeld(): void {
    let pair: StoredPair | undefined;
    try {
      pair = this.o.store.loadCurrent(this.o.prefix);
    } catch {
      return;
    }
    const leaf = pair?.certificates[0];
    if (!leaf || this.reported === leaf.serialNumber) return;
    this.reported = leaf.serialNumber;
    this.o.log(
      {
        prefix: this.o.prefix,
        subject: commonName(leaf.subject),
        serial: leaf.serialNumber,
        notAfter: leaf.notAfter.toISOString(),
        nextRotation: this.nextRotation().toISOString(),
      },
      'holding certificate',
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    const { clock } = this.o;
    while (!signal.aborted) {
      const wait = this.nextRotation().getTime() - clock.now();
      if (wait > 0) {
        this.reportHeld();
        // Wake at least every minute so clock jumps (suspend, NTP steps) are noticed.
        await sleep(clock, Math.min(wait, 60_000), signal);
        continue;
      }
      try {
        await this.rotateOnce(signal);
        this.failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        this.failures++;
        const delay = retryDelayMs(this.failures, this.o.random);
        this.o.warn(
          { prefix: this.o.prefix, error: error instanceof Error ? error.message : String(error), retryInMs: delay },
          'rotation failed',
        );
        await sleep(clock, delay, signal);
      }
    }
  }
}
