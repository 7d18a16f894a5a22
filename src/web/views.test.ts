/** Why a CSR waits, in plain words: each state the approvers and the signer leave a CSR in says what would move it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CertificateSigningRequest, CsrCondition } from '../api/index.ts';
import { createCsrPem, generatePrivateKey } from '../pki/index.ts';
import { csrView, whyWaiting } from './views.ts';

const REQUEST = Buffer.from(
  createCsrPem({
    key: generatePrivateKey('ecdsa-p384'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: 'system:node:n1' },
    ],
    sans: { dns: ['n1.example'], ip: ['10.0.0.1'], email: [], uri: [] },
  }),
).toString('base64');

function csr(signerName: string, conditions: CsrCondition[] = [], certificate?: string): CertificateSigningRequest {
  return {
    metadata: { name: 'c', uid: 'u' },
    spec: { request: REQUEST, signerName, username: 'system:node:n1', expirationSeconds: 3600 },
    status: { conditions, ...(certificate === undefined ? {} : { certificate }) },
  };
}

const cond = (type: string, reason: string, message: string): CsrCondition => ({ type, status: 'True', reason, message });

test('an approved CSR the signer cannot sign says why and what unblocks it', () => {
  const why = whyWaiting(
    csr('kubernetes.io/kubelet-serving', [
      cond('Approved', 'AutoApproved', 'ok'),
      cond('SigningPending', 'SignerUnavailable', 'the sealed CA has no open signing session'),
    ]),
  );
  assert.match(why[0] ?? '', /cannot sign now: the sealed CA has no open signing session/);
  assert.match(why[1] ?? '', /open a signing session/);
});

test('an approved CSR without SigningPending waits for the signer; a withheld one gives the approver’s reason', () => {
  assert.match(
    whyWaiting(csr('kubernetes.io/kubelet-serving', [cond('Approved', 'AutoApproved', 'ok')]))[0] ?? '',
    /waiting for the signer/,
  );
  const withheld = whyWaiting(
    csr('kubernetes.io/kube-apiserver-client-kubelet', [
      cond('AutoApprovalWithheld', 'NodeAlreadyRegistered', 'n1 already holds a certificate'),
    ]),
  );
  assert.deepEqual(withheld, ['Not approved automatically (NodeAlreadyRegistered): n1 already holds a certificate', 'A person decides.']);
  assert.match(whyWaiting(csr('kubernetes.io/kubelet-serving', [cond('ServingApprovalDryRun', 'WouldDeny', 'x')]))[0] ?? '', /would deny/);
  assert.match(whyWaiting(csr('example.com/custom'))[0] ?? '', /No approver acts on the signer example\.com\/custom/);
});

test('decided or issued CSRs do not wait; the view reads subject, names, key and duration from the request', () => {
  assert.deepEqual(whyWaiting(csr('kubernetes.io/kubelet-serving', [cond('Denied', 'ByHand', 'no')])), []);
  assert.deepEqual(whyWaiting(csr('kubernetes.io/kubelet-serving', [cond('Approved', 'A', 'ok')], 'Y2VydA==')), []);
  const view = csrView(csr('kubernetes.io/kubelet-serving'));
  assert.equal(view.subject, 'O=system:nodes, CN=system:node:n1');
  assert.deepEqual(view.sans, ['DNS:n1.example', 'IP:10.0.0.1']);
  assert.equal(view.keyType, 'ECDSA P-384');
  assert.equal(view.requestedSeconds, 3600);
  assert.equal(view.state, 'Pending');
  assert.equal(view.pending, true);
});
