/**
 * The HTTP side of field management: the `fieldManager` and `force` parameters as kube-apiserver
 * validates them (PatchOptions), the manager name of writes that give none (the user agent's first
 * word), and the `application/apply-patch+yaml` body, read as YAML that must also be valid JSON.
 */
import { parseDocument } from 'yaml';
import { BadRequestError, ForbiddenError, InvalidError, TlsbootError } from '../base/errors.ts';
import { exceedsJsonDepth, isObject, type JsonObject, MAX_JSON_DEPTH } from '../base/json.ts';
import type { UserInfo } from './authn.ts';
import { type Authorizer, forbiddenMessage } from './authz.ts';
import type { ResourceDef } from './registry.ts';
import type { ResourceRequestInfo } from './request-info.ts';
import type { RestHandlers } from './rest.ts';

export const APPLY_PATCH_TYPE = 'application/apply-patch+yaml';
/** apimachinery's FieldManagerMaxLength. */
const MAX_MANAGER_LENGTH = 128;

/** A 422 about request options (`PatchOptions`, `ListOptions`, ...), written as apimachinery writes it. */
export function invalidOptions(
  kind: 'PatchOptions' | 'CreateOptions' | 'UpdateOptions' | 'ListOptions',
  field: string,
  reason: string,
  detail: string,
): TlsbootError {
  return new InvalidError('OPTIONS', `${kind}.meta.k8s.io "" is invalid: ${field}: ${detail}`, {
    status: { group: 'meta.k8s.io', kind, causes: [{ reason, message: detail, field }] },
  });
}

/**
 * The manager a write is recorded under: the `fieldManager` parameter, else the user agent up to its
 * first `/` (kube's managerOrUserAgent). `patchType` is set for PATCH, where apply needs a manager
 * and only apply may force.
 */
export function fieldManagerOf(
  query: URLSearchParams,
  userAgent: string | undefined,
  kind: 'PatchOptions' | 'CreateOptions' | 'UpdateOptions',
  patchType?: string,
): string {
  const given = query.get('fieldManager') ?? '';
  const force = query.get('force');
  if (patchType !== undefined && patchType !== APPLY_PATCH_TYPE && force !== null) {
    throw invalidOptions(kind, 'force', 'FieldValueForbidden', 'Forbidden: may not be specified for non-apply patch');
  }
  if (patchType === APPLY_PATCH_TYPE && given === '') {
    throw invalidOptions(kind, 'fieldManager', 'FieldValueRequired', 'Required value: is required for apply patch');
  }
  if (given.length > MAX_MANAGER_LENGTH) {
    throw invalidOptions(kind, 'fieldManager', 'FieldValueTooLong', `Too long: may not be more than ${MAX_MANAGER_LENGTH} bytes`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is exactly "no control characters"
  if (/[\u0000-\u001f\u007f]/.test(given)) {
    throw invalidOptions(
      kind,
      'fieldManager',
      'FieldValueInvalid',
      `Invalid value: ${JSON.stringify(given)}: must only contain printable characters`,
    );
  }
  if (given !== '') return given;
  return (userAgent ?? '').split('/')[0]?.slice(0, MAX_MANAGER_LENGTH) ?? '';
}

/** `force` as apimachinery reads a bool parameter: absent, `false` and `0` are false. */
export function forceOf(query: URLSearchParams): boolean {
  const v = query.get('force');
  return v !== null && v !== 'false' && v !== '0';
}

const badBody = (message: string) => new BadRequestError('APPLY_BODY', message);

/**
 * An apply configuration. YAML is refused where it is not JSON: aliases (a few bytes of anchors
 * can expand to gigabytes), custom tags, non-finite numbers, several documents, a non-object.
 */
export function parseApplyBody(raw: unknown): JsonObject {
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw badBody('the apply configuration is empty');
  let value: unknown;
  try {
    const doc = parseDocument(raw.toString('utf8'), { schema: 'core', merge: false, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) throw badBody(`error decoding YAML: ${doc.errors[0]?.message ?? ''}`);
    if (doc.warnings.length > 0) throw badBody(`error decoding YAML: ${doc.warnings[0]?.message ?? ''}`);
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (error) {
    if (error instanceof TlsbootError) throw error;
    // yaml throws for aliases past maxAliasCount, and a RangeError for absurd nesting.
    throw badBody(`error decoding YAML: ${error instanceof Error ? error.message : 'invalid document'}`);
  }
  if (exceedsJsonDepth(value)) throw badBody(`the apply configuration nests deeper than ${MAX_JSON_DEPTH} levels`);
  const notJson = firstNonJson(value);
  if (notJson !== undefined) throw badBody(`error decoding YAML: ${notJson} is not valid JSON`);
  if (!isObject(value)) throw badBody('the apply configuration must be an object');
  return value;
}

function firstNonJson(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return String(v);
      continue;
    }
    // One push per element: spreading a 100,000-element list would overflow the argument limit.
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (isObject(v) && Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) stack.push(x);
    else return v === undefined ? 'an empty value' : `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`;
  }
  return undefined;
}

export interface ApplyRequest {
  readonly rest: RestHandlers;
  readonly def: ResourceDef;
  readonly info: ResourceRequestInfo;
  readonly body: unknown;
  readonly query: URLSearchParams;
  readonly userAgent: string | undefined;
  readonly user: UserInfo;
}

/** What an apply that creates must pass besides the patch authorisation the request already had. */
export interface CreateGate {
  readonly authorizer: Authorizer;
  /** The requester's create limit. */
  readonly countCreate: () => void;
}

/** PATCH with `application/apply-patch+yaml`: options, body, then the REST apply. */
export function serveApply(r: ApplyRequest, gate: CreateGate): Promise<{ created: boolean; obj: JsonObject }> {
  const manager = fieldManagerOf(r.query, r.userAgent, 'PatchOptions', APPLY_PATCH_TYPE);
  const config = parseApplyBody(r.body);
  const { info, user } = r;
  // An apply that creates is a create: kube-apiserver's patch handler authorises it as one.
  const beforeCreate = () => {
    const attrs = { user, verb: 'create', apiGroup: info.group, resource: info.resource, name: info.name, namespace: info.namespace };
    if (!gate.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
    gate.countCreate();
  };
  const target = { namespace: info.namespace, name: info.name, subresource: info.subresource };
  return r.rest.apply(r.def, target, config, user, {
    manager,
    force: forceOf(r.query),
    dryRun: r.query.getAll('dryRun').includes('All'),
    beforeCreate,
  });
}
