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
const { REAL_CLOCK } = await import('../base/clock.ts');

const shutdown = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => shutdown.abort());

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
async function promptSecret(prompt: string): Promise<Buffer> {
  // Imported here, not at the top: a static import would be stripped before the compile cache is on.
  const { InvalidError } = await import('../base/errors.ts');
  const input = process.stdin;
  if (!input.isTTY)
    return Promise.reject(
      new InvalidError('PASSPHRASE_SOURCE', 'no terminal to ask for the passphrase on; pass --passphrase-file FILE (or - for stdin)'),
    );
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    const bytes: number[] = [];
    input.setRawMode(true);
    input.resume();
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(Buffer.from(bytes));
      bytes.fill(0);
    };
    const onData = (chunk: Buffer) => {
      for (const b of chunk) {
        if (b === 0x0d || b === 0x0a) return done();
        if (b === 0x03) return done(new InvalidError('PASSPHRASE_SOURCE', 'interrupted'));
        if (b === 0x7f || b === 0x08) bytes.pop();
        else bytes.push(b);
      }
    };
    input.on('data', onData);
  });
}

const env: CliEnv = {
  stdout: { write: (s) => void process.stdout.write(s) },
  stderr: { write: (s) => void process.stderr.write(s) },
  clock: REAL_CLOCK,
  now: () => new Date(REAL_CLOCK.now()),
  randomBytes: (n) => randomBytes(n),
  hostname: hostname(),
  vars: process.env,
  shutdown: shutdown.signal,
  readStdin,
  promptSecret,
};

process.exitCode = await runCli(process.argv.slice(2), env);
