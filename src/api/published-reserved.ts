/**
 * The cluster-wide half of the reserved identities: every control-plane server publishes the
 * names and addresses of its own certificates in one ConfigMap, kube-system/tlsboot-reserved-
 * identities, one data entry per server, so that whichever server's controllers lead, none
 * certifies another server's name or address to a node. Entries are only added or replaced by
 * their own server; a server that leaves keeps its entry until an administrator removes it, so
 * its names stay reserved rather than becoming claimable.
 */
import { isObject, isStringArray } from '../base/json.ts';
import type { KubeObject } from './cluster-client.ts';
import { normalDnsName, type ReservedSource } from './identity.ts';

export const PUBLISHED_RESERVED_NAMESPACE = 'kube-system';
export const PUBLISHED_RESERVED_NAME = 'tlsboot-reserved-identities';

/** A ConfigMap data key: the server's name, made a valid key (alphanumerics, '-', '_', '.'). */
export function publishedEntryKey(serverName: string): string {
  const key = serverName.replace(/[^A-Za-z0-9._-]/g, '_');
  return key === '' || key === '.' || key === '..' ? `server-${key.length}` : key;
}

/** The data entry of one server: its sources as JSON, in a stable order so an unchanged set is an unchanged text. */
export function publishedEntryText(sources: readonly ReservedSource[]): string {
  return JSON.stringify(
    sources.map((s) => ({ source: s.source, dns: [...new Set(s.dns.map(normalDnsName))].sort(), ip: [...new Set(s.ip)].sort() })),
  );
}

export interface PublishedReserved {
  readonly sources: readonly ReservedSource[];
  /** Entries that are not a list of {source, dns, ip}, by data key: their names are not reserved, so someone must look. */
  readonly malformed: readonly string[];
}

function parseEntry(server: string, text: string): ReservedSource[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const out: ReservedSource[] = [];
  for (const s of parsed) {
    if (!isObject(s) || typeof s.source !== 'string' || !isStringArray(s.dns) || !isStringArray(s.ip)) return undefined;
    out.push({ source: `${s.source} of server ${server}`, dns: s.dns, ip: s.ip });
  }
  return out;
}

/** What the published ConfigMap reserves (nothing when it is absent). */
export function parsePublishedReserved(configMap: KubeObject | undefined): PublishedReserved {
  const data = configMap?.data;
  if (!isObject(data)) return { sources: [], malformed: [] };
  const sources: ReservedSource[] = [];
  const malformed: string[] = [];
  for (const [server, text] of Object.entries(data)) {
    const entry = typeof text === 'string' ? parseEntry(server, text) : undefined;
    if (entry === undefined) malformed.push(server);
    else sources.push(...entry);
  }
  return { sources, malformed };
}
