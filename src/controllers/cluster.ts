/**
 * The small interface controllers use to read and write the cluster, and its in-process
 * implementation over the Store. Writes go through the same strategies as the API server (CSR
 * `/status` and `/approval` rules) and are compare-and-swap on the resourceVersion the controller
 * read, so a controller never overwrites a change it did not see.
 */
import {
  type AuthorizationAttributes,
  authorize,
  type CsrCondition,
  csrCertificatePem,
  csrConditions,
  parseCsrRequestField,
  prepareCsrUpdate,
} from '../api/index.ts';
import type { CertificateRequest } from '../pki/index.ts';

export { ADDRESS_CLAIM_RESOURCE, NODE_CLIENT_RESOURCE, NODE_NAME_CLAIM_RESOURCE } from '../api/index.ts';

import type { JsonObject } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import { type RbacCaches, rbacPolicy, type Store, type StoredObject } from '../store/index.ts';

export const CSR_RESOURCE = 'certificates.k8s.io/certificatesigningrequests';
export const SECRET_RESOURCE = 'core/secrets';
export const CONFIGMAP_RESOURCE = 'core/configmaps';
/** Every certificate the signer issued, keyed by the CSR's uid: at most one per CSR, persisted first. */
export const ISSUED_RESOURCE = 'tlsboot.io/issuedcertificates';
export interface ClusterClient {
  getCsr(name: string): Promise<JsonObject | undefined>;
  updateCsrApproval(csr: JsonObject): Promise<JsonObject>;
  updateCsrStatus(csr: JsonObject): Promise<JsonObject>;
  deleteCsr(name: string, resourceVersion: string): Promise<void>;
  getObject(resource: string, namespace: string, name: string): Promise<JsonObject | undefined>;
  listObjects(resource: string, namespace?: string): Promise<JsonObject[]>;
  createObject(resource: string, obj: JsonObject): Promise<JsonObject>;
  updateObject(resource: string, obj: JsonObject): Promise<JsonObject>;
  deleteObject(resource: string, namespace: string, name: string, resourceVersion: string): Promise<void>;
  /** A SubjectAccessReview: may this user do this? */
  allowed(attributes: AuthorizationAttributes): boolean;
}

function metaOf(obj: JsonObject): { name: string; namespace: string; resourceVersion: string } {
  const m = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as Record<string, unknown>;
  return { name: String(m.name ?? ''), namespace: String(m.namespace ?? ''), resourceVersion: String(m.resourceVersion ?? '') };
}

function notFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'NOT_FOUND';
}

export class StoreClusterClient implements ClusterClient {
  private readonly store: Store;
  private readonly rbac: RbacCaches;
  private readonly now: () => Date;

  constructor(store: Store, rbac: RbacCaches, now: () => Date) {
    this.store = store;
    this.rbac = rbac;
    this.now = now;
  }

  async getObject(resource: string, namespace: string, name: string): Promise<JsonObject | undefined> {
    try {
      return await this.store.get({ resource, namespace, name });
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  getCsr(name: string): Promise<JsonObject | undefined> {
    return this.getObject(CSR_RESOURCE, '', name);
  }

  private async writeCsr(csr: JsonObject, subresource: 'approval' | 'status'): Promise<JsonObject> {
    const { name, resourceVersion } = metaOf(csr);
    const old = await this.store.get({ resource: CSR_RESOURCE, namespace: '', name });
    const next = prepareCsrUpdate(old, { ...csr, metadata: old.metadata }, subresource, this.now());
    return this.store.update({ resource: CSR_RESOURCE, namespace: '', name }, next as StoredObject, {
      expectedResourceVersion: resourceVersion,
    });
  }

  updateCsrApproval(csr: JsonObject): Promise<JsonObject> {
    return this.writeCsr(csr, 'approval');
  }

  updateCsrStatus(csr: JsonObject): Promise<JsonObject> {
    return this.writeCsr(csr, 'status');
  }

  async deleteCsr(name: string, resourceVersion: string): Promise<void> {
    await this.deleteObject(CSR_RESOURCE, '', name, resourceVersion);
  }

  async listObjects(resource: string, namespace?: string): Promise<JsonObject[]> {
    return (await this.store.list(resource, namespace === undefined ? {} : { namespace })).items;
  }

  createObject(resource: string, obj: JsonObject): Promise<JsonObject> {
    const { name, namespace } = metaOf(obj);
    return this.store.create({ resource, namespace, name }, obj as StoredObject);
  }

  updateObject(resource: string, obj: JsonObject): Promise<JsonObject> {
    const { name, namespace, resourceVersion } = metaOf(obj);
    return this.store.update({ resource, namespace, name }, obj as StoredObject, { expectedResourceVersion: resourceVersion });
  }

  async deleteObject(resource: string, namespace: string, name: string, resourceVersion: string): Promise<void> {
    await this.store.delete({ resource, namespace, name }, { expectedResourceVersion: resourceVersion });
  }

  allowed(attributes: AuthorizationAttributes): boolean {
    return authorize(attributes, rbacPolicy(this.rbac)).allowed;
  }
}

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
  const status = typeof csr.status === 'object' && csr.status !== null ? (csr.status as JsonObject) : {};
  await client.updateCsrApproval({
    ...csr,
    status: { ...status, conditions: [...csrConditions(csr), { ...condition, lastUpdateTime: formatRfc3339(now) }] },
  });
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
export async function loadUndecidedCsr(client: ClusterClient, name: string): Promise<UndecidedCsr | undefined> {
  const csr = await client.getCsr(name);
  if (!csr || csrCertificatePem(csr) !== undefined) return undefined;
  const conditions = csrConditions(csr);
  if (conditions.some((c) => c.type === 'Approved' || c.type === 'Denied')) return undefined;
  const spec = (typeof csr.spec === 'object' && csr.spec !== null ? csr.spec : {}) as JsonObject;
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
