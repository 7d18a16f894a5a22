/**
 * `tlsboot init` and `tlsboot certs` as a user runs them (the CLI as a child process): the kubeadm
 * layout with modes, openssl verification of every leaf against its CA, field checks, the CA pin
 * against openssl's, kubeconfigs read by a YAML parser and by kubectl, re-runs that keep what is
 * there, every bad input refused with nothing changed on disk, and the expiry tables and renewal.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { snapshot } from './helpers/files.ts';
import { kubectl, openssl, tempDir, tlsboot, toolSkip } from './helpers/processes.ts';

const root = tempDir('init');
after(() => root.remove());
let n = 0;
const fresh = () => join(root.path, `c${n++}`);

const LEAVES: [string, string][] = [
  ['apiserver', 'ca'],
  ['apiserver-kubelet-client', 'ca'],
  ['front-proxy-client', 'front-proxy-ca'],
  ['etcd/server', 'etcd/ca'],
  ['etcd/peer', 'etcd/ca'],
  ['etcd/healthcheck-client', 'etcd/ca'],
  ['apiserver-etcd-client', 'etcd/ca'],
];
const KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf'];

function embedded(confPath: string, key: 'client-certificate-data' | 'certificate-authority-data'): string {
  const doc = parse(readFileSync(confPath, 'utf8')) as {
    users: { user: Record<string, string> }[];
    clusters: { cluster: Record<string, string> }[];
  };
  const value = key === 'client-certificate-data' ? doc.users[0]?.user[key] : doc.clusters[0]?.cluster[key];
  return Buffer.from(value ?? '', 'base64').toString('utf8');
}

/** The cluster the main suite creates: a node name, a load-balancer endpoint and extra SANs. */
const CLUSTER_FLAGS = [
  '--node-name',
  'cp-1',
  '--control-plane-endpoint',
  'lb.example.com:6443',
  '--apiserver-cert-extra-sans',
  '10.0.0.5,api.example.com',
];

describe('tlsboot init', () => {
  const dir = fresh();
  const first = tlsboot(['init', '--dir', dir, ...CLUSTER_FLAGS]);

  test('writes the whole kubeadm layout with kubeadm file modes and prints the CA pin', () => {
    assert.equal(first.code, 0, first.stderr);
    for (const f of ['ca', 'front-proxy-ca', 'etcd/ca', ...LEAVES.map(([l]) => l)]) {
      assert.equal(statSync(join(dir, 'pki', `${f}.crt`)).mode & 0o777, 0o644, `${f}.crt`);
      assert.equal(statSync(join(dir, 'pki', `${f}.key`)).mode & 0o777, 0o600, `${f}.key`);
    }
    assert.equal(statSync(join(dir, 'pki', 'sa.key')).mode & 0o777, 0o600);
    for (const k of KUBECONFIGS) assert.equal(statSync(join(dir, k)).mode & 0o777, 0o600, k);
    // The key that encrypts Secrets at rest, and a directory that will hold the store.
    assert.equal(statSync(join(dir, 'pki', 'secrets-encryption.key')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', join(dir, 'pki', 'ca.crt')]);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der, encoding: 'utf8' }).trim().split(' ').pop();
    assert.match(first.stdout, new RegExp(`sha256:${hex}`));
  });

  test('every leaf passes openssl verify -x509_strict against its own CA', () => {
    for (const [leaf, ca] of LEAVES) {
      const r = openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'pki', `${ca}.crt`), join(dir, 'pki', `${leaf}.crt`)]);
      assert.equal(r.code, 0, `${leaf}: ${r.stdout}${r.stderr}`);
    }
    for (const k of KUBECONFIGS) {
      const pem = join(root.path, `${k}.crt`);
      writeFileSync(pem, embedded(join(dir, k), 'client-certificate-data'));
      const r = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'pki', 'ca.crt'), pem]);
      assert.equal(r.code, 0, `${k}: ${r.stdout}${r.stderr}`);
    }
  });

  test('certificates carry the subjects, SANs and usages of reference §8.1', () => {
    const text = (f: string) => openssl(['x509', '-noout', '-text', '-in', join(dir, 'pki', `${f}.crt`)]).stdout;
    const api = text('apiserver');
    assert.match(api, /Subject: CN = kube-apiserver/);
    for (const san of [
      'DNS:kubernetes',
      'DNS:kubernetes.default.svc.cluster.local',
      'DNS:cp-1',
      'DNS:lb.example.com',
      'DNS:api.example.com',
      'IP Address:10.96.0.1',
      'IP Address:127.0.0.1',
      'IP Address:10.0.0.5',
    ]) {
      assert.ok(api.includes(san), `apiserver has ${san}`);
    }
    assert.match(api, /TLS Web Server Authentication/);
    assert.match(api, /CA:FALSE/);
    assert.match(text('apiserver-kubelet-client'), /Subject: CN = kube-apiserver-kubelet-client, O = kubeadm:cluster-admins/);
    assert.match(text('etcd/server'), /DNS:cp-1, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text('ca'), /CA:TRUE/);
    assert.match(text('ca'), /Certificate Sign/);
    const ca = openssl(['x509', '-noout', '-dates', '-in', join(dir, 'pki', 'ca.crt')]).stdout;
    const leaf = openssl(['x509', '-noout', '-dates', '-in', join(dir, 'pki', 'apiserver.crt')]).stdout;
    const span = (dates: string) => {
      const nb = Date.parse(/notBefore=(.*)/.exec(dates)?.[1] ?? '');
      const na = Date.parse(/notAfter=(.*)/.exec(dates)?.[1] ?? '');
      return (na - nb) / 3_600_000;
    };
    assert.ok(Math.abs(span(leaf) - (8760 + 5 / 60)) < 0.01, `leaf span ${span(leaf)}h`);
    assert.ok(Math.abs(span(ca) - (87600 + 5 / 60)) < 0.01, `CA span ${span(ca)}h`);
    assert.match(readFileSync(join(dir, 'pki', 'apiserver.key'), 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);
  });

  test('kubeconfigs parse as YAML with kubeadm names, and kubectl config view reads admin.conf', { skip: toolSkip('kubectl') }, () => {
    for (const k of KUBECONFIGS) {
      const doc = parse(readFileSync(join(dir, k), 'utf8')) as Record<string, unknown>;
      const user = (doc.users as { name: string }[])[0]?.name;
      assert.equal((doc.clusters as { name: string }[])[0]?.name, 'kubernetes');
      assert.equal(doc['current-context'], `${user}@kubernetes`);
      assert.equal(embedded(join(dir, k), 'certificate-authority-data'), readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'));
    }
    const view = kubectl(join(dir, 'admin.conf'), join(root.path, 'cache'), ['config', 'view', '-o', 'json']);
    assert.equal(view.code, 0, view.stderr);
    const config = JSON.parse(view.stdout) as { clusters: { cluster: { server: string } }[]; users: { name: string }[] };
    assert.equal(config.clusters[0]?.cluster.server, 'https://lb.example.com:6443');
    assert.equal(config.users[0]?.name, 'kubernetes-admin');
  });

  test('a re-run keeps every file byte for byte and says so', () => {
    const before = snapshot(dir);
    const again = tlsboot(['init', '--dir', dir, ...CLUSTER_FLAGS]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Using existing "ca" certificate authority/);
    assert.deepEqual(snapshot(dir), before);
  });

  test('a missing leaf is re-created alone, signed by the existing CA', () => {
    const before = snapshot(dir);
    rmSync(join(dir, 'pki', 'front-proxy-client.crt'));
    rmSync(join(dir, 'pki', 'front-proxy-client.key'));
    const r = tlsboot(['init', '--dir', dir, ...CLUSTER_FLAGS]);
    assert.equal(r.code, 0, r.stderr);
    const after = snapshot(dir);
    for (const [f, bytes] of before) if (!f.startsWith('pki/front-proxy-client')) assert.equal(after.get(f), bytes, f);
    assert.equal(
      openssl(['verify', '-CAfile', join(dir, 'pki', 'front-proxy-ca.crt'), join(dir, 'pki', 'front-proxy-client.crt')]).code,
      0,
    );
  });
});

describe('tlsboot init refuses bad input and changes nothing', () => {
  function refused(dir: string, args: string[], pattern: RegExp): void {
    const before = snapshot(dir);
    const r = tlsboot(['init', '--dir', dir, '--node-name', 'cp-1', ...args]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, pattern);
    assert.deepEqual(snapshot(dir), before);
    assert.ok(![...snapshot(dir).keys()].some((f) => f.includes('.tmp-')), 'no staged leftovers');
  }

  test('bad flags are named and create nothing', () => {
    for (const [args, flag] of [
      [['--key-algorithm', 'dsa'], /key-algorithm/],
      [['--node-name', 'CP_1'], /node-name/],
      [['--service-cidr', '10.96.0.0'], /service-cidr/],
      [['--cert-validity', '0'], /cert-validity/],
      [['--apiserver-advertise-address', 'not-an-ip'], /apiserver-advertise-address/],
    ] as [string[], RegExp][]) {
      const dir = fresh();
      const r = tlsboot(['init', '--dir', dir, ...args]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, flag);
      assert.throws(() => statSync(dir), 'DIR was not created');
    }
  });

  test('DIR that is a file, or under a file', () => {
    const file = join(root.path, `file-${n++}`);
    writeFileSync(file, 'x');
    assert.match(tlsboot(['init', '--dir', file]).stderr, /not a directory/);
    assert.match(tlsboot(['init', '--dir', join(file, 'sub')]).stderr, /not a directory/);
    assert.equal(readFileSync(file, 'utf8'), 'x');
  });

  const base = () => {
    const dir = fresh();
    assert.equal(tlsboot(['init', '--dir', dir, '--node-name', 'cp-1']).code, 0);
    return dir;
  };

  test('a certificate that does not match its key, while another leaf is missing', () => {
    const dir = base();
    writeFileSync(join(dir, 'pki', 'apiserver.key'), readFileSync(join(dir, 'pki', 'front-proxy-client.key')));
    rmSync(join(dir, 'pki', 'etcd', 'peer.crt'));
    rmSync(join(dir, 'pki', 'etcd', 'peer.key'));
    refused(dir, [], /apiserver\.crt does not match its key/);
  });

  test('a key without its certificate', () => {
    const dir = base();
    rmSync(join(dir, 'pki', 'apiserver.crt'));
    refused(dir, [], /apiserver\.key exists but .*apiserver\.crt does not/);
  });

  test('an external CA (ca.crt without ca.key) when a leaf it must sign is missing', () => {
    const dir = base();
    rmSync(join(dir, 'pki', 'ca.key'));
    rmSync(join(dir, 'pki', 'apiserver.crt'));
    rmSync(join(dir, 'pki', 'apiserver.key'));
    refused(dir, [], /ca\.key is not on disk/);
  });

  test('a new extra SAN the existing API server certificate lacks', () => {
    const dir = base();
    refused(dir, ['--apiserver-cert-extra-sans', 'new.example.com'], /apiserver\.crt lacks the SANs new\.example\.com/);
  });

  test('a kubeconfig that points at another server', () => {
    const dir = base();
    refused(
      dir,
      ['--control-plane-endpoint', 'other.example.com'],
      /points at https:\/\/127\.0\.0\.1:6443, expected https:\/\/other\.example\.com:6443|lacks the SANs other\.example\.com/,
    );
  });

  test('an expired leaf: init says to renew it, certs renew all fixes it', () => {
    const dir = fresh();
    assert.equal(tlsboot(['init', '--dir', dir, '--node-name', 'cp-1', '--cert-validity', '1s']).code, 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2200);
    refused(dir, [], /expired.*tlsboot certs renew/);
    const renewed = tlsboot(['certs', 'renew', 'all', '--dir', dir]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.equal(tlsboot(['init', '--dir', dir, '--node-name', 'cp-1']).code, 0);
  });
});

describe('tlsboot init with other key algorithms', () => {
  test('rsa-2048 and ecdsa-p384 layouts verify, with PKCS#1 and SEC1 key files', () => {
    for (const [alg, label] of [
      ['rsa-2048', 'RSA PRIVATE KEY'],
      ['ecdsa-p384', 'EC PRIVATE KEY'],
    ]) {
      const dir = fresh();
      const r = tlsboot(['init', '--dir', dir, '--node-name', 'cp-1', '--key-algorithm', alg as string]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(readFileSync(join(dir, 'pki', 'apiserver.key'), 'utf8'), new RegExp(`^-----BEGIN ${label}-----`));
      for (const [leaf, ca] of LEAVES)
        assert.equal(
          openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'pki', `${ca}.crt`), join(dir, 'pki', `${leaf}.crt`)]).code,
          0,
          `${alg} ${leaf}`,
        );
    }
  });
});

describe('tlsboot certs', () => {
  const dir = fresh();
  assert.equal(tlsboot(['init', '--dir', dir, '--node-name', 'cp-1']).code, 0);

  test('check-expiration prints kubeadm’s two tables', () => {
    const r = tlsboot(['certs', 'check-expiration', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const [certs, cas] = r.stdout.trim().split('\n\n') as [string, string];
    const rows = certs.split('\n');
    assert.equal(rows[0]?.replace(/ {2,}/g, '|'), 'CERTIFICATE|EXPIRES|RESIDUAL TIME|CERTIFICATE AUTHORITY|EXTERNALLY MANAGED');
    assert.deepEqual(
      rows.slice(1).map((l) => l.split(/\s+/)[0]),
      [
        'admin.conf',
        'apiserver',
        'apiserver-etcd-client',
        'apiserver-kubelet-client',
        'controller-manager.conf',
        'etcd-healthcheck-client',
        'etcd-peer',
        'etcd-server',
        'front-proxy-client',
        'scheduler.conf',
        'super-admin.conf',
      ],
    );
    assert.match(rows[1] ?? '', /^admin\.conf\s+\w{3} \d{2}, \d{4} \d{2}:\d{2} UTC\s+364d\s+ca\s+no$/);
    const column = (rows[0] ?? '').indexOf('EXPIRES');
    assert.ok(
      rows.every((l) => l.length < column || l[column - 1] === ' '),
      'columns are aligned',
    );
    assert.equal(cas.split('\n')[0]?.replace(/ {2,}/g, '|'), 'CERTIFICATE AUTHORITY|EXPIRES|RESIDUAL TIME|EXTERNALLY MANAGED');
    assert.match(cas, /^etcd-ca\s+.*\s+9y\s+no$/m);
  });

  test('-o json, a missing file and an external CA', () => {
    const json = JSON.parse(tlsboot(['certs', 'check-expiration', '--dir', dir, '-o', 'json']).stdout) as {
      kind: string;
      certificates: { name: string; residualTime: number }[];
    };
    assert.equal(json.kind, 'CertificateExpirationInfo');
    assert.ok((json.certificates[0]?.residualTime ?? 0) > 364 * 86_400 * 1e9);
    const other = fresh();
    assert.equal(tlsboot(['init', '--dir', other, '--node-name', 'cp-1']).code, 0);
    rmSync(join(other, 'scheduler.conf'));
    rmSync(join(other, 'pki', 'ca.key'));
    const r = tlsboot(['certs', 'check-expiration', '--dir', other]).stdout;
    assert.match(r, /!MISSING! scheduler\.conf/);
    assert.match(r, /^apiserver\s+.*\s+ca\s+yes$/m);
    assert.match(r, /^ca\s+.*\s+yes$/m);
  });

  test('renew gives apiserver a new key and serial with the same SANs, and renews a kubeconfig', () => {
    const before = openssl(['x509', '-noout', '-serial', '-ext', 'subjectAltName', '-in', join(dir, 'pki', 'apiserver.crt')]).stdout;
    const keyBefore = readFileSync(join(dir, 'pki', 'apiserver.key'), 'utf8');
    const confBefore = embedded(join(dir, 'admin.conf'), 'client-certificate-data');
    assert.equal(tlsboot(['certs', 'renew', 'apiserver', '--dir', dir]).code, 0);
    assert.equal(tlsboot(['certs', 'renew', 'admin.conf', '--dir', dir]).code, 0);
    const after = openssl(['x509', '-noout', '-serial', '-ext', 'subjectAltName', '-in', join(dir, 'pki', 'apiserver.crt')]).stdout;
    assert.notEqual(after.split('\n')[0], before.split('\n')[0]);
    assert.equal(after.split('\n').slice(1).join('\n'), before.split('\n').slice(1).join('\n'));
    assert.notEqual(readFileSync(join(dir, 'pki', 'apiserver.key'), 'utf8'), keyBefore);
    assert.equal(openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'pki', 'ca.crt'), join(dir, 'pki', 'apiserver.crt')]).code, 0);
    assert.notEqual(embedded(join(dir, 'admin.conf'), 'client-certificate-data'), confBefore);
    assert.match(readFileSync(join(dir, 'admin.conf'), 'utf8'), /server: https:\/\/127\.0\.0\.1:6443/);
  });

  test('CAs are never renewed, unknown names are refused, and a missing CA key is named', () => {
    const before = snapshot(dir);
    for (const name of ['ca', 'front-proxy-ca', 'etcd-ca']) {
      const r = tlsboot(['certs', 'renew', name, '--dir', dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /never renewed/);
    }
    assert.match(tlsboot(['certs', 'renew', 'nope', '--dir', dir]).stderr, /unknown certificate "nope"/);
    assert.deepEqual(snapshot(dir), before);
    const other = fresh();
    mkdirSync(other);
    assert.equal(tlsboot(['init', '--dir', other, '--node-name', 'cp-1']).code, 0);
    rmSync(join(other, 'pki', 'etcd', 'ca.key'));
    const r = tlsboot(['certs', 'renew', 'etcd-server', '--dir', other]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot renew etcd-server: the etcd-ca key .* is not on disk/);
  });
});
