/**
 * CertificateSigningRequest operations over KubeClient: get, list (optionally as kubectl's
 * Table), create, wait for the certificate with a watch, and approve/deny through the
 * `/approval` subresource with compare-and-swap retries, as `kubectl certificate` does.
 */
import type { CsrCondition } from '../api/index.ts';
import { ConflictError, TlsbootError } from '../base/errors.ts';

export type { CsrCondition };

import { isObject, type JsonObject } from '../base/json.ts';
import type { KubeClient } from './client.ts';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

export function csrConditions(csr: JsonObject): CsrCondition[] {
  const status = isObject(csr.status) ? csr.status : {};
  const list = Array.isArray(status.conditions) ? status.conditions : [];
  return list.filter((c): c is CsrCondition => isObject(c) && typeof c.type === 'string' && typeof c.status === 'string');
}

/** The issued certificate PEM, or undefined while there is none. */
export function csrCertificate(csr: JsonObject): string | undefined {
  const status = isObject(csr.status) ? csr.status : {};
  return typeof status.certificate === 'string' && status.certificate !== ''
    ? Buffer.from(status.certificate, 'base64').toString('utf8')
    : undefined;
}

export function getCsr(client: KubeClient, name: string): Promise<JsonObject> {
  return client.request(`${CSR_PATH}/${encodeURIComponent(name)}`);
}

export function listCsrsTable(client: KubeClient): Promise<JsonObject> {
  return client.requestTable(CSR_PATH);
}

export function createCsr(client: KubeClient, csr: JsonObject): Promise<JsonObject> {
  return client.request(CSR_PATH, { method: 'POST', body: csr });
}

export type Decision = 'Approved' | 'Denied';

/**
 * Adds an Approved or Denied condition through `/approval`. Refuses a CSR that already carries
 * either (the two are exclusive and immutable); retries when another writer won the race.
 */
export async function decideCsr(
  client: KubeClient,
  name: string,
  decision: Decision,
  reason: string,
  message: string,
  now: () => Date,
): Promise<JsonObject> {
  for (let attempt = 0; ; attempt++) {
    const csr = await getCsr(client, name);
    const existing = csrConditions(csr).find((c) => c.type === 'Approved' || c.type === 'Denied');
    if (existing) {
      throw new ConflictError('CSR_ALREADY_DECIDED', `certificatesigningrequest ${name} is already ${existing.type.toLowerCase()}`);
    }
    const stamp = now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const status = isObject(csr.status) ? csr.status : {};
    const updated = {
      ...csr,
      status: {
        ...status,
        conditions: [...csrConditions(csr), { type: decision, status: 'True', reason, message, lastUpdateTime: stamp }],
      },
    };
    try {
      return await client.request(`${CSR_PATH}/${encodeURIComponent(name)}/approval`, { method: 'PUT', body: updated });
    } catch (error) {
      if (error instanceof TlsbootError && error.code === 'CONFLICT' && attempt < 5) continue;
      throw error;
    }
  }
}
