/**
 * The cluster view: server health and version, the controllers' leader, the signing session with
 * its budget, and bootstrap tokens (time left, create with a copyable join command, delete).
 */
import { ApiError, call, isRecord, records, str } from './api.ts';
import { byId, el, span, time } from './dom.ts';

const num = (o: Record<string, unknown>, k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);

export class Cluster {
  private timer: ReturnType<typeof setInterval> | undefined;
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
  }

  hide(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
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
