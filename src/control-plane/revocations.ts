/**
 * The server's side of revocation (src/api/revocation.ts): the revoked serials, kept in memory by an
 * informer on the revocations so that authentication checks a client certificate in O(1) with no
 * store read per request, and tells listeners (authn closes the connections a certificate holds)
 * when one is revoked; and what revocation admission reads and writes: the issued-certificates
 * inventory, and the CA audit log once a revocation is stored.
 */
import { CERTIFICATE_REVOCATIONS, ISSUED_CERTIFICATES, type KubeObject, storeKeyOf } from '../api/cluster-client.ts';
import { asRevocation, type CertificateRevocation, type RevokedCertificateFacts } from '../api/revocation.ts';
import type { Clock } from '../base/clock.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { Informer } from '../runtime/informer.ts';
import type { RevocationAdmission } from '../server/admission.ts';
import type { RevokedSerials } from '../server/authn.ts';
import type { AuditLog } from '../signer/audit.ts';
import { type Store, storeListWatch } from '../store/index.ts';

export class RevokedSerialsCache implements RevokedSerials {
  private readonly informer: Informer<KubeObject>;
  private readonly listeners = new Set<(serial: string) => void>();
  private readonly changeListeners = new Set<() => void>();

  constructor(o: { store: Store; clock?: Clock; onError: (error: unknown) => void }) {
    this.informer = new Informer({
      source: storeListWatch(o.store, storeKeyOf(CERTIFICATE_REVOCATIONS)),
      ...(o.clock === undefined ? {} : { clock: o.clock }),
      onChange: (key, type) => {
        for (const l of this.changeListeners) l();
        if (type !== 'ADDED') return;
        const serial = key.slice(key.indexOf('/') + 1);
        for (const l of this.listeners) l(serial);
      },
      onError: o.onError,
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  has(serial: string): boolean {
    return this.informer.get('', serial) !== undefined;
  }

  onRevoked(listener: (serial: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` after every change (a revocation added, or pruned); returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Every well-formed revocation held now. */
  list(): CertificateRevocation[] {
    return this.informer.list().flatMap((o) => asRevocation(o) ?? []);
  }

  close(): Promise<void> {
    return this.informer.close();
  }
}

function text(obj: JsonObject, field: string): string {
  return typeof obj[field] === 'string' ? obj[field] : '';
}

/**
 * The facts of the certificate issued with `serial`. Revocations are rare, so the inventory is
 * scanned rather than indexed: a server keeps no per-certificate memory for them.
 */
export async function issuedBySerial(store: Store, serial: string): Promise<RevokedCertificateFacts | undefined> {
  const { items } = await store.list(storeKeyOf(ISSUED_CERTIFICATES), { namespace: '' });
  const hit = items.find((i) => i.serialNumber === serial);
  if (hit === undefined) return undefined;
  return {
    commonName: text(hit, 'commonName'),
    csrName: text(hit, 'csrName'),
    signerName: text(hit, 'signerName'),
    notAfter: text(hit, 'notAfter'),
  };
}

export function revocationAdmission(
  store: Store,
  now: () => Date,
  audit: AuditLog,
  counted?: { revoked(reason: string): void },
): RevocationAdmission {
  return {
    issued: (serial) => issuedBySerial(store, serial),
    now,
    revoked: (revocation, user) => {
      const meta = isObject(revocation.metadata) ? revocation.metadata : {};
      audit.record({
        event: 'certificate.revoked',
        actor: user.name,
        serial: String(meta.name ?? ''),
        reason: text(revocation, 'reason'),
        commonName: text(revocation, 'commonName'),
        csr: text(revocation, 'csrName'),
        signer: text(revocation, 'signerName'),
      });
      counted?.revoked(text(revocation, 'reason'));
    },
  };
}
