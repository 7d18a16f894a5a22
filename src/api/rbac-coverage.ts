/**
 * RBAC escalation prevention's core, as Kubernetes' rule comparator does it: whether one set of
 * policy rules (what a user holds) covers another (what a role or binding would grant). Each
 * granted rule is broken into atoms (one verb, one API group, one resource, one name or none; or
 * one verb and one URL), and every atom needs one held rule that allows it. A `*` granted is only
 * covered by a `*` held. Pure.
 */
import type { PolicyRule } from './rbac.ts';

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(value));
}

/** kube's resourceCoversAll: `*`, an exact match, or `*\/sub` for a subresource. */
function coversResource(held: readonly string[], resource: string): boolean {
  if (held.includes('*') || held.includes(resource)) return true;
  const slash = resource.indexOf('/');
  return slash >= 0 && held.includes(`*/${resource.slice(slash + 1)}`);
}

function coversUrl(held: readonly string[], url: string): boolean {
  return held.some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.slice(0, -1))));
}

interface ResourceAtom {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  /** Undefined: every name. */
  readonly name: string | undefined;
}

function coversResourceAtom(rule: PolicyRule, a: ResourceAtom): boolean {
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.group) || !coversResource(rule.resources ?? [], a.resource)) return false;
  const names = rule.resourceNames ?? [];
  // A rule without names covers every name; a rule with names covers only those it lists.
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

/** The atoms of `granted` that no rule of `held` covers, each as a one-atom rule, in order. */
export function uncoveredRules(held: readonly PolicyRule[], granted: readonly PolicyRule[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const rule of granted) {
    for (const verb of rule.verbs ?? []) {
      for (const url of rule.nonResourceURLs ?? []) {
        if (!held.some((h) => has(h.verbs, verb) && coversUrl(h.nonResourceURLs ?? [], url)))
          out.push({ verbs: [verb], nonResourceURLs: [url] });
      }
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const names = (rule.resourceNames ?? []).length > 0 ? (rule.resourceNames ?? []) : [undefined];
          for (const name of names) {
            if (!held.some((h) => coversResourceAtom(h, { verb, group, resource, name })))
              out.push({
                verbs: [verb],
                apiGroups: [group],
                resources: [resource],
                ...(name === undefined ? {} : { resourceNames: [name] }),
              });
          }
        }
      }
    }
  }
  return out;
}

/** A rule as kube-apiserver prints it in an escalation refusal: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`. */
export function formatRule(rule: PolicyRule): string {
  const list = (v: readonly string[]) => `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;
  const parts: string[] = [];
  if (rule.apiGroups) parts.push(`APIGroups:${list(rule.apiGroups)}`);
  if (rule.resources) parts.push(`Resources:${list(rule.resources)}`);
  if (rule.resourceNames) parts.push(`ResourceNames:${list(rule.resourceNames)}`);
  if (rule.nonResourceURLs) parts.push(`NonResourceURLs:${list(rule.nonResourceURLs)}`);
  parts.push(`Verbs:${list(rule.verbs ?? [])}`);
  return `{${parts.join(', ')}}`;
}
