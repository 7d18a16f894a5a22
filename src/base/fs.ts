/**
 * Crash-safe file writes. A set of files is staged under temporary names (written, synced, with
 * their final mode) and only then renamed into place, so a failure while staging leaves no new
 * file at all and a crash never leaves a half-written one under a real name.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidError } from './errors.ts';

export interface FileToWrite {
  readonly path: string;
  readonly content: string | Uint8Array;
  readonly mode: number;
}

/** fsyncs a directory so that renames inside it survive a crash. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates a directory (and parents) with `mode`, refusing a path that exists as a non-directory. */
export function ensureDirectory(path: string, mode: number): void {
  try {
    if (!statSync(path).isDirectory())
      throw new InvalidError('PATH_NOT_DIRECTORY', `${path} exists and is not a directory`, { field: path });
    return;
  } catch (error) {
    if (error instanceof InvalidError) throw error;
    if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
  }
  mkdirSync(path, { recursive: true, mode });
}

/**
 * Sets `mode` on a path that group or others can reach, so private files found loose (an older
 * version, a copy, a umask) are fixed rather than refused. Returns the mode it had when it
 * changed it (for the caller to report), undefined when it was private already or is absent.
 */
export function restrictMode(path: string, mode: number): number | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return undefined;
  const old = st.mode & 0o7777;
  if ((old & 0o077) === 0) return undefined;
  chmodSync(path, mode);
  return old;
}

/** A mode as people write it: 0644. */
export function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/**
 * Writes every file or none: all are staged first; if staging fails the staged files are
 * removed and the error is rethrown. Directories must already exist.
 */
export function writeFilesAtomically(files: readonly FileToWrite[]): void {
  const staged: { tmp: string; path: string }[] = [];
  try {
    for (const f of files) {
      const tmp = `${f.path}.tmp-${randomBytes(6).toString('hex')}`;
      const fd = openSync(tmp, 'wx', f.mode);
      staged.push({ tmp, path: f.path });
      try {
        const data = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  } catch (error) {
    for (const s of staged) rmSync(s.tmp, { force: true });
    throw error;
  }
  for (const s of staged) renameSync(s.tmp, s.path);
  for (const dir of new Set(staged.map((s) => dirname(s.path)))) syncDir(dir);
}
