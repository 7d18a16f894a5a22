/**
 * The hash-chained audit log end to end (issue 16's "Audit"): a node joins through a real server
 * whose log rotates at a small size, a person approves and denies by hand, the server restarts;
 * `tlsboot audit verify` passes on the rotated files and the current one, then fails, naming the
 * place, on a copy with one byte changed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { listBackups } from '../src/signer/audit.ts';
import { clientCsrObject } from './helpers/pki.ts';
import { joinNode, startCluster, startServer, tempDir, tlsboot, tlsbootAsync } from './helpers/processes.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function records(files: readonly string[]): Record<string, unknown>[] {
  return files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

describe('tlsboot audit verify on a real server’s log', () => {
  const dir = tempDir('audit-e2e');
  after(() => dir.remove());

  test('passes on the rotated chain of a join, a manual approval and denial and a restart; fails on one changed byte', async () => {
    const rotation = ['--audit-max-bytes', '1500', '--audit-max-backups', '20'];
    const { cluster, server, kubeconfig, admin, token } = await startCluster(dir.path, rotation);
    const log = join(cluster, 'audit.log');
    try {
      const joined = await joinNode(server, token, 'audited-1', join(dir.path, 'node'));
      assert.equal(joined.code, 0, joined.stderr);
      for (const name of ['by-hand-yes', 'by-hand-no']) await admin.request(CSRS, { method: 'POST', body: clientCsrObject(name) });
      const approved = await tlsbootAsync(['csr', 'approve', 'by-hand-yes', '--kubeconfig', kubeconfig]);
      assert.equal(approved.code, 0, approved.stderr);
      const denied = await tlsbootAsync(['csr', 'deny', 'by-hand-no', '--kubeconfig', kubeconfig]);
      assert.equal(denied.code, 0, denied.stderr);
    } finally {
      admin.close();
      await server.stop();
    }
    // The chain runs on over a restart.
    const again = await startServer(cluster, rotation, server.port);
    const manual = await tlsbootAsync(['token', 'create', '--ttl', '1h'], { env: { KUBECONFIG: kubeconfig } });
    assert.equal(manual.code, 0, manual.stderr);
    const rejoined = await joinNode(again, manual.stdout.trim(), 'audited-2', join(dir.path, 'node-2'));
    assert.equal(rejoined.code, 0, rejoined.stderr);
    await again.stop();

    const files = [...listBackups(log), log];
    assert.ok(files.length > 2, `the log rotated (${files.map((f) => basename(f)).join(', ')})`);
    const all = records(files);
    assert.deepEqual(
      all.map((r) => r.seq),
      all.map((_, i) => i + 1),
      'one sequence across files and the restart',
    );
    const nodeApprovals = all.filter((r) => r.event === 'csr.approved' && r.actor === 'controller:csr-approver');
    assert.equal(nodeApprovals.length, 2, 'each node’s approval names the approver controller');
    assert.equal(all.filter((r) => r.event === 'csr.approved').length, 3, 'each approval is recorded once');
    const signed = new Set(all.filter((r) => r.event === 'certificate.signed').map((r) => r.csr));
    for (const a of nodeApprovals) assert.ok(signed.has(a.csr), `${String(a.csr)} was approved and signed`);
    assert.ok(all.some((r) => r.event === 'csr.approved' && r.csr === 'by-hand-yes' && r.actor === 'kubernetes-admin'));
    assert.ok(all.some((r) => r.event === 'csr.denied' && r.csr === 'by-hand-no' && r.actor === 'kubernetes-admin'));
    assert.ok(!readFileSync(log, 'utf8').includes(token.split('.')[1] ?? 'no token'), 'no token secret in the log');

    const verified = tlsboot(['audit', 'verify', ...files]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(
      verified.stdout,
      new RegExp(`^ok: ${all.length} records in ${files.length} file\\(s\\), seq 1\\.\\.${all.length} from genesis`),
    );

    // One byte changed in a copy: the record is named by file, line and seq.
    const copies = join(dir.path, 'copies');
    mkdirSync(copies);
    const copied = files.map((f) => join(copies, basename(f)));
    for (const [i, f] of files.entries()) copyFileSync(f, copied[i] ?? '');
    const victim = copied[1] ?? '';
    const bytes = readFileSync(victim);
    const at = bytes.indexOf('"actor":"') + 9;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    writeFileSync(victim, bytes);
    const line = bytes.subarray(0, at).toString('utf8').split('\n').length;
    const seq = Number(JSON.parse(bytes.toString('utf8').split('\n')[line - 1] ?? '{}').seq);
    const tampered = tlsboot(['audit', 'verify', ...copied]);
    assert.equal(tampered.code, 1, tampered.stdout);
    assert.match(tampered.stderr, new RegExp(`audit chain broken at ${victim} line ${line} \\(seq ${seq}\\): the record was edited`));
  });

  test('bad input gets a clear error', () => {
    const missing = tlsboot(['audit', 'verify', join(dir.path, 'absent.log')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /absent\.log: no such file/);
    const notes = join(dir.path, 'notes.txt');
    writeFileSync(notes, 'not json\n');
    const notJson = tlsboot(['audit', 'verify', notes]);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /is not a tlsboot audit record/);
  });
});
