/**
 * The crypto pool answers exactly as the synchronous path does (parsed CSRs, refusals with the same
 * class, code, reason and message, certificates from the template), survives a worker that dies,
 * ends its workers on close(), and never puts the CA key into an error.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { openssl } from '../../test/helpers/processes.ts';
import { isTlsbootError, type TlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import {
  type CertificateRequest,
  certificateToPem,
  createCsr,
  generatePrivateKey,
  type KeyAlgorithm,
  parseCsr,
  spkiOf,
  verifyIssuedBy,
} from '../pki/index.ts';
import { CryptoPool } from './crypto-pool.ts';
import { type IssueTemplate, issueFromTemplate } from './signer.ts';

const ca = selfSignedCa();
const H = 3_600_000;

/** Buffers and Uint8Arrays alike (structured cloning turns one into the other), KeyObjects by value. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    if ('export' in v && typeof v.export === 'function') return Buffer.from(v.export({ format: 'der', type: 'spki' })).toString('hex');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

function syncOutcome(der: Uint8Array): Outcome {
  try {
    return { ok: true, value: plain(parseCsr(der)) };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

async function poolOutcome(pool: CryptoPool, der: Uint8Array): Promise<Outcome> {
  try {
    return { ok: true, value: plain(await pool.parseCsr(der)) };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

function describeError(error: unknown) {
  assert.ok(isTlsbootError(error), `a TlsbootError, not ${String(error)}`);
  return { class: error.constructor.name, code: error.code, reason: error.reason, message: error.message, field: error.field };
}

function csrOf(alg: KeyAlgorithm, i: number): Buffer {
  return createCsr({
    key: generatePrivateKey(alg),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:n${i}` },
    ],
    sans: { dns: [`n${i}.example`], ip: i % 2 ? ['10.0.0.7', '::1'] : [], email: [], uri: [] },
  });
}

function template(publicKey: Uint8Array): IssueTemplate {
  const now = Date.now();
  return {
    subject: [{ type: 'CN', value: 'system:node:n1' }],
    publicKey,
    sans: { dns: ['n1'], ip: ['10.0.0.7'], email: [], uri: [] },
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    notBefore: new Date(now - 300_000),
    notAfter: new Date(now + 24 * H),
  };
}

const pools: CryptoPool[] = [];
function newPool(options: ConstructorParameters<typeof CryptoPool>[0] = {}): CryptoPool {
  const pool = new CryptoPool({ ca, ...options });
  pools.push(pool);
  return pool;
}
after(() => Promise.all(pools.map((p) => p.close())));

describe('CryptoPool: the same answers as the synchronous path', () => {
  test('valid CSRs of every key type, and every single-byte corruption of one, parse or fail identically', async () => {
    const pool = newPool({ workers: 2 });
    const valid = [...(['ecdsa-p256', 'ecdsa-p384'] as const).flatMap((alg) => [0, 1, 2].map((i) => csrOf(alg, i))), csrOf('rsa-2048', 3)];
    const base = csrOf('ecdsa-p256', 9);
    const corrupted: Uint8Array[] = [];
    for (let at = 0; at < base.length; at++) {
      const bad = Buffer.from(base);
      bad[at] = (bad[at] as number) ^ 0x01;
      corrupted.push(bad);
    }
    const extra = [base.subarray(0, base.length - 1), Buffer.concat([base, Buffer.from([0])]), Buffer.alloc(0), randomBytes(200)];
    const all = [...valid, ...corrupted, ...extra];
    // All at once, so that they go out in batches.
    const fromPool = await Promise.all(all.map((der) => poolOutcome(pool, der)));
    let failures = 0;
    let signatureFailures = 0;
    all.forEach((der, i) => {
      const expected = syncOutcome(der);
      assert.deepEqual(fromPool[i], expected, `input ${i}`);
      if (!expected.ok) failures++;
      if (!expected.ok && isObject(expected.error) && expected.error.reason === 'CSR_SIGNATURE') signatureFailures++;
    });
    assert.ok(fromPool.slice(0, valid.length).every((o) => o.ok));
    assert.ok(failures > corrupted.length / 2, 'most corruptions are refused');
    assert.ok(signatureFailures > 20, `bad signatures among them (${signatureFailures})`);
  });

  test('a parsed CSR keeps a usable public key', async () => {
    const pool = newPool({ workers: 1 });
    const key = generatePrivateKey('ecdsa-p256');
    const csr: CertificateRequest = await pool.parseCsr(createCsr({ key, subject: [{ type: 'CN', value: 'x' }] }));
    assert.ok(csr.publicKey.equals(createPublicKey(key)));
  });

  test('issued certificates chain to the CA and carry the template; a refused template fails alike', async () => {
    const pool = newPool({ workers: 1 });
    const t = template(spkiOf(generatePrivateKey('ecdsa-p256')));
    const [a, b] = await Promise.all([pool.issue(t), pool.issue(t)]);
    const local = issueFromTemplate(t, ca, randomBytes);
    for (const signed of [a, b]) {
      assert.ok(signed && verifyIssuedBy(signed.certificate, ca.certificate));
      const { serialNumber, der, tbs, signature, authorityKeyId, ...rest } = signed.certificate;
      const { serialNumber: s2, der: d2, tbs: t2, signature: g2, authorityKeyId: k2, ...expected } = local.certificate;
      assert.deepEqual(plain(rest), plain(expected));
      assert.match(signed.pem, /^-----BEGIN CERTIFICATE-----\n/);
    }
    assert.notEqual(a?.certificate.serialNumber, b?.certificate.serialNumber);
    // And an oracle nobody here wrote agrees.
    const dir = mkdtempSync(join(tmpdir(), 'crypto-pool-openssl-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), certificateToPem(ca.certificate.der));
      writeFileSync(join(dir, 'leaf.pem'), a?.pem ?? '');
      const verified = openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]);
      assert.equal(verified.code, 0, verified.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const backwards = { ...t, notAfter: t.notBefore };
    const syncError = captureSync(() => issueFromTemplate(backwards, ca, randomBytes));
    const poolError = await pool.issue(backwards).then(
      () => assert.fail('refused'),
      (e: unknown) => e,
    );
    assert.deepEqual(describeError(poolError), describeError(syncError));
  });

  test('try*: undefined while no worker is ready (the caller works in process), the pool result once one is', async () => {
    const pool = newPool({ workers: 1 });
    const der = csrOf('ecdsa-p256', 7);
    assert.equal(pool.tryParseCsr(der), undefined, 'cold');
    assert.equal(pool.workerCount, 1, 'but starting');
    let parsed: Promise<CertificateRequest> | undefined;
    for (let i = 0; i < 200 && parsed === undefined; i++) {
      await new Promise((r) => setTimeout(r, 25));
      parsed = pool.tryParseCsr(der);
    }
    assert.deepEqual(plain(await parsed), plain(parseCsr(der)));
    assert.ok(await pool.tryIssue(template(spkiOf(generatePrivateKey('ecdsa-p256')))));
    await pool.close();
    assert.equal(pool.tryParseCsr(der), undefined, 'closed: in process again');
  });

  test('a pool without a CA verifies CSRs and refuses to sign', async () => {
    const pool = new CryptoPool({ workers: 1 });
    pools.push(pool);
    assert.ok((await pool.parseCsr(csrOf('ecdsa-p256', 1))).subject);
    await assert.rejects(pool.issue(template(spkiOf(generatePrivateKey('ecdsa-p256')))), { code: 'UNAVAILABLE', reason: 'SIGNER_CLOSED' });
  });
});

/**
 * A worker that exits the thread when it is handed a CSR of exactly one byte 0xEE: always, or
 * only the first time (a flag file remembers), before the real worker sees the message.
 */
function crashingWorker(dir: string, once: boolean): URL {
  const flag = join(dir, 'crashed');
  const real = new URL('./crypto-worker.ts', import.meta.url).href;
  const file = join(dir, `crash-${once ? 'once' : 'always'}.ts`);
  writeFileSync(
    file,
    `import { existsSync, writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
parentPort?.on('message', (m: { jobs: { job: { kind: string; der?: Uint8Array } }[] }) => {
  const poisoned = m.jobs.some((j) => j.job.der?.length === 1 && j.job.der[0] === 0xee);
  if (poisoned && !(${once} && existsSync(${JSON.stringify(flag)}))) {
    writeFileSync(${JSON.stringify(flag)}, '');
    process.exit(7);
  }
});
await import(${JSON.stringify(real)});
`,
  );
  return pathToFileURL(file);
}

describe('CryptoPool: crashes and close', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crypto-pool-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const poison = Uint8Array.of(0xee);

  test('a worker that dies is replaced and its jobs run once more', async () => {
    const exits: string[] = [];
    const pool = newPool({ workers: 1, workerUrl: crashingWorker(dir, true), onWorkerExit: (m) => exits.push(m) });
    const good = csrOf('ecdsa-p256', 1);
    const [poisoned, parsed] = await Promise.all([poolOutcome(pool, poison), pool.parseCsr(good)]);
    // The second time the poison reaches the real worker, which refuses it as bad DER.
    assert.deepEqual(poisoned, syncOutcome(poison));
    assert.deepEqual(plain(parsed), plain(parseCsr(good)));
    assert.equal(exits.length, 1);
    assert.match(exits[0] ?? '', /crypto worker exited \(code 7\)/);
    assert.equal(pool.workerCount, 1);
  });

  test('a job whose worker dies twice fails with UNAVAILABLE, and the pool carries on', async () => {
    const pool = newPool({ workers: 1, workerUrl: crashingWorker(dir, false) });
    await assert.rejects(pool.parseCsr(poison), (e: unknown) => {
      assert.ok(isTlsbootError(e));
      assert.equal(e.code, 'UNAVAILABLE');
      assert.equal(e.reason, 'CRYPTO_WORKER_EXITED');
      assert.match(e.message, /crypto worker exited \(code 7\) twice while running this job/);
      return true;
    });
    assert.ok(await pool.parseCsr(csrOf('ecdsa-p256', 2)));
  });

  test('workers that cannot start stop the pool after three tries, with a clear error', async () => {
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, "throw new Error('cannot start');\n");
    const pool = newPool({ workers: 1, workerUrl: pathToFileURL(broken) });
    // Two starts for the first job (it is retried once), the third start breaks the pool.
    await assert.rejects(pool.parseCsr(csrOf('ecdsa-p256', 3)), { code: 'UNAVAILABLE', reason: 'CRYPTO_WORKER_EXITED' });
    await assert.rejects(pool.parseCsr(csrOf('ecdsa-p256', 3)), (e: unknown) => {
      assert.ok(isTlsbootError(e) && e.reason === 'CRYPTO_POOL_BROKEN');
      assert.match(e.message, /cannot start.*3 workers in a row died before answering/);
      return true;
    });
    await assert.rejects(pool.parseCsr(csrOf('ecdsa-p256', 3)), { code: 'UNAVAILABLE', reason: 'CRYPTO_POOL_BROKEN' });
  });

  test('close() ends the worker threads and fails what is pending or comes later', async () => {
    const threads = () => readdirSync('/proc/self/task').length;
    const pool = new CryptoPool({ ca, workers: 2 });
    await pool.parseCsr(csrOf('ecdsa-p256', 4));
    assert.equal(pool.workerCount, 2);
    const running = threads();
    const pending = assert.rejects(pool.issue(template(spkiOf(generatePrivateKey('ecdsa-p256')))), {
      code: 'UNAVAILABLE',
      reason: 'CRYPTO_POOL_CLOSED',
    });
    await pool.close();
    await pending;
    await assert.rejects(pool.parseCsr(csrOf('ecdsa-p256', 5)), { code: 'UNAVAILABLE', reason: 'CRYPTO_POOL_CLOSED' });
    assert.equal(pool.workerCount, 0);
    assert.ok(threads() <= running - 2, `two threads fewer than ${running}, now ${threads()}`);
  });

  test('no error or exit report carries the CA key', async () => {
    const exits: string[] = [];
    const pool = newPool({
      workers: 1,
      workerUrl: crashingWorker(join(mkdtempSync(join(dir, 'k-'))), false),
      onWorkerExit: (m) => exits.push(m),
    });
    const secrets = [
      ca.key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      ca.key.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
      ca.key.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      String(ca.key.export({ format: 'jwk' }).d),
    ];
    const errors = await Promise.all([
      pool.parseCsr(poison).catch((e: unknown) => e),
      pool.issue({ ...template(spkiOf(generatePrivateKey('ecdsa-p256'))), notAfter: new Date(0) }).catch((e: unknown) => e),
      pool.issue({ ...template(Uint8Array.of(1, 2, 3)) }).catch((e: unknown) => e),
    ]);
    const text = [
      ...errors.map((e) => (e instanceof Error ? `${e.message} ${e.stack ?? ''} ${JSON.stringify(e)}` : String(e))),
      ...exits,
    ].join('\n');
    assert.ok(errors.every((e) => e instanceof Error));
    for (const secret of secrets) assert.ok(!text.includes(secret), 'no key material');
  });
});

function captureSync(f: () => unknown): TlsbootError {
  try {
    f();
  } catch (error) {
    if (isTlsbootError(error)) return error;
    throw error;
  }
  assert.fail('expected a refusal');
}
