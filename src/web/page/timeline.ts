/**
 * The certificates view: the signer's issued-certificates inventory (read page by page, so 10,000
 * nodes never arrive in one answer) and the control-plane certificates, on one expiry timeline:
 * counts for 7, 30 and 90 days, a chart by day, and the soonest-expiring ones, each openable,
 * marked when revoked, and revocable from its details.
 */

import { call, isRecord, records, str } from './api.ts';
import { byId, el, span, time } from './dom.ts';
import { Revocations } from './revocations.ts';
import type { CertificateView } from './view-types.ts';

const DAY = 86_400_000;
const LIST_ROWS = 100;
const SVG = 'http://www.w3.org/2000/svg';

function certificateFrom(v: unknown): CertificateView | undefined {
  if (!isRecord(v) || typeof v.notAfter !== 'string') return undefined;
  return {
    source: v.source === 'control-plane' ? 'control-plane' : 'issued',
    name: str(v, 'name'),
    commonName: str(v, 'commonName'),
    signer: str(v, 'signer'),
    requester: str(v, 'requester'),
    csrName: str(v, 'csrName'),
    serialNumber: str(v, 'serialNumber'),
    notBefore: str(v, 'notBefore'),
    notAfter: v.notAfter,
    issuedAt: str(v, 'issuedAt'),
  };
}

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node instanceof SVGElement ? node : document.createElementNS(SVG, 'g');
}

export class Timeline {
  private readonly certs: { view: CertificateView; at: number }[] = [];
  private readonly status = byId('timeline-status', HTMLElement);
  private days = 30;
  private loaded = false;
  private started = false;
  private problems: string[] = [];
  private opened: CertificateView | undefined;
  private readonly revocations = new Revocations(() => {
    this.draw();
    if (this.opened) this.details(this.opened, false);
  });

  /** Loads on first show: the queue comes first. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const b of document.querySelectorAll<HTMLButtonElement>('button.window'))
      b.addEventListener('click', () => {
        this.days = Number(b.dataset.days);
        for (const o of document.querySelectorAll<HTMLButtonElement>('button.window')) o.setAttribute('aria-pressed', String(o === b));
        this.draw();
      });
    void this.load();
    this.revocations.start();
  }

  private add(items: unknown): void {
    for (const item of records(items)) {
      const view = certificateFrom(item);
      const at = view ? Date.parse(view.notAfter) : Number.NaN;
      if (view && !Number.isNaN(at)) this.certs.push({ view, at });
    }
  }

  private async load(): Promise<void> {
    try {
      const cp = await call('GET', '/api/control-plane-certificates');
      this.add(cp.items);
      this.problems = Array.isArray(cp.problems) ? cp.problems.filter((p): p is string => typeof p === 'string') : [];
      this.draw();
      let next = '';
      do {
        const page = await call('GET', `/api/certificates?limit=500${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`);
        next = str(page, 'continue');
        this.add(page.items);
        this.draw();
      } while (next !== '');
      this.loaded = true;
      this.draw();
    } catch (error) {
      this.status.textContent = `Could not read the certificates: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private draw(): void {
    const now = Date.now();
    const count = (from: number, to: number) => this.certs.filter((c) => c.at - now >= from && c.at - now < to).length;
    const expired = this.certs.filter((c) => c.at <= now).length;
    const buckets: [string, number, string][] = [
      ['expired', expired, 'expired'],
      ['within 7 days', count(0, 7 * DAY), 'soon'],
      ['within 30 days', count(0, 30 * DAY), 'soon'],
      ['within 90 days', count(0, 90 * DAY), ''],
      ['later', count(90 * DAY, Number.POSITIVE_INFINITY), ''],
    ];
    byId('buckets', HTMLElement).replaceChildren(
      ...buckets.map(([label, n, cls]) => el('li', { class: cls }, el('strong', {}, String(n)), label)),
    );
    this.chart(now);
    const window = this.certs
      .filter((c) => c.at - now < this.days * DAY)
      .sort((a, b) => a.at - b.at)
      .slice(0, LIST_ROWS);
    const body = byId('expiring', HTMLTableElement).tBodies[0];
    body?.replaceChildren(
      ...window.map((c) => {
        const open = el('button', { type: 'button', class: 'link' }, c.view.commonName || c.view.name);
        open.addEventListener('click', () => this.details(c.view, true));
        const revoked = c.view.source === 'issued' ? this.revocations.of(c.view.serialNumber) : undefined;
        const left = c.at - now;
        return el(
          'tr',
          {},
          el(
            'td',
            {},
            open,
            revoked ? el('span', { class: 'tag bad' }, `revoked: ${revoked.reason}`) : null,
            el('div', { class: 'small' }, c.view.name),
          ),
          el('td', {}, c.view.source === 'issued' ? 'issued' : 'control plane'),
          el('td', {}, c.view.signer),
          el(
            'td',
            {},
            time(c.view.notAfter),
            el('div', { class: left <= 0 ? 'small bad' : 'small' }, left <= 0 ? 'expired' : `in ${span(left)}`),
          ),
        );
      }),
    );
    this.status.textContent =
      `${this.certs.length} certificates${this.loaded ? '' : ' so far (reading…)'}; ${window.length} listed for the next ${this.days} days` +
      (this.problems.length > 0 ? `. Not shown: ${this.problems.join('; ')}` : '') +
      (this.revocations.problem === '' ? '' : `. Not shown: ${this.revocations.problem}`);
  }

  /** One bar per day over the next 90 days; the dashed lines mark 7 and 30 days. */
  private chart(now: number): void {
    const perDay = new Array<number>(90).fill(0);
    for (const c of this.certs) {
      const d = Math.floor((c.at - now) / DAY);
      if (d >= 0 && d < 90) perDay[d] = (perDay[d] ?? 0) + 1;
    }
    const max = Math.max(1, ...perDay);
    const W = 900;
    const H = 180;
    const root = svg('svg', { viewBox: `0 0 ${W} ${H + 24}`, role: 'img' });
    const total = perDay.reduce((a, b) => a + b, 0);
    root.append(svg('title', {}, `Certificates expiring per day over the next 90 days: ${total} in all, at most ${max} on one day`));
    perDay.forEach((n, d) => {
      if (n === 0) return;
      const h = Math.max(2, (n / max) * H);
      const bar = svg('rect', { class: d < 7 ? 'bar soon' : 'bar', x: (d * W) / 90 + 1, y: H - h, width: W / 90 - 2, height: h });
      bar.append(svg('title', {}, `${n} expiring in ${d}–${d + 1} days`));
      root.append(bar);
    });
    for (const d of [7, 30, 90]) {
      const x = Math.min(W - 1, (d * W) / 90);
      root.append(svg('line', { class: 'mark', x1: x, x2: x, y1: 0, y2: H }));
      root.append(svg('text', { x: d === 90 ? x - 48 : x + 4, y: H + 16 }, `${d} days`));
    }
    root.append(svg('text', { x: 0, y: H + 16 }, 'today'));
    byId('chart', HTMLElement).replaceChildren(root);
  }

  private details(c: CertificateView, focus: boolean): void {
    this.opened = c;
    const pair = (k: string, v: Node | string) => [el('dt', {}, k), el('dd', {}, v || '—')];
    const aside = byId('cert-details', HTMLElement);
    aside.replaceChildren(
      el('h3', {}, c.commonName || c.name),
      el(
        'dl',
        { class: 'summary' },
        ...pair('Source', c.source === 'issued' ? 'issued by the cluster signer' : 'control plane'),
        ...pair('Name', c.name),
        ...pair('Signer / issuer', c.signer),
        ...pair('Requester', c.requester),
        ...pair('CSR', c.csrName),
        ...pair('Serial', c.serialNumber),
        ...pair('Valid from', c.notBefore === '' ? '' : time(c.notBefore)),
        ...pair('Valid until', time(c.notAfter)),
        ...pair('Issued at', c.issuedAt === '' ? '' : time(c.issuedAt)),
        ...(c.source === 'issued' ? pair('Revocation', this.revocationOf(c)) : []),
      ),
    );
    aside.tabIndex = -1;
    if (focus) aside.focus();
  }

  /** Whether it is revoked (reason, by whom, when), or the button that revokes it while it is live. */
  private revocationOf(c: CertificateView): Node | string {
    const r = this.revocations.of(c.serialNumber);
    if (r) return el('span', { class: 'bad' }, `revoked (${r.reason}) by ${r.revokedBy || 'unknown'} at `, time(r.revokedAt));
    if (Date.parse(c.notAfter) <= Date.now()) return 'not revoked (expired: refused already)';
    if (!this.revocations.loaded) return this.revocations.problem === '' ? 'reading revocations…' : 'unknown (revocations not readable)';
    const revoke = el('button', { type: 'button', class: 'deny', 'aria-label': `Revoke ${c.serialNumber}` }, 'Revoke…');
    revoke.addEventListener('click', () => this.revocations.open(c));
    return el('span', {}, 'not revoked ', revoke);
  }
}
