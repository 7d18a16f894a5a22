/**
 * The reserved identities of a PKI directory: every DNS name and IP address that the cluster's
 * own servers present, read from the API server and etcd server/peer certificates, plus the
 * control-plane endpoint the kubeconfigs point at. Re-read when those files change, so a renewed
 * API server certificate with a new SAN is protected from the moment it is on disk.
 */
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseKubeconfig, type ReservedIdentities, type ReservedSource, reservedIdentities, resolveKubeconfig } from '../api/index.ts';
import { commonName, parseCertificatePem } from '../pki/index.ts';
import { NODE_NAME_FILE, pkiPath, readIfPresent } from './pki-files.ts';

const SERVER_CERTIFICATES: readonly { file: string; label: string }[] = [
  { file: 'apiserver', label: 'API server certificate' },
  { file: 'etcd/server', label: 'etcd server certificate' },
  { file: 'etcd/peer', label: 'etcd peer certificate' },
];

function endpointSource(dir: string): ReservedSource | undefined {
  const admin = readIfPresent(join(dir, 'admin.conf'));
  if (!admin) return undefined;
  const host = new URL(resolveKubeconfig(parseKubeconfig(admin.toString('utf8'))).cluster.server).hostname.replace(/^\[|\]$/g, '');
  const label = 'control-plane endpoint (admin.conf)';
  return isIP(host) ? { source: label, dns: [], ip: [host] } : { source: label, dns: [host], ip: [] };
}

/** What DIR's PKI reserves, one entry per server certificate (absent files are skipped). */
export function readReservedSources(dir: string): ReservedSource[] {
  const out: ReservedSource[] = [];
  for (const { file, label } of SERVER_CERTIFICATES) {
    const path = pkiPath(dir, file, 'crt');
    const pem = readIfPresent(path);
    if (!pem) continue;
    const cert = parseCertificatePem(pem.toString('utf8'), path);
    out.push({ source: `${label} (pki/${file}.crt)`, dns: cert.sans.dns, ip: cert.sans.ip });
  }
  const endpoint = endpointSource(dir);
  if (endpoint) out.push(endpoint);
  return out;
}

/**
 * The control-plane node DIR belongs to: the common name of its etcd server certificate, which
 * init and join give the node's name, or, for a node that joined without the CA keys, the name
 * it wrote; undefined when DIR has neither.
 */
export function controlPlaneNodeName(dir: string): string | undefined {
  const path = pkiPath(dir, 'etcd/server', 'crt');
  const pem = readIfPresent(path);
  if (pem) return commonName(parseCertificatePem(pem.toString('utf8'), path).subject);
  return readIfPresent(join(dir, NODE_NAME_FILE))?.toString('utf8').trim() || undefined;
}

/** The files whose change changes the reserved set. */
function watchedFiles(dir: string): string[] {
  return [...SERVER_CERTIFICATES.map(({ file }) => pkiPath(dir, file, 'crt')), join(dir, 'admin.conf')];
}

function fingerprint(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        const st = statSync(p);
        return `${st.mtimeMs}:${st.size}:${st.ino}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}

/**
 * The reserved set of a directory, current: the files are looked at again at most once per
 * `recheckMs` of the injected clock and re-read only when one changed.
 */
export class ReservedIdentityFiles {
  private readonly dir: string;
  private readonly now: () => Date;
  private readonly recheckMs: number;
  private readonly files: string[];
  private checkedAt = Number.NEGATIVE_INFINITY;
  private seen = '';
  private value: ReservedIdentities = reservedIdentities([]);
  private sources: ReservedSource[] = [];

  constructor(o: { dir: string; now: () => Date; recheckMs?: number }) {
    this.dir = o.dir;
    this.now = o.now;
    this.recheckMs = o.recheckMs ?? 1000;
    this.files = watchedFiles(o.dir);
    this.refresh(true);
  }

  private refresh(force: boolean): void {
    const at = this.now().getTime();
    if (!force && at - this.checkedAt < this.recheckMs) return;
    this.checkedAt = at;
    const print = fingerprint(this.files);
    if (!force && print === this.seen) return;
    this.sources = readReservedSources(this.dir);
    this.value = reservedIdentities(this.sources);
    this.seen = print;
  }

  current(): ReservedIdentities {
    this.refresh(false);
    return this.value;
  }

  /** The set as read, by source, for people. */
  describe(): readonly ReservedSource[] {
    this.refresh(false);
    return this.sources;
  }
}
