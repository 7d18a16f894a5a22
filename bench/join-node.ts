/**
 * One storm node's CSR as a kubelet handles it (row 4, bench/storm.ts): the CSR has a name derived
 * from its key and subject, so a create sent again after a 429 or 503 finds the node's own request
 * if the first one landed; and a watch that fails is opened again on that same request. A node
 * never makes a second CSR: the approver withholds a second first-time request for a node name
 * (NodeAlreadyRegistered, NodeNameClaimed: one new node, one certificate), so a node that waited
 * on a second CSR waited for good while its first one held the certificate.
 */
import { type CertificateSigningRequest, csrCertificatePem } from '../src/api/index.ts';
import { ConflictError, isTlsbootError, RateLimitedError } from '../src/base/errors.ts';
import type { JsonObject } from '../src/base/json.ts';
import type { KubeClient } from '../src/client/client.ts';
import { createCsr, getCsr, watchCsr } from '../src/client/csr.ts';

/** The CSR calls a node makes. */
export interface CsrPort {
  create(body: CertificateSigningRequest): Promise<CertificateSigningRequest>;
  get(name: string): Promise<CertificateSigningRequest>;
  watch(name: string, resourceVersion: string, signal: AbortSignal): AsyncIterable<{ readonly type: string; readonly object: JsonObject }>;
}

export function csrPortOf(client: KubeClient): CsrPort {
  return {
    create: (body) => createCsr(client, body),
    get: (name) => getCsr(client, name),
    watch: (name, resourceVersion, signal) => watchCsr(client, name, resourceVersion, signal),
  };
}

/** What was retried, counted by the caller. */
export interface RetryCounts {
  rateLimited: number;
  unavailable: number;
}

const MAX_RETRIES = 20;

/**
 * Creates `body` (it must carry a name) and waits until it holds a certificate, within `timeoutMs`.
 * 429s wait their Retry-After; 503s (a server whose store is past its call deadline) wait `pauseMs`.
 */
export async function createAndWait(
  port: CsrPort,
  body: CertificateSigningRequest,
  timeoutMs: number,
  counts: RetryCounts,
  pauseMs = 1000,
): Promise<void> {
  const name = body.metadata?.name;
  if (name === undefined) throw new Error('a storm CSR needs a name: a retried create must find its own request');
  const deadline = AbortSignal.timeout(timeoutMs);
  let retries = 0;
  /** Waits before the next attempt when `error` is one a kubelet retries; rethrows it otherwise. */
  const retry = async (error: unknown) => {
    if (retries++ >= MAX_RETRIES || deadline.aborted) throw error;
    if (error instanceof RateLimitedError) {
      counts.rateLimited++;
      await new Promise((r) => setTimeout(r, error.retryAfterSeconds * 1000));
    } else if (isTlsbootError(error) && error.code === 'UNAVAILABLE') {
      counts.unavailable++;
      await new Promise((r) => setTimeout(r, pauseMs));
    } else throw error;
  };
  let current: CertificateSigningRequest | undefined;
  while (current === undefined) {
    try {
      current = await port.create(body);
    } catch (error) {
      if (!(isTlsbootError(error) && error.code === 'ALREADY_EXISTS')) {
        await retry(error);
        continue;
      }
      // An earlier create that was answered with an error had landed: that request is this node's.
      try {
        const existing = await port.get(name);
        if (existing.spec.request !== body.spec.request) throw new ConflictError('CSR_INCOMPATIBLE', `${name} exists with another request`);
        current = existing;
      } catch (getError) {
        await retry(getError);
      }
    }
  }
  for (;;) {
    if (csrCertificatePem(current) !== undefined) return;
    try {
      for await (const event of port.watch(name, current.metadata?.resourceVersion ?? '', deadline)) {
        if (event.type === 'ERROR') break;
        if (csrCertificatePem(event.object) !== undefined) return;
      }
      if (deadline.aborted) throw new Error(`watch on ${name} ended without a certificate${await conditionsOf(port, name)}`);
      // The server ended the watch: look again from what it holds now.
      current = await port.get(name);
    } catch (error) {
      if (deadline.aborted) throw error;
      await retry(error);
    }
  }
}

/** The CSR's conditions as the server holds them, for the error that says a node waited in vain. */
async function conditionsOf(port: CsrPort, name: string): Promise<string> {
  try {
    return `; its conditions now: ${JSON.stringify((await port.get(name)).status?.conditions ?? [])}`;
  } catch (error) {
    return `; it could not be read: ${String(error)}`;
  }
}
