/**
 * A high-availability control plane for tests, as kubeadm's stacked set-up has it on one machine:
 * an N-member etcd cluster (helpers/etcd.ts), N `tlsboot server` processes on one DIR that share
 * it with leader election on a short lease, and Debian's haproxy in TCP mode on the
 * control-plane endpoint (TLS passes through to the servers). DIR is made by
 * `tlsboot init --control-plane-endpoint 127.0.0.1:<haproxy port>`, so cluster-info and
 * admin.conf name the load balancer. The servers listen on the port init wrote, each on its own
 * loopback address (127.0.0.2, 127.0.0.3, ...), as control-plane nodes do on their own machines;
 * the API server certificate names those addresses too, so a test may also talk to one server.
 * Every process is killed when the test process exits. With HA_LOG_DIR set, each server's log
 * (info and up) is also written to HA_LOG_DIR/<identity>-<start ms>.log, which outlives the run:
 * what a failed storm or test leaves to read.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CSRS, storeKeyOf } from '../../src/api/cluster-client.ts';
import { csrCertificatePem } from '../../src/api/index.ts';
import { type ConnectionConfig, KubeClient, loadKubeconfig } from '../../src/client/client.ts';
import { type Certificate, commonName, parseCertificatePem } from '../../src/pki/index.ts';
import { openEtcdStore } from '../../src/store/etcd.ts';
import type { Store } from '../../src/store/index.ts';
import { type EtcdMember, etcdPkiIn, startEtcdCluster } from './etcd.ts';
import { adminAndToken, freePort, type RunningServer, startServer, tempDir, tlsboot } from './processes.ts';

/** The lease the tests' servers elect on: short, so a failover is quick; the lease must outlast renew deadline + retry period. */
export const LEASE = { durationMs: 4000, renewDeadlineMs: 2500, retryPeriodMs: 1000 } as const;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Whether something accepts TCP connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Haproxy {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * haproxy in TCP mode on 127.0.0.1:`port` in front of `backends` (host:port). Health checks ask
 * each server's /readyz over TLS (anonymous, as RBAC allows), every 500 ms, so a server that is
 * dead, shutting down, or cut off from etcd's quorum leaves the rotation within about a second
 * and a surviving server takes its clients. A plain tcp-check would keep sending clients to a
 * server that answers but cannot reach etcd. When no server is ready, the same servers stand in
 * as unchecked backups: the clients then hear the servers' own 503 instead of a closed connection.
 * A refused connection (a killed server not yet marked down) is retried on another server.
 */
export async function startHaproxy(dir: string, backends: readonly string[], port?: number): Promise<Haproxy> {
  const lbPort = port ?? (await freePort());
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 4096',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 10m',
      '  timeout server 10m',
      '  timeout check 2s',
      '  retries 3',
      '  option redispatch',
      'frontend apiserver',
      `  bind 127.0.0.1:${lbPort}`,
      '  default_backend servers',
      'backend servers',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      '  http-check expect status 200',
      '  default-server inter 500ms fall 2 rise 1 check-ssl verify none',
      ...backends.map((b, i) => `  server s${i} ${b} check`),
      ...backends.map((b, i) => `  server b${i} ${b} backup`),
      '  option allbackups',
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 10_000;
  while (!(await listening('127.0.0.1', lbPort))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not listen on 127.0.0.1:${lbPort}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port: lbPort,
    url: `https://127.0.0.1:${lbPort}`,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

export interface HaServer {
  readonly index: number;
  /** The leader-election identity, `server-<index>`. */
  readonly identity: string;
  readonly host: string;
  readonly auditLog: string;
  /** The running process, or undefined after stop or kill. */
  readonly running: RunningServer | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

export interface HaCluster {
  readonly dir: string;
  /** The cluster directory `tlsboot init` made (PKI, admin.conf naming the load balancer). */
  readonly cluster: string;
  readonly members: readonly EtcdMember[];
  readonly servers: readonly HaServer[];
  readonly haproxy: Haproxy;
  /** The port every server listens on, each on its own address. */
  readonly port: number;
  /** The cluster CA's pin, for `join --discovery-token-ca-cert-hash`. */
  readonly caPin: string;
  /** The control-plane endpoint (haproxy) as a join target. */
  readonly endpoint: { readonly url: string; readonly caPin: string };
  readonly kubeconfig: string;
  /** An admin client through haproxy. */
  readonly admin: KubeClient;
  readonly token: string;
  /** An admin client to one server directly. */
  adminOf(server: HaServer): KubeClient;
  /** A client of etcd itself (every member), to read what is durable. */
  etcd(): Store;
  close(): Promise<void>;
}

export interface HaOptions {
  readonly members?: number;
  readonly servers?: number;
  /** More `tlsboot server` flags for every server. */
  readonly serverArgs?: readonly string[];
}

/** Starts etcd members, servers and haproxy; close() (or the process's exit) ends them all. */
export async function startHaCluster(options: HaOptions = {}): Promise<HaCluster> {
  const dir = tempDir('tlsboot-ha');
  const cluster = join(dir.path, 'cluster');
  const lbPort = await freePort();
  const port = await freePort();
  const hosts = Array.from({ length: options.servers ?? 2 }, (_, i) => `127.0.0.${i + 2}`);
  const init = tlsboot([
    'init',
    '--dir',
    cluster,
    '--control-plane-endpoint',
    `127.0.0.1:${lbPort}`,
    '--apiserver-bind-port',
    String(port),
    '--apiserver-cert-extra-sans',
    hosts.join(','),
  ]);
  assert.equal(init.code, 0, init.stderr);
  const pki = etcdPkiIn(cluster);
  const members = await startEtcdCluster(pki, options.members ?? 3);
  const store = `etcd://${members.map((m) => m.endpoint).join(',')}`;
  const s = (ms: number) => `${ms}ms`;

  const servers = hosts.map((host, index): HaServer => {
    const identity = `server-${index}`;
    const auditLog = join(dir.path, `audit-${identity}.log`);
    const args = [
      '--store',
      store,
      '--audit-log',
      auditLog,
      '--leader-elect',
      '--leader-elect-identity',
      identity,
      '--leader-elect-lease-duration',
      s(LEASE.durationMs),
      '--leader-elect-renew-deadline',
      s(LEASE.renewDeadlineMs),
      '--leader-elect-retry-period',
      s(LEASE.retryPeriodMs),
      ...(options.serverArgs ?? []),
    ];
    let running: RunningServer | undefined;
    const server: HaServer = {
      index,
      identity,
      host,
      auditLog,
      get running() {
        return running;
      },
      async start() {
        assert.equal(running, undefined, `${identity} is already running`);
        running = await startServer(cluster, args, port, host);
        const child = running.child;
        const logDir = process.env.HA_LOG_DIR;
        if (logDir) {
          const out = createWriteStream(join(logDir, `${identity}-${Date.now()}.log`));
          out.write(`${running.logs.join('\n')}\n`);
          child.stdout?.pipe(out, { end: false });
          child.stderr?.pipe(out, { end: false });
          child.once('exit', () => out.end());
        }
        children.add(child);
        child.once('exit', () => children.delete(child));
      },
      async stop() {
        const r = running;
        running = undefined;
        await r?.stop();
      },
      async kill() {
        const r = running;
        running = undefined;
        if (!r) return;
        r.child.kill('SIGKILL');
        await exited(r.child);
      },
    };
    return server;
  });

  const clients: KubeClient[] = [];
  const stores: Store[] = [];
  let haproxy: Haproxy | undefined;
  const close = async () => {
    for (const c of clients) c.close();
    await Promise.all(stores.map((st) => st.close()));
    await haproxy?.stop();
    await Promise.all(servers.map((sv) => sv.stop()));
    await Promise.all(members.map((m) => m.remove()));
    dir.remove();
  };
  try {
    // One at a time: the first seeds the bootstrap objects in etcd, and the CPU is shared.
    for (const server of servers) await server.start();
    haproxy = await startHaproxy(
      dir.path,
      hosts.map((h) => `${h}:${port}`),
      lbPort,
    );
    const first = servers[0]?.running;
    assert.ok(first);
    const { kubeconfig, admin, token } = await adminAndToken(cluster);
    clients.push(admin);
    const config = loadKubeconfig(kubeconfig);
    const lb = haproxy;
    return {
      dir: dir.path,
      cluster,
      members,
      servers,
      haproxy: lb,
      port,
      caPin: first.caPin,
      endpoint: { url: lb.url, caPin: first.caPin },
      kubeconfig,
      admin,
      token,
      adminOf(server) {
        const client = new KubeClient({ ...config, server: `https://${server.host}:${port}` });
        clients.push(client);
        return client;
      },
      etcd() {
        const st = openEtcdStore({ endpoints: members.map((m) => m.endpoint), tls: pki.tls });
        stores.push(st);
        return st;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The HTTP status of one request, with the admin's credentials or none. */
export function statusOf(
  url: string,
  config: ConnectionConfig,
  options: { method?: string; body?: unknown; anonymous?: boolean } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ...(config.caPem === undefined ? {} : { ca: config.caPem }),
        ...(options.anonymous ? {} : { cert: config.clientCertificatePem, key: config.clientKeyPem }),
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
        timeout: 30_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer in 30 s`)));
    req.end(payload);
  });
}

/** The leaf of a PEM chain (a node's certificate file also holds the CA and its key). */
function leafOf(pem: string): Certificate {
  const block = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!block) throw new Error('no certificate in the PEM');
  return parseCertificatePem(block);
}

/** The serial (hex, lower case) of the leaf in a PEM. */
export function serialOf(pem: string): string {
  return leafOf(pem).serialNumber.toLowerCase();
}

/** Serials of every certificate.signed line in the audit logs. */
export function auditedSerials(ha: HaCluster): string[] {
  const out: string[] = [];
  for (const server of ha.servers) {
    let text = '';
    try {
      text = readFileSync(server.auditLog, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const event: unknown = JSON.parse(line);
      if (typeof event === 'object' && event !== null && 'event' in event && event.event === 'certificate.signed' && 'serial' in event)
        out.push(String(event.serial).toLowerCase());
    }
  }
  return out;
}

/** Node name -> certificates etcd holds for it (kubelet client CSRs with a certificate). */
export async function certificatesInEtcd(ha: HaCluster): Promise<Map<string, string[]>> {
  const { items } = await ha.etcd().list(storeKeyOf(CSRS));
  const out = new Map<string, string[]>();
  for (const csr of items) {
    const pem = csrCertificatePem(csr);
    if (pem === undefined) continue;
    const cn = commonName(leafOf(pem).subject) ?? '';
    const node = cn.startsWith('system:node:') ? cn.slice('system:node:'.length) : cn;
    out.set(node, [...(out.get(node) ?? []), pem]);
  }
  return out;
}
