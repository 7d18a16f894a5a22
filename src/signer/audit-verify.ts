/**
 * Checks the audit log's hash chain (audit.ts) over files given oldest first: every record's
 * `seq` follows the one before and its `prev` is the SHA-256 of the line before, across file
 * boundaries. Names the first record that was edited, removed, reordered or cut off. A missing
 * tail leaves no trace in what remains: it shows only against the next file or a hash the log
 * ended with earlier (`expectLast`: the chain must still reach that record), which is why an
 * operator keeps the last hash somewhere else.
 */
import { readFileSync } from 'node:fs';
import { InvalidError } from '../base/errors.ts';
import { type ChainLink, chainLinkOf, GENESIS, hashLine } from './audit.ts';

export interface AuditChainSummary {
  readonly files: number;
  readonly records: number;
  /** The first record's seq: 1 when the chain starts at GENESIS, more when earlier files were rotated away or not given. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** The SHA-256 of the last record: give it as `expectLast` next time to detect a cut-off tail. */
  readonly lastHash: string;
}

export interface AuditChainBreak {
  readonly file: string;
  /** 1-based line in `file`. */
  readonly line: number;
  /** The seq of the record named (the one the chain expected there when it is missing). */
  readonly seq: number | undefined;
  readonly problem: string;
}

export type AuditChainResult =
  | { readonly ok: true; readonly summary: AuditChainSummary }
  | { readonly ok: false; readonly broken: AuditChainBreak };

interface Line {
  readonly bytes: Buffer;
  readonly number: number;
}

function splitLines(data: Buffer): { lines: Line[]; torn: Line | undefined } {
  const lines: Line[] = [];
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
    lines.push({ bytes: data.subarray(start, nl), number: lines.length + 1 });
    start = nl + 1;
  }
  const torn = start < data.length ? { bytes: data.subarray(start), number: lines.length + 1 } : undefined;
  return { lines, torn };
}

function linkOf(line: Line): ChainLink | undefined {
  try {
    return chainLinkOf(JSON.parse(line.bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

function readLog(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : '';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : String(error);
    throw new InvalidError('AUDIT_FILE', `${file}: ${why}`, { field: file });
  }
}

/**
 * Verifies the chain through `files` (oldest first). Bad input (a file that is missing, or whose
 * first line is no audit record) throws INVALID; a broken chain is a result, not an error.
 */
export function verifyAuditChain(files: readonly string[], options: { expectLast?: string } = {}): AuditChainResult {
  if (files.length === 0) throw new InvalidError('AUDIT_FILE', 'name at least one audit log file, oldest first');
  if (options.expectLast !== undefined && !/^[0-9a-f]{64}$/.test(options.expectLast))
    throw new InvalidError('AUDIT_EXPECT_LAST', `--expect-last must be a SHA-256 in hex (64 characters), not "${options.expectLast}"`, {
      field: 'expect-last',
    });
  let last: { seq: number; hash: string; file: string; line: number } | undefined;
  let firstSeq: number | undefined;
  let records = 0;
  let reached = false;
  for (const file of files) {
    const { lines, torn } = splitLines(readLog(file));
    const head = lines[0] ?? torn;
    if (head !== undefined && linkOf(head) === undefined && last === undefined)
      throw new InvalidError(
        'AUDIT_FILE',
        `${file}: line 1 is not a tlsboot audit record (JSON with seq and prev); is this an audit log?`,
        {
          field: file,
        },
      );
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as Line;
      const at = (seq: number | undefined, problem: string): AuditChainResult => ({
        ok: false,
        broken: { file, line: line.number, seq, problem },
      });
      const link = linkOf(line);
      if (link === undefined) {
        const seq = last === undefined ? undefined : last.seq + 1;
        return at(seq, 'this line is not an audit record (JSON with seq and prev): it was edited or inserted');
      }
      if (last === undefined) {
        if (link.seq === 1 && link.prev !== GENESIS)
          return at(1, `the first record's prev is not the genesis value: the record was edited`);
        firstSeq = link.seq;
      } else if (link.seq === last.seq + 1 && link.prev !== last.hash) {
        // The record before no longer hashes to what this one carries: it (or this prev) was edited.
        return {
          ok: false,
          broken: {
            file: last.file,
            line: last.line,
            seq: last.seq,
            problem: `the record was edited: its SHA-256 is not the prev that the next record (${file} line ${line.number}) carries`,
          },
        };
      } else if (link.seq > last.seq + 1) {
        const expected = last.seq + 1;
        const later = lines.slice(i + 1).find((l) => linkOf(l)?.seq === expected);
        if (later !== undefined) return at(expected, `records were reordered: seq ${expected} belongs here but is at line ${later.number}`);
        const boundary = i === 0 ? ` (the end of ${last.file} was cut off, or a file between was not given)` : '';
        const missing = link.seq - expected === 1 ? `seq ${expected} is` : `seqs ${expected} to ${link.seq - 1} are`;
        return at(expected, `a record was removed: ${missing} missing before this line${boundary}`);
      } else if (link.seq <= last.seq) {
        return at(link.seq, `records were reordered or repeated: seq ${link.seq} comes after seq ${last.seq}`);
      }
      records++;
      last = { seq: link.seq, hash: hashLine(line.bytes), file, line: line.number };
      if (last.hash === options.expectLast) reached = true;
    }
    if (torn !== undefined)
      return {
        ok: false,
        broken: {
          file,
          line: torn.number,
          seq: last === undefined ? undefined : last.seq + 1,
          problem: 'the file was cut off: its last line has no newline (a crash mid-write, or truncation)',
        },
      };
  }
  if (last === undefined || firstSeq === undefined) throw new InvalidError('AUDIT_FILE', `no audit records in ${files.join(', ')}`);
  if (options.expectLast !== undefined && !reached)
    return {
      ok: false,
      broken: {
        file: last.file,
        line: last.line + 1,
        seq: last.seq + 1,
        problem: `the chain ends at seq ${last.seq} (hash ${last.hash}) without reaching the record whose hash is ${options.expectLast}: records were cut off from the end, or the log was replaced`,
      },
    };
  return { ok: true, summary: { files: files.length, records, firstSeq, lastSeq: last.seq, lastHash: last.hash } };
}
