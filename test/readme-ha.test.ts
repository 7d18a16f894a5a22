/**
 * README's High availability block, run as written: the block is read from README.md and run by
 * bash in a scratch copy of the project (sources and installed packages linked), starting three
 * etcd members, haproxy, a first server and two control-plane nodes that join with the uploaded
 * certificate key; a worker joins through the load balancer. Everything the block started is in
 * the script's process group and is stopped with it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir, toolSkip } from './helpers/processes.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** The first sh block of README's High availability section. */
function haBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### High availability'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'README has a sh block under High availability');
  return block;
}

const skip = toolSkip('etcd') || toolSkip('haproxy') || toolSkip('kubectl') || toolSkip('curl');

describe('README high availability', { skip }, () => {
  const dir = tempDir('readme-ha');
  let script: ChildProcess | undefined;
  const env = { ...process.env, HOME: dir.path, KUBECONFIG: '' };

  const stopAll = async () => {
    const pid = script?.pid;
    if (pid === undefined) return;
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        process.kill(-pid, signal);
      } catch {
        return; // the group is gone
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  after(async () => {
    await stopAll();
    dir.remove();
  });

  test('three control-plane nodes on three etcd members behind haproxy; a worker joins through it', async (t) => {
    for (const f of ['src', 'bin', 'node_modules']) symlinkSync(join(ROOT, f), join(dir.path, f));
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(ROOT, f), join(dir.path, f));
    const started = Date.now();
    const child = spawn('bash', ['-e', '-c', haBlock()], { cwd: dir.path, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    script = child;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the block did not finish in 180 s:\n${stdout}\n${stderr}`)), 180_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /this node has joined the cluster as system:node:worker-1/);
    assert.match(
      stdout,
      /^node-csr-\S+ +\S+ +kubernetes\.io\/kube-apiserver-client-kubelet +system:bootstrap:[a-z0-9]{6} .*Approved,Issued$/m,
    );
    assert.match(stdout, /^tlsboot-controllers +\S+_[0-9a-f-]{36} /m, 'one server holds the controllers Lease');

    // Each control-plane node serves with its own certificate and published its names.
    const kubectl = (...args: string[]) =>
      spawnSync('kubectl', ['--kubeconfig', 'cp1/admin.conf', ...args], { cwd: dir.path, env, encoding: 'utf8' });
    const published = kubectl('-n', 'kube-system', 'get', 'configmap', 'tlsboot-reserved-identities', '-o', 'jsonpath={.data}');
    assert.equal(published.status, 0, published.stderr);
    assert.deepEqual(Object.keys(JSON.parse(published.stdout)).sort(), ['cp1', 'cp2', 'cp3']);
    for (const [node, port] of [
      ['cp2', 16445],
      ['cp3', 16446],
    ] as const) {
      const openssl = spawnSync(
        'bash',
        [
          '-c',
          `openssl s_client -connect 127.0.0.1:${port} -CAfile cp1/pki/ca.crt </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName`,
        ],
        { cwd: dir.path, encoding: 'utf8' },
      );
      assert.match(openssl.stdout, new RegExp(`DNS:${node}\\b`), `${node} serves its own certificate`);
    }
    t.diagnostic(`README high availability block: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
