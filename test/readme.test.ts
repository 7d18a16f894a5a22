/**
 * README's quick start, run as written: the four command lines are read from README.md and run
 * in a scratch copy of the project (its sources and installed packages linked, so only
 * `npm ci`, which CI runs on its own, is left out), and must give a joined node whose request
 * kubectl shows as Approved,Issued, in under 60 s.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir, toolSkip } from './helpers/processes.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** The command lines of README's quick-start block, comments dropped. */
function quickStartLines(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('README quick start', { skip: toolSkip('kubectl') }, () => {
  const dir = tempDir('readme');
  let server: ChildProcess | undefined;
  const env = { ...process.env, HOME: dir.path, KUBECONFIG: '' };
  after(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      process.kill(-server.pid, 'SIGTERM');
      await exited;
    }
    dir.remove();
  });

  const sh = (line: string) => spawnSync('bash', ['-c', line], { cwd: dir.path, env, encoding: 'utf8', timeout: 60_000 });

  test('four lines: start, token, join, kubectl get csr', async (t) => {
    const lines = quickStartLines();
    assert.equal(lines.length, 4, JSON.stringify(lines));
    const [start, token, joinLine, getCsr] = lines as [string, string, string, string];
    assert.equal(start, 'npm ci && npm start');
    for (const f of ['src', 'bin', 'node_modules']) symlinkSync(join(ROOT, f), join(dir.path, f));
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(ROOT, f), join(dir.path, f));
    const started = Date.now();
    server = spawn('bash', ['-c', start.replace('npm ci && ', '')], {
      cwd: dir.path,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not get ready: ${output}`)), 45_000);
      server?.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('tlsboot server ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server?.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      server?.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${output}`)));
    });

    const printed = sh(token);
    assert.equal(printed.status, 0, printed.stderr);
    const command = printed.stdout.trim();
    // README's third line is the printed command with a node name added.
    const shape = joinLine
      .replace(/<token>/, '[a-z0-9]{6}\\.[a-z0-9]{16}')
      .replace(/<pin>/, '[0-9a-f]{64}')
      .replace(' --node-name node-1', '');
    assert.match(command, new RegExp(`^${shape}$`));
    const joined = sh(`${command} --node-name node-1`);
    assert.equal(joined.status, 0, joined.stdout + joined.stderr);
    assert.ok(existsSync(join(dir.path, 'node-node-1', 'kubelet.conf')));

    const csrs = sh(getCsr);
    assert.equal(csrs.status, 0, csrs.stderr);
    assert.match(
      csrs.stdout,
      /^node-csr-\S+ +\S+ +kubernetes\.io\/kube-apiserver-client-kubelet +system:bootstrap:[a-z0-9]{6} .*Approved,Issued$/m,
    );
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`README quick start: npm start to Approved,Issued in ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 60, `took ${seconds} s`);
  });
});
