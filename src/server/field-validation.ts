/**
 * Server-side field validation (`fieldValidation=Ignore|Warn|Strict`, Warn when absent) of JSON
 * bodies against the schemas the OpenAPI documents publish, so that what kubectl reads there and
 * what the server enforces cannot differ. An unknown field is refused under Strict with
 * kube-apiserver's words and reported in a `Warning` header under Warn; under Warn and Ignore the
 * body then goes on as before. Patch directives (`$patch`, `$setElementOrder/...`) are not fields.
 */
import type { FastifyReply } from 'fastify';
import { BadRequestError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { DEFINITIONS, definitionOf } from './openapi-schemas.ts';
import type { ResourceDef } from './registry.ts';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === '' || value === 'Warn') return 'Warn';
  if (value === 'Ignore' || value === 'Strict') return value;
  throw new BadRequestError('FIELD_VALIDATION', `fieldValidation must be one of Ignore, Warn or Strict, not "${value}"`);
}

function resolve(schema: JsonObject): JsonObject | undefined {
  const ref = schema.$ref;
  return typeof ref === 'string' ? DEFINITIONS[ref.replace('#/definitions/', '')] : schema;
}

function walk(value: unknown, schema: JsonObject | undefined, path: string, out: string[]): void {
  const s = schema === undefined ? undefined : resolve(schema);
  if (s === undefined) return;
  if (Array.isArray(value)) {
    const items = s.items;
    if (isObject(items)) {
      for (const [i, v] of value.entries()) walk(v, items, `${path}[${i}]`, out);
    }
    return;
  }
  if (!isObject(value)) return;
  if (isObject(s.properties)) {
    const properties = s.properties;
    for (const [key, v] of Object.entries(value)) {
      if (key.startsWith('$')) continue;
      const at = path === '' ? key : `${path}.${key}`;
      const sub = properties[key];
      if (isObject(sub)) walk(v, sub, at, out);
      else out.push(at);
    }
  } else if (isObject(s.additionalProperties)) {
    for (const [key, v] of Object.entries(value)) walk(v, s.additionalProperties, path === '' ? key : `${path}.${key}`, out);
  }
}

/** The JSON paths of fields in `body` that the kind's schema does not have, in kube's notation. */
export function unknownFields(def: ResourceDef, body: unknown): string[] {
  const name = definitionOf(def.group, def.version, def.kind);
  const out: string[] = [];
  if (name !== undefined) walk(body, DEFINITIONS[name], '', out);
  return out;
}

/**
 * Applies the directive to a body: throws BAD_REQUEST under Strict, returns the warnings to send
 * under Warn, nothing under Ignore.
 */
export function checkFields(def: ResourceDef, body: unknown, directive: FieldValidation): string[] {
  if (directive === 'Ignore') return [];
  const unknown = unknownFields(def, body).map((path) => `unknown field "${path}"`);
  if (unknown.length === 0) return [];
  if (directive === 'Strict') {
    throw new BadRequestError(
      'UNKNOWN_FIELD',
      `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknown.join(', ')}`,
    );
  }
  return unknown;
}

/**
 * Checks a create, update or patch body under the request's `fieldValidation`, adding the warnings
 * to the reply as kube-apiserver writes them (`Warning: 299 - "unknown field \"x\""`); returns the body.
 */
export function fieldValidated(def: ResourceDef, body: unknown, query: URLSearchParams, reply: FastifyReply): unknown {
  const warnings = checkFields(def, body, parseFieldValidation(query.get('fieldValidation')));
  if (warnings.length > 0)
    reply.header(
      'warning',
      warnings.map((w) => `299 - ${JSON.stringify(w)}`),
    );
  return body;
}
