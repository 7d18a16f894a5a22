/**
 * Watches as clients nobody here wrote make them, against a real server process:
 * @kubernetes/client-node 2.x's informer (start() returns on a quiet resource because the 200 is
 * flushed at once; it sees adds and updates; after a 410 it re-lists), python3-kubernetes'
 * `Watch().stream` (which sends `watch=True`), and the machine's kubectl `get csr -w`. A second
 * server keeps one revision of history, compacts every second and ends watches after 2-4 s
 * (`--min-request-timeout`), so an informer that fell behind is answered 410 and must re-list.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CertificatesV1Api,
  CoreV1Api,
  KubeConfig,
  type KubeConfig as KubeConfigType,
  makeInformer,
  type V1CertificateSigningRequest,
} from '@kubernetes/client-node';
import { clientCsrObject } from './helpers/pki.ts';
import { PYTHON_KUBERNETES, pathSkip, startCluster, tempDir, toolSkip, until } from './helpers/processes.ts';

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

const csrBody = (name: string): V1CertificateSigningRequest => clientCsrObject(name);

/** A cluster directory, a server on it with `args`, and its admin kubeconfig. */
async function cluster(prefix: string, args: readonly string[]) {
  const dir = tempDir(prefix);
  const { server, kubeconfig, admin } = await startCluster(dir.path, args);
  admin.close();
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  return { dir, server, kubeconfig, config };
}

/** Rejects after `ms`, naming what did not happen. */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function csrInformer(config: KubeConfigType, onList: () => void) {
  const api = config.makeApiClient(CertificatesV1Api);
  return makeInformer(config, CSR_PATH, () => {
    onList();
    return api.listCertificateSigningRequest();
  });
}

describe('watch with real clients', () => {
  let c: Awaited<ReturnType<typeof cluster>>;

  before(async () => {
    c = await cluster('watch-clients', []);
  });

  after(async () => {
    await c?.server.stop();
    c?.dir.remove();
  });

  test('client-node: informer.start() returns on a quiet resource, then sees an add and an update', async () => {
    const informer = csrInformer(c.config, () => {});
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => {
      const types = (o.status?.conditions ?? []).map((k) => k.type).join(',');
      seen.push(`update ${o.metadata?.name} ${types}`);
    });
    try {
      // No CSR exists yet: start() resolves only once the watch's status line has arrived.
      await within('informer.start() on a quiet resource', 10_000, informer.start());
      const api = c.config.makeApiClient(CertificatesV1Api);
      await api.createCertificateSigningRequest({ body: csrBody('informed') });
      await until('the add', async () => (seen.includes('add informed') ? true : undefined));
      const read = await api.readCertificateSigningRequest({ name: 'informed' });
      read.status = {
        conditions: [
          { type: 'Approved', status: 'True', reason: 'WatchTest', message: 'approved by the watch test', lastUpdateTime: new Date() },
        ],
      };
      await api.replaceCertificateSigningRequestApproval({ name: 'informed', body: read });
      await until('the update', async () => (seen.some((s) => /^update informed .*Approved/.test(s)) ? true : undefined));
    } finally {
      await informer.stop();
    }
  });

  test('python3-kubernetes: Watch().stream(list_certificate_signing_request) yields the existing and a new CSR', {
    skip: pathSkip(PYTHON_KUBERNETES, 'python3-kubernetes', ['-c', 'import kubernetes']),
  }, async () => {
    const api = c.config.makeApiClient(CertificatesV1Api);
    await api.createCertificateSigningRequest({ body: csrBody('py-before') });
    const script = [
      'import sys',
      'from kubernetes import client, config, watch',
      'config.load_kube_config(sys.argv[1])',
      'w = watch.Watch()',
      'for e in w.stream(client.CertificatesV1Api().list_certificate_signing_request, timeout_seconds=30):',
      '    print(e["type"], e["object"].metadata.name, flush=True)',
      '    if e["object"].metadata.name == "py-after":',
      '        w.stop()',
    ].join('\n');
    const child = spawn(PYTHON_KUBERNETES, ['-c', script, c.kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await until('the initial ADDED py-before', async () => (out.includes('ADDED py-before') ? true : undefined), 30_000);
      await api.createCertificateSigningRequest({ body: csrBody('py-after') });
      assert.equal(await within('python watch to stop', 30_000, exited), 0, err);
      assert.match(out, /ADDED py-after/);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });

  test('kubectl get csr -w prints a CSR created while it watches', { skip: toolSkip('kubectl') }, async () => {
    const child = spawn('kubectl', ['--kubeconfig', c.kubeconfig, '--cache-dir', join(c.dir.path, 'kubectl-cache'), 'get', 'csr', '-w'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await until('the table header', async () => (/NAME\s+AGE/.test(out) ? true : undefined), 30_000);
      const api = c.config.makeApiClient(CertificatesV1Api);
      await api.createCertificateSigningRequest({ body: csrBody('kubectl-watched') });
      await until('the watched CSR', async () => (out.includes('kubectl-watched') ? true : undefined), 30_000).catch((e: unknown) => {
        throw new Error(`${String(e)}\nstdout: ${out}\nstderr: ${err}`);
      });
    } finally {
      child.kill();
      await exited;
    }
  });
});

describe('watch after compaction with a real client', () => {
  let c: Awaited<ReturnType<typeof cluster>>;

  before(async () => {
    c = await cluster('watch-410', ['--watch-history', '1', '--etcd-compaction-interval', '1s', '--min-request-timeout', '2']);
  });

  after(async () => {
    await c?.server.stop();
    c?.dir.remove();
  });

  test('client-node: an informer whose resourceVersion was compacted gets 410 and re-lists, then sees new CSRs', async () => {
    let lists = 0;
    const informer = csrInformer(c.config, () => {
      lists++;
    });
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    try {
      await within('informer.start()', 10_000, informer.start());
      assert.equal(lists, 1);
      // Writes to another resource move the revision past the informer's, which history no longer holds
      // once compacted; its next watch (the server ends this one within 4 s) is answered 410.
      const core = c.config.makeApiClient(CoreV1Api);
      for (let i = 0; i < 3; i++) {
        await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `filler-${i}` } } });
      }
      await until('a re-list after the 410', async () => (lists >= 2 ? true : undefined), 30_000);
      assert.deepEqual(errors, [], 'a 410 is not an error to the informer: it re-lists');
      const api = c.config.makeApiClient(CertificatesV1Api);
      await api.createCertificateSigningRequest({ body: csrBody('after-relist') });
      await until('the CSR in the re-listed cache', async () => (informer.get('after-relist') ? true : undefined), 30_000);
    } finally {
      await informer.stop();
    }
  });
});
