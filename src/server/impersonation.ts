/**
 * Impersonation (`Impersonate-User`, `-Group`, `-Uid`, `-Extra-<key>`) as kube-apiserver does it.
 * Owns reading those headers: Node joins repeated headers with ", " in `req.headers`, but each
 * header line is one group or extra value (Go keeps them apart, and a group may contain a comma),
 * so they are read from the raw header lines. Every requested identity needs the `impersonate`
 * verb: on users, groups, uids (authentication.k8s.io) or `userextras/<key>`.
 */
import type { UserInfo } from '../api/index.ts';
import { BadRequestError, ForbiddenError } from '../base/errors.ts';
import { type Authorizer, forbiddenMessage } from './authz.ts';

const EXTRA_PREFIX = 'impersonate-extra-';

export interface ImpersonationHeaders {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly uids: readonly string[];
  /** Extra keys as kube-apiserver derives them: lower-cased, then percent-decoded. */
  readonly extra: ReadonlyMap<string, readonly string[]>;
}

/** kube's unescapeExtraKey: a key that does not percent-decode is kept as written. */
function unescapeExtraKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** The impersonation headers from `rawHeaders` (alternating names and values, one entry per line). */
export function impersonationHeaders(rawHeaders: readonly string[]): ImpersonationHeaders {
  const users: string[] = [];
  const groups: string[] = [];
  const uids: string[] = [];
  const extra = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (name === 'impersonate-user') users.push(value);
    else if (name === 'impersonate-group') groups.push(value);
    else if (name === 'impersonate-uid') uids.push(value);
    else if (name.startsWith(EXTRA_PREFIX)) {
      const key = unescapeExtraKey(name.slice(EXTRA_PREFIX.length));
      extra.set(key, [...(extra.get(key) ?? []), value]);
    }
  }
  return { users, groups, uids, extra };
}

/** The user a request acts as: `user` itself, or the impersonated user once every part is authorised. */
export function impersonate(user: UserInfo, rawHeaders: readonly string[], authorizer: Authorizer): UserInfo {
  const h = impersonationHeaders(rawHeaders);
  // Go's Header.Get: an empty Impersonate-User is no user.
  if (h.users.length === 0 || h.users[0] === '') {
    if (h.groups.length > 0 || h.uids.length > 0 || h.extra.size > 0)
      throw new BadRequestError('IMPERSONATION', 'impersonating groups, uid or extra requires impersonating a user');
    return user;
  }
  if (h.users.length > 1 || h.uids.length > 1) throw new BadRequestError('IMPERSONATION', 'only one user and one uid may be impersonated');
  const name = h.users[0] as string;
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
  const checks = [
    // A service account is impersonated as the object it is, in its namespace.
    sa
      ? { apiGroup: '', resource: 'serviceaccounts', namespace: sa[1] as string, name: sa[2] as string }
      : { apiGroup: '', resource: 'users', name },
    ...h.groups.map((g) => ({ apiGroup: '', resource: 'groups', name: g })),
    ...h.uids.map((u) => ({ apiGroup: 'authentication.k8s.io', resource: 'uids', name: u })),
    ...[...h.extra].flatMap(([key, values]) =>
      values.map((v) => ({ apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: v })),
    ),
  ];
  for (const check of checks) {
    const attrs = { user, verb: 'impersonate', ...check };
    if (!authorizer.authorize(attrs).allowed) throw new ForbiddenError('IMPERSONATION', forbiddenMessage(attrs));
  }
  // kube-apiserver's rules: a service account without groups gets its fixed ones; a named user
  // gets system:authenticated unless system:authenticated or system:unauthenticated was asked for.
  const groups = sa && h.groups.length === 0 ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`] : [...h.groups];
  if (name === 'system:anonymous') groups.push('system:unauthenticated');
  else if (!groups.includes('system:unauthenticated')) groups.push('system:authenticated');
  return {
    name,
    groups: [...new Set(groups)],
    ...(h.uids[0] ? { uid: h.uids[0] } : {}),
    ...(h.extra.size > 0 ? { extra: Object.fromEntries(h.extra) } : {}),
  };
}
