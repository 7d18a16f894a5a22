/**
 * The cluster view: server health and version, the controllers' leader, the signing session with
 * its budget, the API server's metrics (every 15 s), and bootstrap tokens (time left, create with a
 * copyable join command, delete).
 */
import { ApiError, call, isRecord, records, str } from './api.ts';
import { byId, el, span, time } from './dom.ts';
import type { IssuanceLatency, MetricCount, MetricsView } from './view-types.ts';

const num = (o: Record<string, unknown>, k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);

export class Cluster {
  private timer: ReturnType<typeof setInterval> | undefined;
  private metricsTimer: ReturnType<typeof setInterval> | undefined;
  private wired = false;
  private readonly tokenStatus = byId('token-status', HTMLElement);

  show(): void {
    if (!this.wired) {
      this.wired = true;
      byId('token-create', HTMLFormElement).addEventListener('submit', (e) => {
        e.preventDefault();
        void this.create();
      });
      byId('copy-join', HTMLButtonElement).addEventListener('click', () => void this.copy());
    }
    void this.refresh();
    this.timer ??= setInterval(() => void this.refresh(), 10_000);
    void this.metrics();
    // Counters move slowly and /metrics is a large answer: every 15 s, as a Prometheus scrape would.
    this.metricsTimer ??= setInterval(() => void this.metrics(), 15_000);
  }

  hide(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.metricsTimer !== undefined) clearInterval(this.metricsTimer);
    this.timer = undefined;
    this.metricsTimer = undefined;
  }

  private async metrics(): Promise<void> {
    const target = byId('cluster-metrics', HTMLElement);
    try {
      target.replaceChildren(...metricCards(asMetricsView(await call('GET', '/api/metrics'))));
    } catch (error) {
      target.replaceChildren(
        el('p', { class: 'bad' }, `Could not read the metrics: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }

  private async refresh(): Promise<void> {
    await Promise.all([this.health(), this.tokens()]);
  }

  private async health(): Promise<void> {
    const target = byId('cluster-health', HTMLElement);
    try {
      const c = await call('GET', '/api/cluster');
      const cards: HTMLElement[] = [];
      const checks = records(c.health);
      const version = isRecord(c.version) ? c.version : {};
      cards.push(
        el(
          'div',
          { class: 'card' },
          el('h4', {}, 'API server'),
          el('p', {}, str(c, 'server')),
          ...checks.map((h) =>
            el(
              'p',
              {},
              `${str(h, 'path')}: `,
              el(
                'span',
                { class: h.ok === true ? 'ok' : 'bad' },
                h.ok === true ? 'ok' : `not ok (${str(h, 'text') || `HTTP ${String(h.status)}`})`,
              ),
            ),
          ),
          el('p', { class: 'small' }, `version ${str(version, 'gitVersion') || `${str(version, 'major')}.${str(version, 'minor')}`}`),
        ),
      );
      const leader = isRecord(c.leader) ? c.leader : {};
      const renew = str(leader, 'renewTime');
      const stale = renew !== '' && Date.now() - Date.parse(renew) > (num(leader, 'durationSeconds') ?? 15) * 1000;
      cards.push(
        el(
          'div',
          { class: 'card' },
          el('h4', {}, 'Controllers'),
          str(leader, 'none') !== ''
            ? el('p', {}, str(leader, 'none'))
            : str(leader, 'error') !== ''
              ? el('p', { class: 'bad' }, `no leader known: ${str(leader, 'error')}`)
              : el(
                  'p',
                  {},
                  'leader: ',
                  el('strong', { class: stale ? 'bad' : 'ok' }, str(leader, 'holder') || 'none'),
                  renew === ''
                    ? ''
                    : el(
                        'span',
                        { class: 'small' },
                        ` renewed ${span(Date.now() - Date.parse(renew))} ago${stale ? ' (stale: no controller is leading)' : ''}`,
                      ),
                ),
        ),
      );
      const signing = isRecord(c.signing) ? c.signing : {};
      const sessions = records(signing.sessions);
      const open = sessions.find((s) => s.phase === 'Open');
      const sessionLines: (HTMLElement | string)[] = [];
      if (str(signing, 'none') !== '') sessionLines.push(el('p', {}, `no sessions: ${str(signing, 'none')}`));
      else if (str(signing, 'error') !== '') sessionLines.push(el('p', { class: 'bad' }, str(signing, 'error')));
      else if (!open) {
        sessionLines.push(el('p', { class: 'bad' }, 'no signing session is open: approved requests for a sealed or remote CA wait'));
        for (const s of sessions)
          sessionLines.push(el('p', { class: 'small' }, `last: ${str(s, 'phase')} at `, time(str(s, 'closedAt') || str(s, 'expiresAt'))));
      } else {
        const spec = isRecord(open.spec) ? open.spec : {};
        const grant = isRecord(open.grant) ? open.grant : {};
        const max = num(spec, 'maxCertificates');
        const signed = num(open, 'signed') ?? 0;
        const left = num(grant, 'certificatesLeft') ?? (max === undefined ? undefined : max - signed);
        sessionLines.push(
          el('p', { class: 'ok' }, `open (${str(open, 'mode')}), by ${str(open, 'openedBy')}`),
          el('p', {}, 'until ', time(str(open, 'expiresAt')), ` (${span(Date.parse(str(open, 'expiresAt')) - Date.now())} left)`),
          el('p', {}, `signed ${signed}; budget: ${left === undefined ? 'no limit' : `${left} certificates left`}`),
        );
      }
      cards.push(el('div', { class: 'card' }, el('h4', {}, 'Signing session'), ...sessionLines));
      target.replaceChildren(...cards);
    } catch (error) {
      target.replaceChildren(
        el('p', { class: 'bad' }, `Could not read the cluster: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }

  private async tokens(): Promise<void> {
    const body = byId('tokens', HTMLTableElement).tBodies[0];
    try {
      const list = await call('GET', '/api/tokens');
      const rows = records(list.items).map((t) => {
        const id = str(t, 'id');
        const del = el('button', { type: 'button', class: 'delete', 'aria-label': `Delete token ${id}` }, 'Delete');
        del.addEventListener('click', () => void this.remove(id));
        const expiration = str(t, 'expiration');
        return el(
          'tr',
          {},
          el('td', { class: 'name' }, `${id}.<secret>`),
          el('td', {}, str(t, 'ttl')),
          el('td', {}, expiration === '' ? 'never' : time(expiration)),
          el('td', {}, Array.isArray(t.usages) ? t.usages.join(', ') : ''),
          el('td', {}, str(t, 'description')),
          el('td', {}, del),
        );
      });
      body?.replaceChildren(...(rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: '6' }, 'No bootstrap tokens.'))]));
    } catch (error) {
      this.tokenStatus.textContent = `Could not list tokens: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private async create(): Promise<void> {
    try {
      const made = await call('POST', '/api/tokens', {
        ttl: byId('token-ttl', HTMLInputElement).value,
        description: byId('token-description', HTMLInputElement).value,
      });
      byId('join-command', HTMLTextAreaElement).value = str(made, 'joinCommand');
      byId('token-created', HTMLElement).hidden = false;
      this.tokenStatus.textContent = 'Token created. Copy the join command now: the console does not show the secret again.';
      byId('join-command', HTMLTextAreaElement).focus();
      byId('join-command', HTMLTextAreaElement).select();
      await this.tokens();
    } catch (error) {
      this.tokenStatus.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error);
    }
  }

  private async copy(): Promise<void> {
    const text = byId('join-command', HTMLTextAreaElement).value;
    try {
      await navigator.clipboard.writeText(text);
      this.tokenStatus.textContent = 'Join command copied.';
    } catch {
      byId('join-command', HTMLTextAreaElement).select();
      this.tokenStatus.textContent = 'The browser refused the clipboard: the command is selected, press Ctrl+C.';
    }
  }

  private async remove(id: string): Promise<void> {
    if (!window.confirm(`Delete bootstrap token ${id}? Nodes can no longer join with it.`)) return;
    try {
      await call('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
      this.tokenStatus.textContent = `Token ${id} deleted.`;
      await this.tokens();
    } catch (error) {
      this.tokenStatus.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error);
    }
  }
}

const counts = (v: unknown): MetricCount[] =>
  records(v).map((c) => ({
    labels: isRecord(c.labels) ? Object.fromEntries(Object.entries(c.labels).map(([k, l]) => [k, typeof l === 'string' ? l : ''])) : {},
    value: num(c, 'value') ?? 0,
  }));
const orNull = (o: Record<string, unknown>, k: string): number | null => num(o, k) ?? null;

/** The console's answer read field by field: a missing or odd field shows as nothing, never breaks the tab. */
function asMetricsView(o: Record<string, unknown>): MetricsView {
  const issuance: IssuanceLatency[] = records(o.issuance).map((h) => ({
    signer: str(h, 'signer'),
    count: num(h, 'count') ?? 0,
    meanSeconds: orNull(h, 'meanSeconds'),
    p50Seconds: orNull(h, 'p50Seconds'),
    p99Seconds: orNull(h, 'p99Seconds'),
  }));
  return {
    issued: counts(o.issued),
    pending: counts(o.pending),
    issuance,
    approvals: counts(o.approvals),
    denials: counts(o.denials),
    authenticationFailures: counts(o.authenticationFailures),
    revocations: counts(o.revocations),
    crlAgeSeconds: counts(o.crlAgeSeconds),
    skippedLines: num(o, 'skippedLines') ?? 0,
  };
}

const AGES = ['under_1m', '1m_to_1h', '1h_to_1d', 'over_1d'];
const seconds = (s: number | null): string =>
  s === null ? '–' : s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(1)} s` : span(s * 1000);

function countLines(items: readonly MetricCount[], label: (l: Readonly<Record<string, string>>) => string, none: string): HTMLElement[] {
  if (items.length === 0) return [el('p', { class: 'small' }, none)];
  return [...items]
    .sort((a, b) => b.value - a.value)
    .map((c) => el('p', {}, `${label(c.labels) || '(none)'}: `, el('strong', {}, String(c.value))));
}

function metricCards(m: MetricsView): HTMLElement[] {
  const card = (title: string, ...body: HTMLElement[]) => el('div', { class: 'card' }, el('h4', {}, title), ...body);
  const pending = AGES.map((age) => m.pending.filter((p) => p.labels.age === age).reduce((n, p) => n + p.value, 0));
  const decided = (c: Readonly<Record<string, string>>) => `${c.controller ?? ''} ${c.reason ?? ''}`.trim();
  const cards = [
    card('Certificates issued', ...countLines(m.issued, (l) => l.signer ?? '', 'none counted by this server')),
    card(
      'Pending CSRs by age',
      ...(m.pending.length === 0
        ? [el('p', { class: 'small' }, "not counted here (this server's controllers do not lead)")]
        : AGES.map((age, i) =>
            el(
              'p',
              {},
              `${age.replaceAll('_', ' ')}: `,
              el('strong', { class: i >= 2 && (pending[i] ?? 0) > 0 ? 'bad' : '' }, String(pending[i] ?? 0)),
            ),
          )),
    ),
    card(
      'CSR to certificate',
      ...(m.issuance.length === 0
        ? [el('p', { class: 'small' }, 'no certificate issued yet')]
        : m.issuance.map((h) =>
            el(
              'p',
              {},
              `${h.signer}: ${h.count} issued, p50 ${seconds(h.p50Seconds)}, p99 ${seconds(h.p99Seconds)}, mean ${seconds(h.meanSeconds)}`,
            ),
          )),
    ),
    card(
      'Decisions by controllers',
      ...countLines(m.approvals, (l) => `approved, ${decided(l)}`, 'no approvals counted'),
      ...countLines(m.denials, (l) => `denied, ${decided(l)}`, 'no denials counted'),
    ),
    card('Authentication failures', ...countLines(m.authenticationFailures, (l) => l.method ?? '', 'none')),
  ];
  if (m.revocations.length > 0 || m.crlAgeSeconds.length > 0)
    cards.push(
      card(
        'Revocations',
        ...countLines(m.revocations, (l) => l.reason ?? '', 'none counted'),
        ...m.crlAgeSeconds.map((c) => el('p', {}, `CRL ${c.labels.shard ?? ''} age: `, el('strong', {}, seconds(c.value)))),
      ),
    );
  if (m.skippedLines > 0)
    cards.push(card('Unread', el('p', { class: 'small' }, `${m.skippedLines} lines of /metrics did not parse and were skipped`)));
  return cards;
}
