/**
 * The PKI of a control-plane node that joins (`tlsboot join --control-plane`): the shared CAs and
 * keys fetched from kubeadm-certs, and this node's own leaf certificates and kubeconfigs, made by
 * init's own code (runInit) with this node's advertise address and name and the cluster's
 * control-plane endpoint; or, when the CA key is sealed or remote, the shared files without CA keys
 * and the API-server certificate the CA signed for this node's CSR. Everything is built in a
 * sibling staging directory and renamed into place in one step, so a failure leaves no
 * half-written DIR.
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidError } from '../base/errors.ts';
import { syncDir, writeFilesAtomically } from '../base/fs.ts';
import { certificatePin, parseCertificatePem } from '../pki/index.ts';
import type { IssueEnv } from './control-plane-certs.ts';
import { type InitReport, runInit } from './init.ts';
import type { InitOptions } from './layout.ts';
import { CERT_MODE, KEY_MODE, NODE_NAME_FILE, PKI_DIR_MODE, pkiPath } from './pki-files.ts';
import { KEYLESS_FILES, SHARED_FILES } from './upload-certs.ts';

/** DIR must be absent or an empty directory: a joining node never mixes its PKI with another. */
function checkTarget(dir: string): boolean {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return false;
    throw error;
  }
  if (!st.isDirectory() || readdirSync(dir).length > 0) {
    throw new InvalidError('JOIN_DIR_IN_USE', `${dir} exists and is not an empty directory; join --control-plane writes a new one`, {
      field: 'dir',
    });
  }
  return true;
}

/** The fetched ca.crt must be the very CA that discovery pinned. */
function checkFetchedCa(files: ReadonlyMap<string, Uint8Array>, expectedCaPem: string): void {
  const fetchedCa = files.get('ca.crt');
  if (
    fetchedCa === undefined ||
    !Buffer.from(parseCertificatePem(Buffer.from(fetchedCa).toString('utf8'), 'ca.crt').der).equals(
      Buffer.from(parseCertificatePem(expectedCaPem, 'cluster-info').der),
    )
  ) {
    throw new InvalidError('JOIN_CA_MISMATCH', 'the ca.crt in kubeadm-certs is not the CA that discovery verified; nothing was written', {
      field: 'certificate-key',
    });
  }
}

/**
 * Builds DIR in a sibling staging directory: the fetched files, then whatever `fill` writes; the
 * staging directory is renamed into place only when all of it succeeded, and removed otherwise.
 */
function stageJoinedDirectory(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  expectedCaPem: string,
  randomBytes: (size: number) => Uint8Array,
  fill: (staging: string) => InitReport,
): InitReport {
  const target = resolve(dir);
  const existsEmpty = checkTarget(target);
  checkFetchedCa(files, expectedCaPem);
  mkdirSync(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.joining-${Buffer.from(randomBytes(6)).toString('hex')}`);
  try {
    mkdirSync(join(staging, 'pki', 'etcd'), { recursive: true, mode: PKI_DIR_MODE });
    writeFilesAtomically(
      [...SHARED_FILES, ...KEYLESS_FILES].flatMap((f) => {
        const content = files.get(f.entry);
        return content === undefined ? [] : [{ path: f.path(staging), content: Buffer.from(content), mode: f.mode }];
      }),
    );
    const report = fill(staging);
    if (existsEmpty) rmdirSync(target);
    renameSync(staging, target);
    syncDir(dirname(target));
    const moved = (text: string) => text.split(staging).join(target);
    return { ...report, lines: report.lines.map(moved), written: report.written.map(moved) };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Writes DIR from the fetched files (the CA keys among them) and init's plan for this node.
 * @param expectedCaPem the CA discovery pinned; the fetched ca.crt must be that very certificate
 */
export function writeJoinedControlPlane(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  expectedCaPem: string,
  options: InitOptions,
  env: IssueEnv,
): InitReport {
  return stageJoinedDirectory(dir, files, expectedCaPem, env.randomBytes, (staging) => runInit(staging, options, env));
}

/**
 * Writes DIR for a node that joined without the CA keys: the fetched files, the API-server
 * certificate the cluster CA signed for it, and its node name. It has no certificates that only a
 * CA key here could make (etcd member, front proxy, kubeconfigs): it serves, on the cluster's etcd.
 */
export function writeKeylessControlPlane(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  expectedCaPem: string,
  own: { readonly nodeName: string; readonly certificatePem: string; readonly keyPem: string },
  randomBytes: (size: number) => Uint8Array,
): InitReport {
  return stageJoinedDirectory(dir, files, expectedCaPem, randomBytes, (staging) => {
    const written = [pkiPath(staging, 'apiserver', 'crt'), pkiPath(staging, 'apiserver', 'key'), join(staging, NODE_NAME_FILE)];
    writeFilesAtomically([
      { path: written[0] as string, content: own.certificatePem, mode: CERT_MODE },
      { path: written[1] as string, content: own.keyPem, mode: KEY_MODE },
      { path: written[2] as string, content: `${own.nodeName}\n`, mode: CERT_MODE },
    ]);
    const caPin = certificatePin(parseCertificatePem(expectedCaPem, 'cluster-info'));
    return {
      caPin,
      written,
      pending: [],
      lines: [
        `[certs] Using the "apiserver" certificate the cluster CA signed for "${own.nodeName}"`,
        ...written.map((w) => `[certs] wrote ${w}`),
      ],
    };
  });
}
