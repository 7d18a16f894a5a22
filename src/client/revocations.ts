/**
 * Revoking certificates through the API (`tlsboot certs revoke`): by serial, by the CSR that got
 * the certificate, or every live certificate issued to a node (client and serving), found in the
 * issued-certificates inventory. Each revocation is one CertificateRevocation create, so the
 * server's admission, RBAC and audit apply to every one.
 */
import { CERTIFICATE_REVOCATIONS, ISSUED_CERTIFICATES, resourcePath } from '../api/cluster-client.ts';
import { nodeNameOf } from '../api/identity.ts';
import { normaliseSerial, type RevocationReason, revocationObject } from '../api/revocation.ts';
import { InvalidError, NotFoundError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { KubeClient } from './client.ts';

/** Which certificates to revoke: exactly one of these. */
export type RevocationTarget = { readonly serial: string } | { readonly csr: string } | { readonly node: string };

export interface RevokeResult {
  readonly serial: string;
  readonly commonName: string;
  /** False when it was revoked already (a node's certificates; a named serial answers 409 instead). */
  readonly created: boolean;
}

async function items(client: KubeClient, path: string): Promise<JsonObject[]> {
  const list = await client.request(path);
  return Array.isArray(list.items) ? list.items.filter(isObject) : [];
}

function str(o: JsonObject, field: string): string {
  return typeof o[field] === 'string' ? o[field] : '';
}

/** The serials a target names, with their holders; a CSR or node with none is NOT_FOUND. */
async function serialsOf(client: KubeClient, target: RevocationTarget, now: Date): Promise<{ serial: string; commonName: string }[]> {
  if ('serial' in target) {
    const serial = normaliseSerial(target.serial);
    if (serial === undefined)
      throw new InvalidError('REVOCATION', `--serial ${target.serial}: not a serial number (hex, as openssl x509 -serial prints it)`, {
        field: 'serial',
      });
    return [{ serial, commonName: '' }];
  }
  const issued = await items(client, resourcePath(ISSUED_CERTIFICATES));
  if ('csr' in target) {
    const hit = issued.filter((i) => str(i, 'csrName') === target.csr);
    if (hit.length === 0) throw new NotFoundError('REVOCATION', `no certificate was issued for CSR ${target.csr}`, { field: 'csr' });
    return hit.map((i) => ({ serial: str(i, 'serialNumber'), commonName: str(i, 'commonName') }));
  }
  const live = issued.filter((i) => nodeNameOf(str(i, 'commonName')) === target.node && Date.parse(str(i, 'notAfter')) > now.getTime());
  if (live.length === 0)
    throw new NotFoundError('REVOCATION', `node ${target.node} holds no live certificate issued by this cluster`, { field: 'node' });
  return live.map((i) => ({ serial: str(i, 'serialNumber'), commonName: str(i, 'commonName') }));
}

export async function revokeCertificates(
  client: KubeClient,
  target: RevocationTarget,
  reason: RevocationReason,
  now: Date,
): Promise<RevokeResult[]> {
  const serials = await serialsOf(client, target, now);
  const already =
    'serial' in target
      ? new Set<string>()
      : new Set(
          (await items(client, resourcePath(CERTIFICATE_REVOCATIONS))).map((r) => String(isObject(r.metadata) ? r.metadata.name : '')),
        );
  const out: RevokeResult[] = [];
  for (const { serial, commonName } of serials) {
    if (already.has(serial)) {
      out.push({ serial, commonName, created: false });
      continue;
    }
    const stored = await client.request(resourcePath(CERTIFICATE_REVOCATIONS), { method: 'POST', body: revocationObject(serial, reason) });
    out.push({ serial, commonName: str(stored, 'commonName'), created: true });
  }
  return out;
}
