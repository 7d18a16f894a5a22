/**
 * Revocations on the certificates view: the API's CertificateRevocations, read page by page and
 * then kept live by the console's event stream of the API's watch, so each certificate can say
 * whether it is revoked; a short list of the newest; and the revoke dialog, which repeats the
 * serial and holder of the one certificate it revokes and offers only the reasons the API accepts.
 */

import { ApiError, call, isRecord, records, str } from './api.ts';
import { byId, el, time } from './dom.ts';
import type { CertificateView, RevocationView } from './view-types.ts';

/** The newest this many are listed; the rest are still counted and marked on their certificates. */
const LIST_ROWS = 50;

function revocationFrom(v: unknown): RevocationView | undefined {
  if (!isRecord(v) || typeof v.serialNumber !== 'string' || v.serialNumber === '') return undefined;
  return {
    serialNumber: v.serialNumber,
    reason: str(v, 'reason'),
    revokedAt: str(v, 'revokedAt'),
    revokedBy: str(v, 'revokedBy'),
    commonName: str(v, 'commonName'),
    notAfter: str(v, 'notAfter'),
  };
}

export class Revocations {
  private readonly bySerial = new Map<string, RevocationView>();
  private readonly dialog = byId('revoke', HTMLDialogElement);
  private readonly onChange: () => void;
  private reasons: string[] = [];
  private events: EventSource | undefined;
  private revoking: CertificateView | undefined;
  /** Why revocations are not shown (no RBAC to list them, an API without them), or '' when they are. */
  problem = '';
  loaded = false;

  constructor(onChange: () => void) {
    this.onChange = onChange;
  }

  start(): void {
    byId('revoke-cancel', HTMLButtonElement).addEventListener('click', () => this.dialog.close());
    byId('revoke-form', HTMLFormElement).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.confirm();
    });
    void this.load();
  }

  of(serial: string): RevocationView | undefined {
    return this.bySerial.get(serial);
  }

  /** Lists every page, then watches from the list's resourceVersion, as the queue does. */
  private async load(): Promise<void> {
    this.events?.close();
    try {
      const found = new Map<string, RevocationView>();
      let next = '';
      let resourceVersion = '';
      do {
        const page = await call('GET', `/api/revocations?limit=500${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`);
        if (resourceVersion === '') resourceVersion = str(page, 'resourceVersion');
        next = str(page, 'continue');
        this.reasons = Array.isArray(page.reasons) ? page.reasons.filter((r): r is string => typeof r === 'string') : [];
        for (const item of records(page.items)) {
          const r = revocationFrom(item);
          if (r) found.set(r.serialNumber, r);
        }
      } while (next !== '');
      this.bySerial.clear();
      for (const [k, v] of found) this.bySerial.set(k, v);
      this.problem = '';
      this.loaded = true;
      this.draw();
      this.watch(resourceVersion);
    } catch (error) {
      this.problem = `revocations (${error instanceof Error ? error.message : String(error)})`;
      this.draw();
      // A refusal stays a refusal; anything else may pass.
      if (!(error instanceof ApiError && (error.status === 403 || error.status === 404))) setTimeout(() => void this.load(), 5000);
    }
  }

  private watch(resourceVersion: string): void {
    const events = new EventSource(`/api/revocations/watch?resourceVersion=${encodeURIComponent(resourceVersion)}`);
    this.events = events;
    events.addEventListener('revocation', (e) => {
      const data: unknown = JSON.parse(e instanceof MessageEvent ? String(e.data) : 'null');
      if (!isRecord(data)) return;
      const r = revocationFrom(data.revocation);
      if (!r) return;
      if (data.type === 'DELETED') this.bySerial.delete(r.serialNumber);
      else this.bySerial.set(r.serialNumber, r);
      this.draw();
    });
    const relist = () => {
      events.close();
      setTimeout(() => void this.load(), 1000);
    };
    for (const type of ['gone', 'failed', 'ended']) events.addEventListener(type, relist);
    events.addEventListener('error', relist);
  }

  private draw(): void {
    const newest = [...this.bySerial.values()].sort((a, b) => b.revokedAt.localeCompare(a.revokedAt)).slice(0, LIST_ROWS);
    byId('revocations', HTMLTableElement).tBodies[0]?.replaceChildren(
      ...newest.map((r) =>
        el(
          'tr',
          { 'data-serial': r.serialNumber },
          el('td', {}, r.commonName || '—', el('div', { class: 'small name' }, r.serialNumber)),
          el('td', {}, r.reason),
          el('td', {}, r.revokedBy),
          el('td', {}, r.revokedAt === '' ? '' : time(r.revokedAt)),
        ),
      ),
    );
    byId('revocations-status', HTMLElement).textContent =
      this.problem !== ''
        ? `Not shown: ${this.problem}.`
        : `${this.bySerial.size} revoked${this.bySerial.size > LIST_ROWS ? `, the newest ${LIST_ROWS} listed` : ''}.`;
    this.onChange();
  }

  /** The dialog for exactly this certificate: its serial and holder repeated, a reason to choose. */
  open(cert: CertificateView): void {
    this.revoking = cert;
    byId('revoke-title', HTMLElement).textContent = `Revoke the certificate with serial ${cert.serialNumber}?`;
    const pair = (k: string, v: Node | string) => [el('dt', {}, k), el('dd', {}, v || '—')];
    byId('revoke-summary', HTMLElement).replaceChildren(
      ...pair('Serial', cert.serialNumber),
      ...pair('Holder', cert.commonName),
      ...pair('Requester', cert.requester),
      ...pair('Signer', cert.signer),
      ...pair('CSR', cert.csrName),
      ...pair('Valid until', time(cert.notAfter)),
    );
    const reason = byId('revoke-reason', HTMLSelectElement);
    reason.replaceChildren(...this.reasons.map((r) => el('option', { value: r }, r)));
    reason.value = 'unspecified';
    byId('revoke-error', HTMLElement).textContent = '';
    const confirm = byId('revoke-confirm', HTMLButtonElement);
    confirm.textContent = `Revoke ${cert.serialNumber} (${cert.commonName || 'no holder named'})`;
    confirm.disabled = false;
    this.dialog.showModal();
    reason.focus();
  }

  private async confirm(): Promise<void> {
    const cert = this.revoking;
    if (!cert) return;
    const confirm = byId('revoke-confirm', HTMLButtonElement);
    const error = byId('revoke-error', HTMLElement);
    confirm.disabled = true;
    try {
      const reason = byId('revoke-reason', HTMLSelectElement).value;
      const stored = revocationFrom(await call('POST', '/api/revocations', { serial: cert.serialNumber, reason }));
      if (stored) this.bySerial.set(stored.serialNumber, stored);
      this.dialog.close();
      this.draw();
    } catch (e) {
      error.textContent = e instanceof ApiError ? `Refused: ${e.message}` : `Failed: ${e instanceof Error ? e.message : String(e)}`;
      confirm.disabled = false;
    }
  }
}
