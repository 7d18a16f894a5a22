/**
 * Chain verification (chain.ts) at a fixed time against a root bundle: a direct leaf, a leaf under
 * an intermediate, and a root used as a leaf are accepted; each way a chain goes wrong is refused
 * with its own CHAIN_* reason: an expired or not-yet-valid leaf or issuer (with the exact validity
 * boundaries), an unknown issuer or missing intermediate, a wrong signature (an issuer with the same
 * name but a different key), an issuer without the CA flag or without keyCertSign, the wrong
 * extended key usage, a path length the root forbids, an unsupported critical extension, an
 * untrusted self-signed root offered as an intermediate, and a chain longer than the limit.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { type Certificate, type IssueParams, issueCertificate, parseCertificate } from './certificate.ts';
import { verifyChain } from './chain.ts';
import { DerReader, encodeBitString, encodeExplicit, encodeOctetString, encodeOid, encodeSequence, encodeTrue } from './der.ts';
import { spkiOf } from './keys.ts';
import { Oid } from './oids.ts';

function rejects(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: 'INVALID', reason });
    return true;
  });
}

const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(NOW.getTime() + ms);

let serial = 0;
function randomBytes(size: number): Uint8Array {
  const b = Buffer.alloc(size, 0x3c);
  b.writeUInt32BE(++serial, size - 4);
  return b;
}

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

interface Node {
  readonly cert: Certificate;
  readonly key: KeyObject;
}

interface MakeOptions extends Partial<Omit<IssueParams, 'ca'>> {
  readonly key?: KeyObject;
  /** `false` for a leaf (CA:FALSE); a CA with no path length unless told. */
  readonly ca?: IssueParams['ca'] | false;
}

function make(cn: string, issuer: Node | 'self', options: MakeOptions = {}): Node {
  const { key: given, ca, ...rest } = options;
  const key = given ?? ecKey();
  const der = issueCertificate({
    subject: [{ type: 'CN', value: cn }],
    publicKey: spkiOf(key),
    keyUsage: ['digitalSignature', 'keyCertSign'],
    notBefore: at(-DAY),
    notAfter: at(365 * DAY),
    issuer: issuer === 'self' ? { kind: 'self', key } : { kind: 'ca', certificate: issuer.cert, key: issuer.key },
    randomBytes,
    ...rest,
    ...(ca === false ? {} : { ca: ca ?? {} }),
  });
  return { cert: parseCertificate(der), key };
}

function leafUnder(issuer: Node, options: MakeOptions = {}): Certificate {
  return make('system:node:node-1', issuer, {
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['clientAuth'],
    notBefore: at(-HOUR),
    notAfter: at(DAY),
    ca: false,
    ...options,
  }).cert;
}

/** An issuer view that claims CA:TRUE and a long life, to make certificates tlsboot itself would refuse to. */
function forged(n: Node): Node {
  return { key: n.key, cert: { ...n.cert, basicConstraints: { ca: true }, notAfter: at(1000 * DAY) } };
}

/** Re-signs `cert` by `signer` with one more extension, critical, of an OID tlsboot does not know. */
function withUnknownCriticalExtension(cert: Certificate, signer: KeyObject): Certificate {
  const top = DerReader.of(cert.tbs);
  const tbs = top.enterNext(0x30, 'tbs');
  const parts: Buffer[] = [];
  while (!tbs.done) parts.push(Buffer.from(tbs.bytes(tbs.next())));
  const wrapper = DerReader.of(parts[7] as Buffer).enterNext(0xa3, 'extensions');
  const list = wrapper.enterNext(0x30, 'extensions');
  const exts: Buffer[] = [];
  while (!list.done) exts.push(Buffer.from(list.bytes(list.next())));
  exts.push(encodeSequence(encodeOid('1.3.6.1.4.1.99999.1'), encodeTrue(), encodeOctetString(encodeSequence())));
  const newTbs = encodeSequence(...parts.slice(0, 7), encodeExplicit(3, encodeSequence(...exts)));
  return parseCertificate(
    encodeSequence(
      newTbs,
      encodeSequence(encodeOid(Oid.ecdsaSha256)),
      encodeBitString(sign('sha256', newTbs, { key: signer, dsaEncoding: 'der' })),
    ),
  );
}

const root = make('root', 'self');
const intermediate = make('intermediate', root, {
  key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
  notAfter: at(180 * DAY),
});
const direct = leafUnder(root);
const indirect = leafUnder(intermediate);

const serials = (chain: Certificate[]) => chain.map((c) => c.serialNumber);

describe('verifyChain accepts', () => {
  test('a leaf issued by a root', () => {
    assert.deepEqual(
      serials(verifyChain({ leaf: direct, roots: [root.cert], now: NOW, usage: 'clientAuth' })),
      serials([direct, root.cert]),
    );
  });

  test('a leaf under an intermediate, given the intermediate', () => {
    assert.deepEqual(
      serials(verifyChain({ leaf: indirect, roots: [root.cert], intermediates: [intermediate.cert], now: NOW })),
      serials([indirect, intermediate.cert, root.cert]),
    );
  });

  test('a root presented as the leaf', () => {
    assert.deepEqual(serials(verifyChain({ leaf: root.cert, roots: [root.cert], now: NOW })), serials([root.cert]));
  });

  test('the right root among several, including one with the same name and another key', () => {
    const twin = make('root', 'self');
    assert.equal(verifyChain({ leaf: direct, roots: [twin.cert, root.cert], now: NOW }).length, 2);
  });
});

describe('verifyChain refuses', () => {
  test('an expired leaf, with NotAfter itself still valid', () => {
    assert.equal(verifyChain({ leaf: direct, roots: [root.cert], now: direct.notAfter }).length, 2);
    rejects(() => verifyChain({ leaf: direct, roots: [root.cert], now: new Date(direct.notAfter.getTime() + 1000) }), 'CHAIN_EXPIRED');
  });

  test('a not-yet-valid leaf, with NotBefore itself valid', () => {
    assert.equal(verifyChain({ leaf: direct, roots: [root.cert], now: direct.notBefore }).length, 2);
    rejects(
      () => verifyChain({ leaf: direct, roots: [root.cert], now: new Date(direct.notBefore.getTime() - 1000) }),
      'CHAIN_NOT_YET_VALID',
    );
  });

  test('an expired issuer, even when the leaf is still valid', () => {
    const oldRoot = make('old-root', 'self', { notBefore: at(-10 * DAY), notAfter: at(-HOUR) });
    const leaf = leafUnder(forged(oldRoot));
    rejects(() => verifyChain({ leaf, roots: [oldRoot.cert], now: NOW }), 'CHAIN_EXPIRED');
  });

  test('a not-yet-valid intermediate', () => {
    const future = make('future', root, { notBefore: at(HOUR) });
    rejects(
      () => verifyChain({ leaf: leafUnder(future), roots: [root.cert], intermediates: [future.cert], now: NOW }),
      'CHAIN_NOT_YET_VALID',
    );
  });

  test('an unknown issuer, and a missing intermediate', () => {
    const stranger = make('stranger', 'self');
    rejects(() => verifyChain({ leaf: leafUnder(stranger), roots: [root.cert], now: NOW }), 'CHAIN_UNKNOWN_ISSUER');
    rejects(() => verifyChain({ leaf: indirect, roots: [root.cert], now: NOW }), 'CHAIN_UNKNOWN_ISSUER');
  });

  test('a wrong signature: an issuer with the same name but a different key', () => {
    const impostor = make('root', 'self');
    rejects(() => verifyChain({ leaf: leafUnder(impostor), roots: [root.cert], now: NOW }), 'CHAIN_BAD_SIGNATURE');
    const fakeIntermediate = make('intermediate', root);
    rejects(
      () => verifyChain({ leaf: leafUnder(fakeIntermediate), roots: [root.cert], intermediates: [intermediate.cert], now: NOW }),
      'CHAIN_BAD_SIGNATURE',
    );
  });

  test('an issuer without the CA flag, as root or as intermediate', () => {
    const nonCaRoot = make('not-a-ca', 'self', { ca: false });
    assert.deepEqual(nonCaRoot.cert.basicConstraints, { ca: false });
    rejects(() => verifyChain({ leaf: leafUnder(forged(nonCaRoot)), roots: [nonCaRoot.cert], now: NOW }), 'CHAIN_ISSUER_NOT_CA');
    const nonCaIntermediate = make('not-a-ca-either', root, { ca: false });
    rejects(
      () =>
        verifyChain({ leaf: leafUnder(forged(nonCaIntermediate)), roots: [root.cert], intermediates: [nonCaIntermediate.cert], now: NOW }),
      'CHAIN_ISSUER_NOT_CA',
    );
  });

  test('a CA whose key usage lacks keyCertSign', () => {
    const noKeyCertSign = make('no-kcs', 'self', { keyUsage: ['digitalSignature', 'cRLSign'] });
    rejects(() => verifyChain({ leaf: leafUnder(noKeyCertSign), roots: [noKeyCertSign.cert], now: NOW }), 'CHAIN_ISSUER_NOT_CA');
  });

  test('the wrong extended key usage; anyExtendedKeyUsage and no EKU extension allow every usage', () => {
    rejects(
      () => verifyChain({ leaf: leafUnder(root, { extKeyUsage: ['serverAuth'] }), roots: [root.cert], now: NOW, usage: 'clientAuth' }),
      'CHAIN_USAGE',
    );
    rejects(() => verifyChain({ leaf: direct, roots: [root.cert], now: NOW, usage: 'serverAuth' }), 'CHAIN_USAGE');
    assert.equal(
      verifyChain({
        leaf: leafUnder(root, { extKeyUsage: ['serverAuth', 'clientAuth'] }),
        roots: [root.cert],
        now: NOW,
        usage: 'clientAuth',
      }).length,
      2,
    );
    assert.equal(
      verifyChain({ leaf: leafUnder(root, { extKeyUsage: ['any'] }), roots: [root.cert], now: NOW, usage: 'serverAuth' }).length,
      2,
    );
    assert.equal(verifyChain({ leaf: leafUnder(root, { extKeyUsage: [] }), roots: [root.cert], now: NOW, usage: 'serverAuth' }).length, 2);
  });

  test('an intermediate below a root whose path length is 0; path length 1 allows it', () => {
    const strict = make('strict-root', 'self', { ca: { pathLength: 0 } });
    assert.equal(verifyChain({ leaf: leafUnder(strict), roots: [strict.cert], now: NOW }).length, 2);
    const below = make('below-strict', strict);
    rejects(
      () => verifyChain({ leaf: leafUnder(below), roots: [strict.cert], intermediates: [below.cert], now: NOW }),
      'CHAIN_PATH_LENGTH',
    );
    const relaxed = make('relaxed-root', 'self', { ca: { pathLength: 1 } });
    const belowRelaxed = make('below-relaxed', relaxed);
    assert.equal(
      verifyChain({ leaf: leafUnder(belowRelaxed), roots: [relaxed.cert], intermediates: [belowRelaxed.cert], now: NOW }).length,
      3,
    );
  });

  test('a critical extension tlsboot does not understand, in the leaf or in an intermediate', () => {
    const leaf = withUnknownCriticalExtension(direct, root.key);
    rejects(() => verifyChain({ leaf, roots: [root.cert], now: NOW }), 'CHAIN_UNSUPPORTED_CRITICAL');
    const odd = withUnknownCriticalExtension(intermediate.cert, root.key);
    rejects(() => verifyChain({ leaf: indirect, roots: [root.cert], intermediates: [odd], now: NOW }), 'CHAIN_UNSUPPORTED_CRITICAL');
  });

  test('an untrusted self-signed root offered as an intermediate', () => {
    const other = make('other', 'self');
    rejects(
      () => verifyChain({ leaf: indirect, roots: [other.cert], intermediates: [intermediate.cert, root.cert], now: NOW }),
      'CHAIN_UNKNOWN_ISSUER',
    );
    rejects(() => verifyChain({ leaf: direct, roots: [other.cert], intermediates: [root.cert], now: NOW }), 'CHAIN_UNKNOWN_ISSUER');
  });

  test('a chain longer than the limit (five intermediates pass, six do not)', () => {
    const ladder: Node[] = [root];
    for (let i = 1; i <= 6; i++) ladder.push(make(`rung-${i}`, ladder[i - 1] as Node));
    const certs = ladder.slice(1).map((n) => n.cert);
    const five = leafUnder(ladder[5] as Node);
    assert.equal(verifyChain({ leaf: five, roots: [root.cert], intermediates: certs, now: NOW }).length, 7);
    const six = leafUnder(ladder[6] as Node);
    rejects(() => verifyChain({ leaf: six, roots: [root.cert], intermediates: certs, now: NOW }), 'CHAIN_TOO_LONG');
  });
});
