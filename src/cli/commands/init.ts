/** `tlsboot init` and `tlsboot certs`: flag parsing and output; the work is in src/kubeadm. */

import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { formatTextTable } from '../../base/text-table.ts';
import { openClusterStore, parseStoreUrl } from '../../control-plane/secrets-at-rest.ts';
import { createDefaultNodeToken, uploadCertsThroughApi, uploadCertsToStore } from '../../control-plane/upload-certs.ts';
import { newCertificateKey, parseCertificateKey } from '../../kubeadm/certificate-key.ts';
import { checkExpiration, formatExpirationJson, formatExpirationTable, RENEWABLE, renewCertificates } from '../../kubeadm/certs.ts';
import type { PendingCsr } from '../../kubeadm/external-ca.ts';
import { type InitReport, runInit } from '../../kubeadm/init.ts';
import {
  clusterServerUrl,
  DEFAULT_BIND_PORT,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_SERVICE_CIDR,
  type InitOptions,
} from '../../kubeadm/layout.ts';
import { readReservedSources } from '../../kubeadm/reserved-identities.ts';
import { signOffline } from '../../kubeadm/sign-offline.ts';
import { isKeyAlgorithm, KEY_ALGORITHMS } from '../../pki/index.ts';
import { FileAuditLog } from '../../signer/audit.ts';
import type { CliEnv } from '../io.ts';
import { readPassphrase } from './ca.ts';
import { withClient } from './csr.ts';
import { registerRevoke } from './revoke.ts';

interface InitFlags {
  dir: string;
  controlPlaneEndpoint?: string;
  apiserverAdvertiseAddress: string;
  apiserverBindPort: string;
  apiserverCertExtraSans?: string;
  nodeName?: string;
  serviceCidr: string;
  dnsDomain: string;
  keyAlgorithm: string;
  certValidity: string;
  caValidity: string;
  externalCa?: boolean;
  sealed?: boolean;
  passphraseFile?: string;
  uploadCerts?: boolean;
  certificateKey?: string;
  store?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

function positiveDuration(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms <= 0) throw new InvalidError('DURATION', `--${flag} must be a positive duration`, { field: flag });
  return ms;
}

/** The `-o` value of the certs commands, checked before anything is read. */
function tableOrJson(output: string): 'table' | 'json' {
  if (output !== 'table' && output !== 'json')
    throw new InvalidError('OUTPUT_FORMAT', '--output must be table or json', { field: 'output' });
  return output;
}

export function initOptionsFromFlags(flags: InitFlags, env: CliEnv): InitOptions {
  if (!isKeyAlgorithm(flags.keyAlgorithm)) {
    throw new InvalidError('INIT_OPTION', `--key-algorithm must be one of ${KEY_ALGORITHMS.join(', ')}`, { field: 'key-algorithm' });
  }
  const port = Number(flags.apiserverBindPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidError('INIT_OPTION', '--apiserver-bind-port must be a port number', { field: 'apiserver-bind-port' });
  }
  const extraSans = (flags.apiserverCertExtraSans ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    nodeName: flags.nodeName ?? env.hostname.toLowerCase(),
    advertiseAddress: flags.apiserverAdvertiseAddress,
    bindPort: port,
    ...(flags.controlPlaneEndpoint === undefined ? {} : { controlPlaneEndpoint: flags.controlPlaneEndpoint }),
    extraSans,
    serviceCidr: flags.serviceCidr,
    dnsDomain: flags.dnsDomain,
    keyAlgorithm: flags.keyAlgorithm,
    certValidityMs: positiveDuration(flags.certValidity, 'cert-validity'),
    caValidityMs: positiveDuration(flags.caValidity, 'ca-validity'),
  };
}

export function addInitFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--dir <dir>', 'directory for the PKI (DIR/pki) and kubeconfigs')
    .option('--control-plane-endpoint <host[:port]>', 'stable address of the control plane (load balancer DNS name or IP)')
    .option('--apiserver-advertise-address <ip>', 'IP address the API server advertises', '127.0.0.1')
    .option('--apiserver-bind-port <port>', 'port the API server listens on', String(DEFAULT_BIND_PORT))
    .option('--apiserver-cert-extra-sans <sans>', 'extra DNS names and IPs for the API server certificate, comma-separated')
    .option('--node-name <name>', 'name of this node (default: the host name)')
    .option('--service-cidr <cidr>', 'service IP range; its first address goes into the API server certificate', DEFAULT_SERVICE_CIDR)
    .option('--dns-domain <domain>', 'cluster DNS domain', DEFAULT_DNS_DOMAIN)
    .option('--key-algorithm <alg>', `key algorithm: ${KEY_ALGORITHMS.join('|')}`, 'ecdsa-p256')
    .option('--cert-validity <duration>', 'validity of leaf certificates', '8760h')
    .option('--ca-validity <duration>', 'validity of CA certificates', '87600h');
}

function pendingSummary(dir: string, pending: readonly PendingCsr[]): string {
  const width = Math.max(...pending.map((p) => p.name.length));
  const rows = pending.map((p) => `  ${p.name.padEnd(width)}  ${p.csrPath}  (CA "${p.ca}"${p.created ? ', new' : ''})`);
  const cas = [...new Set(pending.map((p) => p.ca))];
  return [
    `${pending.length} certificate${pending.length === 1 ? '' : 's'} wait for an external CA to sign ${pending.length === 1 ? 'its request' : 'their requests'}:`,
    ...rows,
    '',
    'Next steps:',
    `  1. Make the requests available on the CA's machine: ${dir} itself, or a copy of just ${dir}/pki/ca.crt and the`,
    '     .csr files above (the private keys need not leave this machine). There, for each CA:',
    ...cas.map((ca) => `       tlsboot certs sign-offline --ca-cert <${ca}.crt> --ca-key <${ca}.key> --dir <that directory>`),
    '  2. Bring back what it wrote: pki/**/*.crt, and the kubeconfigs or their *.conf.crt files.',
    `  3. Run tlsboot init --external-ca --dir ${dir} with the same flags again to check them and complete the kubeconfigs.`,
  ].join('\n');
}

/** `init --upload-certs`: the objects go straight into the store, then the join commands, as kubeadm prints them. */
async function uploadAtInit(env: CliEnv, flags: InitFlags, options: InitOptions, caPin: string, certificateKey: string): Promise<void> {
  const store = await openClusterStore({
    dir: flags.dir,
    storeUrl: flags.store,
    etcd: { caFile: flags.etcdCafile, certFile: flags.etcdCertfile, keyFile: flags.etcdKeyfile },
    randomBytes: env.randomBytes,
    report: (_level, message) => env.stdout.write(`[secrets] ${message}\n`),
  });
  let token: string;
  try {
    const now = env.now();
    await uploadCertsToStore(store, { dir: flags.dir, key: parseCertificateKey(certificateKey), now, randomBytes: env.randomBytes });
    token = await createDefaultNodeToken(store, now, env.randomBytes);
  } finally {
    await store.close();
  }
  const endpoint = new URL(clusterServerUrl(options)).host;
  const storeFlag = flags.store === undefined ? '' : ` --store ${flags.store}`;
  // Control-plane nodes share one store: a SQLite file is one machine's, so say so instead of printing a command that cannot work.
  const sharedStore = flags.store?.startsWith('etcd://') === true;
  env.stdout.write(
    [
      '',
      `[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace`,
      `[upload-certs] Using certificate key:`,
      certificateKey,
      '',
      ...(sharedStore
        ? []
        : ['Control-plane nodes share the store: run this cluster on etcd (--store etcd://...) for the command below to work.', '']),
      'You can now join any number of control-plane nodes by running the following command on each:',
      '',
      `  tlsboot join ${endpoint} --token ${token} \\`,
      `\t--discovery-token-ca-cert-hash ${caPin} \\`,
      `\t--control-plane --certificate-key ${certificateKey}${storeFlag} \\`,
      "\t--apiserver-advertise-address <this node's IP> --dir <DIR>",
      '',
      'Please note that the certificate-key gives access to cluster sensitive data, keep it secret!',
      'As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use',
      '"tlsboot certs upload" to reload certs afterward.',
      '',
      'Then you can join any number of worker nodes by running the following on each:',
      '',
      `tlsboot join ${endpoint} --token ${token} \\`,
      `\t--discovery-token-ca-cert-hash ${caPin}`,
      '',
    ].join('\n'),
  );
}

function printInitReport(env: CliEnv, dir: string, report: InitReport): void {
  env.stdout.write(`${report.lines.join('\n')}\n\n`);
  if (report.pending.length > 0) {
    env.stdout.write(`${pendingSummary(dir, report.pending)}\n\n`);
    env.stdout.write(`${report.written.length} files written in ${dir}; the PKI is not complete until the requests are signed.\n`);
  } else {
    env.stdout.write(`Your control-plane PKI is ready in ${dir} (${report.written.length} files written).\n`);
  }
  env.stdout.write(`CA pin (--discovery-token-ca-cert-hash): ${report.caPin}\n`);
}

export function registerInit(program: Command, env: CliEnv): void {
  addInitFlags(program.command('init').description('create or complete the control-plane PKI and kubeconfigs (kubeadm layout)'))
    .option('--external-ca', 'the cluster CA key is elsewhere (only pki/ca.crt is here): write keys and CSRs for what it must sign')
    .option('--sealed', 'write the CA keys only sealed under a passphrase (for tlsboot server --signer sealed)')
    .option('--passphrase-file <file>', 'with --sealed: read the passphrase from FILE (- for stdin) instead of prompting')
    .option(
      '--upload-certs',
      'store the shared CAs and keys, encrypted under a certificate key, in kube-system/kubeadm-certs (deleted after 2 h)',
    )
    .option(
      '--certificate-key <hex>',
      'with --upload-certs: the key (64 hex characters) to encrypt them with (default: a new one, printed)',
    )
    .option('--store <url>', 'with --upload-certs: the store the servers will run on (as tlsboot server --store; default DIR/tlsboot.db)')
    .option('--etcd-cafile <file>', 'CA of the etcd members (default DIR/pki/etcd/ca.crt)')
    .option('--etcd-certfile <file>', 'client certificate for etcd (default DIR/pki/apiserver-etcd-client.crt)')
    .option('--etcd-keyfile <file>', 'its key (default DIR/pki/apiserver-etcd-client.key)')
    .action(async (flags: InitFlags) => {
      const options = initOptionsFromFlags(flags, env);
      if (flags.sealed && flags.externalCa)
        throw new InvalidError('INIT_OPTION', '--sealed and --external-ca exclude each other: an external CA has no key here to seal', {
          field: 'sealed',
        });
      if (flags.passphraseFile !== undefined && !flags.sealed)
        throw new InvalidError('INIT_OPTION', '--passphrase-file only makes sense with --sealed', { field: 'passphrase-file' });
      if (!flags.uploadCerts) {
        for (const [flag, value] of [
          ['certificate-key', flags.certificateKey],
          ['store', flags.store],
        ] as const)
          if (value !== undefined) throw new InvalidError('INIT_OPTION', `--${flag} only makes sense with --upload-certs`, { field: flag });
      }
      // Checked before anything is written: a bad key or store must not leave a PKI behind.
      const certificateKey = flags.uploadCerts ? (flags.certificateKey ?? newCertificateKey(env.randomBytes)) : undefined;
      if (certificateKey !== undefined) parseCertificateKey(certificateKey);
      if (flags.uploadCerts) parseStoreUrl(flags.dir, flags.store);
      if (flags.uploadCerts && flags.externalCa)
        throw new InvalidError(
          'INIT_OPTION',
          "--upload-certs with --external-ca: the external CA has not signed this node's certificates yet; after tlsboot certs sign-offline, run tlsboot certs upload",
          { field: 'upload-certs' },
        );
      const passphrase = flags.sealed ? await readPassphrase(flags.passphraseFile, env, true) : undefined;
      try {
        const report = runInit(
          flags.dir,
          options,
          { now: env.now(), randomBytes: env.randomBytes },
          { externalCa: flags.externalCa === true, ...(passphrase ? { passphrase } : {}) },
        );
        printInitReport(env, flags.dir, report);
        if (certificateKey !== undefined) await uploadAtInit(env, flags, options, report.caPin, certificateKey);
      } finally {
        passphrase?.fill(0);
      }
    });

  const certs = program.command('certs').description('inspect and renew control-plane certificates; revoke issued ones');
  certs
    .command('certificate-key')
    .description('print a new certificate key for upload-certs and join --control-plane (32 random bytes, hex)')
    .action(() => env.stdout.write(`${newCertificateKey(env.randomBytes)}\n`));
  certs
    .command('upload')
    .description("store the shared CAs and keys in kube-system/kubeadm-certs through a running server (kubeadm's upload-certs)")
    .requiredOption('--dir <dir>', 'the directory whose DIR/pki is shared')
    .option('--kubeconfig <file>', 'an admin kubeconfig (default: DIR/admin.conf)')
    .option('--certificate-key <hex>', 'the key (64 hex characters) to encrypt them with (default: a new one, printed)')
    .action(async (flags: { dir: string; kubeconfig?: string; certificateKey?: string }) => {
      const text = flags.certificateKey ?? newCertificateKey(env.randomBytes);
      const key = parseCertificateKey(text);
      await withClient({ kubeconfig: flags.kubeconfig ?? join(flags.dir, 'admin.conf') }, env, (client) =>
        uploadCertsThroughApi(client, { dir: flags.dir, key, now: env.now(), randomBytes: env.randomBytes }),
      );
      env.stdout.write(`[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace\n`);
      env.stdout.write(`[upload-certs] Using certificate key:\n${text}\n`);
    });
  registerRevoke(certs, env);
  certs
    .command('check-expiration')
    .description("show when each certificate expires (kubeadm's tables)")
    .requiredOption('--dir <dir>', 'directory holding DIR/pki and the kubeconfigs')
    .option('-o, --output <format>', 'table or json', 'table')
    .action((flags: { dir: string; output: string }) => {
      const output = tableOrJson(flags.output);
      const report = checkExpiration(flags.dir);
      const now = env.now();
      env.stdout.write(output === 'json' ? formatExpirationJson(report, now) : formatExpirationTable(report, now));
    });
  certs
    .command('renew')
    .description(`renew a certificate with a new key: ${RENEWABLE.join(', ')}, or all`)
    .argument('<name>', 'certificate to renew, or all')
    .requiredOption('--dir <dir>', 'directory holding DIR/pki and the kubeconfigs')
    .option('--cert-validity <duration>', 'validity of the renewed certificates', `${DEFAULT_CERT_VALIDITY_MS / 3_600_000}h`)
    .action((name: string, flags: { dir: string; certValidity: string }) => {
      const renewed = renewCertificates(flags.dir, name, positiveDuration(flags.certValidity, 'cert-validity'), {
        now: env.now(),
        randomBytes: env.randomBytes,
      });
      for (const n of renewed) env.stdout.write(`certificate ${n} renewed\n`);
      env.stdout.write('Done renewing certificates. Restart the components that use them to pick them up.\n');
    });
  certs
    .command('reserved')
    .description("list the names and addresses the cluster's own servers present: never certified to a node")
    .requiredOption('--dir <dir>', 'directory holding DIR/pki and the kubeconfigs')
    .option('-o, --output <format>', 'table or json', 'table')
    .action((flags: { dir: string; output: string }) => {
      const output = tableOrJson(flags.output);
      const sources = readReservedSources(flags.dir);
      if (output === 'json') {
        env.stdout.write(`${JSON.stringify(sources, null, 2)}\n`);
        return;
      }
      const rows = sources.flatMap((s) => [...s.dns.map((d) => ['DNS', d, s.source]), ...s.ip.map((i) => ['IP', i, s.source])]);
      env.stdout.write(`${formatTextTable([['KIND', 'NAME', 'PRESENTED BY'], ...rows])}\n`);
    });
  certs
    .command('sign-offline')
    .description("on the CA's machine: sign the requests init --external-ca wrote, with layout usages")
    .requiredOption('--ca-cert <file>', 'the CA certificate; must be the same bytes as the one under DIR/pki')
    .requiredOption('--ca-key <file>', 'the CA private key')
    .requiredOption('--dir <dir>', 'the cluster directory (or a copy holding pki/ca.crt and the .csr files)')
    .option('--cert-validity <duration>', 'validity of the signed certificates', `${DEFAULT_CERT_VALIDITY_MS / 3_600_000}h`)
    .option('--audit-log <file>', "the CA machine's audit log (default: audit.log beside --ca-key)")
    .action((flags: { caCert: string; caKey: string; dir: string; certValidity: string; auditLog?: string }) => {
      const report = signOffline({
        dir: flags.dir,
        caCertPath: flags.caCert,
        caKeyPath: flags.caKey,
        validityMs: positiveDuration(flags.certValidity, 'cert-validity'),
        env: { now: env.now(), randomBytes: env.randomBytes },
      });
      const audit = new FileAuditLog(flags.auditLog ?? join(dirname(flags.caKey), 'audit.log'), env.now);
      try {
        for (const s of report.signed)
          audit.record({
            event: 'certificate.signed',
            actor: env.vars.SUDO_USER ?? env.vars.USER ?? 'operator',
            mode: 'offline',
            ca: report.ca,
            certificate: s.name,
            subject: s.subject,
            serial: s.serial,
            notAfter: s.notAfter.toISOString(),
          });
      } finally {
        audit.close();
      }
      for (const s of report.signed) {
        env.stdout.write(
          `[sign-offline] signed ${s.name}: ${s.subject}; SANs [${s.sans}]; expires ${s.notAfter.toISOString()}; written to ${s.path}\n`,
        );
      }
      for (const path of report.skipped) env.stdout.write(`[sign-offline] ${path} is already answered; left alone\n`);
      env.stdout.write(
        `Signed ${report.signed.length} certificate${report.signed.length === 1 ? '' : 's'} with the "${report.ca}" CA. Run tlsboot init --external-ca on the cluster's directory (with the certificates brought back, if this was a copy).\n`,
      );
    });
}
