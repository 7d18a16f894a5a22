/** `tlsboot csr list|get|describe|approve|deny`: the operator's view of pending requests. */
import { existsSync } from 'node:fs';

import { delimiter, join } from 'node:path';

import type { Command } from 'commander';

import { stringify } from 'yaml';

import { type CertificateSigningRequest, csrConditionSummary, csrConditions } from '../../api/index.ts';

import { InvalidError } from '../../base/errors.ts';

import { isObject, type JsonObject } from '../../base/json.ts';

import { formatTextTable } from '../../base/text-table.ts';

import { KubeClient, loadKubeconfig } from '../../client/client.ts';
import { decideCsr, getCsr, listCsrsTable } from '../../client/csr.ts';

import { commonName, organizations, parseCsrPem } from '../../pki/index.ts';

import type { CliEnv } from '../io.ts';

/** The client for --kubeconfig, else $KUBECONFIG. */
/**
 * The kubeconfig a command uses, found as kubectl finds it (`--kubeconfig`, then the first file of
 * `KUBECONFIG` that exists, then `~/.kube/config`), and then, on the control plane that
 * `npm start` runs, `data/admin.conf`.
 */
export function kubeconfigPath(flags: { kubeconfig?: string }, env: CliEnv): string {
  if (flags.kubeconfig !== undefined) return flags.kubeconfig;
  const fromEnv = (env.vars.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  const home = env.vars.HOME;
  const candidates = [...fromEnv, ...(home ? [join(home, '.kube', 'config')] : []), join('data', 'admin.conf')];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined)
    throw new InvalidError(
      'KUBECONFIG',
      `no kubeconfig: looked for ${candidates.join(', ')}; pass --kubeconfig FILE or set KUBECONFIG (the control plane writes DIR/admin.conf)`,
      { field: 'kubeconfig' },
    );
  return found;
}

export function clientFor(flags: { kubeconfig?: string }, env: CliEnv): KubeClient {
  return new KubeClient(loadKubeconfig(kubeconfigPath(flags, env)));
}

export async function withClient<T>(flags: { kubeconfig?: string }, env: CliEnv, work: (client: KubeClient) => Promise<T>): Promise<T> {
  const client = clientFor(flags, env);
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** kubectl's rendering of a Table: upper-case headers, server-side cells. */
export function renderTable(table: JsonObject, only?: string): string {
  const columns = Array.isArray(table.columnDefinitions) ? table.columnDefinitions.filter(isObject) : [];
  const rows = (Array.isArray(table.rows) ? table.rows.filter(isObject) : []).filter((r) => {
    if (only === undefined) return true;
    const cells = Array.isArray(r.cells) ? r.cells : [];
    return cells[0] === only;
  });
  if (rows.length === 0) return 'No resources found\n';
  const header = columns.map((c) => String(c.name ?? '').toUpperCase());
  const body = rows.map((r) => (Array.isArray(r.cells) ? r.cells.map((c) => String(c)) : []));
  return `${formatTextTable([header, ...body])}\n`;
}

function describe(csr: CertificateSigningRequest): string {
  const meta = csr.metadata ?? {};
  const spec = csr.spec;
  const conditions = csrConditions(csr);
  const status = csrConditionSummary(csr);
  const lines = [
    `Name:                ${meta.name ?? ''}`,
    `Labels:              ${
      meta.labels === undefined
        ? '<none>'
        : Object.entries(meta.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')
    }`,
    `CreationTimestamp:   ${meta.creationTimestamp ?? ''}`,
    `Requesting User:     ${spec.username ?? ''}`,
    `Signer:              ${spec.signerName}`,
    `Requested Duration:  ${spec.expirationSeconds === undefined ? '<none>' : `${spec.expirationSeconds}s`}`,
    `Usages:              ${(spec.usages ?? []).join(', ')}`,
    `Status:              ${status}`,
  ];
  for (const c of conditions) lines.push(`  ${c.type}: ${c.reason ?? ''}${c.message ? ` (${c.message})` : ''}`);
  try {
    const req = parseCsrPem(Buffer.from(spec.request, 'base64'));
    lines.push('Subject:');
    lines.push(`         Common Name:   ${commonName(req.subject) ?? ''}`);
    lines.push(`         Organization:  ${organizations(req.subject).join(', ')}`);
    const { dns, ip, email, uri } = req.sans;
    if (dns.length + ip.length + email.length + uri.length > 0) {
      lines.push('Subject Alternative Names:');
      if (dns.length) lines.push(`         DNS Names:      ${dns.join(', ')}`);
      if (ip.length) lines.push(`         IP Addresses:   ${ip.join(', ')}`);
      if (email.length) lines.push(`         Email:          ${email.join(', ')}`);
      if (uri.length) lines.push(`         URIs:           ${uri.join(', ')}`);
    }
  } catch (error) {
    lines.push(`Subject:             <unreadable request: ${error instanceof Error ? error.message : String(error)}>`);
  }
  return `${lines.join('\n')}\n`;
}

interface KubeFlags {
  kubeconfig?: string;
}

export function registerCsr(program: Command, env: CliEnv): void {
  const csr = program.command('csr').description('list, inspect, approve and deny certificate signing requests');
  const kubeconfigOption = '--kubeconfig <file>';
  const kubeconfigHelp = 'kubeconfig to use (default: $KUBECONFIG)';
  csr
    .command('list')
    .description('list certificate signing requests')
    .option(kubeconfigOption, kubeconfigHelp)
    .action((flags: KubeFlags) => withClient(flags, env, async (client) => env.stdout.write(renderTable(await listCsrsTable(client)))));
  csr
    .command('get')
    .argument('<name>')
    .option(kubeconfigOption, kubeconfigHelp)
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action((name: string, flags: KubeFlags & { output: string }) =>
      withClient(flags, env, async (client) => {
        if (flags.output === 'table') {
          await getCsr(client, name);
          env.stdout.write(renderTable(await listCsrsTable(client), name));
        } else if (flags.output === 'yaml') env.stdout.write(stringify(await getCsr(client, name)));
        else if (flags.output === 'json') env.stdout.write(`${JSON.stringify(await getCsr(client, name), null, 2)}\n`);
        else throw new InvalidError('OUTPUT_FORMAT', '--output must be table, yaml or json', { field: 'output' });
      }),
    );
  csr
    .command('describe')
    .argument('<name>')
    .option(kubeconfigOption, kubeconfigHelp)
    .action((name: string, flags: KubeFlags) =>
      withClient(flags, env, async (client) => env.stdout.write(describe(await getCsr(client, name)))),
    );
  for (const [verb, decision, reason, pastTense] of [
    ['approve', 'Approved', 'TlsbootApprove', 'approved'],
    ['deny', 'Denied', 'TlsbootDeny', 'denied'],
  ] as const) {
    csr
      .command(verb)
      .argument('<name>')
      .option(kubeconfigOption, kubeconfigHelp)
      .option('--reason <reason>', 'condition reason (CamelCase)', reason)
      .option('--message <text>', 'condition message', `This CSR was ${pastTense} by tlsboot csr ${verb}.`)
      .action((name: string, flags: KubeFlags & { reason: string; message: string }) =>
        withClient(flags, env, async (client) => {
          await decideCsr(client, name, decision, flags.reason, flags.message, env.now);
          env.stdout.write(`certificatesigningrequest.certificates.k8s.io/${name} ${pastTense}\n`);
        }),
      );
  }
}
