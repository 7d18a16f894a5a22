import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { backupName, FileAuditLog, GENESIS, hashLine, listBackups } from './audit.ts';
import { verifyAuditChain } from './audit-verify.ts';

const now = () => new Date('2026-12-02T00:00:00.000Z');

function records(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

function writeLines(path: string, ls: readonly string[]): void {
  writeFileSync(path, ls.map((l) => `${l}\n`).join(''));
}

function fill(log: FileAuditLog, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) log.record({ event: 'certificate.signed', actor: 'system:node:a', serial: `s${i}` });
}

function brokenAt(files: readonly string[], options: { expectLast?: string } = {}) {
  const result = verifyAuditChain(files, options);
  assert.equal(result.ok, false, 'the chain is reported broken');
  if (result.ok) throw new Error('unreachable');
  return result.broken;
}

describe('FileAuditLog: a hash-chained, rotating audit log', () => {
  let dir = '';
  let path = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'audit-'));
    path = join(dir, 'audit.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('chains each record to the exact bytes of the one before, from GENESIS', () => {
    const log = new FileAuditLog(path, now);
    fill(log, 3);
    log.close();
    const ls = lines(path);
    const rs = records(path);
    assert.deepEqual(
      rs.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(rs[0]?.prev, GENESIS);
    assert.equal(rs[1]?.prev, hashLine(ls[0] ?? ''));
    assert.equal(rs[2]?.prev, hashLine(ls[1] ?? ''));
    const result = verifyAuditChain([path]);
    assert.ok(result.ok);
    assert.deepEqual(result.summary, { files: 1, records: 3, firstSeq: 1, lastSeq: 3, lastHash: hashLine(ls[2] ?? '') });
  });

  it('refuses an event that would set the chain fields itself', () => {
    const log = new FileAuditLog(path, now);
    assert.throws(
      () => log.record({ event: 'certificate.signed', actor: 'x', seq: 7 }),
      (e: unknown) => isTlsbootError(e) && e.code === 'INTERNAL',
    );
    log.close();
  });

  it('rotates at the size bound without breaking the chain, and keeps maxBackups files', () => {
    const log = new FileAuditLog(path, now, { maxBytes: 600, maxBackups: 3 });
    fill(log, 40);
    log.close();
    const backups = listBackups(path);
    assert.equal(backups.length, 3, 'older backups are deleted');
    for (const f of [...backups, path]) assert.ok(readFileSync(f).length <= 600, `${f} stays within the bound`);
    // Each file's first record links to the previous file's last.
    const lastOfOlder = lines(backups[2] ?? '').at(-1) ?? '';
    assert.equal(records(path)[0]?.prev, hashLine(lastOfOlder));
    assert.equal(backups[2], backupName(path, Number(JSON.parse(lastOfOlder).seq)), 'a backup is named by its last seq');
    const result = verifyAuditChain([...backups, path]);
    assert.ok(result.ok);
    assert.equal(result.summary.lastSeq, 40);
    assert.ok(result.summary.firstSeq > 1, 'the chain starts where the oldest kept file starts');
    // A file left out in the middle is named.
    const gap = brokenAt([backups[0] ?? '', backups[2] ?? '', path]);
    assert.equal(gap.file, backups[2]);
    assert.equal(gap.line, 1);
    assert.match(gap.problem, /removed/);
  });

  it('continues the chain after a restart, from the file or, when it is empty, from the newest backup', () => {
    const first = new FileAuditLog(path, now);
    fill(first, 2);
    first.close();
    const second = new FileAuditLog(path, now);
    fill(second, 2, 2);
    second.close();
    assert.deepEqual(
      records(path).map((r) => r.seq),
      [1, 2, 3, 4],
    );
    // A crash after a rotation's rename, before the new file's first record.
    renameSync(path, backupName(path, 4));
    const third = new FileAuditLog(path, now);
    fill(third, 1, 4);
    third.close();
    assert.equal(records(path)[0]?.seq, 5);
    assert.ok(verifyAuditChain([...listBackups(path), path]).ok);
  });

  it('cuts off a torn last line left by a crash, and records what it cut in the chain', () => {
    const log = new FileAuditLog(path, now);
    fill(log, 2);
    log.close();
    appendFileSync(path, '{"seq":3,"prev":"ab');
    assert.equal(brokenAt([path]).line, 3, 'verify sees the torn line');
    const reopened = new FileAuditLog(path, now);
    fill(reopened, 1, 2);
    reopened.close();
    const rs = records(path);
    assert.deepEqual(
      rs.map((r) => [r.seq, r.event]),
      [
        [1, 'certificate.signed'],
        [2, 'certificate.signed'],
        [3, 'audit.recovered'],
        [4, 'certificate.signed'],
      ],
    );
    assert.equal(rs[2]?.torn, '{"seq":3,"prev":"ab');
    assert.equal(rs[2]?.tornBytes, 19);
    assert.ok(verifyAuditChain([path]).ok);
  });

  it('moves a log from before chaining aside and starts a new chain', () => {
    writeLines(path, ['{"time":"2026-01-01T00:00:00.000Z","event":"certificate.signed","actor":"x"}']);
    const log = new FileAuditLog(path, now);
    fill(log, 1);
    log.close();
    assert.deepEqual(records(path)[0]?.prev, GENESIS);
    assert.equal(readFileSync(`${path}.unchained-${now().getTime()}`, 'utf8').includes('"actor":"x"'), true);
  });

  it('refuses a second writer of the same file until the first closes', () => {
    const log = new FileAuditLog(path, now);
    assert.throws(
      () => new FileAuditLog(path, now),
      (e: unknown) => isTlsbootError(e) && e.code === 'UNAVAILABLE' && /another process/.test(e.message),
    );
    log.close();
    const again = new FileAuditLog(path, now);
    again.close();
  });
});

describe('verifyAuditChain names the first record that was tampered with', () => {
  let dir = '';
  let path = '';
  let ls: string[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'audit-verify-'));
    path = join(dir, 'audit.log');
    const log = new FileAuditLog(path, now);
    fill(log, 5);
    log.close();
    ls = lines(path);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('one edited byte', () => {
    const edited = [...ls];
    edited[2] = (ls[2] ?? '').replace('"s2"', '"s9"');
    writeLines(path, edited);
    const b = brokenAt([path]);
    assert.deepEqual([b.file, b.line, b.seq], [path, 3, 3]);
    assert.match(b.problem, /edited/);
  });

  it('a removed line', () => {
    writeLines(path, [...ls.slice(0, 1), ...ls.slice(2)]);
    const b = brokenAt([path]);
    assert.deepEqual([b.line, b.seq], [2, 2]);
    assert.match(b.problem, /removed/);
  });

  it('two swapped lines', () => {
    writeLines(path, [ls[0] ?? '', ls[2] ?? '', ls[1] ?? '', ls[3] ?? '', ls[4] ?? '']);
    const b = brokenAt([path]);
    assert.deepEqual([b.line, b.seq], [2, 2]);
    assert.match(b.problem, /reordered/);
  });

  it('a truncated file: mid-line, and whole records against --expect-last', () => {
    const whole = readFileSync(path);
    truncateSync(path, whole.length - 10);
    const torn = brokenAt([path]);
    assert.deepEqual([torn.line, torn.seq], [5, 5]);
    assert.match(torn.problem, /cut off/);
    writeLines(path, ls.slice(0, 3));
    assert.ok(verifyAuditChain([path]).ok, 'a cut at a line end leaves no trace in the file itself');
    const cut = brokenAt([path], { expectLast: hashLine(ls[4] ?? '') });
    assert.equal(cut.seq, 4);
    assert.match(cut.problem, /cut off/);
    writeLines(path, ls);
    assert.ok(verifyAuditChain([path], { expectLast: hashLine(ls[3] ?? '') }).ok, 'a log that grew past the known hash passes');
  });

  it('bad input: a missing file, a file that is no audit log, a malformed hash', () => {
    const bad = (files: string[], options = {}) =>
      assert.throws(
        () => verifyAuditChain(files, options),
        (e: unknown) => isTlsbootError(e) && e.code === 'INVALID',
      );
    bad([join(dir, 'absent.log')]);
    writeFileSync(join(dir, 'notes.txt'), 'hello\n');
    bad([join(dir, 'notes.txt')]);
    bad([]);
    bad([path], { expectLast: 'abc' });
  });
});
