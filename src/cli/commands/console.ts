/** `tlsboot console`: the web console on loopback, acting as the kubeconfig's user, until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { createConsole, DEFAULT_LISTEN, parseListen } from '../../web/console.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { clientFor } from './csr.ts';

export function registerConsole(program: Command, env: CliEnv): void {
  program
    .command('console')
    .description("serve the web console on loopback: the pending queue, approvals, expiry timeline and tokens, as the kubeconfig's user")
    .option('--kubeconfig <file>', 'kubeconfig to use (default: as kubectl finds it, then data/admin.conf)')
    .option('--listen <host:port>', 'loopback address to serve on', DEFAULT_LISTEN)
    .action(async (flags: { kubeconfig?: string; listen: string }) => {
      // Checked before anything is read or opened: a non-loopback address changes nothing.
      const listen = parseListen(flags.listen);
      const client = clientFor(flags, env);
      try {
        const web = await createConsole({ client, listen, now: env.now, randomBytes: env.randomBytes });
        env.stdout.write(`tlsboot console for ${client.config.server} on ${web.origin}\n`);
        env.stdout.write(`Open this URL to log in (it works once, within 5 minutes):\n${web.loginUrl()}\n`);
        await waitForShutdown(env);
        await web.close();
      } finally {
        client.close();
      }
    });
}
