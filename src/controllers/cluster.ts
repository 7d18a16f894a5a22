/**
 * What every controller shares: the cluster port and its resources (re-exported from
 * src/api/cluster-client.ts), how a lost race is recognised, and the reading and updating of a
 * CSR that still awaits a decision.
 */
import {
  ADDRESS_CLAIMS,
  type ApiResource,
  type ClusterClient,
  CONFIGMAPS,
  CSRS,
  ISSUED_CERTIFICATES,
  type KubeObject,
  LEASES,
  NODE_ADDRESSES,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
  NODES,
  SECRETS,
} from '../api/cluster-client.ts';
import { type CsrCondition, csrCertificatePem, csrConditions, parseCsrRequestField } from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import type { CertificateRequest } from '../pki/index.ts';

export type { ApiResource, ClusterClient, JsonObject, KubeObject };
export {
  ADDRESS_CLAIMS,
  CONFIGMAPS,
  CSRS,
  ISSUED_CERTIFICATES,
  LEASES,
  NODE_ADDRESSES,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
  NODES,
  SECRETS,
};

/** The informer's copy of a CSR by name: reconcilers read it instead of asking the API again. */
export type CsrLister = (name: string) => KubeObject | undefined;

/**
 * A create-if-absent or compare-and-swap that lost to another writer (ALREADY_EXISTS, CONFLICT):
 * the caller reads again and decides anew.
 */
export function isLostWrite(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error.code === 'CONFLICT' || error.code === 'ALREADY_EXISTS');
}

/** Ignores the races a level-based controller resolves on its next pass. */
export function isRaceError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error.code === 'CONFLICT' || error.code === 'NOT_FOUND');
}

/** Adds a condition through `/approval` (Approved, Denied, or an informational type). */
export async function appendApprovalCondition(
  client: ClusterClient,
  csr: JsonObject,
  condition: Record<string, string>,
  now: Date,
): Promise<void> {
  const status = isObject(csr.status) ? csr.status : {};
  await client.update(
    CSRS,
    { ...csr, status: { ...status, conditions: [...csrConditions(csr), { ...condition, lastUpdateTime: formatRfc3339(now) }] } },
    'approval',
  );
}

/** A CSR still awaiting a decision, with its verified request and the requester's identity. */
export interface UndecidedCsr {
  readonly csr: JsonObject;
  readonly conditions: CsrCondition[];
  readonly parsed: CertificateRequest;
  readonly signerName: string;
  readonly usages: string[];
  readonly username: string;
  readonly groups: string[];
  readonly uid: string | undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The CSR if nobody approved, denied or signed it yet and its request verifies; else undefined. */
export function loadUndecidedCsr(csrs: CsrLister, name: string): UndecidedCsr | undefined {
  const csr = csrs(name);
  if (!csr || csrCertificatePem(csr) !== undefined) return undefined;
  const conditions = csrConditions(csr);
  if (conditions.some((c) => c.type === 'Approved' || c.type === 'Denied')) return undefined;
  const spec = isObject(csr.spec) ? csr.spec : {};
  let parsed: CertificateRequest;
  try {
    parsed = parseCsrRequestField(spec.request);
  } catch {
    return undefined;
  }
  return {
    csr,
    conditions,
    parsed,
    signerName: String(spec.signerName ?? ''),
    usages: strings(spec.usages),
    username: String(spec.username ?? ''),
    groups: strings(spec.groups),
    uid: typeof spec.uid === 'string' ? spec.uid : undefined,
  };
}
