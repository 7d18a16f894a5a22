/**
 * Test helpers that start real tlsboot processes and tools: a control-plane server on a free
 * loopback port (stopped with SIGTERM by `stop()`), the CLI as a child process, kubectl with a
 * private discovery cache, and temporary directories that are removed afterwards.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeClient, loadKubeconfig } from '../../src/client/client.ts';

export const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs the CLI to completion. */
export function tlsboot(args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): RunResult {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    input: options.input ?? '',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI without blocking the event loop (for commands that talk to a server in this process). */
export function tlsbootAsync(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    options.signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly caPin: string;
  readonly logs: string[];
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

/** Starts `tlsboot server --dir DIR` on a free port (of 127.0.0.1, or `host`) and resolves once it logged readiness. */
export async function startServer(
  dir: string,
  extraArgs: readonly string[] = [],
  fixedPort?: number,
  host = '127.0.0.1',
): Promise<RunningServer> {
  const port = fixedPort ?? (await freePort());
  const child = spawn(process.execPath, [MAIN, 'server', '--dir', dir, '--listen', `${host}:${port}`, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  const caPin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${logs.join('')}`)), 30_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      logs.push(line);
      if (line.includes('tlsboot server ready')) {
        clearTimeout(timer);
        const m = /"caPin":"(sha256:[0-9a-f]{64})"/.exec(line);
        resolve(m ? (m[1] as string) : '');
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${logs.join('\n')}`));
    });
  });
  return {
    url: `https://${host}:${port}`,
    port,
    dir,
    caPin,
    logs,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Skip reason for a missing tool, except in CI where a missing tool is a failure. */
export function toolSkip(tool: string): string | false {
  if (hasTool(tool)) return false;
  if (process.env.CI === 'true') throw new Error(`${tool} is required in CI (.ci/run installs it)`);
  return `${tool} is not installed`;
}

/** Debian's kubectl 1.20, fetched by scripts/fetch-kubectl-1.20.sh beside the machine's current kubectl. */
export const KUBECTL_OLD = process.env.TLSBOOT_KUBECTL_OLD ?? new URL('../../.tools/kubectl-1.20', import.meta.url).pathname;

/** Debian's Python, which has python3-kubernetes (a pyenv python3 earlier on PATH may not). */
export const PYTHON_KUBERNETES = '/usr/bin/python3';

/** Skip reason for a missing file-based tool (kubectl 1.20, python3-kubernetes), a failure in CI. */
export function pathSkip(path: string, what: string, probe: readonly string[] = ['--help']): string | false {
  if (spawnSync(path, probe, { stdio: 'ignore' }).status === 0) return false;
  if (process.env.CI === 'true') throw new Error(`${what} is required in CI (.ci/run installs it)`);
  return `${what} is not installed`;
}

/** kubectl, the machine's current one or another binary (`bin`), against a kubeconfig. */
export function kubectl(kubeconfig: string, cacheDir: string, args: readonly string[], input?: string, bin = 'kubectl'): RunResult {
  const r = spawnSync(bin, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, '--request-timeout', '20s', ...args], {
    encoding: 'utf8',
    input: input ?? '',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function openssl(args: readonly string[], input?: string): RunResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input: input ?? '' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Polls `probe` every 100 ms until it returns a value; fails naming `what` after the timeout. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `tlsboot join` against a running server with token discovery pinned to its CA. */
export function joinNode(
  server: Pick<RunningServer, 'url' | 'caPin'>,
  token: string,
  name: string,
  nodeDir: string,
  extra: readonly string[] = [],
): Promise<RunResult> {
  return tlsbootAsync([
    'join',
    server.url,
    '--token',
    token,
    '--discovery-token-ca-cert-hash',
    server.caPin,
    '--node-name',
    name,
    '--dir',
    nodeDir,
    ...extra,
  ]);
}

/** An admin client for a cluster directory, and a fresh bootstrap token made with `tlsboot token create`. */
export async function adminAndToken(cluster: string): Promise<{ kubeconfig: string; admin: KubeClient; token: string }> {
  const kubeconfig = join(cluster, 'admin.conf');
  const created = await tlsbootAsync(['token', 'create', '--ttl', '1h'], { env: { KUBECONFIG: kubeconfig } });
  if (created.code !== 0) throw new Error(`token create failed: ${created.stderr}`);
  return { kubeconfig, admin: new KubeClient(loadKubeconfig(kubeconfig)), token: created.stdout.trim() };
}

/**
 * A control plane as the real-client tests want it: `DIR/cluster` initialised for a free loopback
 * port, a server on that port with `args`, its admin kubeconfig, client and a bootstrap token.
 */
export async function startCluster(
  dir: string,
  args: readonly string[] = [],
): Promise<{ cluster: string; server: RunningServer; kubeconfig: string; admin: KubeClient; token: string }> {
  const cluster = join(dir, 'cluster');
  const port = await freePort();
  const init = tlsboot(['init', '--dir', cluster, '--apiserver-bind-port', String(port)]);
  if (init.code !== 0) throw new Error(`tlsboot init failed: ${init.stderr}`);
  const server = await startServer(cluster, args, port);
  return { cluster, server, ...(await adminAndToken(cluster)) };
}

/** GET `/crl/<shard>.crl` of a server without credentials, the way a relying party fetches it. */
export function fetchCrl(serverUrl: string, caFile: string, shard = 0): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${serverUrl}/crl/${shard}.crl`, { ca: readFileSync(caFile) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}
