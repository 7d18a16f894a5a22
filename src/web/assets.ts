/**
 * The page's files, read and built once when the console starts: the HTML, the stylesheet, and the
 * page's TypeScript modules with their types stripped by Node itself (module.stripTypeScriptTypes),
 * so the browser loads plain ES modules from this origin and the console needs no bundler, no
 * front-end package and no build step: whatever runs tlsboot builds the page.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';

const PAGE_DIR = join(import.meta.dirname, 'page');

export interface Asset {
  readonly type: string;
  readonly body: string;
}

export interface PageAssets {
  readonly index: string;
  /** The page's modules and stylesheet by file name (`main.ts`, `console.css`). */
  readonly files: ReadonlyMap<string, Asset>;
  /** A small page that says `text` and nothing else. */
  message(text: string): string;
  /** A page that moves on to `path` of this origin without a script. */
  redirect(path: string): string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function shell(title: string, body: string, head = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><link rel="icon" href="/assets/icon.svg"><link rel="stylesheet" href="/assets/console.css">${head}</head><body>${body}</body></html>`;
}

export function pageAssets(): PageAssets {
  const files = new Map<string, Asset>();
  for (const name of readdirSync(PAGE_DIR)) {
    const text = readFileSync(join(PAGE_DIR, name), 'utf8');
    if (name.endsWith('.ts') && !name.endsWith('.test.ts'))
      files.set(name, { type: 'text/javascript; charset=utf-8', body: stripTypeScriptTypes(text, { mode: 'strip' }) });
    else if (name.endsWith('.css')) files.set(name, { type: 'text/css; charset=utf-8', body: text });
    else if (name.endsWith('.svg')) files.set(name, { type: 'image/svg+xml', body: text });
  }
  const index = readFileSync(join(PAGE_DIR, 'index.html'), 'utf8');
  return {
    index,
    files,
    message: (text) => shell('tlsboot console', `<main class="message"><h1>tlsboot console</h1><p>${escapeHtml(text)}</p></main>`),
    redirect: (path) =>
      shell(
        'tlsboot console',
        `<main class="message"><p><a href="${escapeHtml(path)}">Continue to the console</a></p></main>`,
        `<meta http-equiv="refresh" content="0;url=${escapeHtml(path)}">`,
      ),
  };
}
