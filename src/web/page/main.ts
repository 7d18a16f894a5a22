/** The page's entry: who is logged in, the three tabs (arrow keys move between them), and each view started once. */
import { call, setCsrf, str } from './api.ts';
import { Cluster } from './cluster.ts';
import { byId } from './dom.ts';
import { Queue } from './queue.ts';
import { Timeline } from './timeline.ts';

const queue = new Queue();
const timeline = new Timeline();
const cluster = new Cluster();
const tabs = ['queue', 'certificates', 'cluster'] as const;

function select(name: (typeof tabs)[number], focus: boolean): void {
  for (const t of tabs) {
    const tab = byId(`tab-${t}`, HTMLButtonElement);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    byId(`view-${t}`, HTMLElement).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (name === 'certificates') timeline.start();
  if (name === 'cluster') cluster.show();
  else cluster.hide();
  history.replaceState(null, '', `#${name}`);
}

tabs.forEach((t, i) => {
  const tab = byId(`tab-${t}`, HTMLButtonElement);
  tab.addEventListener('click', () => select(t, false));
  tab.addEventListener('keydown', (e) => {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (step === 0) return;
    e.preventDefault();
    select(tabs[(i + step + tabs.length) % tabs.length] ?? 'queue', true);
  });
});

const session = await call('GET', '/api/session');
setCsrf(str(session, 'csrf'));
byId('who', HTMLElement).textContent = `acting as ${str(session, 'user') || 'the kubeconfig user'} on ${str(session, 'server')}`;
queue.start();
const initial = tabs.find((t) => `#${t}` === location.hash) ?? 'queue';
select(initial, false);
