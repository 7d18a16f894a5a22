/** Test fixtures for PKI material: a self-signed CA in one call, a client CSR object, init's options for a test node. */
import { type KeyObject, randomBytes } from 'node:crypto';
import { DEFAULT_CA_VALIDITY_MS, DEFAULT_CERT_VALIDITY_MS, type InitOptions } from '../../src/kubeadm/layout.ts';
import {
  type Certificate,
  createCsrPem,
  type ExtKeyUsage,
  generatePrivateKey,
  issueCertificate,
  parseCertificate,
  type SubjectAltNames,
  spkiOf,
} from '../../src/pki/index.ts';

export interface TestCa {
  readonly certificate: Certificate;
  readonly key: KeyObject;
}

/** A self-signed CA valid from an hour ago for `hours` hours (`crlSign`: it signs CRLs too, as init's cluster CA). */
export function selfSignedCa(
  p: { cn?: string; hours?: number; sans?: SubjectAltNames; extKeyUsage?: ExtKeyUsage[]; key?: KeyObject; crlSign?: boolean } = {},
): TestCa {
  const key = p.key ?? generatePrivateKey('ecdsa-p256');
  const now = Date.now();
  const certificate = parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: p.cn ?? 'kubernetes' }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature', 'keyCertSign', ...(p.crlSign === true ? (['cRLSign'] as const) : [])],
      ...(p.extKeyUsage ? { extKeyUsage: p.extKeyUsage } : {}),
      ...(p.sans ? { sans: p.sans } : {}),
      ca: {},
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + (p.hours ?? 100) * 3_600_000),
      issuer: { kind: 'self', key },
      randomBytes,
    }),
  );
  return { certificate, key };
}

/** A CertificateSigningRequest object named `name` with a fresh P-256 key, as a client sends it. */
export function csrObject(
  name: string,
  o: { subject: { type: string; value: string }[]; signerName: string; usages: string[]; sans?: { dns?: string[]; ip?: string[] } },
) {
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: o.subject,
    sans: { dns: o.sans?.dns ?? [], ip: o.sans?.ip ?? [], email: [], uri: [] },
  });
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request: Buffer.from(pem).toString('base64'), signerName: o.signerName, usages: o.usages },
  };
}

/** The subject of node `node`'s kubelet certificates. */
export function nodeSubject(node: string): { type: string; value: string }[] {
  return [
    { type: 'O', value: 'system:nodes' },
    { type: 'CN', value: `system:node:${node}` },
  ];
}

/**
 * A CertificateSigningRequest for the generic client signer with a fresh key, as a client sends
 * it: `metadata` and `spec` extras merge in (labels, an unknown field to test validation, ...).
 */
export function clientCsrObject(
  name: string,
  extra: { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; signerName?: string } = {},
) {
  const csr = csrObject(name, {
    subject: [{ type: 'CN', value: `user-${name}` }],
    signerName: extra.signerName ?? 'kubernetes.io/kube-apiserver-client',
    usages: ['client auth'],
  });
  return { ...csr, metadata: { ...csr.metadata, ...extra.metadata }, spec: { ...csr.spec, ...extra.spec } };
}

/** `tlsboot init`'s options for a test control-plane node: kubeadm's defaults, changed by `overrides`. */
export function testInitOptions(overrides: Partial<InitOptions> = {}): InitOptions {
  return {
    nodeName: 'cp-1',
    advertiseAddress: '10.0.0.2',
    bindPort: 6443,
    extraSans: [],
    serviceCidr: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    keyAlgorithm: 'ecdsa-p256',
    certValidityMs: DEFAULT_CERT_VALIDITY_MS,
    caValidityMs: DEFAULT_CA_VALIDITY_MS,
    ...overrides,
  };
}
