/**
 * The identity bookkeeping's sweep, beside the CSR cleaner's: a registration whose certificate
 * expired, a node-name claim that stands for no node any more (its request is gone, denied or
 * failed, or its certificate expired, and no live registration keeps the name), and an address
 * claim past its certificate's expiry are deleted, so a dead name or address never blocks a new
 * node. Deletes are conditional on the resourceVersion read; a record that changed waits for the
 * next sweep.
 */

import { storeKeyOf } from '../api/cluster-client.ts';
import { isObject } from '../base/json.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';
import { claimIsLive } from './approver.ts';
import {
  ADDRESS_CLAIMS,
  type ApiResource,
  type ClusterClient,
  CSRS,
  isRaceError,
  type JsonObject,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
} from './cluster.ts';

function expired(record: JsonObject | undefined, now: Date): boolean {
  return typeof record?.notAfter !== 'string' || !(rfc3339Millis(record.notAfter) > now.getTime());
}

async function remove(client: ClusterClient, resource: ApiResource, record: JsonObject, out: string[]): Promise<void> {
  const meta = isObject(record.metadata) ? record.metadata : {};
  try {
    await client.delete(resource, '', String(meta.name ?? ''), String(meta.resourceVersion ?? ''));
    out.push(`${storeKeyOf(resource)}/${String(meta.name ?? '')}`);
  } catch (error) {
    if (!isRaceError(error)) throw error;
  }
}

/** @returns what was deleted, as resource/name */
export async function sweepIdentities(client: ClusterClient, now: Date): Promise<string[]> {
  const deleted: string[] = [];
  for (const r of await client.list(NODE_CLIENT_CERTIFICATES))
    if (expired(r, now)) await remove(client, NODE_CLIENT_CERTIFICATES, r, deleted);
  for (const claim of await client.list(NODE_NAME_CLAIMS)) {
    const name = String((isObject(claim.metadata) ? claim.metadata : {}).name ?? '');
    if (claimIsLive(await client.get(CSRS, '', String(claim.csrName ?? '')), claim.csrUid, now)) continue;
    if (!expired(await client.get(NODE_CLIENT_CERTIFICATES, '', name), now)) continue;
    await remove(client, NODE_NAME_CLAIMS, claim, deleted);
  }
  for (const a of await client.list(ADDRESS_CLAIMS)) if (expired(a, now)) await remove(client, ADDRESS_CLAIMS, a, deleted);
  return deleted;
}
