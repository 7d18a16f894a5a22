/**
 * Processes the bench starts and what it reads about them: a free 127.0.0.1 port, a `tlsboot`
 * cluster (init + server, ready when /livez answers), CPU ticks and memory from /proc, and one
 * registry of children so every process started is stopped at the end, also on error.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
export const MAIN = join(root, 'src/cli/main.ts');
/** Node options for the servers under load only, e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof'. */
export const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/** Extra `tlsboot server` flags for the servers under load, e.g. BENCH_SERVER_FLAGS='--crypto-workers 0' to compare. */
export const serverFlagsExtra = (process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter((a) => a !== '');
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const children = new Set<ChildProcess>();
const stopping = new WeakSet<ChildProcess>();

/** Starts a child that `stopAll` (and `stop`) will end; output is discarded unless asked for. */
export function startChild(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(env === undefined ? {} : { env }) });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-2000);
  });
  child.once('exit', (code, signal) => {
    children.delete(child);
    // Stopped by the bench, or on its own (a crash, the OOM killer): the latter is reported.
    if (!stopping.has(child))
      process.stderr.write(`${cmd} (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}: ${tail}\n`);
  });
  children.add(child);
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  stopping.add(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stop));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const addr = probe.address();
      probe.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Waits until the process is quiet: under `share` of one core over a whole second. A server seeded
 * with 50,000 objects answers /livez long before its controllers have gone through them (about
 * 10 s of CPU here), and a measurement taken meanwhile measures that work. @returns the ms waited
 */
export async function quiesce(pid: number, share = 0.05, timeoutMs = 300_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const ticks = cpuTicks(pid);
    const t = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = ((cpuTicks(pid) - ticks) * 1000) / CLK_TCK / (performance.now() - t);
    if (busy < share) return performance.now() - started;
    if (performance.now() - started > timeoutMs)
      throw new Error(`process ${pid} still busy (${Math.round(busy * 100)} % of a core) after ${timeoutMs} ms`);
  }
}

/** utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat), or of one of its threads. */
export function cpuTicks(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** A field of /proc/PID/status in MiB, e.g. VmRSS or VmHWM. */
export function memMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/** Polls `url` until it answers 200, at most `timeoutMs`. */
export async function waitReady(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const agent = new Agent({ rejectUnauthorized: false, keepAlive: false });
  const deadline = performance.now() + timeoutMs;
  try {
    while (performance.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}) before it was ready`);
      const ok = await new Promise<boolean>((resolve) => {
        get(url, { agent, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
          .on('error', () => resolve(false))
          .on('timeout', function (this: { destroy(): void }) {
            this.destroy();
          });
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} not ready after ${timeoutMs} ms`);
  } finally {
    agent.destroy();
  }
}

export interface Cluster {
  readonly dir: string;
  readonly port: number;
  readonly server: ChildProcess;
  readonly pid: number;
  close(): Promise<void>;
}

/** `tlsboot init` of a cluster in `dir` whose API server will listen on `port`. */
export function initCluster(dir: string, port: number): void {
  const init = spawnSync(process.execPath, [MAIN, 'init', '--dir', dir, '--node-name', 'bench', '--apiserver-bind-port', String(port)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (init.status !== 0) throw new Error(`tlsboot init failed: ${init.stderr}`);
}

/** What a bench may add to the server process it starts: Node options and environment variables. */
export interface ServerProcessOptions {
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** `tlsboot init` in a fresh directory; `seed` may fill the store before the server starts. */
export async function startCluster(
  prefix: string,
  serverFlags: readonly string[],
  seed?: (dir: string) => Promise<void>,
  extra: ServerProcessOptions = {},
): Promise<Cluster> {
  const tmp = tempDir(prefix);
  let started: ChildProcess | undefined;
  try {
    const port = await freePort();
    initCluster(tmp.path, port);
    if (seed) await seed(tmp.path);
    const server = startChild(
      process.execPath,
      [
        ...serverNodeArgs,
        ...(extra.nodeArgs ?? []),
        MAIN,
        'server',
        '--dir',
        tmp.path,
        '--listen',
        `127.0.0.1:${port}`,
        '--log-level',
        'warn',
        ...serverFlags,
        ...serverFlagsExtra,
      ],
      extra.env === undefined ? undefined : { ...process.env, ...extra.env },
    );
    started = server;
    await waitReady(`https://127.0.0.1:${port}/livez`, 120_000, server);
    const pid = server.pid;
    if (pid === undefined) throw new Error('server has no pid');
    return {
      dir: tmp.path,
      port,
      server,
      pid,
      close: async () => {
        await stop(server);
        tmp.remove();
      },
    };
  } catch (error) {
    if (started) await stop(started);
    tmp.remove();
    throw error;
  }
}
