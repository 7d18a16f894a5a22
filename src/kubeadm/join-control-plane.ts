/**
 * The PKI of a control-plane node that joins (`tlsboot join --control-plane`): the shared CAs and
 * keys fetched from kubeadm-certs, and this node's own leaf certificates and kubeconfigs, made by
 * init's own code (runInit) with this node's advertise address and name and the cluster's
 * control-plane endpoint. Everything is built in a sibling staging directory and renamed into
 * place in one step, so a failure leaves no half-written DIR.
 */
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidError } from '../base/errors.ts';
import { syncDir, writeFilesAtomically } from '../base/fs.ts';
import { parseCertificatePem } from '../pki/index.ts';
import type { IssueEnv } from './control-plane-certs.ts';
import { type InitReport, runInit } from './init.ts';
import type { InitOptions } from './layout.ts';
import { PKI_DIR_MODE } from './pki-files.ts';
import { SHARED_FILES } from './upload-certs.ts';

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

/**
 * Writes DIR from the fetched files and init's plan for this node.
 * @param expectedCaPem the CA discovery pinned; the fetched ca.crt must be that very certificate
 */
export function writeJoinedControlPlane(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  expectedCaPem: string,
  options: InitOptions,
  env: IssueEnv,
): InitReport {
  const target = resolve(dir);
  const existsEmpty = checkTarget(target);
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
  mkdirSync(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.joining-${Buffer.from(env.randomBytes(6)).toString('hex')}`);
  try {
    mkdirSync(join(staging, 'pki', 'etcd'), { recursive: true, mode: PKI_DIR_MODE });
    writeFilesAtomically(
      SHARED_FILES.flatMap((f) => {
        const content = files.get(f.entry);
        return content === undefined ? [] : [{ path: f.path(staging), content: Buffer.from(content), mode: f.mode }];
      }),
    );
    const report = runInit(staging, options, env);
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
