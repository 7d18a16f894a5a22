/**
 * The revocation sweep, beside the CSR and identity cleaners (same timer, same leader): a
 * CertificateRevocation whose certificate has expired is deleted, since an expired certificate is
 * refused without it and has already left the CRLs (src/control-plane/crl-publisher.ts); the CA
 * audit log keeps the revocation. Deletes are conditional on the resourceVersion read. A record
 * whose notAfter cannot be read is kept: pruning is only ever of what is provably over.
 */
import { CERTIFICATE_REVOCATIONS, storeKeyOf } from '../api/cluster-client.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';
import { type ClusterClient, isRaceError } from './cluster.ts';

/** @returns what was deleted, as resource/name */
export async function sweepRevocations(client: ClusterClient, now: Date): Promise<string[]> {
  const deleted: string[] = [];
  for (const r of await client.list(CERTIFICATE_REVOCATIONS)) {
    const notAfter = typeof r.notAfter === 'string' ? rfc3339Millis(r.notAfter) : Number.NaN;
    if (!(notAfter <= now.getTime())) continue;
    const { name, resourceVersion } = r.metadata;
    try {
      await client.delete(CERTIFICATE_REVOCATIONS, '', name, String(resourceVersion ?? ''));
      deleted.push(`${storeKeyOf(CERTIFICATE_REVOCATIONS)}/${name}`);
    } catch (error) {
      if (!isRaceError(error)) throw error;
    }
  }
  return deleted;
}
