/**
 * Core `v1` objects tlsboot serves (Secret, ConfigMap) with Kubernetes' validation of their data
 * maps, and bootstrap tokens (reference §1): the token format, the backing Secret's fields, and the
 * one token rule that admission (`tokenSecretProblem`), authentication
 * (`bootstrapTokenAuthentication`), the token cleaner (`tokenExpiry`/`tokenExpired`), the bootstrap
 * signer and `tlsboot token list` (`checkBootstrapTokenSecret`) all apply. Token secrets are
 * compared in constant time and never put into error messages.
 */
import { timingSafeEqual } from 'node:crypto';
import { InvalidError, TooLargeError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339, parseRfc3339 } from '../base/rfc3339.ts';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_TOKEN_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAP_GROUP = 'system:bootstrappers';
const TOKEN_ID = '[a-z0-9]{6}';
const TOKEN_SECRET = '[a-z0-9]{16}';
export const TOKEN_ID_PATTERN = new RegExp(`^${TOKEN_ID}$`);
export const TOKEN_SECRET_PATTERN = new RegExp(`^${TOKEN_SECRET}$`);
/** `ID.SECRET`, capturing both. */
export const TOKEN_PATTERN = new RegExp(`^(${TOKEN_ID})\\.(${TOKEN_SECRET})$`);
export const EXTRA_GROUP_PATTERN = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
export const TOKEN_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

function invalid(field: string, message: string): InvalidError {
  return new InvalidError('FIELD_INVALID', `${field}: ${message}`, { field });
}

const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const MAX_SECRET_BYTES = 1024 * 1024;

function validateKeys(map: JsonObject, field: string): void {
  for (const k of Object.keys(map)) {
    if (!DATA_KEY.test(k) || k === '.' || k === '..') {
      throw invalid(`${field}[${k}]`, "Invalid value: a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
    }
  }
}

function decodeBase64Map(raw: unknown, field: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw invalid(field, 'must be a map');
  validateKeys(raw, field);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0)
      throw invalid(`${field}[${k}]`, 'must be base64-encoded');
    out[k] = v;
  }
  return out;
}

/** Secret create/update: `stringData` folded into `data` (base64), type defaulted and kept immutable. */
export function prepareSecret(obj: JsonObject, old: JsonObject | undefined): JsonObject {
  const data = decodeBase64Map(obj.data, 'data');
  const stringData = obj.stringData;
  if (stringData !== undefined && stringData !== null) {
    if (!isObject(stringData)) throw invalid('stringData', 'must be a map');
    validateKeys(stringData, 'stringData');
    for (const [k, v] of Object.entries(stringData)) {
      if (typeof v !== 'string') throw invalid(`stringData[${k}]`, 'must be a string');
      data[k] = Buffer.from(v, 'utf8').toString('base64');
    }
  }
  const type = obj.type === undefined || obj.type === '' ? 'Opaque' : obj.type;
  if (typeof type !== 'string') throw invalid('type', 'must be a string');
  if (old !== undefined && old.type !== type) throw invalid('type', 'Invalid value: field is immutable');
  const size = Object.entries(data).reduce((n, [k, v]) => n + k.length + (v.length * 3) / 4, 0);
  if (size > MAX_SECRET_BYTES)
    throw new TooLargeError('SECRET_TOO_LARGE', `data: Too long: must have at most ${MAX_SECRET_BYTES} bytes`, {
      field: 'data',
    });
  const { stringData: _dropped, ...rest } = obj;
  return { ...rest, type, data };
}

export function prepareConfigMap(obj: JsonObject): JsonObject {
  const data = obj.data;
  if (data !== undefined && data !== null) {
    if (!isObject(data)) throw invalid('data', 'must be a map');
    validateKeys(data, 'data');
    for (const [k, v] of Object.entries(data)) if (typeof v !== 'string') throw invalid(`data[${k}]`, 'must be a string');
  }
  const binary = decodeBase64Map(obj.binaryData, 'binaryData');
  if (isObject(data))
    for (const k of Object.keys(binary))
      if (Object.hasOwn(data, k)) throw invalid(`binaryData[${k}]`, 'Invalid value: duplicate of key present in data');
  return obj;
}

export interface BootstrapToken {
  readonly id: string;
  readonly secret: string;
}

/** `ID.SECRET` split, or undefined when `text` is not a bootstrap token. */
export function matchBootstrapToken(text: string): BootstrapToken | undefined {
  const m = TOKEN_PATTERN.exec(text);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

/** Parses `ID.SECRET`; the error never echoes the input. */
export function parseBootstrapToken(text: string, field = 'token'): BootstrapToken {
  const token = matchBootstrapToken(text);
  if (!token) throw new InvalidError('TOKEN_FORMAT', `a bootstrap token must match ${TOKEN_ID}.${TOKEN_SECRET}`, { field });
  return token;
}

/** Unbiased characters from the 36-letter alphabet: bytes at or above 252 are redrawn. */
export function generateToken(randomBytes: (n: number) => Uint8Array): string {
  const chars: string[] = [];
  while (chars.length < 22) {
    for (const b of randomBytes(32)) {
      if (b >= 252 || chars.length >= 22) continue;
      chars.push(TOKEN_ALPHABET[b % 36] as string);
    }
  }
  return `${chars.slice(0, 6).join('')}.${chars.slice(6).join('')}`;
}

export function bootstrapTokenSecretName(id: string): string {
  return `${BOOTSTRAP_TOKEN_PREFIX}${id}`;
}

export function secretString(secret: JsonObject, key: string): string | undefined {
  const data = isObject(secret.data) ? secret.data : {};
  const v = data[key];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

/** What a bootstrap-token Secret says, once it has been checked for use at `now`. */
export interface TokenFacts {
  readonly id: string;
  readonly secret: string;
  readonly expiration: Date | undefined;
  readonly usages: { readonly authentication: boolean; readonly signing: boolean };
  readonly extraGroups: readonly string[];
  readonly description: string | undefined;
}

export type TokenCheck = { readonly ok: true; readonly token: TokenFacts } | { readonly ok: false; readonly problem: string };

/** What is wrong with a token Secret's data: `field` as admission names it (`data[expiration]`). */
export interface TokenSecretProblem {
  readonly field: string;
  readonly message: string;
}

function extraGroupsOf(secret: JsonObject): string[] {
  const text = secretString(secret, 'auth-extra-groups');
  return text === undefined || text === '' ? [] : text.split(',').map((g) => g.trim());
}

/**
 * The format rules of a bootstrap-token Secret's data (reference §1.2): id and secret well-formed
 * and the id agreeing with the name, every extra group under `system:bootstrappers:`, and an
 * expiration, when present, in RFC 3339. Admission refuses a Secret that breaks one; the same
 * rules make `checkBootstrapTokenSecret` refuse it at use. The token secret is never echoed.
 */
export function tokenSecretProblem(secret: JsonObject): TokenSecretProblem | undefined {
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  const id = secretString(secret, 'token-id') ?? '';
  if (!TOKEN_ID_PATTERN.test(id)) return { field: 'data[token-id]', message: `must match ${TOKEN_ID_PATTERN.source}` };
  if (meta.name !== bootstrapTokenSecretName(id))
    return { field: 'data[token-id]', message: `must equal the id in the name ${BOOTSTRAP_TOKEN_PREFIX}<id>` };
  if (!TOKEN_SECRET_PATTERN.test(secretString(secret, 'token-secret') ?? ''))
    return { field: 'data[token-secret]', message: `must match ${TOKEN_SECRET_PATTERN.source}` };
  if (!extraGroupsOf(secret).every((g) => EXTRA_GROUP_PATTERN.test(g)))
    return { field: 'data[auth-extra-groups]', message: `every group must match ${EXTRA_GROUP_PATTERN.source}` };
  const expiration = secretString(secret, 'expiration');
  if (expiration !== undefined && parseRfc3339(expiration) === undefined)
    return { field: 'data[expiration]', message: 'must be an RFC 3339 time (2006-01-02T15:04:05Z07:00)' };
  return undefined;
}

/** When a token stops being valid: `never`, an instant, or `unreadable` (not RFC 3339, which counts as expired). */
export type TokenExpiry = { readonly kind: 'never' } | { readonly kind: 'at'; readonly at: Date } | { readonly kind: 'unreadable' };

export function tokenExpiry(secret: JsonObject): TokenExpiry {
  const text = secretString(secret, 'expiration');
  if (text === undefined) return { kind: 'never' };
  const at = parseRfc3339(text);
  return at === undefined ? { kind: 'unreadable' } : { kind: 'at', at };
}

/**
 * The one expiry rule (reference §1.4): a token is expired at `now` when its expiration is
 * unreadable or not after `now`. Authentication, the bootstrap signer and the token cleaner all
 * decide by it, so no token is refused by one and kept (or signed for) by another.
 */
export function tokenExpired(expiry: TokenExpiry, now: Date): boolean {
  return expiry.kind === 'unreadable' || (expiry.kind === 'at' && expiry.at.getTime() <= now.getTime());
}

/**
 * Reads a bootstrap-token Secret for use at `now` (reference §1.2-1.4): right type, not being
 * deleted, well-formed (`tokenSecretProblem`), not expired (`tokenExpired`), and, when `usage` is
 * given, marked `usage-bootstrap-<usage>: "true"`. One bad extra group invalidates the whole token.
 */
export function checkBootstrapTokenSecret(secret: JsonObject, now: Date, usage?: 'authentication' | 'signing'): TokenCheck {
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  if (meta.deletionTimestamp) return { ok: false, problem: 'being deleted' };
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return { ok: false, problem: 'not a bootstrap token secret' };
  const problem = tokenSecretProblem(secret);
  if (problem !== undefined) return { ok: false, problem: `${problem.field} ${problem.message}` };
  const expiry = tokenExpiry(secret);
  if (tokenExpired(expiry, now)) return { ok: false, problem: 'expired' };
  const usages = {
    authentication: secretString(secret, 'usage-bootstrap-authentication') === 'true',
    signing: secretString(secret, 'usage-bootstrap-signing') === 'true',
  };
  if (usage !== undefined && !usages[usage]) return { ok: false, problem: `not marked for ${usage}` };
  return {
    ok: true,
    token: {
      // tokenSecretProblem checked both.
      id: secretString(secret, 'token-id') ?? '',
      secret: secretString(secret, 'token-secret') ?? '',
      expiration: expiry.kind === 'at' ? expiry.at : undefined,
      usages,
      extraGroups: extraGroupsOf(secret),
      description: secretString(secret, 'description'),
    },
  };
}

/**
 * The user a presented bearer token stands for, given the Secret stored under its name (reference
 * §1.3), or undefined when the text is not a bootstrap token, or the Secret is missing, unusable
 * for authentication at `now`, or holds another secret (compared in constant time).
 */
export function bootstrapTokenAuthentication(
  presented: BootstrapToken,
  secret: JsonObject | undefined,
  now: Date,
): { name: string; groups: string[] } | undefined {
  if (secret === undefined) return undefined;
  const check = checkBootstrapTokenSecret(secret, now, 'authentication');
  if (!check.ok || check.token.id !== presented.id || !secretsEqual(check.token.secret, presented.secret)) return undefined;
  return bootstrapTokenUser(check.token);
}

export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The user a valid authentication token stands for (§1.3); `system:authenticated` is added by the caller. */
export function bootstrapTokenUser(token: TokenFacts): { name: string; groups: string[] } {
  return { name: `${BOOTSTRAP_USER_PREFIX}${token.id}`, groups: [...new Set([BOOTSTRAP_GROUP, ...token.extraGroups])].sort() };
}

export interface TokenSecretParams {
  readonly token: BootstrapToken;
  readonly expiration?: Date;
  readonly usages: readonly ('signing' | 'authentication')[];
  readonly groups: readonly string[];
  readonly description?: string;
}

/** The Secret that backs a token, with every field of §1.2, as kubeadm writes it. */
export function bootstrapTokenSecret(p: TokenSecretParams): JsonObject {
  for (const g of p.groups)
    if (!EXTRA_GROUP_PATTERN.test(g))
      throw new InvalidError('TOKEN_GROUP', `group "${g}" must match ${EXTRA_GROUP_PATTERN.source}`, { field: 'groups' });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const data: Record<string, string> = { 'token-id': b64(p.token.id), 'token-secret': b64(p.token.secret) };
  if (p.description !== undefined) data.description = b64(p.description);
  if (p.expiration !== undefined) data.expiration = b64(formatRfc3339(p.expiration));
  for (const u of p.usages) data[`usage-bootstrap-${u}`] = b64('true');
  if (p.groups.length > 0) data['auth-extra-groups'] = b64(p.groups.join(','));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: bootstrapTokenSecretName(p.token.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data,
  };
}
