/**
 * An exclusive, process-wide lock on a file, for files only one writer may append to (the audit
 * log). It is SQLite's lock (node:sqlite, locking_mode EXCLUSIVE), an OS file lock: the kernel
 * drops it when the process dies however it dies, so no stale lock outlives a crash, and SQLite
 * refuses a second holder in the same process as in another.
 */
import { closeSync, openSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { UnavailableError } from './errors.ts';

export interface FileLock {
  release(): void;
}

/**
 * Takes the lock at `lockPath` (created empty when absent) without waiting.
 * @throws UNAVAILABLE (reason `FILE_LOCKED`) with `busy` as the message when another holds it
 */
export function lockFile(lockPath: string, busy: string): FileLock {
  // Created private before SQLite opens it (SQLite would create it with the umask's mode).
  closeSync(openSync(lockPath, 'a', 0o600));
  const db = new DatabaseSync(lockPath, { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (error instanceof Error && 'errcode' in error && error.errcode === 5) throw new UnavailableError('FILE_LOCKED', busy);
    throw error;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.close();
    },
  };
}
