/**
 * The signer controller (reference §4.2): signs approved CSRs for the built-in signers. A request
 * the signer's policy refuses gets `Failed` (SignerValidationFailure) and is not retried. The
 * certificate is recorded in the store, keyed by the CSR's uid, before it is written to the CSR,
 * so no certificate is ever handed out unrecorded and a CSR never gets two. A Signer that cannot
 * sign now (sealed, remote down) leaves the CSR approved and waiting, with a condition saying so;
 * one that refuses the request (INVALID) fails it.
 */
import {
  csrCertificatePem,
  csrConditions,
  parseCsrRequestField,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  signerPolicyProblem,
  x509Usages,
} from '../api/index.ts';
import type { Signer } from '../api/signer.ts';
import { isTlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { commonName, parseCertificateBundle } from '../pki/index.ts';
import { type ClusterClient, ISSUED_RESOURCE, type JsonObject, NODE_CLIENT_RESOURCE, timestamp } from './cluster.ts';
import type { ReconcileResult } from './runner.ts';

export const BUILT_IN_SIGNERS = [SIGNER_KUBE_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING];

export interface SignerControllerOptions {
  readonly client: ClusterClient;
  readonly signer: Signer;
  readonly now: () => Date;
  /** How soon to look again while the signer is unavailable. */
  readonly retryUnavailableMs?: number;
}

async function setCondition(
  o: SignerControllerOptions,
  csr: JsonObject,
  condition: Record<string, string>,
  certificate?: string,
): Promise<void> {
  const status = isObject(csr.status) ? csr.status : {};
  const conditions = [...csrConditions(csr).filter((c) => c.type !== condition.type), { ...condition, lastUpdateTime: timestamp(o.now()) }];
  await o.client.updateCsrStatus({ ...csr, status: { ...status, conditions, ...(certificate ? { certificate } : {}) } });
}

/** Keeps NODE_CLIENT_RESOURCE/<CN> pointing at the node's latest-expiring client certificate. */
async function recordNodeClient(client: ClusterClient, issued: JsonObject): Promise<void> {
  const cn = String(issued.commonName ?? '');
  if (cn === '') return;
  const entry = { serialNumber: issued.serialNumber, notAfter: issued.notAfter, csrName: issued.csrName };
  for (;;) {
    const current = await client.getObject(NODE_CLIENT_RESOURCE, '', cn);
    if (current && String(current.notAfter ?? '') >= String(issued.notAfter ?? '')) return;
    try {
      if (current) await client.updateObject(NODE_CLIENT_RESOURCE, { ...current, ...entry });
      else await client.createObject(NODE_CLIENT_RESOURCE, { metadata: { name: cn }, ...entry });
      return;
    } catch (error) {
      // Another worker recorded a certificate for the same node meanwhile: look again.
      if (!(isTlsbootError(error) && (error.code === 'CONFLICT' || error.code === 'ALREADY_EXISTS'))) throw error;
    }
  }
}

export async function reconcileSigning(name: string, o: SignerControllerOptions): Promise<ReconcileResult | undefined> {
  const csr = await o.client.getCsr(name);
  if (!csr || csrCertificatePem(csr) !== undefined) return undefined;
  const conditions = csrConditions(csr);
  if (!conditions.some((c) => c.type === 'Approved') || conditions.some((c) => c.type === 'Denied' || c.type === 'Failed'))
    return undefined;
  const spec = isObject(csr.spec) ? csr.spec : {};
  const signerName = String(spec.signerName ?? '');
  if (!BUILT_IN_SIGNERS.includes(signerName)) return undefined;
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  const uid = String(meta.uid ?? '');
  const usages = Array.isArray(spec.usages) ? spec.usages.filter((u): u is string => typeof u === 'string') : [];
  const parsed = parseCsrRequestField(spec.request);
  const problem = signerPolicyProblem(signerName, parsed, usages);
  if (problem !== undefined) {
    await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: problem });
    return undefined;
  }
  let record = await o.client.getObject(ISSUED_RESOURCE, '', uid);
  const signedNow = !record;
  if (!record) {
    let signed: Awaited<ReturnType<Signer['sign']>>;
    try {
      const { keyUsage, extKeyUsage } = x509Usages(usages);
      signed = await o.signer.sign(
        {
          signerName,
          subject: parsed.subject.attributes,
          publicKey: parsed.spki,
          sans: parsed.sans,
          keyUsage,
          extKeyUsage,
          ...(typeof spec.expirationSeconds === 'number' ? { requestedTtlMs: spec.expirationSeconds * 1000 } : {}),
          csrDer: parsed.der,
          usages,
          csrName: name,
          csrUid: uid,
          requester: String(spec.username ?? ''),
        },
        o.now(),
      );
    } catch (error) {
      if (isTlsbootError(error) && error.code === 'UNAVAILABLE') {
        if (!conditions.some((c) => c.type === 'SigningPending' && c.message === error.message)) {
          await setCondition(o, csr, { type: 'SigningPending', status: 'True', reason: 'SignerUnavailable', message: error.message });
        }
        return { requeueAfterMs: o.retryUnavailableMs ?? 5000 };
      }
      // A backend that refuses the request itself, or returns a certificate that is not what was
      // approved (remote signer), fails the CSR for good: retrying would get the same answer.
      if (isTlsbootError(error) && error.code === 'INVALID') {
        await setCondition(o, csr, { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: error.message });
        return undefined;
      }
      throw error;
    }
    const cert = signed.certificate;
    record = await o.client.createObject(ISSUED_RESOURCE, {
      metadata: { name: uid },
      csrName: name,
      signerName,
      requester: String(spec.username ?? ''),
      commonName: commonName(cert.subject) ?? '',
      serialNumber: cert.serialNumber,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      certificate: signed.pem,
    });
  }
  // Also on a retry that found the record: a crash between the two writes must not leave the
  // approver's index behind the inventory.
  if (signerName === SIGNER_KUBELET_CLIENT) await recordNodeClient(o.client, record);
  const pem = String(record.certificate ?? '');
  // A record read back from the store is checked before it is handed out; one just made is not re-read.
  if (!signedNow) parseCertificateBundle(pem, 'issued certificate');
  const status = isObject(csr.status) ? csr.status : {};
  const remaining = csrConditions(csr).filter((c) => c.type !== 'SigningPending');
  await o.client.updateCsrStatus({
    ...csr,
    status: { ...status, conditions: remaining, certificate: Buffer.from(pem).toString('base64') },
  });
  return undefined;
}
