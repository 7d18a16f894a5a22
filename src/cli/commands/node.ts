/** `tlsboot join` and `tlsboot agent`: the node side; the work is in src/agent. */

import type { Command } from 'commander';
import { agentNodeName, startAgent } from '../../agent/agent.ts';
import { joinCluster } from '../../agent/join.ts';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { DEFAULT_DNS_DOMAIN, DEFAULT_SERVICE_CIDR, parseEndpoint } from '../../kubeadm/layout.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { createLogger } from '../logger.ts';
import { joinControlPlane } from './join-control-plane.ts';

interface JoinFlags {
  token?: string;
  tlsBootstrapToken?: string;
  discoveryTokenCaCertHash: string[];
  discoveryTokenUnsafeSkipCaVerification?: boolean;
  discoveryFile?: string;
  nodeName?: string;
  dir?: string;
  discoveryTimeout: string;
  tlsBootstrapTimeout: string;
  controlPlane?: boolean;
  certificateKey?: string;
  store?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  apiserverAdvertiseAddress: string;
  apiserverBindPort: string;
  serviceCidr?: string;
  dnsDomain?: string;
  logLevel: string;
}

/** Flags that belong to a control-plane join only. */
const CONTROL_PLANE_ONLY = ['certificateKey', 'store', 'etcdCafile', 'etcdCertfile', 'etcdKeyfile'] as const;

function flagName(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerNode(program: Command, env: CliEnv): void {
  program
    .command('join')
    .description('join this machine to a cluster: signed discovery, then TLS bootstrap of its client certificate')
    .argument('[endpoint]', 'control-plane endpoint https://HOST:PORT (with token discovery)')
    .option('--token <token>', 'bootstrap token ID.SECRET for discovery and TLS bootstrap')
    .option('--tls-bootstrap-token <token>', 'bootstrap token for TLS bootstrap, when it differs from --token')
    .option('--discovery-token-ca-cert-hash <sha256:hex>', 'pin of the cluster CA public key (repeatable)', collect, [])
    .option('--discovery-token-unsafe-skip-ca-verification', 'trust the JWS alone, without a CA pin (MITM-able)')
    .option('--discovery-file <path>', 'kubeconfig with the cluster and CA, instead of token discovery')
    .option('--node-name <name>', 'node name (default: the host name)')
    .option('--dir <dir>', 'node directory: kubelet.conf, bootstrap-kubelet.conf and pki/ (default: ./node-<node name>)')
    .option('--discovery-timeout <duration>', 'how long to wait for signed cluster-info', '5m')
    .option(
      '--tls-bootstrap-timeout <duration>',
      'how long to wait for the certificate (with --control-plane and a sealed or remote CA: the API-server certificate)',
      '5m',
    )
    .option('--control-plane', 'join as a control-plane node: fetch the shared CAs (kubeadm-certs), write DIR, and serve')
    .option('--certificate-key <hex>', 'with --control-plane: the key upload-certs printed (64 hex characters)')
    .option('--store <url>', "with --control-plane: the cluster's store, etcd://HOST:PORT[,...] (as tlsboot server --store)")
    .option('--etcd-cafile <file>', 'with --control-plane: CA of the etcd members (default DIR/pki/etcd/ca.crt)')
    .option('--etcd-certfile <file>', 'with --control-plane: client certificate for etcd (default DIR/pki/apiserver-etcd-client.crt)')
    .option('--etcd-keyfile <file>', 'with --control-plane: its key (default DIR/pki/apiserver-etcd-client.key)')
    .option(
      '--apiserver-advertise-address <ip>',
      "with --control-plane: this node's API server address (in its certificate; served on)",
      '127.0.0.1',
    )
    .option('--apiserver-bind-port <port>', "with --control-plane: this node's API server port", '6443')
    .option('--service-cidr <cidr>', "with --control-plane: the cluster's service range, as given to init", DEFAULT_SERVICE_CIDR)
    .option('--dns-domain <domain>', "with --control-plane: the cluster's DNS domain, as given to init", DEFAULT_DNS_DOMAIN)
    .option('--log-level <level>', 'with --control-plane: fatal, error, warn, info or debug', 'info')
    .action(async (endpoint: string | undefined, flags: JoinFlags) => {
      let url: string | undefined;
      if (endpoint !== undefined) {
        const bare = endpoint.replace(/^https:\/\//, '');
        if (/^[a-z]+:\/\//.test(bare)) throw new InvalidError('ENDPOINT', 'the endpoint must be https://HOST:PORT', { field: 'endpoint' });
        const { host, port } = parseEndpoint(bare.replace(/\/+$/, ''), 6443, 'endpoint');
        url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
      }
      const token = flags.tlsBootstrapToken ?? flags.token;
      const nodeName = flags.nodeName ?? env.hostname.toLowerCase();
      if (flags.controlPlane) {
        if (url === undefined || flags.token === undefined)
          throw new InvalidError('JOIN_OPTION', '--control-plane joins by token discovery: give the endpoint and --token', {
            field: 'token',
          });
        if (flags.certificateKey === undefined)
          throw new InvalidError(
            'JOIN_OPTION',
            '--control-plane needs --certificate-key (printed by tlsboot certs upload or init --upload-certs)',
            {
              field: 'certificate-key',
            },
          );
        if (flags.dir === undefined)
          throw new InvalidError('JOIN_OPTION', '--control-plane needs --dir, the new PKI directory', { field: 'dir' });
        const port = Number(flags.apiserverBindPort);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new InvalidError('JOIN_OPTION', '--apiserver-bind-port must be a port number', { field: 'apiserver-bind-port' });
        await joinControlPlane(
          {
            endpoint: url,
            token: flags.token,
            pins: flags.discoveryTokenCaCertHash,
            unsafeSkipCaVerification: flags.discoveryTokenUnsafeSkipCaVerification === true,
            certificateKey: flags.certificateKey,
            store: flags.store,
            etcd: { caFile: flags.etcdCafile, certFile: flags.etcdCertfile, keyFile: flags.etcdKeyfile },
            advertiseAddress: flags.apiserverAdvertiseAddress,
            bindPort: port,
            nodeName,
            dir: flags.dir,
            serviceCidr: flags.serviceCidr,
            dnsDomain: flags.dnsDomain,
            discoveryTimeoutMs: parseDuration(flags.discoveryTimeout, 'discovery-timeout'),
            certificateTimeoutMs: parseDuration(flags.tlsBootstrapTimeout, 'tls-bootstrap-timeout'),
            logLevel: flags.logLevel,
          },
          env,
        );
        return;
      }
      const stray = CONTROL_PLANE_ONLY.find((f) => flags[f] !== undefined);
      if (stray !== undefined)
        throw new InvalidError('JOIN_OPTION', `--${flagName(stray)} only makes sense with --control-plane`, { field: flagName(stray) });
      const result = await joinCluster({
        ...(url === undefined ? {} : { endpoint: url }),
        ...(token === undefined ? {} : { token }),
        pins: flags.discoveryTokenCaCertHash,
        unsafeSkipCaVerification: flags.discoveryTokenUnsafeSkipCaVerification === true,
        ...(flags.discoveryFile === undefined ? {} : { discoveryFile: flags.discoveryFile }),
        nodeName,
        nodeDir: flags.dir ?? `node-${nodeName}`,
        discoveryTimeoutMs: parseDuration(flags.discoveryTimeout, 'discovery-timeout'),
        tlsBootstrapTimeoutMs: parseDuration(flags.tlsBootstrapTimeout, 'tls-bootstrap-timeout'),
        clock: env.clock,
        log: (line) => env.stdout.write(`${line}\n`),
        signal: env.shutdown,
      });
      const dir = flags.dir ?? `node-${nodeName}`;
      env.stdout.write(
        `\nThis node has joined the cluster. Certificate: ${result.certificatePath}\nKeep it fresh with: npx tlsboot agent --dir ${dir} --node-name ${nodeName} --bootstrap-kubeconfig ${dir}/bootstrap-kubelet.conf\n`,
      );
    });

  program
    .command('agent')
    .description("keep this node's client (and optionally serving) certificate fresh")
    .requiredOption('--dir <dir>', 'node directory written by join')
    .option('--node-name <name>', 'node name (default: the host name)')
    .option('--bootstrap-kubeconfig <file>', 'bootstrap credential to fall back to when the client certificate expired')
    .option('--rotate-server-certificates', 'also request and rotate a kubelet-serving certificate')
    .option('--node-ip <ips>', 'IP addresses of this node for the serving certificate, comma-separated', '')
    .option('--serving-address <host:port>', 'where the HTTPS endpoint listens (with --rotate-server-certificates)', '127.0.0.1:10250')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics over plain HTTP on this loopback address (off by default)')
    .option('--log-level <level>', 'fatal, error, warn, info or debug', 'info')
    .action(
      async (flags: {
        dir: string;
        nodeName?: string;
        bootstrapKubeconfig?: string;
        rotateServerCertificates?: boolean;
        nodeIp: string;
        servingAddress: string;
        metricsListen?: string;
        logLevel: string;
      }) => {
        const logger = createLogger(env, flags.logLevel);
        const serving = parseEndpoint(flags.servingAddress, 10250, 'serving-address');
        const metricsListen = flags.metricsListen === undefined ? undefined : parseEndpoint(flags.metricsListen, 10255, 'metrics-listen');
        const agent = startAgent({
          nodeDir: flags.dir,
          nodeName: agentNodeName(flags.dir, flags.nodeName, env.hostname.toLowerCase()),
          ...(flags.bootstrapKubeconfig === undefined ? {} : { bootstrapKubeconfig: flags.bootstrapKubeconfig }),
          rotateServerCertificates: flags.rotateServerCertificates === true,
          nodeIps: flags.nodeIp
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
          servingHost: serving.host,
          servingPort: serving.port,
          ...(metricsListen === undefined ? {} : { metricsListen }),
          clock: env.clock,
          random: () => Buffer.from(env.randomBytes(4)).readUInt32BE() / 2 ** 32,
          log: (event, message) => logger.info(event, message),
          warn: (event, message) => logger.warn(event, message),
        });
        const metricsAddress = await agent.metrics?.address.catch(async (error: unknown) => {
          await agent.close();
          throw error;
        });
        logger.info({ dir: flags.dir, ...(metricsAddress ? { metrics: metricsAddress } : {}) }, 'agent running');
        await waitForShutdown(env);
        await agent.close();
        logger.info({}, 'agent stopped');
      },
    );
}
