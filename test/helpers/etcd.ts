/**
 * Real etcd members for tests: Debian's etcd-server on free loopback ports, in a temporary
 * directory, always with mutual TLS as in production. The certificates are the ones `tlsboot
 * init` writes (pki/etcd/ca.crt, etcd/server, etcd/peer, apiserver-etcd-client), so the tests
 * also show that init's etcd PKI is what a member and its client need. A member can be stopped,
 * killed and started again on the same ports and data; every member is killed when the process exits.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { EtcdTls } from '../../src/store/etcd.ts';
import { freePort, tempDir, tlsboot } from './processes.ts';

export interface EtcdPki {
  readonly dir: string;
  /** What a client (the API server) presents: pki/etcd/ca.crt, pki/apiserver-etcd-client.{crt,key}. */
  readonly tls: EtcdTls;
  readonly remove: () => void;
}

/** Runs `tlsboot init` in a fresh directory for its etcd CA, server, peer and client certificates. */
export function etcdPki(): EtcdPki {
  const dir = tempDir('tlsboot-etcd');
  const init = tlsboot(['init', '--dir', dir.path, '--node-name', 'etcd-test']);
  assert.equal(init.code, 0, init.stderr);
  return etcdPkiIn(dir.path, dir.remove);
}

/** The etcd PKI that `tlsboot init` wrote in `dir` (a cluster's own directory). */
export function etcdPkiIn(dir: string, remove: () => void = () => {}): EtcdPki {
  const pki = join(dir, 'pki');
  return {
    dir,
    tls: {
      ca: readFileSync(join(pki, 'etcd', 'ca.crt')),
      cert: readFileSync(join(pki, 'apiserver-etcd-client.crt')),
      key: readFileSync(join(pki, 'apiserver-etcd-client.key')),
    },
    remove,
  };
}

export interface EtcdMember {
  /** `127.0.0.1:port`, as the store takes it. */
  readonly endpoint: string;
  /** Starts the member again on the same ports and data (after stop or kill). */
  start(): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Stops the member and removes its data. */
  remove(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function healthy(endpoint: string, tls: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`https://${endpoint}/health`, { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** A one-member cluster of its own, started and healthy. */
export async function startEtcd(pki: EtcdPki): Promise<EtcdMember> {
  const [member] = await startEtcdCluster(pki, 1);
  if (!member) throw new Error('no etcd member started');
  return member;
}

/**
 * A cluster of `size` members on loopback ports, started together (a member of several becomes
 * healthy only once a quorum is up), each stoppable, killable and startable on its own.
 */
export async function startEtcdCluster(pki: EtcdPki, size: number): Promise<EtcdMember[]> {
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = ports.map((p) => `${p.name}=https://127.0.0.1:${p.peer}`).join(',');
  const members = ports.map((p) => etcdMember(pki, p.name, p.client, p.peer, initialCluster));
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (error) {
    await Promise.all(members.map((m) => m.remove()));
    throw error;
  }
  return members;
}

/** One member of the cluster `initialCluster` names, not started yet. */
function etcdMember(pki: EtcdPki, name: string, clientPort: number, peerPort: number, initialCluster: string): EtcdMember {
  const data = tempDir('tlsboot-etcd-member');
  const endpoint = `127.0.0.1:${clientPort}`;
  const peer = `https://127.0.0.1:${peerPort}`;
  const etcdPkiDir = join(pki.dir, 'pki', 'etcd');
  mkdirSync(join(data.path, 'data'), { mode: 0o700 });
  const args = [
    `--name=${name}`,
    `--data-dir=${join(data.path, 'data')}`,
    `--listen-client-urls=https://${endpoint}`,
    `--advertise-client-urls=https://${endpoint}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${initialCluster}`,
    `--cert-file=${join(etcdPkiDir, 'server.crt')}`,
    `--key-file=${join(etcdPkiDir, 'server.key')}`,
    `--trusted-ca-file=${join(etcdPkiDir, 'ca.crt')}`,
    '--client-cert-auth',
    `--peer-cert-file=${join(etcdPkiDir, 'peer.crt')}`,
    `--peer-key-file=${join(etcdPkiDir, 'peer.key')}`,
    `--peer-trusted-ca-file=${join(etcdPkiDir, 'ca.crt')}`,
    '--peer-client-cert-auth',
    '--logger=zap',
    '--log-level=error',
  ];
  let child: ChildProcess | undefined;
  let stderr = '';

  const exited = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once('exit', () => resolve());
    });

  const member: EtcdMember = {
    endpoint,
    async start() {
      assert.equal(child, undefined, 'the member is already running');
      const c = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      running.add(c);
      c.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      c.once('exit', () => running.delete(c));
      const deadline = Date.now() + 15_000;
      while (!(await healthy(endpoint, pki.tls))) {
        if (c.exitCode !== null || Date.now() > deadline) {
          c.kill('SIGKILL');
          child = undefined;
          throw new Error(`etcd did not become healthy on ${endpoint}: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c) return;
      c.kill('SIGTERM');
      await exited(c);
    },
    async kill() {
      const c = child;
      child = undefined;
      if (!c) return;
      c.kill('SIGKILL');
      await exited(c);
    },
    async remove() {
      await member.kill();
      data.remove();
    },
  };
  return member;
}
