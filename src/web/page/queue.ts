/**
 * The queue view: pending CSRs, newest first, loaded page by page and then kept live by the
 * console's event stream of the API's watch; filters by signer and requester; approve and deny
 * through a confirmation dialog that names exactly what is being decided.
 */

import { ApiError, call, isRecord, records, str } from './api.ts';
import { ago, byId, el, span } from './dom.ts';
import type { CsrView } from './view-types.ts';

/** At most this many rows are drawn; filters narrow the rest (10,000 rows would make the page crawl). */
const MAX_ROWS = 200;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A CSR view from the console's JSON, or undefined for anything that is not one. */
export function csrFrom(v: unknown): CsrView | undefined {
  if (!isRecord(v) || typeof v.name !== 'string' || typeof v.uid !== 'string' || typeof v.pending !== 'boolean') return undefined;
  return {
    name: v.name,
    uid: v.uid,
    createdAt: str(v, 'createdAt'),
    requester: str(v, 'requester'),
    groups: strings(v.groups),
    signer: str(v, 'signer'),
    subject: str(v, 'subject'),
    commonName: str(v, 'commonName'),
    organizations: strings(v.organizations),
    sans: strings(v.sans),
    keyType: str(v, 'keyType'),
    usages: strings(v.usages),
    requestedSeconds: typeof v.requestedSeconds === 'number' ? v.requestedSeconds : null,
    pending: v.pending,
    state: str(v, 'state'),
    conditions: records(v.conditions).map((c) => ({ type: str(c, 'type'), reason: str(c, 'reason'), message: str(c, 'message') })),
    why: strings(v.why),
  };
}

export class Queue {
  private readonly pending = new Map<string, CsrView>();
  private readonly fresh = new Set<string>();
  private readonly body = byId('queue', HTMLTableElement).tBodies[0] ?? document.createElement('tbody');
  private readonly status = byId('queue-status', HTMLElement);
  private readonly signer = byId('filter-signer', HTMLSelectElement);
  private readonly requester = byId('filter-requester', HTMLInputElement);
  private readonly dialog = byId('decide', HTMLDialogElement);
  private events: EventSource | undefined;
  private live = false;
  private loading = false;
  private scanned = 0;
  private drawPending = false;
  private deciding: { csr: CsrView; verb: 'approve' | 'deny' } | undefined;

  start(): void {
    this.signer.addEventListener('change', () => this.draw());
    this.requester.addEventListener('input', () => this.draw());
    byId('queue-filters', HTMLFormElement).addEventListener('submit', (e) => e.preventDefault());
    byId('decide-cancel', HTMLButtonElement).addEventListener('click', () => this.dialog.close());
    byId('decide-form', HTMLFormElement).addEventListener('submit', (e) => {
      e.preventDefault();
      void this.confirm();
    });
    void this.load();
    // Ages move on by themselves.
    setInterval(() => this.draw(), 30_000);
  }

  /** Lists every page, then watches from the list's resourceVersion: the informer's way, so nothing is missed between the two. */
  private async load(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    this.live = false;
    this.events?.close();
    this.pending.clear();
    this.scanned = 0;
    try {
      let next = '';
      let resourceVersion = '';
      do {
        const page = await call('GET', `/api/csrs?limit=500${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`);
        if (resourceVersion === '') resourceVersion = str(page, 'resourceVersion');
        next = str(page, 'continue');
        this.scanned += typeof page.scanned === 'number' ? page.scanned : 0;
        for (const item of records(page.items)) {
          const csr = csrFrom(item);
          if (csr) this.pending.set(csr.name, csr);
        }
        this.draw();
      } while (next !== '');
      this.watch(resourceVersion);
    } catch (error) {
      this.status.textContent = `Could not load the queue: ${error instanceof Error ? error.message : String(error)}. Retrying in 5 s.`;
      setTimeout(() => void this.load(), 5000);
    } finally {
      this.loading = false;
    }
  }

  private watch(resourceVersion: string): void {
    const events = new EventSource(`/api/csrs/watch?resourceVersion=${encodeURIComponent(resourceVersion)}`);
    this.events = events;
    events.addEventListener('open', () => {
      this.live = true;
      this.draw();
    });
    events.addEventListener('csr', (e) => {
      const data: unknown = JSON.parse(e instanceof MessageEvent ? String(e.data) : 'null');
      if (!isRecord(data)) return;
      const csr = csrFrom(data.csr);
      if (!csr) return;
      if (data.type === 'DELETED' || !csr.pending) this.pending.delete(csr.name);
      else {
        if (data.type === 'ADDED') this.fresh.add(csr.name);
        this.pending.set(csr.name, csr);
      }
      this.scheduleDraw();
    });
    // The stream ended or fell behind (410 Gone): list again, as an informer does.
    const relist = () => {
      events.close();
      this.live = false;
      this.draw();
      setTimeout(() => void this.load(), 1000);
    };
    for (const type of ['gone', 'failed', 'ended']) events.addEventListener(type, relist);
    events.addEventListener('error', relist);
  }

  /** Many events at once (a storm of nodes) redraw once per frame. */
  private scheduleDraw(): void {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  private draw(): void {
    const now = Date.now();
    const signers = [...new Set([...this.pending.values()].map((c) => c.signer))].sort();
    const chosen = this.signer.value;
    const known = new Set([...this.signer.options].map((o) => o.value));
    for (const s of signers) if (!known.has(s)) this.signer.append(el('option', { value: s }, s));
    const needle = this.requester.value.trim().toLowerCase();
    const shown = [...this.pending.values()]
      .filter((c) => (chosen === '' || c.signer === chosen) && (needle === '' || c.requester.toLowerCase().includes(needle)))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name));
    const rows = shown.slice(0, MAX_ROWS).map((c) => this.row(c, now));
    this.body.replaceChildren(...rows);
    const state = this.loading ? 'loading…' : this.live ? 'live' : 'reconnecting…';
    this.status.textContent =
      `${this.pending.size} pending${this.loading ? ` (${this.scanned} requests read so far)` : ''}, ${shown.length} match the filters` +
      `${shown.length > MAX_ROWS ? `, showing the newest ${MAX_ROWS}` : ''} · ${state}`;
  }

  private row(c: CsrView, now: number): HTMLTableRowElement {
    const approve = el('button', { type: 'button', class: 'approve', 'aria-label': `Approve ${c.name}` }, 'Approve');
    const deny = el('button', { type: 'button', class: 'deny', 'aria-label': `Deny ${c.name}` }, 'Deny');
    approve.addEventListener('click', () => this.open(c, 'approve'));
    deny.addEventListener('click', () => this.open(c, 'deny'));
    const approved = c.conditions.some((x) => x.type === 'Approved');
    return el(
      'tr',
      { class: this.fresh.has(c.name) ? 'new' : '', 'data-name': c.name },
      el('td', { 'data-label': 'Request' }, el('div', { class: 'name' }, c.name), el('div', { class: 'small' }, ago(c.createdAt, now))),
      el('td', { 'data-label': 'Requester' }, c.requester, el('div', { class: 'small' }, c.groups.join(', '))),
      el('td', { 'data-label': 'Signer' }, c.signer),
      el(
        'td',
        { 'data-label': 'Subject, names' },
        c.subject,
        c.sans.length > 0 ? el('div', { class: 'small' }, c.sans.join(', ')) : null,
        el('div', { class: 'small' }, c.usages.join(', ')),
      ),
      el(
        'td',
        { 'data-label': 'Key, duration' },
        c.keyType,
        el('div', { class: 'small' }, c.requestedSeconds === null ? 'signer default' : span(c.requestedSeconds * 1000)),
      ),
      el(
        'td',
        { 'data-label': 'Why it waits', class: 'why' },
        approved ? el('span', { class: 'tag warn' }, 'approved, not issued') : null,
        ...c.why.map((w) => el('p', {}, w)),
      ),
      el(
        'td',
        { 'data-label': 'Decide' },
        approved ? el('span', { class: 'small' }, 'decided') : el('div', { class: 'decide' }, approve, deny),
      ),
    );
  }

  private open(csr: CsrView, verb: 'approve' | 'deny'): void {
    this.deciding = { csr, verb };
    byId('decide-title', HTMLElement).textContent = `${verb === 'approve' ? 'Approve' : 'Deny'} ${csr.name}?`;
    const summary = byId('decide-summary', HTMLElement);
    const pair = (k: string, v: string) => [el('dt', {}, k), el('dd', {}, v || '—')];
    summary.replaceChildren(
      ...pair('Requester', csr.requester),
      ...pair('Signer', csr.signer),
      ...pair('Subject', csr.subject),
      ...pair('Names', csr.sans.join(', ')),
      ...pair('Usages', csr.usages.join(', ')),
      ...pair('Key', csr.keyType),
      ...pair('Duration', csr.requestedSeconds === null ? 'signer default' : span(csr.requestedSeconds * 1000)),
      ...pair('Why it waits', csr.why.join(' ')),
    );
    const message = byId('decide-message', HTMLTextAreaElement);
    message.value = '';
    message.required = verb === 'deny';
    byId('decide-label', HTMLElement).textContent = verb === 'deny' ? 'Reason, shown to the requester (required)' : 'Note (optional)';
    byId('decide-error', HTMLElement).textContent = '';
    const confirm = byId('decide-confirm', HTMLButtonElement);
    confirm.textContent = verb === 'approve' ? 'Approve this request' : 'Deny this request';
    confirm.className = verb;
    confirm.disabled = false;
    this.dialog.showModal();
    message.focus();
  }

  private async confirm(): Promise<void> {
    const d = this.deciding;
    if (!d) return;
    const confirm = byId('decide-confirm', HTMLButtonElement);
    const error = byId('decide-error', HTMLElement);
    confirm.disabled = true;
    try {
      const message = byId('decide-message', HTMLTextAreaElement).value;
      const decided = csrFrom(await call('POST', `/api/csrs/${encodeURIComponent(d.csr.name)}/${d.verb}`, { uid: d.csr.uid, message }));
      if (decided && !decided.pending) this.pending.delete(decided.name);
      else if (decided) this.pending.set(decided.name, decided);
      this.dialog.close();
      this.draw();
      this.status.textContent = `${d.csr.name} ${d.verb === 'approve' ? 'approved' : 'denied'}. ${this.status.textContent}`;
    } catch (e) {
      error.textContent = e instanceof ApiError ? `Refused: ${e.message}` : `Failed: ${e instanceof Error ? e.message : String(e)}`;
      confirm.disabled = false;
    }
  }
}
