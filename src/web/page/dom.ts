/** The page's DOM helpers: elements built from text (never from HTML strings), and times in plain words. */

type Child = Node | string | null | undefined | false;

/** An element with attributes and children; text is always text, so nothing from the API can become markup. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export function byId<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return node;
}

/** `3d 4h`, `12m`, `40s`: how long `ms` is, in its two largest units. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first < 0) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join(' ');
}

export function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : `${span(now - t)} ago`;
}

/** A time as the operator's locale writes it, with the ISO form kept for the tooltip. */
export function time(iso: string): HTMLTimeElement {
  const t = Date.parse(iso);
  return el('time', { datetime: iso, title: iso }, Number.isNaN(t) ? iso : new Date(t).toLocaleString());
}
