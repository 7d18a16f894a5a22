/**
 * Row 4: a join storm. N simulated nodes, 200 in flight, against a fresh server per size; each
 * node discovers the cluster (cluster-info, JWS and CA pin checks), creates its kubelet client
 * CSR with a bootstrap token, and waits on a watch of its own CSR (fieldSelector on the name,
 * from the create's resourceVersion) until the approver and signer have issued it; whatever fails,
 * a node keeps its one CSR (bench/join-node.ts).
 *
 * Limits: the server runs with its default per-user limits and the storm uses one bootstrap token
 * per 2,000 nodes, as real clusters hand out per-pool tokens; each token's identity stays within
 * its create burst (10,000), so no request is rate limited (429s are retried and counted).
 * Keys and CSRs are made before the clock starts: a real node pays for its own key, but one
 * single-threaded client making 20,000 keys would measure itself, not the server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapCsrName, csrBody } from '../src/agent/request.ts';
import { asConfigMap } from '../src/api/index.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import {
  certificatePin,
  generatePrivateKey,
  matchesAnyPin,
  parseCertificateBundle,
  parseCertificatePem,
  verifyDetachedJws,
} from '../src/pki/index.ts';
import { startHaCluster } from '../test/helpers/ha.ts';
import { createAndWait, csrPortOf } from './join-node.ts';
import { CLK_TCK, cpuTicks, memMb, startCluster } from './proc.ts';

export const NODES_PER_TOKEN = 2000;

export interface StormResult {
  readonly nodes: number;
  readonly tokens: number;
  readonly totalMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly peakRssMb: number;
  readonly serverCpuMsPerNode: number;
  readonly clientCpuMsPerNode: number;
  readonly rateLimited: number;
  /** 503s retried. */
  readonly unavailable: number;
}

/** Where a storm goes: a cluster directory (admin.conf, pki/ca.crt), the port its endpoint serves on, and its server processes. */
export interface StormTarget {
  readonly dir: string;
  readonly port: number;
  readonly pids: readonly number[];
  close(): Promise<void>;
}

/** One `tlsboot server` on SQLite, row 4's target. */
export async function singleServer(): Promise<StormTarget> {
  const cluster = await startCluster('bench-storm-', []);
  return { dir: cluster.dir, port: cluster.port, pids: [cluster.pid], close: () => cluster.close() };
}

/** The HA set-up of the tests (test/helpers/ha.ts): 2 servers with leader election on 3 etcd members, the storm through haproxy. */
export async function haServers(): Promise<StormTarget> {
  const ha = await startHaCluster({ members: 3, servers: 2 });
  const pids = ha.servers.map((s) => s.running?.child.pid).filter((pid) => pid !== undefined);
  return { dir: ha.cluster, port: ha.haproxy.port, pids, close: () => ha.close() };
}

export async function joinStorm(
  nodes: number,
  concurrency: number,
  timeoutMs: number,
  start: () => Promise<StormTarget> = singleServer,
): Promise<StormResult> {
  // Named as the kubelet names them (reference §7.1): a create retried after a lost answer finds its own request.
  const requests = Array.from({ length: nodes }, (_, i) => {
    const key = generatePrivateKey('ecdsa-p256');
    const spec = {
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      commonName: `system:node:storm-${i}`,
      organizations: ['system:nodes'],
      usages: ['digital signature', 'client auth'],
    };
    return csrBody(key, spec, { name: bootstrapCsrName(key, spec) });
  });
  const cluster = await start();
  const clients: KubeClient[] = [];
  try {
    const admin = new KubeClient(loadKubeconfig(join(cluster.dir, 'admin.conf')));
    clients.push(admin);
    const caPem = readFileSync(join(cluster.dir, 'pki', 'ca.crt'), 'utf8');
    const pin = certificatePin(parseCertificatePem(caPem));
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    const tokens = Array.from({ length: Math.ceil(nodes / NODES_PER_TOKEN) }, (_, k) => {
      const id = `st${String(k).padStart(4, '0')}`;
      const secret = `stormsecret${String(k).padStart(5, '0')}`;
      const client = new KubeClient({ server: `https://127.0.0.1:${cluster.port}`, caPem, token: `${id}.${secret}` });
      clients.push(client);
      return { id, secret, client, port: csrPortOf(client) };
    });
    for (const t of tokens) {
      await admin.request('/api/v1/namespaces/kube-system/secrets', {
        method: 'POST',
        body: {
          metadata: { name: `bootstrap-token-${t.id}` },
          type: 'bootstrap.kubernetes.io/token',
          data: {
            'token-id': b64(t.id),
            'token-secret': b64(t.secret),
            'usage-bootstrap-authentication': b64('true'),
            'usage-bootstrap-signing': b64('true'),
            'auth-extra-groups': b64('system:bootstrappers:kubeadm:default-node-token'),
          },
        },
      });
    }
    const anon = new KubeClient({ server: `https://127.0.0.1:${cluster.port}`, insecureSkipTlsVerify: true });
    clients.push(anon);
    // The tokens exist before the nodes boot, as in a real cluster: wait (bounded) until the
    // bootstrap signer has published every token's JWS, so no node's latency includes that.
    for (let tries = 0; ; tries++) {
      const info = await anon.request('/api/v1/namespaces/kube-public/configmaps/cluster-info', {}, asConfigMap);
      if (tokens.every((t) => info.data?.[`jws-kubeconfig-${t.id}`] !== undefined)) break;
      if (tries >= 300) throw new Error('the bootstrap signer did not publish every token within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const counts = { rateLimited: 0, unavailable: 0 };
    const joinOne = async (i: number): Promise<number> => {
      const started = performance.now();
      const token = tokens[Math.floor(i / NODES_PER_TOKEN)];
      if (token === undefined) throw new Error('no token');
      // Discovery: the bootstrap signer publishes the JWS soon after the token appears (bounded wait).
      for (let tries = 0; ; tries++) {
        const info = await anon.request('/api/v1/namespaces/kube-public/configmaps/cluster-info', {}, asConfigMap);
        const kubeconfig = info.data?.kubeconfig ?? '';
        const jws = info.data?.[`jws-kubeconfig-${token.id}`];
        if (jws) {
          if (!verifyDetachedJws(jws, kubeconfig, token.id, token.secret)) throw new Error('JWS mismatch');
          const caData = /certificate-authority-data: (\S+)/.exec(kubeconfig)?.[1] ?? '';
          if (!matchesAnyPin(parseCertificateBundle(Buffer.from(caData, 'base64').toString('utf8')), [pin]))
            throw new Error('pin mismatch');
          break;
        }
        if (tries >= 600) throw new Error(`no JWS for token ${token.id} after 30 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const body = requests[i];
      if (body === undefined) throw new Error('no request');
      await createAndWait(token.port, body, timeoutMs, counts);
      return performance.now() - started;
    };
    // Node i uses token floor(i / 2,000), so tokens are used one after another; a token's client
    // (and its keep-alive sockets) is closed after its last node, or the bench would hold up to 200
    // idle sockets per finished pool and meet the server's --max-connections (1024), which real
    // nodes, each with its own connection, would not.
    const remaining = tokens.map((_, k) => Math.min(NODES_PER_TOKEN, nodes - k * NODES_PER_TOKEN));
    const latencies: number[] = [];
    let next = 0;
    const serverTicks = () => cluster.pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const ticks0 = serverTicks();
    const client0 = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < nodes) {
          if (performance.now() - started > timeoutMs) throw new Error(`join storm of ${nodes} not done within ${timeoutMs} ms`);
          const i = next++;
          latencies.push(await joinOne(i));
          const k = Math.floor(i / NODES_PER_TOKEN);
          remaining[k] = (remaining[k] ?? 1) - 1;
          if (remaining[k] === 0) tokens[k]?.client.close();
        }
      }),
    );
    const totalMs = performance.now() - started;
    const serverCpuMs = ((serverTicks() - ticks0) * 1000) / CLK_TCK;
    const client = process.cpuUsage(client0);
    const peakRssMb = Math.max(...cluster.pids.map((pid) => memMb(pid, 'VmHWM')));
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    return {
      nodes,
      tokens: tokens.length,
      totalMs,
      p50: at(0.5),
      p99: at(0.99),
      max: latencies[latencies.length - 1] ?? 0,
      peakRssMb,
      serverCpuMsPerNode: serverCpuMs / nodes,
      clientCpuMsPerNode: (client.user + client.system) / 1000 / nodes,
      rateLimited: counts.rateLimited,
      unavailable: counts.unavailable,
    };
  } finally {
    for (const c of clients) c.close();
    await cluster.close();
  }
}
