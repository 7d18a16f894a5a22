/** Walking test directories: every file below one, and a byte-exact snapshot to prove that a refused run changed nothing. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** Every file under dir (relative path) with its bytes in base64. */
export function snapshot(dir: string): Map<string, string> {
  return new Map(filesUnder(dir).map((p) => [relative(dir, p), readFileSync(p).toString('base64')]));
}
