/**
 * Watch over HTTP, as kube-apiserver streams it: a 200 sent at once, then newline-separated JSON
 * events `{"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":...}`. Without a
 * resourceVersion (or "0") or with `sendInitialEvents=true` the current objects come first as
 * ADDED (with `allowWatchBookmarks`, the latter ends them with a BOOKMARK annotated
 * `k8s.io/initial-events-end`); with bookmarks allowed a BOOKMARK carrying the revision reached
 * follows every minute on the injected clock; from a compacted revision the stream carries one
 * ERROR event with a 410 Expired Status so the client re-lists. It ends on client disconnect,
 * `timeoutSeconds`, or server shutdown, and honours back-pressure from the socket.
 */
import type { ServerResponse } from 'node:http';
import { metadataString } from '../api/index.ts';
import { type Clock, REAL_CLOCK, type Timer } from '../base/clock.ts';
import type { JsonObject } from '../base/json.ts';
import type { Store } from '../store/index.ts';
import { drained, presentItem, Scan } from './list.ts';
import type { ReadOptions } from './list-options.ts';
import { apiVersionOf, type ResourceDef, storeResourceOf } from './registry.ts';
import { present } from './rest.ts';
import { buildTable, type TableColumn } from './table.ts';

export interface WatchParams {
  readonly def: ResourceDef;
  readonly store: Store;
  readonly namespace: string;
  /** From parseReadOptions: resourceVersion, sendInitialEvents, allowWatchBookmarks, timeoutSeconds. */
  readonly options: ReadOptions;
  readonly matches: (obj: JsonObject) => boolean;
  /**
   * The one name a `metadata.name=` field selector allows: the store then finds this watch by the
   * object's key instead of offering it every change of the resource (a kubelet waiting for its
   * own CSR). `matches` still applies.
   */
  readonly name?: string;
  /** Present when the client asked for Table rows. */
  readonly table: { readonly columns: readonly TableColumn[]; readonly now: () => Date; readonly includeObject: string | null } | undefined;
  readonly response: ServerResponse;
  /** Aborted when the server shuts down. */
  readonly shutdown: AbortSignal;
  readonly statusFor: (error: unknown) => JsonObject;
  /** Runs the `timeoutSeconds` timer (a client may set it to weeks) and the bookmarks; the real clock by default. */
  readonly clock?: Clock;
  /**
   * kube-apiserver's `--min-request-timeout`: a watch without `timeoutSeconds` ends after a random
   * time between this and twice this, so that clients spread their re-watches (and a client far
   * behind learns of it with a 410). Never, when absent.
   */
  readonly minRequestTimeoutSeconds?: number;
  /** In [0, 1); Math.random by default. */
  readonly random?: () => number;
}

/** How long a watch lasts, in ms: the client's `timeoutSeconds`, else kube-apiserver's random share of the server's. */
export function watchTimeoutMs(p: Pick<WatchParams, 'options' | 'minRequestTimeoutSeconds' | 'random'>): number | undefined {
  if (p.options.timeoutSeconds !== undefined) return p.options.timeoutSeconds * 1000;
  const min = p.minRequestTimeoutSeconds;
  if (min === undefined || min <= 0) return undefined;
  return Math.round(min * 1000 * (1 + (p.random ?? Math.random)()));
}

/** kube-apiserver's default `--min-request-timeout`. */
export const DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS = 1800;

/** How often a watch that allows bookmarks gets one: kube-apiserver's cacher sends them about every minute. */
export const BOOKMARK_INTERVAL_MS = 60_000;

/** The annotation on the bookmark that ends a watch-list's initial events (client-go waits for it). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

/**
 * The JSON of an event's object as sent, made once per event however many watchers send it: the
 * store shares one frozen object among an event's watchers, so the object identifies the event.
 */
const sentJson = new WeakMap<object, { readonly def: ResourceDef; readonly json: string }>();

function objectJson(def: ResourceDef, object: JsonObject, presented: JsonObject): string {
  if (!Object.isFrozen(object)) return JSON.stringify(presented);
  const memo = sentJson.get(object);
  if (memo?.def === def) return memo.json;
  const json = JSON.stringify(presented);
  sentJson.set(object, { def, json });
  return json;
}

export async function serveWatch(p: WatchParams): Promise<void> {
  const { options } = p;
  const clock = p.clock ?? REAL_CLOCK;
  const res = p.response;
  const stop = new AbortController();
  const onClose = () => stop.abort();
  res.on('close', onClose);
  p.shutdown.addEventListener('abort', onClose, { once: true });
  const timeoutMs = watchTimeoutMs(p);
  const timer = timeoutMs === undefined ? undefined : clock.setTimeout(onClose, timeoutMs);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  // Sent now, not with the first event: a client waits for the status line before it counts the watch as open.
  res.flushHeaders();
  let first = true;
  // One write at a time: the bookmark timer and the event loop share the socket and its back-pressure.
  let writing: Promise<void> = Promise.resolve();
  /** `source` is the store's object when `object` is its presented form: the key to the shared JSON. */
  const write = (type: string, object: JsonObject, source?: JsonObject): Promise<void> => {
    writing = writing.then(async () => {
      if (stop.signal.aborted || res.writableEnded) return;
      if (source !== undefined && !p.table) {
        if (!res.write(`{"type":"${type}","object":${objectJson(p.def, source, object)}}\n`)) await drained(res, stop.signal);
        return;
      }
      let payload = object;
      if (p.table && type !== 'ERROR' && type !== 'BOOKMARK') {
        payload = buildTable({
          columns: p.table.columns,
          items: [object],
          resourceVersion: metadataString(object, 'resourceVersion') ?? '',
          now: p.table.now(),
          includeObject: p.table.includeObject,
          withColumnDefinitions: first,
        });
        first = false;
      }
      if (!res.write(`${JSON.stringify({ type, object: payload })}\n`)) await drained(res, stop.signal);
    });
    return writing;
  };
  // The newest revision this watcher has been told about: a bookmark never claims more, so a
  // client resuming from it misses nothing.
  let reached = 0;
  const bookmark = (annotations?: Record<string, string>): Promise<void> =>
    write('BOOKMARK', {
      kind: p.def.kind,
      apiVersion: apiVersionOf(p.def),
      metadata: { resourceVersion: String(reached), ...(annotations ? { annotations } : {}) },
    });
  let bookmarkTimer: Timer | undefined;
  const armBookmark = () => {
    bookmarkTimer = clock.setTimeout(() => {
      if (stop.signal.aborted) return;
      // A bookmark that cannot be written means the socket is gone: end the watch.
      bookmark().catch(onClose);
      armBookmark();
    }, BOOKMARK_INTERVAL_MS);
  };
  try {
    const initial = options.sendInitialEvents ?? options.revision === undefined;
    let revision: number;
    if (initial) {
      // Page by page at one revision, as a LIST streams: the initial state never sits whole in memory.
      const scan = new Scan(p.store, p.def, p.namespace, undefined, undefined, p.name);
      revision = await scan.open();
      for (let item = await scan.next(); item !== undefined && !stop.signal.aborted; item = await scan.next()) {
        const obj = presentItem(p.def, item);
        if (p.matches(obj)) await write('ADDED', obj);
      }
      reached = revision;
      if (options.sendInitialEvents === true && options.allowWatchBookmarks) await bookmark({ [INITIAL_EVENTS_END]: 'true' });
    } else {
      // sendInitialEvents=false without a resourceVersion starts at the newest revision.
      revision = options.revision ?? (await p.store.revision());
      reached = revision;
    }
    if (options.allowWatchBookmarks) armBookmark();
    const events = p.store.watch(storeResourceOf(p.def), {
      ...(p.def.namespaced && p.namespace !== '' ? { namespace: p.namespace } : {}),
      ...(p.name === undefined ? {} : { name: p.name }),
      fromRevision: revision,
      signal: stop.signal,
    });
    for await (const event of events) {
      if (stop.signal.aborted) break;
      reached = event.revision;
      const obj = present(p.def, event.object);
      if (p.matches(obj)) await write(event.type, obj, event.object);
    }
  } catch (error) {
    if (!stop.signal.aborted) await write('ERROR', { ...p.statusFor(error), apiVersion: 'v1' });
  } finally {
    timer?.cancel();
    bookmarkTimer?.cancel();
    res.off('close', onClose);
    p.shutdown.removeEventListener('abort', onClose);
    await writing;
    if (!res.writableEnded) res.end();
  }
}
