/**
 * The identity bookkeeping's sweep, beside the CSR cleaner's: a registration whose certificate
 * expired, a node-name claim that stands for no node any more (its request is gone, denied or
 * failed, or its certificate expired, and no live registration keeps the name), and an address
 * claim past its certificate's expiry are deleted, so a dead name or address never blocks a new
 * node. Deletes are conditional on the resourceVersion read; a record that changed waits for the
 * next sweep.
 */
import { ADDRESS_CLAIM_RESOURCE, NODE_CLIENT_RESOURCE, NODE_NAME_CLAIM_RESOURCE } from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { rfc3339Millis } from '../base/rfc3339.ts';
import { claimIsLive } from './approver.ts';
import { type ClusterClient, isRaceError } from './cluster.ts';

function expired(record: JsonObject | undefined, now: Date): boolean {
  return typeof record?.notAfter !== 'string' || !(rfc3339Millis(record.notAfter) > now.getTime());
}

async function remove(client: ClusterClient, resource: string, record: JsonObject, out: string[]): Promise<void> {
  const meta = isObject(record.metadata) ? record.metadata : {};
  try {
    await client.deleteObject(resource, '', String(meta.name ?? ''), String(meta.resourceVersion ?? ''));
    out.push(`${resource}/${String(meta.name ?? '')}`);
  } catch (error) {
    if (!isRaceError(error)) throw error;
  }
}

/** @returns what was deleted, as resource/name */
export async function sweepIdentities(client: ClusterClient, now: Date): Promise<string[]> {
  const deleted: string[] = [];
  for (const r of await client.listObjects(NODE_CLIENT_RESOURCE))
    if (expired(r, now)) await remove(client, NODE_CLIENT_RESOURCE, r, deleted);
  for (const claim of await client.listObjects(NODE_NAME_CLAIM_RESOURCE)) {
    const name = String((isObject(claim.metadata) ? claim.metadata : {}).name ?? '');
    if (claimIsLive(await client.getCsr(String(claim.csrName ?? '')), claim.csrUid, now)) continue;
    if (!expired(await client.getObject(NODE_CLIENT_RESOURCE, '', `system:node:${name}`), now)) continue;
    await remove(client, NODE_NAME_CLAIM_RESOURCE, claim, deleted);
  }
  for (const a of await client.listObjects(ADDRESS_CLAIM_RESOURCE))
    if (expired(a, now)) await remove(client, ADDRESS_CLAIM_RESOURCE, a, deleted);
  return deleted;
}
