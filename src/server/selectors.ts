/**
 * Kubernetes label selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
 * selectors (`field=value`, `field==value`, `field!=value`, restricted to the fields a resource
 * declares). Parsing errors are BAD_REQUEST (400) with the offending selector named; matching is pure.
 */
import { BadRequestError } from '../base/errors.ts';

type Requirement =
  | { readonly op: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists' | 'absent'; readonly key: string };

export type Selector = readonly Requirement[];

function badSelector(kind: string, text: string): BadRequestError {
  return new BadRequestError('SELECTOR', `unable to parse requirement: invalid ${kind} selector "${text}"`, { field: kind });
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of text) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function parseLabelSelector(text: string | null): Selector {
  if (text === null || text.trim() === '') return [];
  return splitTerms(text).map((term): Requirement => {
    let m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term);
    if (m) {
      const [, key = '', op = '', value = ''] = m;
      if (!KEY.test(key) || !VALUE.test(value)) throw badSelector('label', text);
      return { op: op === '!=' ? 'ne' : 'eq', key, value };
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (m) {
      const [, key = '', inOrNotIn, list = ''] = m;
      const op = inOrNotIn === 'in' ? 'in' : 'notin';
      const values = list
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      if (!KEY.test(key) || !values.every((v) => VALUE.test(v))) throw badSelector('label', text);
      return { op, key, values };
    }
    m = /^(!?)(\S+)$/.exec(term);
    if (m && KEY.test(m[2] as string)) return { op: m[1] ? 'absent' : 'exists', key: m[2] as string };
    throw badSelector('label', text);
  });
}

export function matchesLabels(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case 'eq':
        return has && v === r.value;
      case 'ne':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v as string);
      case 'notin':
        return !has || !r.values.includes(v as string);
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
    return false;
  });
}

export type FieldGetter = (obj: Record<string, unknown>) => string;

export interface FieldRequirement {
  readonly field: string;
  readonly negate: boolean;
  readonly value: string;
  readonly get: FieldGetter;
}

/** Parses a field selector against the fields a resource supports (kube answers 400 for others). */
export function parseFieldSelector(
  text: string | null,
  fields: Readonly<Record<string, FieldGetter>>,
  resource: string,
): FieldRequirement[] {
  if (text === null || text.trim() === '') return [];
  return splitTerms(text).map((term) => {
    const m = /^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) throw badSelector('field', text);
    const [, field = '', op = '', value = ''] = m;
    const get = fields[field];
    if (!get) {
      throw new BadRequestError('SELECTOR', `field label not supported: ${field} (for ${resource})`, {
        field: 'fieldSelector',
      });
    }
    return { field, negate: op === '!=', value, get };
  });
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: Record<string, unknown>): boolean {
  return reqs.every((r) => (r.get(obj) === r.value) !== r.negate);
}
