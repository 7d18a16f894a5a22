#!/usr/bin/env node
/**
 * The process edge: the only module that reads process.argv and the environment, and sets the
 * exit code. Everything else receives what it needs through CliEnv.
 */
import { randomBytes } from 'node:crypto';
import { enableCompileCache } from 'node:module';
import { hostname } from 'node:os';
import type { CliEnv } from './io.ts';

// Node strips TypeScript with a WebAssembly module that costs ~30 MB of memory and start-up time;
// with the compile cache, later runs load the stripped modules and never need it. Enabled before
// the rest of the CLI is imported, hence the dynamic import below.
enableCompileCache();
const { runCli } = await import('./program.ts');

const shutdown = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => shutdown.abort());

const env: CliEnv = {
  stdout: { write: (s) => void process.stdout.write(s) },
  stderr: { write: (s) => void process.stderr.write(s) },
  now: () => new Date(),
  randomBytes: (n) => randomBytes(n),
  hostname: hostname(),
  vars: process.env,
  shutdown: shutdown.signal,
};

process.exitCode = await runCli(process.argv.slice(2), env);
