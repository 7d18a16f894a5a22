/**
 * The load loop shared by rows 3 and 7, and the pool of distinct CSRs they draw from: a fixed
 * number of requests in flight for a bounded window, certificates per second, and the CPU the
 * server process (from /proc, all threads) and the bench process spent per certificate.
 */
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import { CLK_TCK, cpuTicks } from './proc.ts';

/** Distinct keys and CNs, so that no request hits the server's CSR parse cache (4096 entries). */
export class CsrPool {
  private readonly pems: string[];
  private next = 0;
  /** How many times the pool ran out and started over (then requests may hit the parse cache). */
  wraps = 0;

  constructor(size: number, prefix: string) {
    this.pems = Array.from({ length: size }, (_, i) =>
      createCsrPem({
        key: generatePrivateKey('ecdsa-p256'),
        subject: [
          { type: 'O', value: 'bench' },
          { type: 'CN', value: `${prefix}-${i}` },
        ],
      }),
    );
  }

  get size(): number {
    return this.pems.length;
  }

  get used(): number {
    return this.wraps * this.pems.length + this.next;
  }

  take(): string {
    if (this.next === this.pems.length) {
      this.next = 0;
      this.wraps++;
    }
    return this.pems[this.next++] ?? '';
  }
}

export interface Window {
  /** Certificates per second over the window. */
  readonly rate: number;
  /** Server CPU (user + system, whole process) per certificate, ms. */
  readonly serverCpuMs: number;
  /** The server's main thread alone (its event loop; a Go server's is meaningless), ms per certificate. */
  readonly mainThreadCpuMs: number;
  /** The bench process's own CPU per certificate, ms (is the client the bottleneck?). */
  readonly clientCpuMs: number;
  readonly certificates: number;
}

/**
 * Runs `op` with `concurrency` workers for `durationMs` (each worker stops starting new requests
 * at the end; the window closes when the last one returns), with a hard cap of `durationMs + 60 s`.
 */
export async function loadWindow(pid: number, op: () => Promise<void>, concurrency: number, durationMs: number): Promise<Window> {
  const ticks0 = cpuTicks(pid);
  const main0 = cpuTicks(pid, pid);
  const client0 = process.cpuUsage();
  const start = performance.now();
  const end = start + durationMs;
  let done = 0;
  const work = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`load window did not finish within ${durationMs + 60_000} ms`)), durationMs + 60_000);
  });
  try {
    await Promise.race([work, cap]);
  } finally {
    clearTimeout(timer);
  }
  const elapsed = performance.now() - start;
  const ticks = cpuTicks(pid) - ticks0;
  const mainTicks = cpuTicks(pid, pid) - main0;
  const client = process.cpuUsage(client0);
  const per = (ms: number) => (done === 0 ? Number.NaN : ms / done);
  return {
    rate: (done * 1000) / elapsed,
    serverCpuMs: per((ticks * 1000) / CLK_TCK),
    mainThreadCpuMs: per((mainTicks * 1000) / CLK_TCK),
    clientCpuMs: per((client.user + client.system) / 1000),
    certificates: done,
  };
}

export function meanWindow(ws: readonly Window[]): Window {
  const certificates = ws.reduce((a, w) => a + w.certificates, 0);
  const weighted = (f: (w: Window) => number) => ws.reduce((a, w) => a + f(w) * w.certificates, 0) / certificates;
  return {
    rate: ws.reduce((a, w) => a + w.rate, 0) / ws.length,
    serverCpuMs: weighted((w) => w.serverCpuMs),
    mainThreadCpuMs: weighted((w) => w.mainThreadCpuMs),
    clientCpuMs: weighted((w) => w.clientCpuMs),
    certificates,
  };
}
