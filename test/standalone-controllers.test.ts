/**
 * The controllers out of process (issue 13's "done when"): `tlsboot server --controllers none`
 * serves the API, `tlsboot controllers --kubeconfig` acts with a controller identity that holds
 * only the RBAC `tlsboot controllers manifests` prints, and `tlsboot join` gets an approved,
 * signed certificate. With two instances and `--leader-elect`, only the leader writes; after
 * kill -9 of the leader the other takes over within the lease duration plus 5 s, and no CSR is
 * signed twice.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LEASES } from '../src/api/cluster-client.ts';
import { isObject } from '../src/base/json.ts';
import { HttpClusterClient } from '../src/client/cluster-client.ts';
import {
  adminAndToken,
  freePort,
  joinNode,
  kubectl,
  MAIN,
  type RunningServer,
  startServer,
  tempDir,
  tlsboot,
  toolSkip,
  until,
} from './helpers/processes.ts';

const GROUP = 'tlsboot:controllers-test';
const LEASE_SECONDS = 5;

interface Controllers {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logs: string[];
}

function startControllers(name: string, cluster: string, kubeconfig: string, extra: readonly string[]): Controllers {
  // Each process its own audit log: one writer per file keeps its hash chain whole.
  const audit = join(dirname(kubeconfig), `${name}-audit.log`);
  const child = spawn(
    process.execPath,
    [MAIN, 'controllers', '--kubeconfig', kubeconfig, '--dir', cluster, '--audit-log', audit, ...extra],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return { name, child, logs };
}

function stop(c: Controllers, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
    c.child.once('exit', () => resolve());
    c.child.kill(signal);
  });
}

/** Who wrote a CSR's approval or certificate, from the server's request log. */
function csrWriters(server: RunningServer): Set<string> {
  const out = new Set<string>();
  for (const chunk of server.logs)
    for (const line of chunk.split('\n')) {
      const put = /"method":"PUT"/.test(line) && /certificatesigningrequests\/[^"]+\/(approval|status)"/.test(line);
      // An approval and its certificate in one write: tlsboot's transactions API.
      const transaction = /"method":"POST"/.test(line) && /tlsboot\.io\/v1alpha1\/transactions"/.test(line);
      if (!put && !transaction) continue;
      const m = /"user":"([^"]+)"/.exec(line);
      if (m?.[1]) out.add(m[1]);
    }
  return out;
}

describe('tlsboot controllers against tlsboot server --controllers none', { skip: toolSkip('kubectl') }, () => {
  const dir = tempDir('standalone');
  const cluster = join(dir.path, 'cluster');
  let server: RunningServer;
  let token = '';
  let admin: HttpClusterClient;
  const running: Controllers[] = [];

  before(async () => {
    const port = await freePort();
    const init = tlsboot(['init', '--dir', cluster, '--apiserver-bind-port', String(port)]);
    assert.equal(init.code, 0, init.stderr);
    const tokens = join(dir.path, 'tokens.csv');
    writeFileSync(tokens, ['ctl-a-token-0123456789,ctl-a,ua', 'ctl-b-token-0123456789,ctl-b,ub'].map((l) => `${l},"${GROUP}"`).join('\n'));
    server = await startServer(cluster, ['--controllers', 'none', '--token-auth-file', tokens], port);
    const made = await adminAndToken(cluster);
    token = made.token;
    admin = new HttpClusterClient(made.admin);
    // Only what `tlsboot controllers manifests` prints, bound to the controllers' group.
    const printed = tlsboot(['controllers', 'manifests', '--group', GROUP, '--no-crds']);
    assert.equal(printed.code, 0, printed.stderr);
    const applied = kubectl(made.kubeconfig, join(dir.path, 'kube-cache'), ['apply', '-f', '-'], printed.stdout);
    assert.equal(applied.code, 0, applied.stderr);
    const ca = readFileSync(join(cluster, 'pki', 'ca.crt')).toString('base64');
    for (const who of ['ctl-a', 'ctl-b'])
      writeFileSync(
        join(dir.path, `${who}.conf`),
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{name: c, cluster: {server: "${server.url}", certificate-authority-data: ${ca}}}]`,
          `users: [{name: u, user: {token: ${who}-token-0123456789}}]`,
          'contexts: [{name: x, context: {cluster: c, user: u}}]',
          'current-context: x',
          '',
        ].join('\n'),
      );
  });

  after(async () => {
    for (const c of running) await stop(c);
    await server?.stop();
    dir.remove();
  });

  test('with the printed RBAC only, tlsboot join gets an approved, signed node certificate', async () => {
    const one = startControllers('ctl-a', cluster, join(dir.path, 'ctl-a.conf'), []);
    running.push(one);
    const joined = await joinNode(server, token, 'solo-1', join(dir.path, 'solo-1'));
    assert.equal(joined.code, 0, `${joined.stderr}\n${one.logs.join('')}`);
    assert.deepEqual([...csrWriters(server)], ['ctl-a']);
    await stop(one);
  });

  test('two instances with --leader-elect: only the leader writes; after kill -9 the other takes over in time, signing nothing twice', async () => {
    const le = [
      '--leader-elect',
      '--leader-elect-lease-duration',
      `${LEASE_SECONDS}s`,
      '--leader-elect-renew-deadline',
      '3s',
      '--leader-elect-retry-period',
      '1s',
    ];
    const a = startControllers('ctl-a', cluster, join(dir.path, 'ctl-a.conf'), [...le, '--leader-elect-identity', 'ctl-a']);
    const b = startControllers('ctl-b', cluster, join(dir.path, 'ctl-b.conf'), [...le, '--leader-elect-identity', 'ctl-b']);
    running.push(a, b);
    const holder = async () => {
      const lease = await admin.get(LEASES, 'kube-system', 'tlsboot-controllers');
      const spec = isObject(lease?.spec) ? lease.spec : {};
      return typeof spec.holderIdentity === 'string' && spec.holderIdentity !== '' ? spec.holderIdentity : undefined;
    };
    const leader = await until('a leader', holder, 20_000);
    const [first, second] = leader === 'ctl-a' ? [a, b] : [b, a];
    const before = csrWriters(server);
    before.clear();
    const start = server.logs.length;
    const joined = await joinNode(server, token, 'le-1', join(dir.path, 'le-1'));
    assert.equal(joined.code, 0, joined.stderr);
    const writers = new Set([...csrWriters({ ...server, logs: server.logs.slice(start) })]);
    assert.deepEqual([...writers], [first.name], 'only the leader wrote');

    await stop(first, 'SIGKILL');
    const killedAt = Date.now();
    await until('the other instance leads', async () => ((await holder()) === second.name ? true : undefined), (LEASE_SECONDS + 5) * 1000);
    const afterKill = server.logs.length;
    const rejoined = await joinNode(server, token, 'le-2', join(dir.path, 'le-2'));
    assert.equal(rejoined.code, 0, rejoined.stderr);
    assert.ok(Date.now() - killedAt < (LEASE_SECONDS + 5) * 1000 + 30_000);
    assert.deepEqual([...csrWriters({ ...server, logs: server.logs.slice(afterKill) })], [second.name], 'the new leader wrote');

    // No CSR got two certificates: one issued record per CSR, and one signing per CSR in the audit log.
    const issued = await admin.list({
      group: 'tlsboot.io',
      version: 'v1alpha1',
      resource: 'issuedcertificates',
      kind: 'IssuedCertificate',
      namespaced: false,
    });
    const perCsr = new Map<string, number>();
    for (const r of issued) perCsr.set(String(r.csrName), (perCsr.get(String(r.csrName)) ?? 0) + 1);
    assert.ok(
      [...perCsr.values()].every((n) => n === 1),
      JSON.stringify([...perCsr]),
    );
    const audit = readFileSync(join(cluster, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const signedCsrs = audit
      .map((l) => JSON.parse(l))
      .filter((e) => isObject(e) && e.event === 'certificate.signed' && typeof e.csr === 'string')
      .map((e) => String(e.csr));
    assert.equal(new Set(signedCsrs).size, signedCsrs.length, audit.join('\n'));
  });
});
