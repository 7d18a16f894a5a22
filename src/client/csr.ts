/**
 * CertificateSigningRequest operations over KubeClient: get, list (optionally as kubectl's
 * Table), create, wait for the certificate with a watch, and approve/deny through the
 * `/approval` subresource with compare-and-swap retries, as `kubectl certificate` does.
 */
import { asCertificateSigningRequest, type CertificateSigningRequest, csrConditions, type WatchEvent } from '../api/index.ts';
import { ConflictError, TlsbootError } from '../base/errors.ts';
import type { JsonObject } from '../base/json.ts';
import type { KubeClient } from './client.ts';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function csrPath(name: string): string {
  return `${CSR_PATH}/${encodeURIComponent(name)}`;
}

/** The CSR `name`; a server answer that is not a CSR throws INVALID naming its first wrong field. */
export async function getCsr(client: KubeClient, name: string, signal?: AbortSignal): Promise<CertificateSigningRequest> {
  return client.request(csrPath(name), signal === undefined ? {} : { signal }, asCertificateSigningRequest);
}

export function listCsrsTable(client: KubeClient): Promise<JsonObject> {
  return client.requestTable(CSR_PATH);
}

/** Creates `csr` and answers with the stored object (the server fills in requester and status). */
export async function createCsr(client: KubeClient, csr: CertificateSigningRequest): Promise<CertificateSigningRequest> {
  return client.request(CSR_PATH, { method: 'POST', body: csr }, asCertificateSigningRequest);
}

/**
 * Watches the one CSR `name` from `resourceVersion`: its ADDED, MODIFIED and DELETED states typed,
 * and ERROR events with the Status they carry untouched.
 */
export async function* watchCsr(
  client: KubeClient,
  name: string,
  resourceVersion: string,
  signal?: AbortSignal,
): AsyncGenerator<{ readonly type: 'ERROR'; readonly object: JsonObject } | WatchEvent<CertificateSigningRequest>> {
  for await (const event of client.watch(CSR_PATH, { fieldSelector: `metadata.name=${name}`, resourceVersion }, signal)) {
    if (event.type === 'ERROR') yield { type: 'ERROR', object: event.object };
    else yield { type: event.type, object: asCertificateSigningRequest(event.object) };
  }
}

export type Decision = 'Approved' | 'Denied';

/**
 * Adds an Approved or Denied condition through `/approval`. Refuses a CSR that already carries
 * either (the two are exclusive and immutable); retries when another writer won the race. With
 * `expectUid`, refuses a CSR of that name that is not the one the caller saw (deleted and made anew).
 */
export async function decideCsr(
  client: KubeClient,
  name: string,
  decision: Decision,
  reason: string,
  message: string,
  now: () => Date,
  expectUid?: string,
): Promise<CertificateSigningRequest> {
  for (let attempt = 0; ; attempt++) {
    const csr = await getCsr(client, name);
    if (expectUid !== undefined && csr.metadata?.uid !== expectUid)
      throw new ConflictError(
        'CSR_REPLACED',
        `certificatesigningrequest ${name} is not the request you saw: it was deleted and created anew`,
      );
    const existing = csrConditions(csr).find((c) => c.type === 'Approved' || c.type === 'Denied');
    if (existing) {
      throw new ConflictError('CSR_ALREADY_DECIDED', `certificatesigningrequest ${name} is already ${existing.type.toLowerCase()}`);
    }
    const stamp = now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const updated: CertificateSigningRequest = {
      ...csr,
      status: {
        ...csr.status,
        conditions: [...csrConditions(csr), { type: decision, status: 'True', reason, message, lastUpdateTime: stamp }],
      },
    };
    try {
      return await client.request(`${csrPath(name)}/approval`, { method: 'PUT', body: updated }, asCertificateSigningRequest);
    } catch (error) {
      if (error instanceof TlsbootError && error.code === 'CONFLICT' && attempt < 5) continue;
      throw error;
    }
  }
}
