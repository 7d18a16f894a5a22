/**
 * A crypto pool worker thread: parses and verifies CSRs and issues certificates under the CA it
 * was started with, a batch per message and one reply per batch. It holds the CA key for its
 * life and never puts it, or anything derived from it, into a message or an error.
 */
import { KeyObject, randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { UnavailableError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { parseCertificate, parseCsr } from '../pki/index.ts';
import { type CryptoJob, errorToWire, isJobBatch, type JobResult, READY } from './crypto-protocol.ts';
import { issueFromTemplate } from './signer.ts';

function caFrom(data: unknown) {
  if (!isObject(data) || !isObject(data.ca)) return undefined;
  const { certificateDer, key } = data.ca;
  if (!(certificateDer instanceof Uint8Array) || !(key instanceof KeyObject)) throw new Error('crypto worker: malformed CA in workerData');
  return { certificate: parseCertificate(certificateDer), key };
}

const ca = caFrom(workerData);

function run(job: CryptoJob) {
  if (job.kind === 'csr') return parseCsr(job.der);
  if (!ca) throw new UnavailableError('SIGNER_CLOSED', 'this crypto pool holds no CA key');
  return issueFromTemplate(job.template, ca, randomBytes);
}

const port = parentPort;
if (!port) throw new Error('crypto-worker.ts runs only as a worker thread');
port.on('message', (message: unknown) => {
  // Only the pool posts here; something else is a bug worth a crash, which the pool reports.
  if (!isJobBatch(message)) throw new Error('crypto worker: malformed job batch');
  const results: JobResult[] = message.jobs.map(({ id, job }) => {
    try {
      return { id, ok: true, value: run(job) };
    } catch (error) {
      return { id, ok: false, error: errorToWire(error) };
    }
  });
  port.postMessage({ results });
});
port.postMessage(READY);
