/**
 * The API-server certificate of a control-plane node that joins a cluster whose CA key is sealed
 * or on a remote signer, so no CA key can travel to it: a CSR to tlsboot.io/kube-apiserver-serving
 * sent with the bootstrap token and named after its key (a retried request finds it again). No
 * controller approves that signer; a person does, and the CA signs it during a signing session or
 * under a grant. What comes back must certify this key with exactly the names asked for and chain
 * to the CA that discovery pinned.
 */
import type { KeyObject } from 'node:crypto';
import { CONTROL_PLANE_SERVING_CN, SIGNER_CONTROL_PLANE_SERVING } from '../api/certificates.ts';
import type { Clock } from '../base/clock.ts';
import { InvalidError } from '../base/errors.ts';
import { KubeClient } from '../client/client.ts';
import {
  type Certificate,
  certificateToPem,
  comparableIp,
  generatePrivateKey,
  privateKeyToPem,
  type SubjectAltNames,
} from '../pki/index.ts';
import { bootstrapCsrName, type CertificateRequestSpec, requestCertificate } from './request.ts';

export interface ControlPlaneServingRequest {
  readonly server: string;
  readonly caPem: string;
  readonly token: string;
  /** The names init would give this node's API-server certificate. */
  readonly sans: SubjectAltNames;
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

export interface ControlPlaneServing {
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly csrName: string;
}

const sameMembers = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** The certificate names exactly what was asked, neither more nor less. */
export function checkNames(leaf: Certificate, sans: SubjectAltNames): void {
  if (!sameMembers(leaf.sans.dns, sans.dns) || !sameMembers(leaf.sans.ip.map(comparableIp), sans.ip.map(comparableIp)))
    throw new InvalidError(
      'ISSUED_CERTIFICATE',
      `the issued certificate was refused: it names ${[...leaf.sans.dns, ...leaf.sans.ip].join(', ')}, not ${[...sans.dns, ...sans.ip].join(', ')}`,
    );
}

export function controlPlaneServingSpec(sans: SubjectAltNames): CertificateRequestSpec {
  return {
    signerName: SIGNER_CONTROL_PLANE_SERVING,
    commonName: CONTROL_PLANE_SERVING_CN,
    organizations: [],
    sans,
    usages: ['digital signature', 'server auth'],
  };
}

export async function requestControlPlaneServing(p: ControlPlaneServingRequest): Promise<ControlPlaneServing> {
  const key: KeyObject = generatePrivateKey('ecdsa-p256');
  const spec = controlPlaneServingSpec(p.sans);
  const name = bootstrapCsrName(key, spec, 'control-plane-csr');
  const client = new KubeClient({ server: p.server, caPem: p.caPem, token: p.token });
  p.log(
    `[certs] no controller approves ${SIGNER_CONTROL_PLANE_SERVING}: an admin checks the names of ${name} and runs "kubectl certificate approve ${name}"; the CA then signs it in a signing session (tlsboot ca session open) or under a remote grant that names the signer`,
  );
  try {
    const chain = await requestCertificate({
      client,
      key,
      spec,
      name,
      caPem: p.caPem,
      deadline: p.clock.now() + p.timeoutMs,
      clock: p.clock,
      ...(p.signal ? { signal: p.signal } : {}),
      log: (line) => p.log(`[certs] ${line}`),
    });
    const leaf = chain[0] as Certificate;
    checkNames(leaf, p.sans);
    return { certificatePem: chain.map((c) => certificateToPem(c)).join(''), keyPem: privateKeyToPem(key), csrName: name };
  } finally {
    client.close();
  }
}
