/** `tlsboot init` and `tlsboot certs`: flag parsing and output; the work is in src/ca. */
import type { Command } from 'commander';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { checkExpiration, formatExpirationJson, formatExpirationTable, RENEWABLE, renewCertificates } from '../../ca/certs.ts';
import { runInit } from '../../ca/init.ts';
import {
  DEFAULT_BIND_PORT,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_SERVICE_CIDR,
  type InitOptions,
} from '../../ca/layout.ts';
import { isKeyAlgorithm, KEY_ALGORITHMS } from '../../pki/index.ts';
import type { CliEnv } from '../io.ts';

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
}

function positiveDuration(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms <= 0) throw new InvalidError('DURATION', `--${flag} must be a positive duration`, { field: flag });
  return ms;
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

export function registerInit(program: Command, env: CliEnv): void {
  addInitFlags(program.command('init').description('create or complete the control-plane PKI and kubeconfigs (kubeadm layout)')).action(
    (flags: InitFlags) => {
      const options = initOptionsFromFlags(flags, env);
      const report = runInit(flags.dir, options, { now: env.now(), randomBytes: env.randomBytes });
      env.stdout.write(`${report.lines.join('\n')}\n\n`);
      env.stdout.write(`Your control-plane PKI is ready in ${flags.dir} (${report.written.length} files written).\n`);
      env.stdout.write(`CA pin (--discovery-token-ca-cert-hash): ${report.caPin}\n`);
    },
  );

  const certs = program.command('certs').description('inspect and renew control-plane certificates');
  certs
    .command('check-expiration')
    .description("show when each certificate expires (kubeadm's tables)")
    .requiredOption('--dir <dir>', 'directory holding DIR/pki and the kubeconfigs')
    .option('-o, --output <format>', 'table or json', 'table')
    .action((flags: { dir: string; output: string }) => {
      if (flags.output !== 'table' && flags.output !== 'json') {
        throw new InvalidError('OUTPUT_FORMAT', '--output must be table or json', { field: 'output' });
      }
      const report = checkExpiration(flags.dir);
      const now = env.now();
      env.stdout.write(flags.output === 'json' ? formatExpirationJson(report, now) : formatExpirationTable(report, now));
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
}
