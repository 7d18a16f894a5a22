/**
 * Reading Prometheus text exposition in tests: one sample's value by name and labels, and
 * Debian's promtool (`check metrics` on real output, `check rules` on README's alert).
 */
import { spawnSync } from 'node:child_process';

/** Labels of a sample line, parsed from `{a="x",b="y"}` (values without escapes, as ours are). */
function labelsOf(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels.set(m[1] ?? '', m[2] ?? '');
  return labels;
}

/**
 * The value of the one sample named `name` whose labels include `labels`; undefined when none
 * matches. Throws when several do, so a test never reads an arbitrary one.
 */
export function sample(exposition: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const found: number[] = [];
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = labelsOf(m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) found.push(Number(m[3]));
  }
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0];
}

/** `promtool check metrics` on `exposition`: its exit status and what it printed. */
export function promtoolCheckMetrics(exposition: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** `promtool check rules FILE`. */
export function promtoolCheckRules(file: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
