/**
 * LIST as kube-apiserver serves it: `limit` and `continue` paging (items in key order, an opaque
 * continue token carrying the first page's resourceVersion and the last key, `remainingItemCount`
 * when no selector filters, later pages read at the first page's revision, 410 Expired for a
 * token whose revision was compacted, 400 for a malformed one), streamed to the response in
 * chunks from bounded store pages with back-pressure, so no response is ever built whole in
 * memory and no stretch of it holds the event loop. Objects go out as the store's JSON text when
 * that is already what GET sends, without being parsed and re-encoded. The plain list and the
 * Table form share the stream; the watch's initial listing reuses `Scan`.
 */
import type { ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BadRequestError, GoneError, InternalError, isTlsbootError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { ListPageJson, PageItem, PageStart, Store } from '../store/index.ts';
import { exactListRevision, LIST_EXPIRED_MESSAGE, type ReadOptions } from './list-options.ts';
import { apiVersionOf, type ResourceDef, storeResourceOf } from './registry.ts';
import { present } from './rest.ts';
import { columnDefinitions, type TableColumn, tableRow } from './table.ts';

/** Objects per store page while streaming, and the JSON bytes a page may hold before it ends early. */
const PAGE_OBJECTS = 500;
const PAGE_BYTES = 1024 * 1024;
/**
 * A chunk of the response ends at this many bytes of JSON or after this much work, whichever
 * comes first; then it is written and the event loop gets a turn (or waits for the client). One
 * write per item made a TLS record each (a third of a 50,000-object LIST's time went to writev).
 */
const CHUNK_BYTES = 256 * 1024;
const CHUNK_MS = 4;

/** kube-apiserver's text for a continue token whose revision was compacted. */
export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

export interface ListRequest {
  /** Most items in the response; undefined for all of them. */
  readonly limit: number | undefined;
  /** Where a continue token resumes: its revision and the last key the previous page held. */
  readonly resume: { readonly revision: number; readonly after: PageStart } | undefined;
  /** The revision the list must describe exactly (list-options.ts decides when); undefined for the current one. */
  readonly exact?: number | undefined;
}

function invalidContinue(detail: string): BadRequestError {
  return new BadRequestError('CONTINUE', `invalid continue token: continue key is not valid: ${detail}`, { field: 'continue' });
}

/**
 * The token kube-apiserver writes: base64url (unpadded) of `{"v":"meta.k8s.io/v1","rv":R,"start":K}`
 * where K is the last key relative to the list's scope followed by a NUL, i.e. "the keys after it".
 */
export function encodeContinue(revision: number, last: PageStart, allNamespaces: boolean): string {
  const start = `${allNamespaces ? `${last.namespace}/` : ''}${last.name}\u0000`;
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start })).toString('base64url');
}

export function decodeContinue(
  token: string,
  scope: { readonly namespace: string; readonly allNamespaces: boolean },
): ListRequest['resume'] {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(token)) throw invalidContinue('not base64url');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidContinue('not JSON');
  }
  if (!isObject(parsed) || parsed.v !== 'meta.k8s.io/v1') throw invalidContinue('unrecognized encoded version');
  const { rv, start } = parsed;
  if (typeof rv !== 'number' || !Number.isSafeInteger(rv) || rv < 1) throw invalidContinue('incorrect encoded start resourceVersion');
  if (typeof start !== 'string' || !start.endsWith('\u0000') || start.length < 2) throw invalidContinue('incorrect start key');
  const key = start.slice(0, -1);
  if (!scope.allNamespaces) {
    if (key.includes('/')) throw invalidContinue('incorrect start key');
    return { revision: rv, after: { namespace: scope.namespace, name: key } };
  }
  const slash = key.indexOf('/');
  if (slash < 0 || key.indexOf('/', slash + 1) >= 0) throw invalidContinue('incorrect start key');
  return { revision: rv, after: { namespace: key.slice(0, slash), name: key.slice(slash + 1) } };
}

/** `limit` and `continue` from the query. A limit of 0 or less means no limit, as in Kubernetes. */
export function parseListRequest(
  query: URLSearchParams,
  scope: { readonly namespace: string; readonly allNamespaces: boolean },
  options?: ReadOptions,
): ListRequest {
  const limitText = query.get('limit');
  let limit: number | undefined;
  if (limitText !== null && limitText !== '') {
    if (!/^-?\d{1,15}$/.test(limitText))
      throw new BadRequestError('LIMIT', `invalid limit "${limitText}": must be an integer`, { field: 'limit' });
    const n = Number(limitText);
    limit = n > 0 ? n : undefined;
  }
  const token = query.get('continue');
  const rv = query.get('resourceVersion');
  // The token carries its own revision; a second one could only contradict it (kube-apiserver's rule and words).
  if (token !== null && token !== '' && rv !== null && rv !== '' && rv !== '0') {
    throw new BadRequestError('CONTINUE', 'specifying resource version is not allowed when using continue', {
      field: 'resourceVersion',
    });
  }
  return {
    limit,
    resume: token === null || token === '' ? undefined : decodeContinue(token, scope),
    exact: options === undefined ? undefined : exactListRevision(options, limit),
  };
}

function keyOf(item: PageItem): PageStart {
  return { namespace: item.namespace, name: item.name };
}

/** An object of a scan as GET presents it: decoded, apiVersion and kind first. */
export function presentItem(def: ResourceDef, item: PageItem): JsonObject {
  const parsed: unknown = JSON.parse(item.json);
  if (!isObject(parsed)) throw new InternalError('STORE_CORRUPT', 'a stored object is not a JSON object');
  return present(def, parsed);
}

/**
 * How every object GET sends for `def` begins: `present` puts apiVersion and kind first, and the
 * store's text is JSON.stringify of the object, so a text that already begins with these exact
 * bytes is byte for byte what JSON.stringify(present(...)) would give.
 */
function presentedHead(def: ResourceDef): string {
  return `{"apiVersion":${JSON.stringify(apiVersionOf(def))},"kind":${JSON.stringify(def.kind)},`;
}

/** The item's JSON as GET sends it: its stored text when that already is it, else re-encoded (from `obj` when decoded already). */
function presentedJson(def: ResourceDef, head: string, item: PageItem, obj?: JsonObject): string {
  return item.json.startsWith(head) ? item.json : JSON.stringify(obj ?? presentItem(def, item));
}

/**
 * Every object of `resource` after `after`, at one revision, one bounded store page at a time.
 * `open()` reads the first page and reports its revision; `countRemaining()` how many objects
 * follow the one last returned.
 */
export class Scan {
  private readonly store: Store;
  private readonly resource: string;
  private readonly namespace: string | undefined;
  /** Set when a field selector pins one name and the namespace is known: a key read, not a scan. */
  private readonly name: string | undefined;
  private page: ListPageJson | undefined;
  private index = 0;
  private after: PageStart | undefined;
  private at: number | undefined;

  private readonly continued: boolean;

  /** The most objects the caller will take, when it knows (an unfiltered LIST with a limit): no page reads past them. */
  private readonly want: number | undefined;
  private returned = 0;

  constructor(
    store: Store,
    def: ResourceDef,
    namespace: string,
    resume?: ListRequest['resume'],
    exact?: number,
    name?: string,
    want?: number,
  ) {
    this.store = store;
    this.want = want;
    this.resource = storeResourceOf(def);
    this.namespace = def.namespaced && namespace !== '' ? namespace : undefined;
    // Cluster-scoped objects are all stored under namespace '', so one name is one key there too.
    const keyNamespace = def.namespaced ? this.namespace : '';
    this.name = name !== undefined && keyNamespace !== undefined ? name : undefined;
    if (this.name !== undefined) this.namespace = keyNamespace;
    this.after = resume?.after;
    this.at = resume?.revision ?? exact;
    this.continued = resume !== undefined;
  }

  /** Reads the first page; a continue token's compacted revision fails here, before any byte is sent. */
  async open(): Promise<number> {
    try {
      this.page = await this.fetch();
    } catch (error) {
      if (isTlsbootError(error) && error.code === 'GONE' && this.at !== undefined) {
        if (!this.continued) throw new GoneError('LIST_EXPIRED', LIST_EXPIRED_MESSAGE, { cause: error });
        throw new GoneError('CONTINUE_EXPIRED', CONTINUE_EXPIRED_MESSAGE, { cause: error });
      }
      if (isTlsbootError(error) && error.code === 'INVALID' && this.continued) throw invalidContinue('resourceVersion not reached');
      throw error;
    }
    this.at = this.page.revision;
    return this.at;
  }

  private fetch(): Promise<ListPageJson> {
    return this.store.listPageJson(this.resource, {
      // A LIST of 500 whose first page ended early at PAGE_BYTES read 500 more keys for the last few.
      limit: this.want === undefined ? PAGE_OBJECTS : Math.max(1, Math.min(PAGE_OBJECTS, this.want - this.returned)),
      maxBytes: PAGE_BYTES,
      ...(this.namespace === undefined ? {} : { namespace: this.namespace }),
      ...(this.name === undefined ? {} : { name: this.name }),
      ...(this.after === undefined ? {} : { after: this.after }),
      ...(this.at === undefined ? {} : { revision: this.at }),
    });
  }

  /** The next object, or undefined at the end. */
  async next(): Promise<PageItem | undefined> {
    if (this.page === undefined) await this.open();
    let page = this.page as ListPageJson;
    if (this.index === page.items.length) {
      if (!page.more) return undefined;
      page = await this.fetch();
      this.page = page;
      this.index = 0;
      if (page.items.length === 0) return undefined;
    }
    const obj = page.items[this.index++];
    if (obj === undefined) return undefined;
    this.after = keyOf(obj);
    this.returned++;
    return obj;
  }

  /** Whether objects follow the last one returned. */
  hasMore(): boolean {
    const page = this.page;
    return page !== undefined && (this.index < page.items.length || page.more);
  }

  /** How many objects follow the last one returned, at the scan's revision: one counting query. */
  async countRemaining(): Promise<number> {
    const page = this.page;
    if (page === undefined) return 0;
    const inPage = page.items.length - this.index;
    if (!page.more) return inPage;
    const last = page.items.at(-1);
    if (last === undefined) return inPage;
    const after = await this.store.listPageJson(this.resource, {
      limit: 1,
      count: true,
      after: keyOf(last),
      ...(this.namespace === undefined ? {} : { namespace: this.namespace }),
      ...(this.at === undefined ? {} : { revision: this.at }),
    });
    return inPage + after.items.length + (after.remaining ?? 0);
  }

  /** The key of the last object returned. */
  get last(): PageStart | undefined {
    return this.after;
  }
}

/**
 * Back-pressure: resolves when the socket takes more, is gone, or `signal` aborts. Removes all
 * its listeners when it resolves, so a long stream to a slow reader does not pile them up.
 */
export function drained(res: ServerResponse, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    signal?.addEventListener('abort', done);
    if (signal?.aborted) done();
  });
}

/**
 * The remainingItemCount of the continue tokens handed out lately: how many objects followed a
 * key at a revision, a fact that never changes. The page a token resumes then answers that count
 * less what it sent, instead of counting every key after it again: a paged LIST of 50,000 counted
 * 100 times, 15 % of the server's CPU for it. A token not found here (older, or handed out by
 * another server) is counted in the store as before. Bounded; nothing to close.
 */
export class RemainingCounts {
  private readonly counts = new Map<string, number>();
  private readonly max: number;

  constructor(max = 1024) {
    this.max = max;
  }

  private static key(resource: string, namespace: string, revision: number, after: PageStart): string {
    return JSON.stringify([resource, namespace, revision, after.namespace, after.name]);
  }

  get(resource: string, namespace: string, revision: number, after: PageStart): number | undefined {
    return this.counts.get(RemainingCounts.key(resource, namespace, revision, after));
  }

  set(resource: string, namespace: string, revision: number, after: PageStart, remaining: number): void {
    this.counts.set(RemainingCounts.key(resource, namespace, revision, after), remaining);
    if (this.counts.size > this.max) this.counts.delete(this.counts.keys().next().value ?? '');
  }
}

export interface ServeListParams {
  readonly def: ResourceDef;
  readonly store: Store;
  /** Counts of earlier pages, so a continued unfiltered list does not count again. */
  readonly counts?: RemainingCounts;
  readonly namespace: string;
  readonly request: ListRequest;
  readonly matches: (obj: JsonObject) => boolean;
  /** The one name a `metadata.name=` field selector allows, if it pins one (`matches` still applies). */
  readonly name?: string;
  /** Whether a label or field selector was given: then `remainingItemCount` is left out, as Kubernetes does. */
  readonly filtered: boolean;
  /** Present when the client asked for Table rows. */
  readonly table: { readonly columns: readonly TableColumn[]; readonly now: Date; readonly includeObject: string | null } | undefined;
  /** Takes over the response once the first page is read (a Fastify reply's hijack). */
  readonly begin: () => ServerResponse;
  /** Reports a failure after the status line was sent, when all that is left is to cut the response. */
  readonly onStreamError: (error: unknown) => void;
}

/**
 * Answers a LIST. Errors before the first byte (bad token, expired token) are thrown for the
 * caller to answer with a Status; later ones destroy the response, so a client never takes a
 * truncated list for a whole one.
 */
export async function serveList(p: ServeListParams): Promise<void> {
  const scan = new Scan(p.store, p.def, p.namespace, p.request.resume, p.request.exact, p.name, p.filtered ? undefined : p.request.limit);
  const revision = await scan.open();
  const res = p.begin();
  const write = async (text: string): Promise<void> => {
    if (!res.write(text)) await drained(res);
  };
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  try {
    if (p.table) {
      const head = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: columnDefinitions(p.table.columns) };
      await write(`${JSON.stringify(head).slice(0, -1)},"rows":[`);
    } else {
      await write(`${JSON.stringify({ kind: `${p.def.kind}List`, apiVersion: apiVersionOf(p.def) }).slice(0, -1)},"items":[`);
    }
    const limit = p.request.limit ?? Number.POSITIVE_INFINITY;
    const head = presentedHead(p.def);
    // Without a selector or a Table nothing needs the decoded object.
    const decode = p.filtered || p.table !== undefined;
    let sent = 0;
    let chunk: string[] = [];
    let chunkBytes = 0;
    let since = performance.now();
    while (sent < limit && !res.destroyed) {
      const item = await scan.next();
      if (item === undefined) break;
      let json: string;
      if (decode) {
        const obj = presentItem(p.def, item);
        if (!p.matches(obj)) continue;
        json = p.table
          ? JSON.stringify(tableRow(p.table.columns, obj, p.table.now, p.table.includeObject))
          : presentedJson(p.def, head, item, obj);
      } else {
        json = presentedJson(p.def, head, item);
      }
      chunk.push(sent === 0 ? json : `,${json}`);
      chunkBytes += json.length;
      sent++;
      if (chunkBytes >= CHUNK_BYTES || performance.now() - since >= CHUNK_MS) {
        const text = chunk.join('');
        chunk = [];
        chunkBytes = 0;
        if (res.write(text)) await nextTurn();
        else await drained(res);
        since = performance.now();
      }
    }
    const last = scan.last;
    const metadata: JsonObject = { resourceVersion: String(revision) };
    if (sent === limit && scan.hasMore() && last !== undefined) {
      metadata.continue = encodeContinue(revision, last, p.def.namespaced && p.namespace === '');
      if (!p.filtered) {
        // Unfiltered, this page sent every object after the token's key up to `last`, in order.
        const resource = storeResourceOf(p.def);
        const scope = p.def.namespaced ? p.namespace : '';
        const resume = p.request.resume;
        const before = resume === undefined ? undefined : p.counts?.get(resource, scope, revision, resume.after);
        const remaining = before === undefined ? await scan.countRemaining() : before - sent;
        p.counts?.set(resource, scope, revision, last, remaining);
        metadata.remainingItemCount = remaining;
      }
    }
    chunk.push(`],"metadata":${JSON.stringify(metadata)}}`);
    res.end(chunk.join(''));
  } catch (error) {
    p.onStreamError(error);
    res.destroy();
  }
}
