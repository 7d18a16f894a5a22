/**
 * The CA audit log: one JSON object per line, appended, never rewritten. It records who did what
 * to the signing authority and when: every certificate signed (serial, CSR, signer, subject),
 * every certificate revoked (serial, reason, holder), every approval and denial, every signing
 * session opened, closed, expired or refused, every grant issued, used up or revoked.
 *
 * The records form one hash chain: each carries `seq` (1, 2, ...) and `prev`, the SHA-256 (hex)
 * of the previous record's line (its exact bytes without the newline; GENESIS before the first).
 * The file rotates at a size bound into `<stem>-<last seq, 12 digits><ext>` beside it, keeping
 * the newest `maxBackups`; the chain runs on across files. A restart continues the chain from the
 * last record of the file, or of the newest backup when the file is empty. One process writes a
 * log: a second one is refused (an OS lock on `<file>.lock`). Checked by audit-verify.ts.
 */
import { hash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, parse } from 'node:path';
import type { AuditEvent, AuditLog } from '../api/audit.ts';
import { InternalError, InvalidError, UnavailableError } from '../base/errors.ts';
import { type FileLock, lockFile } from '../base/file-lock.ts';
import { syncDir } from '../base/fs.ts';
import { isObject } from '../base/json.ts';

export type { AuditEvent, AuditEventType, AuditLog } from '../api/audit.ts';

/** The `prev` of a chain's first record. */
export const GENESIS = '0'.repeat(64);

/** Defaults for rotation: kube-apiserver's audit log rotates at --audit-log-maxsize and keeps --audit-log-maxbackup. */
export const DEFAULT_AUDIT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_AUDIT_MAX_BACKUPS = 10;

export interface AuditRotation {
  /** The file rotates before a record would take it past this many bytes. */
  readonly maxBytes?: number;
  /** Rotated files kept; older ones are deleted. */
  readonly maxBackups?: number;
}

/** The SHA-256 (hex) of one record's line, which the next record's `prev` carries. */
export function hashLine(line: Uint8Array | string): string {
  // The one-shot hash: no Hash object per record (1.4-1.8 us against 2.6-4.0 us for createHash, 330 bytes).
  return hash('sha256', line, 'hex');
}

export interface ChainLink {
  readonly seq: number;
  readonly prev: string;
}

const HASH = /^[0-9a-f]{64}$/;

/** The chain fields of a parsed record, or undefined when it has none (a line from before chaining). */
export function chainLinkOf(record: unknown): ChainLink | undefined {
  if (!isObject(record)) return undefined;
  const { seq, prev } = record;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1 || typeof prev !== 'string' || !HASH.test(prev)) return undefined;
  return { seq, prev };
}

/** The names rotated files of `path` take, oldest first when sorted: `<stem>-<seq of their last record><ext>`. */
export function backupName(path: string, lastSeq: number): string {
  const { dir, name, ext } = parse(path);
  return join(dir, `${name}-${String(lastSeq).padStart(12, '0')}${ext}`);
}

/** The rotated files of `path` that exist, oldest first. */
export function listBackups(path: string): string[] {
  const { dir, name, ext } = parse(path);
  const isBackup = (n: string) =>
    n.length === name.length + 13 + ext.length &&
    n.startsWith(`${name}-`) &&
    n.endsWith(ext) &&
    /^\d{12}$/.test(n.slice(name.length + 1, name.length + 13));
  let names: string[];
  try {
    names = readdirSync(dir || '.');
  } catch {
    return [];
  }
  return names
    .filter(isBackup)
    .sort()
    .map((n) => join(dir, n));
}

interface Tail {
  /** The last complete line, without its newline. */
  readonly line: Buffer | undefined;
  /** Where the complete lines end: bytes after it are a torn line a crash left. */
  readonly completeEnd: number;
}

/** Reads the end of an open file back to the start of its last complete line (a window that grows as needed). */
function readTail(fd: number, size: number): Tail {
  for (let window = 64 * 1024; ; window *= 2) {
    const start = Math.max(0, size - window);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl < 0) {
      if (start === 0) return { line: undefined, completeEnd: 0 };
      continue;
    }
    const before = buf.lastIndexOf(0x0a, lastNl - 1);
    if (before < 0 && start > 0) continue;
    return { line: buf.subarray(before + 1, lastNl), completeEnd: start + lastNl + 1 };
  }
}

/** The chain position after a file's last record: its seq and hash. Undefined for a file with no record. */
function chainEnd(path: string, line: Buffer | undefined): { seq: number; hash: string } | undefined {
  if (line === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    throw new InvalidError(
      'AUDIT_LOG_CORRUPT',
      `${path}: its last line is not JSON; run \`tlsboot audit verify\` on it, and move it aside to start a new file`,
      { field: path },
    );
  }
  const link = chainLinkOf(parsed);
  return link === undefined ? undefined : { seq: link.seq, hash: hashLine(line) };
}

/** Appends to a file opened once with O_APPEND; events recorded nowhere else (sessions, grants) are fsynced. */
export class FileAuditLog implements AuditLog {
  readonly path: string;
  private readonly now: () => Date;
  private readonly maxBytes: number;
  private readonly maxBackups: number;
  private readonly lock: FileLock;
  private fd: number | undefined;
  private size = 0;
  private seq = 0;
  private last = GENESIS;
  private failed: unknown;

  constructor(path: string, now: () => Date, rotation: AuditRotation = {}) {
    this.path = path;
    this.now = now;
    this.maxBytes = rotation.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES;
    this.maxBackups = rotation.maxBackups ?? DEFAULT_AUDIT_MAX_BACKUPS;
    if (!(this.maxBytes > 0) || !Number.isSafeInteger(this.maxBackups) || this.maxBackups < 0)
      throw new InvalidError('AUDIT_ROTATION', 'the audit log needs a positive size bound and a backup count of 0 or more', {
        field: 'audit-max-bytes',
      });
    this.lock = lockFile(
      `${path}.lock`,
      `${path} is written by another process (it holds ${path}.lock): two writers would break its hash chain; give each process its own --audit-log`,
    );
    try {
      this.fd = openSync(path, 'a+', 0o600);
      this.resume();
    } catch (error) {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      this.lock.release();
      throw error;
    }
  }

  /** Continues the chain where the file (or, when it is empty, the newest backup) ends; handles a torn last line. */
  private resume(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.size = fstatSync(fd).size;
    const tail = readTail(fd, this.size);
    const end = chainEnd(this.path, tail.line);
    if (tail.line !== undefined && end === undefined) {
      // A log from before chaining: kept as it is, under its own name, and a new chain begins.
      closeSync(fd);
      this.fd = undefined;
      renameSync(this.path, `${this.path}.unchained-${this.now().getTime()}`);
      this.fd = openSync(this.path, 'a+', 0o600);
      this.size = 0;
      this.continueFromBackup();
      return;
    }
    if (end) {
      this.seq = end.seq;
      this.last = end.hash;
    } else {
      this.continueFromBackup();
    }
    if (tail.completeEnd < this.size) {
      // A crash mid-append left a line without its newline. It was never a record: it is cut off so the
      // chain continues from the last whole record, and a record says so, carrying the bytes cut.
      const torn = Buffer.alloc(this.size - tail.completeEnd);
      readSync(fd, torn, 0, torn.length, tail.completeEnd);
      ftruncateSync(fd, tail.completeEnd);
      this.size = tail.completeEnd;
      this.record({
        event: 'audit.recovered',
        actor: 'tlsboot',
        tornBytes: torn.length,
        tornSha256: hashLine(torn),
        torn: torn.subarray(0, 4096).toString('utf8'),
      });
    }
  }

  private continueFromBackup(): void {
    const newest = listBackups(this.path).at(-1);
    if (newest === undefined) return;
    const fd = openSync(newest, 'r');
    try {
      const end = chainEnd(newest, readTail(fd, fstatSync(fd).size).line);
      if (end) {
        this.seq = end.seq;
        this.last = end.hash;
      }
    } finally {
      closeSync(fd);
    }
  }

  record(event: AuditEvent): void {
    if (this.fd === undefined) return;
    if (this.failed !== undefined)
      throw new UnavailableError(
        'AUDIT_LOG_FAILED',
        `the audit log ${this.path} failed earlier (${String(this.failed)}); restart to resume it`,
      );
    if ('seq' in event || 'prev' in event || 'time' in event)
      throw new InternalError('AUDIT_EVENT', `an audit event may not set seq, prev or time (${event.event})`);
    const seq = this.seq + 1;
    const line = JSON.stringify({ seq, prev: this.last, time: this.now().toISOString(), ...event });
    const bytes = Buffer.from(`${line}\n`);
    try {
      if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
      const fd = this.fd;
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      // Signatures and approvals are already durable in the store; session and grant changes exist
      // nowhere else, so they must survive a crash.
      if (!event.event.startsWith('certificate.') && !event.event.startsWith('csr.')) fsyncSync(fd);
    } catch (error) {
      // A half-written line must not be followed by more: the next start cuts it off and records that.
      this.failed = error instanceof Error ? error.message : error;
      throw error;
    }
    this.size += bytes.length;
    this.seq = seq;
    this.last = hashLine(bytes.subarray(0, bytes.length - 1));
  }

  /** Moves the full file aside under its backup name and starts a new one; the chain runs on. */
  private rotate(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    fsyncSync(fd);
    closeSync(fd);
    this.fd = undefined;
    renameSync(this.path, backupName(this.path, this.seq));
    this.fd = openSync(this.path, 'a+', 0o600);
    this.size = 0;
    const backups = listBackups(this.path);
    for (const old of backups.slice(0, Math.max(0, backups.length - this.maxBackups))) unlinkSync(old);
    syncDir(dirname(this.path) || '.');
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.lock.release();
  }
}

/** Collects events in memory (tests, and callers that do not keep a log). */
export class MemoryAuditLog implements AuditLog {
  readonly events: AuditEvent[] = [];
  record(event: AuditEvent): void {
    this.events.push(event);
  }
  close(): void {}
}
