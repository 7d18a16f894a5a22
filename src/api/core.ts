/**
 * Core `v1` objects tlsboot serves (Secret, ConfigMap) with Kubernetes' validation of their data
 * maps, and bootstrap tokens (reference §1): the token format, the backing Secret's fields, and the
 * one function that decides whether a Secret is a usable token at a given time. Token secrets
 * are compared in constant time and never put into error messages.
 */
import { timingSafeEqual } from 'node:crypto';
import { InvalidError, TlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';

export type JsonObject = Record<string, unknown>;

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_TOKEN_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAP_GROUP = 'system:bootstrappers';
export const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const TOKEN_ID_PATTERN = /^[a-z0-9]{6}$/;
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
    throw new TlsbootError('TOO_LARGE', 'SECRET_TOO_LARGE', `data: Too long: must have at most ${MAX_SECRET_BYTES} bytes`, {
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

/** Parses `ID.SECRET`; the error never echoes the input. */
export function parseBootstrapToken(text: string, field = 'token'): BootstrapToken {
  const m = TOKEN_PATTERN.exec(text);
  if (!m) throw new InvalidError('TOKEN_FORMAT', 'a bootstrap token must match [a-z0-9]{6}.[a-z0-9]{16}', { field });
  return { id: m[1] as string, secret: m[2] as string };
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

/**
 * Reads a bootstrap-token Secret (reference §1.2-1.4): right type and name, id and secret present
 * and agreeing, not expired (an unparsable expiration counts as expired), groups well-formed
 * (one bad group invalidates the whole token). Usages are reported for the caller to require.
 */
export function checkBootstrapTokenSecret(secret: JsonObject, now: Date): TokenCheck {
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  if (meta.deletionTimestamp) return { ok: false, problem: 'being deleted' };
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return { ok: false, problem: 'not a bootstrap token secret' };
  const id = secretString(secret, 'token-id');
  const tokenSecret = secretString(secret, 'token-secret');
  if (!id || !tokenSecret || !TOKEN_ID_PATTERN.test(id) || !/^[a-z0-9]{16}$/.test(tokenSecret))
    return { ok: false, problem: 'token-id or token-secret missing or malformed' };
  if (meta.name !== bootstrapTokenSecretName(id)) return { ok: false, problem: 'token-id does not match the secret name' };
  const expirationText = secretString(secret, 'expiration');
  let expiration: Date | undefined;
  if (expirationText !== undefined) {
    const t = Date.parse(expirationText);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(expirationText) || Number.isNaN(t))
      return { ok: false, problem: 'expiration is not RFC 3339' };
    expiration = new Date(t);
    if (expiration.getTime() - now.getTime() <= 0) return { ok: false, problem: 'expired' };
  }
  const groupsText = secretString(secret, 'auth-extra-groups');
  const extraGroups = groupsText === undefined || groupsText === '' ? [] : groupsText.split(',').map((g) => g.trim());
  if (!extraGroups.every((g) => EXTRA_GROUP_PATTERN.test(g))) return { ok: false, problem: 'auth-extra-groups has an invalid group' };
  return {
    ok: true,
    token: {
      id,
      secret: tokenSecret,
      expiration,
      usages: {
        authentication: secretString(secret, 'usage-bootstrap-authentication') === 'true',
        signing: secretString(secret, 'usage-bootstrap-signing') === 'true',
      },
      extraGroups,
      description: secretString(secret, 'description'),
    },
  };
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
  if (p.expiration !== undefined) data.expiration = b64(p.expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'));
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
