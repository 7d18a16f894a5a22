/**
 * Where a sealed or remote CA's CRLs live between signing sessions: one ConfigMap per shard,
 * `kube-system/tlsboot-crl-<shard>` with the DER under binaryData `crl`, so a restarted server, or
 * another server of an HA pair that opened no session, serves the CRLs the last session signed.
 * One object per shard keeps each below the store's object size at 100k revocations. Nothing here
 * is trusted: the publisher serves a kept CRL only if its signature verifies under the CA.
 */
import { isTlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import type { Store } from '../store/index.ts';
import type { CrlKeeper } from './crl-publisher.ts';
import { storeKeyFor, upsert } from './stored-objects.ts';

const NAMESPACE = 'kube-system';
const CONFIGMAPS = storeKeyFor('configmaps');

export function crlConfigMapName(shard: number): string {
  return `tlsboot-crl-${shard}`;
}

export function storeCrlKeeper(store: Store, now: () => Date): CrlKeeper {
  return {
    async load(shards: number): Promise<(Uint8Array | undefined)[]> {
      const out: (Uint8Array | undefined)[] = [];
      for (let shard = 0; shard < shards; shard++) {
        const obj = await store
          .get({ resource: CONFIGMAPS, namespace: NAMESPACE, name: crlConfigMapName(shard) })
          .catch((error: unknown) => {
            if (isTlsbootError(error) && error.code === 'NOT_FOUND') return undefined;
            throw error;
          });
        const data = obj !== undefined && isObject(obj.binaryData) ? obj.binaryData.crl : undefined;
        out.push(typeof data === 'string' ? Buffer.from(data, 'base64') : undefined);
      }
      return out;
    },
    async save(shards: readonly Uint8Array[]): Promise<void> {
      for (const [shard, der] of shards.entries()) {
        const binaryData = { crl: Buffer.from(der).toString('base64') };
        await upsert(
          store,
          CONFIGMAPS,
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: crlConfigMapName(shard), namespace: NAMESPACE }, binaryData },
          (current) => ({ ...current, binaryData }),
          now(),
        );
      }
    },
  };
}
