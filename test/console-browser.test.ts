/**
 * The console end to end in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * `tlsboot console` prints a login URL, the browser logs in with it, sees a CSR arrive live,
 * approves one and denies one with a reason (their conditions checked through the API), and a
 * console run as a user without RBAC to approve or revoke shows the API server's refusal and
 * changes nothing.
 * On the certificates view it revokes one certificate through the dialog (checked through the API)
 * and sees a revocation made elsewhere arrive live.
 * It saves screenshots of the queue, the timeline and the cluster view in its temporary directory,
 * or, with CONSOLE_SCREENSHOTS=docs, where README shows them from (docs/console-*.png).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { buildKubeconfig, csrConditions } from '../src/api/index.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import type { CliEnv } from '../src/cli/io.ts';
import { runCli } from '../src/cli/program.ts';
import { revocationAdmission } from '../src/control-plane/revocations.ts';
import { startTestApiWithRoles, type TestApi } from '../src/server/testing.ts';
import { MemoryAuditLog } from '../src/signer/audit.ts';
import { openSqliteStore } from '../src/store/index.ts';
import { csrObject, nodeSubject } from './helpers/pki.ts';

const CHROMIUM = '/usr/bin/chromium';
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const ISSUED = '/apis/tlsboot.io/v1alpha1/issuedcertificates';
const REVOCATIONS = '/apis/tlsboot.io/v1alpha1/certificaterevocations';
const DAY = 86_400_000;

/** `tlsboot console` in process; resolves with the login URL it prints, and stops on `stop()`. */
async function startConsoleCli(kubeconfig: string): Promise<{ loginUrl: string; stop: () => Promise<number> }> {
  const shutdown = new AbortController();
  let out = '';
  let printed: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => {
    printed = resolve;
  });
  const env: CliEnv = {
    stdout: {
      write: (s) => {
        out += s;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/login\?token=\S+)/.exec(out);
        if (m?.[1]) printed(m[1]);
      },
    },
    stderr: { write: (s) => void process.stderr.write(s) },
    clock: REAL_CLOCK,
    now: () => new Date(),
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    hostname: 'test',
    vars: {},
    shutdown: shutdown.signal,
    readStdin: async () => Buffer.alloc(0),
    promptSecret: async () => Buffer.alloc(0),
  };
  const exit = runCli(['console', '--kubeconfig', kubeconfig, '--listen', '127.0.0.1:0'], env);
  const loginUrl = await Promise.race([url, exit.then((code) => Promise.reject(new Error(`console exited ${code}: ${out}`)))]);
  return {
    loginUrl,
    stop: () => {
      shutdown.abort();
      return exit;
    },
  };
}

const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} is not installed (apt-get install chromium)` : false;

describe('console in Chromium', { skip }, () => {
  let api: TestApi;
  let browser: Browser;
  let dir: string;
  let server: string;
  const shot = (name: string) => join(process.env.CONSOLE_SCREENSHOTS ?? dir, `console-${name}.png`);
  const kubeconfigFor = (user: string) => {
    const path = join(dir, `${user}.conf`);
    writeFileSync(path, buildKubeconfig({ clusterName: 'kubernetes', server, caPem: api.caPem, userName: user, token: user }));
    return path;
  };
  const conditions = async (name: string) => {
    const res = await api.request('admin', 'GET', `${CSRS}/${name}`);
    return csrConditions(res.json<{ status?: { conditions?: [] } }>()).map((c) => [c.type, c.reason ?? '', c.message ?? '']);
  };
  const create = async (body: unknown) => {
    const res = await api.request('admin', 'POST', CSRS, body);
    assert.equal(res.statusCode, 201, res.body);
  };
  const clientCsr = (name: string, cn: string) =>
    csrObject(name, { subject: [{ type: 'CN', value: cn }], signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tlsboot-console-'));
    const store = openSqliteStore({ path: ':memory:' });
    api = await startTestApiWithRoles(
      {
        // May read CSRs, the inventory and revocations, and change nothing.
        viewer: [
          { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['tlsboot.io'], resources: ['issuedcertificates', 'certificaterevocations'], verbs: ['get', 'list', 'watch'] },
        ],
      },
      { store },
      revocationAdmission(store, () => new Date(), new MemoryAuditLog()),
    );
    // Real time, so ages and expiry read as they would on a cluster.
    api.clock.ms = Date.now();
    const { port } = await api.server.listen('127.0.0.1', 0);
    server = `https://127.0.0.1:${port}`;
    // A queue as an operator meets it: a user's client certificate, node serving certificates, one approved and waiting for signing.
    await create(clientCsr('alice-laptop', 'alice'));
    await create(clientCsr('ci-deployer', 'ci:deployer'));
    for (const n of [3, 7]) {
      await create(
        csrObject(`csr-node-${n}-serving`, {
          subject: nodeSubject(`node-${n}`),
          signerName: 'kubernetes.io/kube-apiserver-client',
          usages: ['client auth'],
          sans: { dns: [`node-${n}.cluster.example`], ip: [`10.0.0.${n}`] },
        }),
      );
    }
    await create(clientCsr('metrics-reader', 'system:metrics-reader'));
    // What the approver and the signer leave on CSRs, so the queue shows their reasons.
    const addCondition = async (name: string, subresource: 'approval' | 'status', condition: Record<string, string>) => {
      const current = (await api.request('admin', 'GET', `${CSRS}/${name}`)).json<{ status?: { conditions?: unknown[] } }>();
      const conditions = [
        ...(current.status?.conditions ?? []),
        { status: 'True', lastUpdateTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), ...condition },
      ];
      const res = await api.request('admin', 'PUT', `${CSRS}/${name}/${subresource}`, {
        ...current,
        status: { ...current.status, conditions },
      });
      assert.equal(res.statusCode, 200, res.body);
    };
    await addCondition('csr-node-3-serving', 'status', {
      type: 'AutoApprovalWithheld',
      reason: 'NodeAlreadyRegistered',
      message:
        'system:node:node-3 already holds a valid client certificate (serial 5f2c…); a bootstrap credential may not obtain another. Approve by hand if this node is being re-registered.',
    });
    await addCondition('csr-node-7-serving', 'approval', { type: 'Approved', reason: 'AutoApproved', message: 'Auto approving.' });
    await addCondition('csr-node-7-serving', 'status', {
      type: 'SigningPending',
      reason: 'SignerUnavailable',
      message: 'the sealed CA signs only during a signing session, and none is open',
    });
    // Issued certificates over the next months, as the signer's inventory keeps them.
    const now = Date.now();
    for (let i = 0; i < 240; i++) {
      // A batch of nodes that joined together expires together (days 18-21); the rest spread out, a few already expired.
      const days = i < 70 ? 18 + (i % 4) : i < 75 ? -1 - (i % 3) : ((i * 37) % 150) + 1;
      const notAfter = new Date(now + days * DAY + (i % 24) * 3_600_000);
      const res = await api.request('admin', 'POST', ISSUED, {
        apiVersion: 'tlsboot.io/v1alpha1',
        kind: 'IssuedCertificate',
        metadata: { name: `uid-${String(i).padStart(4, '0')}` },
        csrName: `csr-node-${i}`,
        signerName: i % 5 === 0 ? 'kubernetes.io/kubelet-serving' : 'kubernetes.io/kube-apiserver-client-kubelet',
        requester: `system:node:node-${i}`,
        commonName: `system:node:node-${i}`,
        serialNumber: (0x1000 + i).toString(16),
        notBefore: new Date(notAfter.getTime() - 365 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        notAfter: notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        issuedAt: new Date(notAfter.getTime() - 365 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        certificate: '',
      });
      assert.equal(res.statusCode, 201, res.body);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(kubeconfig: string): Promise<{ page: Page; stop: () => Promise<number> }> {
    const cli = await startConsoleCli(kubeconfig);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const stop = async () => {
      await page.close();
      return cli.stop();
    };
    try {
      const blocked: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') blocked.push(`${m.text()} ${m.location().url}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400) blocked.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(cli.loginUrl);
      await page.waitForSelector('#queue tbody tr');
      assert.deepEqual(blocked, [], 'no errors (a CSP violation would be one)');
    } catch (error) {
      await stop();
      throw error;
    }
    return { page, stop };
  }

  test('log in with the printed URL, see a CSR arrive live, approve one and deny one with a reason', async () => {
    const { page, stop } = await open(kubeconfigFor('admin'));
    try {
      await page.waitForSelector('tr[data-name="metrics-reader"]');
      await create(clientCsr('arrived-live', 'bob'));
      await page.waitForSelector('tr[data-name="arrived-live"].new', { timeout: 15_000 });
      await page.screenshot({ path: shot('queue'), fullPage: true });

      await page.click('button[aria-label="Approve arrived-live"]');
      await page.waitForSelector('dialog#decide[open]');
      await page.click('#decide-confirm');
      // No signer runs here: approved, it stays in the queue saying it waits for one.
      await page.waitForSelector('tr[data-name="arrived-live"] .tag:has-text("approved, not issued")', { timeout: 15_000 });
      assert.deepEqual(await conditions('arrived-live'), [['Approved', 'TlsbootConsoleApprove', 'Approved in tlsboot console by admin.']]);

      // Keyboard only: focus the row's Deny button, type the reason, confirm with Enter.
      await page.focus('button[aria-label="Deny ci-deployer"]');
      await page.keyboard.press('Enter');
      await page.waitForSelector('dialog#decide[open]');
      await page.keyboard.type('no such deployer in this cluster');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.waitForSelector('tr[data-name="ci-deployer"]', { state: 'detached', timeout: 15_000 });
      assert.deepEqual(await conditions('ci-deployer'), [['Denied', 'TlsbootConsoleDeny', 'no such deployer in this cluster']]);

      // 200 % zoom: half the CSS width; the page reflows rather than scroll sideways (tables scroll in their own box).
      await page.setViewportSize({ width: 700, height: 900 });
      assert.equal(await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth'), true);
      if (process.env.CONSOLE_ZOOM_SHOT) await page.screenshot({ path: process.env.CONSOLE_ZOOM_SHOT });
      await page.setViewportSize({ width: 1400, height: 900 });

      await page.click('#tab-certificates');
      await page.waitForSelector('#expiring tbody tr');
      await page
        .locator('#timeline-status')
        .filter({ hasText: /\b24\d certificates;/ })
        .waitFor();
      // Revoke node-0's certificate (serial 1000, live for 18 more days) through the dialog, which names exactly it.
      await page.click('#expiring button:text-is("system:node:node-0")');
      await page.click('button[aria-label="Revoke 1000"]');
      await page.waitForSelector('dialog#revoke[open]');
      assert.equal(await page.textContent('#revoke-title'), 'Revoke the certificate with serial 1000?');
      assert.match((await page.textContent('#revoke-summary')) ?? '', /Serial1000Holdersystem:node:node-0/);
      await page.selectOption('#revoke-reason', 'keyCompromise');
      assert.equal(await page.textContent('#revoke-confirm'), 'Revoke 1000 (system:node:node-0)');
      await page.click('#revoke-confirm');
      await page.waitForSelector('#revocations tr[data-serial="1000"]', { timeout: 15_000 });
      await page.waitForSelector('#cert-details .bad:has-text("revoked (keyCompromise) by admin")');
      const stored = (await api.request('admin', 'GET', REVOCATIONS)).json<{
        items: { metadata: { name: string }; reason: string; revokedBy: string; commonName: string }[];
      }>().items;
      assert.deepEqual(
        stored.map((r) => [r.metadata.name, r.reason, r.revokedBy, r.commonName]),
        [['1000', 'keyCompromise', 'admin', 'system:node:node-0']],
        'exactly the one named certificate is revoked',
      );
      // One revoked elsewhere (tlsboot certs revoke) arrives through the watch and marks its row.
      const elsewhere = await api.request('admin', 'POST', REVOCATIONS, {
        apiVersion: 'tlsboot.io/v1alpha1',
        kind: 'CertificateRevocation',
        metadata: { name: '1001' },
        reason: 'superseded',
      });
      assert.equal(elsewhere.statusCode, 201, elsewhere.body);
      await page.waitForSelector('#revocations tr[data-serial="1001"]', { timeout: 15_000 });
      await page.waitForSelector('#expiring tr:has(button:text-is("system:node:node-1")) .tag:has-text("revoked: superseded")');
      await page.locator('h1').scrollIntoViewIfNeeded();
      await page.screenshot({ path: shot('timeline') });

      await page.click('#tab-cluster');
      await page.waitForSelector('#cluster-health .card');
      // The admin may read /metrics: the panel shows (this test server runs no controllers, so most cards say none).
      await page.waitForSelector('#cluster-metrics .card h4:text-is("Certificates issued")');
      await page.waitForSelector('#cluster-metrics .card:has(h4:text-is("Authentication failures"))');
      await page.fill('#token-description', 'rack 4');
      await page.click('#token-create button[type="submit"]');
      let joinCommand = '';
      for (let i = 0; i < 100 && !joinCommand.includes('--token'); i++) {
        joinCommand = await page.inputValue('#join-command');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(
        joinCommand,
        /^npx tlsboot join https:\/\/127\.0\.0\.1:\d+ --token [a-z0-9]{6}\.[a-z0-9]{16} --discovery-token-ca-cert-hash sha256:[0-9a-f]{64}$/,
      );
      await page.waitForSelector('#tokens td:has-text("rack 4")');
      await page.screenshot({ path: shot('cluster'), fullPage: true });
    } finally {
      assert.equal(await stop(), 0);
    }
  });

  test('a user without RBAC to approve or revoke sees the API server’s refusal and nothing changes', async () => {
    const { page, stop } = await open(kubeconfigFor('viewer'));
    try {
      await page.waitForSelector('tr[data-name="alice-laptop"]');
      await page.click('button[aria-label="Approve alice-laptop"]');
      await page.click('#decide-confirm');
      await page
        .locator('#decide-error')
        .filter({ hasText: /^Refused:/ })
        .waitFor();
      const shown = (await page.textContent('#decide-error')) ?? '';
      assert.match(shown, /viewer/, shown);
      assert.deepEqual(await conditions('alice-laptop'), []);
      await page.click('#decide-cancel');

      await page.click('#tab-certificates');
      await page.click('#expiring button:text-is("system:node:node-2")');
      await page.click('button[aria-label="Revoke 1002"]');
      await page.click('#revoke-confirm');
      await page
        .locator('#revoke-error')
        .filter({ hasText: /^Refused:.*viewer/ })
        .waitFor();
      const revoked = (await api.request('admin', 'GET', REVOCATIONS)).json<{ items: { metadata: { name: string } }[] }>().items;
      assert.ok(!revoked.some((r) => r.metadata.name === '1002'), 'nothing revoked');

      // Without get on /metrics the panel shows the API's refusal; the rest of the tab still works.
      await page.click('#revoke-cancel');
      await page.click('#tab-cluster');
      await page
        .locator('#cluster-metrics p.bad')
        .filter({ hasText: /^Could not read the metrics: .*viewer/ })
        .waitFor();
      await page.waitForSelector('#cluster-health .card');
    } finally {
      assert.equal(await stop(), 0);
    }
  });
});
