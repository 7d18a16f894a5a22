/**
 * The read options of LIST and WATCH as kube-apiserver takes them from the query: resourceVersion,
 * resourceVersionMatch, sendInitialEvents, allowWatchBookmarks and timeoutSeconds, checked by the
 * rules of apimachinery's `ValidateListOptions` (422 on `ListOptions.meta.k8s.io`), and which
 * revision a LIST then reads at. The watch stream itself is in watch.ts; paging in list.ts.
 */
import { BadRequestError, type TlsbootError } from '../base/errors.ts';
import { invalidOptions } from './apply.ts';
import { queryBool } from './query.ts';

export type ResourceVersionMatch = '' | 'Exact' | 'NotOlderThan';

export interface ReadOptions {
  /** The query's resourceVersion as given: '' when absent. */
  readonly resourceVersion: string;
  /** That resourceVersion as a revision; undefined for '' and "0", which ask for no particular one. */
  readonly revision: number | undefined;
  readonly match: ResourceVersionMatch;
  /** Absent (undefined), or the client's explicit choice. */
  readonly sendInitialEvents: boolean | undefined;
  readonly allowWatchBookmarks: boolean;
  /** Seconds; undefined when absent or not positive. */
  readonly timeoutSeconds: number | undefined;
}

/** A boolean query parameter (src/server/query.ts's rule), or undefined when it is absent. */
export function queryFlag(query: URLSearchParams, name: string): boolean | undefined {
  return query.has(name) ? queryBool(query, name) : undefined;
}

function forbidden(field: string, detail: string): TlsbootError {
  return invalidOptions('ListOptions', field, 'FieldValueForbidden', `Forbidden: ${detail}`);
}

function notSupported(value: string, supported: readonly string[]): TlsbootError {
  const list = supported.map((s) => `"${s}"`).join(', ');
  return invalidOptions(
    'ListOptions',
    'resourceVersionMatch',
    'FieldValueNotSupported',
    `Unsupported value: "${value}": supported values: ${list}`,
  );
}

function parseRevision(text: string): number | undefined {
  if (text === '' || text === '0') return undefined;
  if (!/^\d{1,15}$/.test(text)) {
    throw new BadRequestError('RESOURCE_VERSION', `invalid resource version "${text}"`, { field: 'resourceVersion' });
  }
  return Number(text);
}

/** Parses and validates the read options of a LIST (`watch` false) or a WATCH; the first broken rule is thrown. */
export function parseReadOptions(query: URLSearchParams, watch: boolean): ReadOptions {
  const resourceVersion = query.get('resourceVersion') ?? '';
  const match = query.get('resourceVersionMatch') ?? '';
  const sendInitialEvents = queryFlag(query, 'sendInitialEvents');
  const continued = (query.get('continue') ?? '') !== '';
  if (watch) {
    if (sendInitialEvents !== undefined && match !== 'NotOlderThan') {
      throw forbidden('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    }
    if (match !== '') {
      if (sendInitialEvents === undefined) {
        throw forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
      }
      if (match !== 'NotOlderThan') throw notSupported(match, ['NotOlderThan']);
      if (continued) throw forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match !== '') {
      if (resourceVersion === '')
        throw forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (continued) throw forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match === 'Exact' && resourceVersion === '0') {
        throw forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
      }
      if (match !== 'Exact' && match !== 'NotOlderThan') throw notSupported(match, ['Exact', 'NotOlderThan', '']);
    }
    if (sendInitialEvents !== undefined) throw forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  const timeoutText = query.get('timeoutSeconds');
  const timeout = timeoutText === null ? Number.NaN : Number(timeoutText);
  return {
    resourceVersion,
    revision: parseRevision(resourceVersion),
    match: match === 'Exact' || match === 'NotOlderThan' ? match : '',
    sendInitialEvents,
    allowWatchBookmarks: queryFlag(query, 'allowWatchBookmarks') ?? false,
    timeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : undefined,
  };
}

/**
 * Which revision a LIST must describe exactly, or undefined for "the current one", which is
 * always at least as new as anything the client asked for. Exact for `resourceVersionMatch=Exact`,
 * and, as kube-apiserver serves it from etcd, for a legacy resourceVersion given with a limit.
 */
export function exactListRevision(options: ReadOptions, limit: number | undefined): number | undefined {
  if (options.revision === undefined) return undefined;
  if (options.match === 'Exact' || (options.match === '' && limit !== undefined)) return options.revision;
  return undefined;
}

/** kube-apiserver's words (etcd3/errors.go) for an exact LIST at a compacted revision. */
export const LIST_EXPIRED_MESSAGE = 'The resourceVersion for the provided list is too old.';
