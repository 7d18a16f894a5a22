/**
 * The reserved set of a real `tlsboot init` directory: what `tlsboot certs reserved` prints is
 * every name and address the API server and etcd certificates and the control-plane endpoint
 * present, and a renewed API server certificate with a new SAN is protected once it is on disk.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { reservedIpSource, reservedNameSource } from '../src/api/index.ts';
import { ReservedIdentityFiles } from '../src/kubeadm/reserved-identities.ts';
import { tempDir, tlsboot } from './helpers/processes.ts';

describe('reserved identities of a PKI directory', () => {
  const dir = tempDir('reserved');
  const cluster = join(dir.path, 'cluster');
  const other = join(dir.path, 'other');
  after(() => dir.remove());
  const init = (d: string, sans: string) => {
    const r = tlsboot([
      'init',
      '--dir',
      d,
      '--node-name',
      'cp-1',
      '--control-plane-endpoint',
      'api.example:6443',
      '--apiserver-advertise-address',
      '192.168.5.10',
      '--apiserver-cert-extra-sans',
      sans,
    ]);
    assert.equal(r.code, 0, r.stderr);
  };

  test('certs reserved lists every name and address the cluster presents, with its source', () => {
    init(cluster, 'lb.example,10.0.0.100');
    const r = tlsboot(['certs', 'reserved', '--dir', cluster, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const sources = JSON.parse(r.stdout) as { source: string; dns: string[]; ip: string[] }[];
    const all = (k: 'dns' | 'ip') => new Set(sources.flatMap((s) => s[k]));
    for (const name of ['kubernetes', 'kubernetes.default.svc.cluster.local', 'cp-1', 'api.example', 'lb.example', 'localhost'])
      assert.ok(all('dns').has(name), name);
    for (const ip of ['10.96.0.1', '192.168.5.10', '10.0.0.100', '127.0.0.1', '::1']) assert.ok(all('ip').has(ip), ip);
    assert.deepEqual(
      sources.map((s) => s.source),
      [
        'API server certificate (pki/apiserver.crt)',
        'etcd server certificate (pki/etcd/server.crt)',
        'etcd peer certificate (pki/etcd/peer.crt)',
        'control-plane endpoint (admin.conf)',
      ],
    );
    const table = tlsboot(['certs', 'reserved', '--dir', cluster]).stdout;
    assert.match(table, /^KIND +NAME +PRESENTED BY$/m);
    assert.match(table, /^IP +192\.168\.5\.10 +API server certificate \(pki\/apiserver\.crt\)$/m);
  });

  test('a changed API server certificate changes the set at the next look, not before', () => {
    let now = new Date('2026-12-01T00:00:00Z');
    const files = new ReservedIdentityFiles({ dir: cluster, now: () => now, recheckMs: 1000 });
    assert.equal(reservedNameSource(files.current(), 'new-lb.example'), undefined);
    init(other, 'new-lb.example,10.0.0.200');
    copyFileSync(join(other, 'pki', 'apiserver.crt'), join(cluster, 'pki', 'apiserver.crt'));
    assert.equal(reservedNameSource(files.current(), 'new-lb.example'), undefined, 'within recheckMs the files are not looked at');
    now = new Date(now.getTime() + 1000);
    assert.equal(reservedNameSource(files.current(), 'NEW-LB.example.'), 'API server certificate (pki/apiserver.crt)');
    assert.equal(reservedIpSource(files.current(), '::ffff:10.0.0.200'), 'API server certificate (pki/apiserver.crt)');
  });
});
