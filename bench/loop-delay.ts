/**
 * The event loop's delays as a bench server itself sees them, free of the network and client-side
 * noise a probe request adds (a /livez probe measured 30-340 ms on an idle server on this shared
 * machine). Two halves: `import`ed into the server process with Node's `--import` (see
 * `LOOP_DELAY_NODE_ARGS`), it records delays with perf_hooks.monitorEventLoopDelay on a 1 ms timer
 * and, on each SIGUSR2, writes the window since the previous signal to the file named by
 * BENCH_LOOP_DELAY_FILE; in the bench, `loopDelay(pid, file).window()` signals and reads it.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopDelayWindow {
  /** Counts the windows the server wrote, so the bench knows a file is the answer to its signal. */
  readonly seq: number;
  /** The longest gap between two ticks of the 1 ms timer: the longest stretch the loop was held, plus up to 1 ms. */
  readonly maxMs: number;
  readonly p99Ms: number;
}

/** Node options for a server that records its delays; the server's environment must name the file. */
export const LOOP_DELAY_NODE_ARGS = ['--import', join(import.meta.dirname, 'loop-delay.ts')];
export const LOOP_DELAY_ENV = 'BENCH_LOOP_DELAY_FILE';

function isWindow(value: unknown): value is LoopDelayWindow {
  return (
    typeof value === 'object' &&
    value !== null &&
    'seq' in value &&
    typeof value.seq === 'number' &&
    'maxMs' in value &&
    typeof value.maxMs === 'number' &&
    'p99Ms' in value &&
    typeof value.p99Ms === 'number'
  );
}

function readWindow(file: string): LoopDelayWindow | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isWindow(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The bench side: each `window()` ends the server's current window and answers it (a new one starts). */
export function loopDelay(pid: number, file: string): { window: () => Promise<LoopDelayWindow> } {
  let seq = readWindow(file)?.seq ?? 0;
  return {
    window: async () => {
      process.kill(pid, 'SIGUSR2');
      const deadline = performance.now() + 60_000;
      for (;;) {
        const w = readWindow(file);
        if (w !== undefined && w.seq > seq) {
          seq = w.seq;
          return w;
        }
        if (performance.now() > deadline) throw new Error(`server ${pid} wrote no event-loop delay window to ${file}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** The server side, when loaded with --import into a process whose environment names the file. */
function record(file: string): void {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let seq = 0;
  const write = () => {
    const w: LoopDelayWindow = { seq: ++seq, maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
    histogram.reset();
    writeFileSync(`${file}.tmp`, JSON.stringify(w));
    renameSync(`${file}.tmp`, file);
  };
  write();
  process.on('SIGUSR2', write);
}

const file = process.env[LOOP_DELAY_ENV];
// Imported by the bench for its helpers too: only the server, whose environment alone has the variable, records.
if (file !== undefined) record(file);
