/** The page's calls to the console's JSON API: same origin, the session cookie, and the CSRF token on every change. */

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

/** Why a call failed, with the message the console (or the API server behind it) gave. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, isRecord(parsed) && typeof parsed.error === 'string' ? parsed.error : `HTTP ${res.status}`);
  if (!isRecord(parsed)) throw new ApiError(res.status, 'the console answered something that is not a JSON object');
  return parsed;
}

export function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  return typeof v === 'string' ? v : '';
}

export function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

export { isRecord };
