/**
 * The cfssl peer of row 3: a CA made with `cfssl gencert -initca`, and two `cfssl serve`
 * processes on 127.0.0.1 — one plain HTTP and in memory, one over TLS with its durable certdb in
 * sqlite (schema created here, as cfssl's certdb/sqlite migration describes it) — plus a client
 * for /api/v1/cfssl/sign and a count of the certificates that landed in the db.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isObject } from '../src/base/json.ts';
import { freePort, startChild } from './proc.ts';

export function cfsslInstalled(): boolean {
  return spawnSync('sh', ['-c', 'command -v cfssl']).status === 0;
}

/**
 * The tables cfssl's certdb reads and writes (certdb/sqlite migrations): the columns of the
 * 2016 schema this cfssl writes, and nullable columns later releases added, so either works.
 */
const CERTDB_DDL = `
CREATE TABLE certificates (
  serial_number            BLOB NOT NULL,
  authority_key_identifier BLOB NOT NULL,
  ca_label                 BLOB,
  status                   BLOB NOT NULL,
  reason                   INTEGER,
  expiry                   TIMESTAMP,
  revoked_at               TIMESTAMP,
  pem                      BLOB NOT NULL,
  issued_at                TIMESTAMP,
  not_before               TIMESTAMP,
  metadata                 TEXT,
  sans                     TEXT,
  common_name              TEXT,
  PRIMARY KEY (serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            BLOB NOT NULL,
  authority_key_identifier BLOB NOT NULL,
  body                     BLOB NOT NULL,
  expiry                   TIMESTAMP,
  PRIMARY KEY (serial_number, authority_key_identifier)
);`;

export interface CfsslServer {
  readonly child: ChildProcess;
  readonly pid: number;
  sign(csrPem: string): Promise<void>;
  close(): void;
}

function run(cmd: string, args: readonly string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, ...(input === undefined ? {} : { input }) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Writes ca.pem / ca-key.pem (ECDSA P-256) under `dir`. */
export function makeCfsslCa(dir: string): void {
  const parsed: unknown = JSON.parse(run('cfssl', ['gencert', '-initca', '-'], '{"CN":"cfssl-ca","key":{"algo":"ecdsa","size":256}}'));
  if (!isObject(parsed) || typeof parsed.cert !== 'string' || typeof parsed.key !== 'string') throw new Error('cfssl gencert: no cert/key');
  writeFileSync(join(dir, 'ca.pem'), parsed.cert);
  writeFileSync(join(dir, 'ca-key.pem'), parsed.key);
}

/** Starts `cfssl serve` (ready once `probeCsr` is signed); `durable`: over TLS with the sqlite certdb at `<dir>/certdb.sqlite`. */
export async function startCfssl(dir: string, durable: boolean, concurrency: number, probeCsr: string): Promise<CfsslServer> {
  const port = await freePort();
  const args = ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem')];
  let tlsCa: string | undefined;
  if (durable) {
    const db = new DatabaseSync(join(dir, 'certdb.sqlite'));
    db.exec(CERTDB_DDL);
    db.close();
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ driver: 'sqlite3', data_source: join(dir, 'certdb.sqlite') }));
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'tls-key.pem'),
      '-out',
      join(dir, 'tls.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    tlsCa = run('cat', [join(dir, 'tls.pem')]);
    args.push('-db-config', join(dir, 'db.json'), '-tls-cert', join(dir, 'tls.pem'), '-tls-key', join(dir, 'tls-key.pem'));
  }
  const child = startChild('cfssl', args);
  const pid = child.pid;
  if (pid === undefined) throw new Error('cfssl has no pid');
  const agent = tlsCa
    ? new HttpsAgent({ keepAlive: true, maxSockets: concurrency, ca: tlsCa })
    : new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const send = tlsCa ? httpsRequest : httpRequest;
  const sign = (csrPem: string) =>
    new Promise<void>((resolve, reject) => {
      const req = send(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/cfssl/sign',
          method: 'POST',
          agent,
          timeout: 30_000,
          headers: { 'Content-Type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
          res.on('end', () => (text.includes('BEGIN CERTIFICATE') ? resolve() : reject(new Error(`cfssl sign: ${text.slice(0, 300)}`))));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('cfssl sign timed out')));
      req.end(JSON.stringify({ certificate_request: csrPem }));
    });
  // Ready when a signature comes back (bounded: 100 tries, 100 ms apart).
  for (let i = 0; ; i++) {
    try {
      await sign(probeCsr);
      break;
    } catch (error) {
      if (i >= 100 || child.exitCode !== null) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { child, pid, sign, close: () => agent.destroy() };
}

/** Rows in the certdb's certificates table. */
export function certdbRows(dir: string): number {
  const db = new DatabaseSync(join(dir, 'certdb.sqlite'), { readOnly: true });
  try {
    const row: unknown = db.prepare('SELECT COUNT(*) AS n FROM certificates').get();
    return isObject(row) && typeof row.n === 'number' ? row.n : 0;
  } finally {
    db.close();
  }
}
