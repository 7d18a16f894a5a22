/**
 * The CSR cleaner (reference §6): a periodic sweep deleting CSRs that are approved-and-issued,
 * denied or failed for over an hour (by the condition's lastUpdateTime), pending for over a day,
 * or whose certificate has expired. Missing timestamps never count as old. Deletes are
 * conditional on the resourceVersion read, so a CSR that changed is left for the next sweep.
 */
import { csrCertificatePem, csrConditions } from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';
import { parseCertificateBundle } from '../pki/index.ts';
import { type ClusterClient, CSRS, isRaceError } from './cluster.ts';

const HOUR = 3_600_000;

function olderThan(time: string | undefined, ms: number, now: Date): boolean {
  if (!time) return false;
  const t = rfc3339Millis(time);
  return !Number.isNaN(t) && now.getTime() - t > ms;
}

/** Why a CSR should be deleted now, or undefined. */
export function cleanupReason(csr: JsonObject, now: Date): string | undefined {
  const conditions = csrConditions(csr);
  const pem = csrCertificatePem(csr);
  if (pem) {
    try {
      const [leaf] = parseCertificateBundle(pem);
      if (leaf && leaf.notAfter < now) return 'its certificate expired';
    } catch {
      // An unparsable certificate is judged by its conditions alone.
    }
  }
  const approved = conditions.find((c) => c.type === 'Approved');
  if (approved && pem && olderThan(approved.lastUpdateTime, HOUR, now)) return 'approved and issued over an hour ago';
  const denied = conditions.find((c) => c.type === 'Denied');
  if (denied && olderThan(denied.lastUpdateTime, HOUR, now)) return 'denied over an hour ago';
  const failed = conditions.find((c) => c.type === 'Failed');
  if (failed && olderThan(failed.lastUpdateTime, HOUR, now)) return 'failed over an hour ago';
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  const created = meta.creationTimestamp;
  if (!approved && !denied && !failed && olderThan(typeof created === 'string' ? created : undefined, 24 * HOUR, now))
    return 'pending for over a day';
  return undefined;
}

export async function sweepCsrs(client: ClusterClient, now: Date): Promise<string[]> {
  const deleted: string[] = [];
  for (const csr of await client.list(CSRS)) {
    if (cleanupReason(csr, now) === undefined) continue;
    const { name, resourceVersion } = csr.metadata;
    try {
      await client.delete(CSRS, '', name, resourceVersion ?? '');
      deleted.push(name);
    } catch (error) {
      if (!isRaceError(error)) throw error;
    }
  }
  return deleted;
}
