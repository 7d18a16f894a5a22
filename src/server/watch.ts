/**
 * Watch over HTTP, as kube-apiserver streams it: a chunked response of newline-separated JSON
 * events `{"type":"ADDED"|"MODIFIED"|"DELETED"|"ERROR","object":...}`. Without a resourceVersion
 * (or "0") the current objects come first as ADDED; from a compacted revision the stream carries
 * one ERROR event with a 410 Expired Status so the client re-lists. It ends on client disconnect,
 * `timeoutSeconds`, or server shutdown, and honours back-pressure from the socket.
 */
import type { ServerResponse } from 'node:http';
import { type Clock, REAL_CLOCK } from '../base/clock.ts';
import { TlsbootError } from '../base/errors.ts';
import type { Store } from '../store/index.ts';
import { drained, Scan } from './list.ts';
import { type JsonObject, type ResourceDef, storeResourceOf } from './registry.ts';
import { present } from './rest.ts';
import { buildTable, type TableColumn } from './table.ts';

export interface WatchParams {
  readonly def: ResourceDef;
  readonly store: Store;
  readonly namespace: string;
  readonly resourceVersion: string | null;
  readonly timeoutSeconds: number | undefined;
  readonly matches: (obj: JsonObject) => boolean;
  /** Present when the client asked for Table rows. */
  readonly table: { readonly columns: readonly TableColumn[]; readonly now: () => Date; readonly includeObject: string | null } | undefined;
  readonly response: ServerResponse;
  /** Aborted when the server shuts down. */
  readonly shutdown: AbortSignal;
  readonly statusFor: (error: unknown) => JsonObject;
  /** Runs the `timeoutSeconds` timer, which a client may set to weeks; the real clock by default. */
  readonly clock?: Clock;
}

export function parseResourceVersion(text: string | null): number | undefined {
  if (text === null || text === '' || text === '0') return undefined;
  if (!/^\d{1,15}$/.test(text)) {
    throw new TlsbootError('BAD_REQUEST', 'RESOURCE_VERSION', `invalid resource version "${text}"`, { field: 'resourceVersion' });
  }
  return Number(text);
}

export async function serveWatch(p: WatchParams): Promise<void> {
  const from = parseResourceVersion(p.resourceVersion);
  const res = p.response;
  const stop = new AbortController();
  const onClose = () => stop.abort();
  res.on('close', onClose);
  p.shutdown.addEventListener('abort', onClose, { once: true });
  const timer =
    p.timeoutSeconds !== undefined && p.timeoutSeconds > 0
      ? (p.clock ?? REAL_CLOCK).setTimeout(onClose, p.timeoutSeconds * 1000)
      : undefined;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  // Sent now, not with the first event: a client waits for the status line before it counts the watch as open.
  res.flushHeaders();
  let first = true;
  const send = async (type: string, object: JsonObject) => {
    let payload = object;
    if (p.table && type !== 'ERROR') {
      payload = buildTable({
        columns: p.table.columns,
        items: [object],
        resourceVersion: String((object.metadata as JsonObject | undefined)?.resourceVersion ?? ''),
        now: p.table.now(),
        includeObject: p.table.includeObject,
        withColumnDefinitions: first,
      });
      first = false;
    }
    if (!res.write(`${JSON.stringify({ type, object: payload })}\n`)) {
      await drained(res, stop.signal);
    }
  };
  try {
    let revision = from;
    if (revision === undefined) {
      // Page by page at one revision, as a LIST streams: the initial state never sits whole in memory.
      const scan = new Scan(p.store, p.def, p.namespace);
      revision = await scan.open();
      for (let item = await scan.next(); item !== undefined && !stop.signal.aborted; item = await scan.next()) {
        const obj = present(p.def, item);
        if (p.matches(obj)) await send('ADDED', obj);
      }
    }
    const events = p.store.watch(storeResourceOf(p.def), {
      ...(p.def.namespaced && p.namespace !== '' ? { namespace: p.namespace } : {}),
      fromRevision: revision,
      signal: stop.signal,
    });
    for await (const event of events) {
      if (stop.signal.aborted) break;
      const obj = present(p.def, event.object);
      if (p.matches(obj)) await send(event.type, obj);
    }
  } catch (error) {
    if (!stop.signal.aborted) {
      const status = p.statusFor(error);
      if (!res.writableEnded) res.write(`${JSON.stringify({ type: 'ERROR', object: { ...status, apiVersion: 'v1' } })}\n`);
    }
  } finally {
    timer?.cancel();
    res.off('close', onClose);
    p.shutdown.removeEventListener('abort', onClose);
    if (!res.writableEnded) res.end();
  }
}
