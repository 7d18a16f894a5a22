/**
 * Bounded mutation testing of the strict parsers. Valid CSRs (P-256 with every SAN kind, RSA-2048,
 * and a hand-built one with a challengePassword and several requested extensions) and a valid
 * certificate get thousands of seeded pseudo-random mutations: bit flips, byte edits, truncations,
 * length-octet edits, slice duplications, and structural edits made on a lenient parse tree
 * (duplicate, delete, swap, wrap, re-tag or re-fill an element, long-form, leading-zero and
 * indefinite lengths, padded INTEGERs, odd BOOLEANs). Mutants are parsed as they are (signature
 * stale) and, for the inner CertificationRequestInfo / TBSCertificate, re-signed by the test key so
 * the signature check cannot hide a parser weakness. Every outcome must be a TlsbootError (never
 * another error, never a crash), or a result whose DER is the input and re-encodes identically
 * under an independent minimal-length encoder, with the subject invariants intact. Each loop, and
 * each single parse, must finish in bounded time; the PRNG (mulberry32) and its seeds are here, so a
 * failure names the seed and iteration that reproduce it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../src/base/errors.ts';
import {
  contextTag,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInt,
  encodeString,
  encodeTlv,
  encodeTrue,
  NULL_DER,
  Tag,
} from '../src/pki/der.ts';
import { createCsr, issueCertificate, parseCertificate, parseCsr, spkiOf, verifyIssuedBy } from '../src/pki/index.ts';
import { Oid } from '../src/pki/oids.ts';

// ---------------------------------------------------------------------------------------------
// Seeded PRNG.

type Rand = { (n: number): number; chance(p: number): boolean; pick<T>(xs: readonly T[]): T; bytes(n: number): Uint8Array };

function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = ((n: number) => Math.floor(next() * n)) as Rand;
  r.chance = (p) => next() < p;
  r.pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T;
  r.bytes = (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  return r;
}

// ---------------------------------------------------------------------------------------------
// An independent, lenient TLV reader (any definite length form) and a minimal-length encoder.

interface Node {
  tag: number;
  /** Constructed elements read as children; everything else as content octets. */
  children?: Node[];
  content?: Uint8Array;
  lengthForm?: 'long' | 'leading-zero' | 'indefinite';
}

function readLenient(buf: Uint8Array): Node[] | undefined {
  const out: Node[] = [];
  let p = 0;
  while (p < buf.length) {
    const tag = buf[p] as number;
    if ((tag & 0x1f) === 0x1f || p + 1 >= buf.length) return undefined;
    let len = buf[p + 1] as number;
    let q = p + 2;
    if (len === 0x80) return undefined;
    if (len > 0x80) {
      const n = len & 0x7f;
      if (n > 4 || q + n > buf.length) return undefined;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (buf[q++] as number);
    }
    if (q + len > buf.length) return undefined;
    const content = buf.subarray(q, q + len);
    if (tag & 0x20) {
      const children = readLenient(content);
      if (!children) return undefined;
      out.push({ tag, children });
    } else {
      out.push({ tag, content });
    }
    p = q + len;
  }
  return out;
}

function lengthOctets(n: number): number[] {
  if (n < 0x80) return [n];
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v & 0xff);
  return [0x80 | octets.length, ...octets];
}

function encodeNodes(nodes: readonly Node[]): Buffer {
  return Buffer.concat(nodes.map(encodeNode));
}

function encodeNode(node: Node): Buffer {
  const body = node.children ? encodeNodes(node.children) : Buffer.from(node.content ?? []);
  const n = body.length;
  if (node.lengthForm === 'indefinite') return Buffer.concat([Buffer.from([node.tag, 0x80]), body, Buffer.from([0, 0])]);
  const minimal = lengthOctets(n);
  const magnitude = minimal.length === 1 ? [n] : minimal.slice(1);
  const withLeadingZero = [0x80 | (magnitude.length + 1), 0, ...magnitude];
  const header =
    node.lengthForm === 'long' ? (n < 0x80 ? [0x81, n] : withLeadingZero) : node.lengthForm === 'leading-zero' ? withLeadingZero : minimal;
  return Buffer.concat([Buffer.from([node.tag, ...header]), body]);
}

/** The input re-encoded with minimal lengths by the code above; undefined when it is not even BER-definite TLVs. */
function reencode(der: Uint8Array): Buffer | undefined {
  const nodes = readLenient(der);
  return nodes ? encodeNodes(nodes) : undefined;
}

function clone(n: Node): Node {
  return {
    tag: n.tag,
    ...(n.children ? { children: n.children.map(clone) } : {}),
    ...(n.content ? { content: Uint8Array.from(n.content) } : {}),
  };
}

function allSlots(nodes: Node[]): { siblings: Node[]; index: number }[] {
  const out: { siblings: Node[]; index: number }[] = [];
  const visit = (list: Node[]) => {
    list.forEach((n, index) => {
      out.push({ siblings: list, index });
      if (n.children) visit(n.children);
    });
  };
  visit(nodes);
  return out;
}

const TAGS = [
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1e, 0x30, 0x31, 0x80, 0x81, 0x82, 0x86, 0x87, 0xa0, 0xa3,
];

/** One structural mutation of the element tree of `der`, re-encoded (with consistent outer lengths). */
function mutateTree(der: Uint8Array, r: Rand): Buffer {
  const nodes = readLenient(der);
  assert.ok(nodes, 'the base encodes as TLVs');
  const slots = allSlots(nodes);
  const { siblings, index } = r.pick(slots);
  const node = siblings[index] as Node;
  switch (r(11)) {
    case 0:
      siblings.splice(index, 0, clone(node));
      break;
    case 1:
      siblings.splice(index, 1);
      break;
    case 2:
      if (index + 1 < siblings.length) [siblings[index], siblings[index + 1]] = [siblings[index + 1] as Node, node];
      break;
    case 3:
      node.tag = r.chance(0.8) ? r.pick(TAGS) : r(256);
      break;
    case 4:
      siblings[index] = { tag: r.pick([0x30, 0x31, 0xa0]), children: [node] };
      break;
    case 5:
      if (node.content) {
        const c = Buffer.from(node.content);
        const op = r(4);
        if (op === 0 && c.length > 0) c[r(c.length)] = r(256);
        node.content =
          op === 1 ? Buffer.concat([c, r.bytes(1 + r(3))]) : op === 2 ? c.subarray(0, r(c.length + 1)) : op === 3 ? r.bytes(r(9)) : c;
      } else {
        node.children = [];
      }
      break;
    case 6:
      node.lengthForm = 'long';
      break;
    case 7:
      node.lengthForm = 'leading-zero';
      break;
    case 8:
      node.lengthForm = 'indefinite';
      break;
    case 9:
      if (node.tag === Tag.INTEGER && node.content)
        node.content = Buffer.concat([Buffer.from([(node.content[0] as number & 0x80) ? 0xff : 0x00]), node.content]);
      else if (node.tag === Tag.BOOLEAN) node.content = Uint8Array.from([1 + r(254)]);
      else node.tag = r.pick(TAGS);
      break;
    default:
      siblings.splice(index, 0, { tag: r.pick(TAGS), content: r.bytes(r(5)) });
  }
  return encodeNodes(nodes);
}

/** Header offsets of every element of `der` (for length-octet edits). */
function headerOffsets(der: Uint8Array): number[] {
  const out: number[] = [];
  const visit = (start: number, end: number) => {
    let p = start;
    while (p < end) {
      out.push(p);
      const first = der[p + 1] as number;
      const n = first > 0x80 ? first & 0x7f : 0;
      let len = n ? 0 : first;
      for (let i = 0; i < n; i++) len = len * 256 + (der[p + 2 + i] as number);
      const contentStart = p + 2 + n;
      if ((der[p] as number) & 0x20) visit(contentStart, contentStart + len);
      p = contentStart + len;
    }
  };
  visit(0, der.length);
  return out;
}

/** One byte-level mutation: bit flip, byte edit, truncation, length-octet edit, slice duplication, append. */
function mutateBytes(der: Uint8Array, r: Rand, headers: readonly number[]): Buffer {
  const b = Buffer.from(der);
  switch (r(6)) {
    case 0: {
      const at = r(b.length);
      b[at] = (b[at] as number) ^ (1 << r(8));
      return b;
    }
    case 1:
      b[r(b.length)] = r(256);
      return b;
    case 2:
      return b.subarray(0, r(b.length));
    case 3: {
      const at = r.pick(headers) + 1;
      const old = b[at] as number;
      b[at] = r.pick([old + 1, old - 1, 0x80, 0x81, 0x82, 0x84, 0x85, 0xff, 0, r(256)]) & 0xff;
      return b;
    }
    case 4: {
      const from = r(b.length);
      const slice = b.subarray(from, from + 1 + r(24));
      const at = r(b.length + 1);
      return Buffer.concat([b.subarray(0, at), slice, b.subarray(at)]);
    }
    default:
      return Buffer.concat([b, r.bytes(1 + r(4))]);
  }
}

function mutate(der: Uint8Array, r: Rand, headers: readonly number[]): Buffer {
  return r.chance(0.5) ? mutateBytes(der, r, headers) : mutateTree(der, r);
}

// ---------------------------------------------------------------------------------------------
// Bases.

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const SUBJECT = [
  { type: 'O', value: 'system:nodes' },
  { type: 'CN', value: 'system:node:node-1' },
] as const;
const EVERY_SAN = { dns: ['node-1', 'node-1.example'], ip: ['10.0.0.1', '2001:db8::1'], email: ['a@example.com'], uri: ['spiffe://c/n'] };

function handBuiltCsr(): Buffer {
  const extension = (oid: string, value: Buffer, critical = false) =>
    critical
      ? encodeSequence(encodeOid(oid), encodeTrue(), encodeOctetString(value))
      : encodeSequence(encodeOid(oid), encodeOctetString(value));
  const extensionRequest = encodeSequence(
    encodeOid(Oid.extensionRequest),
    encodeTlv(Tag.SET, [
      encodeSequence(
        extension(Oid.basicConstraints, encodeSequence(encodeTrue(), encodeSmallInt(1)), true),
        extension(Oid.keyUsage, Buffer.from([Tag.BIT_STRING, 2, 5, 0xa0]), true),
        extension(Oid.extKeyUsage, encodeSequence(encodeOid('1.3.6.1.5.5.7.3.1'), encodeOid('1.3.6.1.5.5.7.3.2'))),
        extension(
          Oid.subjectAltName,
          encodeSequence(
            encodeTlv(contextTag(2, false), Buffer.from('h.example')),
            encodeTlv(contextTag(7, false), Buffer.from([10, 1, 2, 3])),
          ),
        ),
      ),
    ]),
  );
  const challenge = encodeSequence(encodeOid(Oid.challengePassword), encodeTlv(Tag.SET, [encodeString(Tag.PRINTABLE_STRING, 'secret')]));
  const cri = encodeSequence(
    encodeSmallInt(0),
    encodeSequence(
      encodeTlv(Tag.SET, [encodeSequence(encodeOid('2.5.4.6'), encodeString(Tag.PRINTABLE_STRING, 'DE'))]),
      encodeTlv(Tag.SET, [encodeSequence(encodeOid('2.5.4.3'), encodeString(Tag.UTF8_STRING, 'hand-built'))]),
    ),
    spkiOf(ecKey),
    encodeTlv(contextTag(0, true), [challenge, extensionRequest].sort(Buffer.compare)),
  );
  return encodeSequence(
    cri,
    encodeSequence(encodeOid(Oid.ecdsaSha256)),
    encodeBitString(sign('sha256', cri, { key: ecKey, dsaEncoding: 'der' })),
  );
}

interface Base {
  readonly name: string;
  readonly der: Buffer;
  readonly key: KeyObject;
  readonly signatureAlgorithm: Buffer;
  readonly hash: string;
}

const CSR_BASES: readonly Base[] = [
  {
    name: 'P-256, every SAN kind',
    der: createCsr({ key: ecKey, subject: SUBJECT, sans: EVERY_SAN }),
    key: ecKey,
    signatureAlgorithm: encodeSequence(encodeOid(Oid.ecdsaSha256)),
    hash: 'sha256',
  },
  {
    name: 'hand-built, challengePassword and four extensions',
    der: handBuiltCsr(),
    key: ecKey,
    signatureAlgorithm: encodeSequence(encodeOid(Oid.ecdsaSha256)),
    hash: 'sha256',
  },
  {
    name: 'RSA-2048, DNS and IP SANs',
    der: createCsr({ key: rsaKey, subject: SUBJECT, sans: { ...EVERY_SAN, email: [], uri: [] } }),
    key: rsaKey,
    signatureAlgorithm: encodeSequence(encodeOid(Oid.rsaSha256), NULL_DER),
    hash: 'sha256',
  },
];

/** The first element inside the outer SEQUENCE (CertificationRequestInfo or TBSCertificate). */
function inner(der: Uint8Array): Buffer {
  const nodes = readLenient(der);
  const first = nodes?.[0]?.children?.[0];
  assert.ok(first);
  return encodeNode(first);
}

function signed(base: Base, body: Buffer): Buffer {
  return encodeSequence(body, base.signatureAlgorithm, encodeBitString(sign(base.hash, body, { key: base.key, dsaEncoding: 'der' })));
}

// ---------------------------------------------------------------------------------------------
// The loop.

interface Tally {
  accepted: number;
  refused: number;
  readonly reasons: Map<string, number>;
  slowestMs: number;
}

function tally(): Tally {
  return { accepted: 0, refused: 0, reasons: new Map(), slowestMs: 0 };
}

/** Parses one mutant and checks the outcome; `where` names the seed and iteration for reproduction. */
function check<T extends { der: Uint8Array }>(
  input: Buffer,
  parse: (d: Buffer) => T,
  t: Tally,
  where: string,
  accepted?: (result: T) => void,
): void {
  const started = performance.now();
  let result: T;
  try {
    result = parse(input);
  } catch (error) {
    t.slowestMs = Math.max(t.slowestMs, performance.now() - started);
    if (!isTlsbootError(error)) assert.fail(`${where}: not a TlsbootError: ${String(error)}\ninput ${input.toString('hex')}`);
    t.refused++;
    t.reasons.set(error.reason, (t.reasons.get(error.reason) ?? 0) + 1);
    return;
  }
  t.slowestMs = Math.max(t.slowestMs, performance.now() - started);
  t.accepted++;
  assert.ok(Buffer.from(result.der).equals(input), `${where}: der is not the input`);
  assert.ok(reencode(input)?.equals(input), `${where}: accepted input does not re-encode identically: ${input.toString('hex')}`);
  accepted?.(result);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function csrInvariants(where: string) {
  return (csr: ReturnType<typeof parseCsr>) => {
    assert.ok(
      csr.subject.attributes.every((a) => !CONTROL.test(a.value) && a.value !== ''),
      `${where}: subject value`,
    );
    assert.ok(csr.subject.attributes.filter((a) => a.type === 'CN').length <= 1, `${where}: one CN at most`);
    const again = parseCsr(csr.der);
    assert.deepEqual(
      [again.subject.attributes, again.sans, again.extensions.length],
      [csr.subject.attributes, csr.sans, csr.extensions.length],
      `${where}: deterministic`,
    );
  };
}

// Bounds against pathological (super-linear) parsing, with room for a loaded CI machine: a
// quadratic parse of these inputs takes far longer than either.
const BUDGET_MS = 15_000;
const SINGLE_PARSE_MS = 1000;

describe('mutated CSRs', () => {
  for (const [i, base] of CSR_BASES.entries()) {
    test(`${base.name}: the unmutated request parses (so refusals below are about the mutations)`, () => {
      assert.ok(reencode(base.der)?.equals(base.der));
      parseCsr(base.der);
    });

    test(`${base.name}: 1,500 mutations of the whole request, signature stale`, (t) => {
      const seed = 0x5eed0000 + i;
      const r = mulberry32(seed);
      const headers = headerOffsets(base.der);
      const counts = tally();
      const started = performance.now();
      for (let n = 0; n < 1500; n++) {
        const where = `seed ${seed.toString(16)} iteration ${n}`;
        check(mutate(base.der, r, headers), parseCsr, counts, where, (csr) => {
          // Some mutations are no-ops; anything else accepted under the old signature would be a bypass.
          assert.ok(Buffer.from(csr.der).equals(base.der), `${where}: a changed request was accepted under a stale signature`);
          csrInvariants(where)(csr);
        });
      }
      const elapsed = performance.now() - started;
      t.diagnostic(
        `accepted ${counts.accepted}, refused ${counts.refused} with ${counts.reasons.size} reasons, ${elapsed.toFixed(0)} ms, slowest ${counts.slowestMs.toFixed(1)} ms`,
      );
      assert.ok(counts.reasons.size >= 8, `mutations reach many checks: ${[...counts.reasons.keys()].join(', ')}`);
      assert.ok(elapsed < BUDGET_MS, `bounded time: ${elapsed} ms`);
      assert.ok(counts.slowestMs < SINGLE_PARSE_MS, `bounded time per input: ${counts.slowestMs} ms`);
    });

    const iterations = base.key.asymmetricKeyType === 'rsa' ? 400 : 1500;
    test(`${base.name}: ${iterations} mutations of the CertificationRequestInfo, re-signed`, (t) => {
      const seed = 0x5eed1000 + i;
      const r = mulberry32(seed);
      const cri = inner(base.der);
      const headers = headerOffsets(cri);
      const counts = tally();
      const started = performance.now();
      for (let n = 0; n < iterations; n++) {
        const where = `seed ${seed.toString(16)} iteration ${n}`;
        check(signed(base, mutate(cri, r, headers)), parseCsr, counts, where, csrInvariants(where));
      }
      const elapsed = performance.now() - started;
      t.diagnostic(
        `accepted ${counts.accepted}, refused ${counts.refused} with ${counts.reasons.size} reasons, ${elapsed.toFixed(0)} ms, slowest ${counts.slowestMs.toFixed(1)} ms`,
      );
      assert.ok(counts.accepted > 0, 'some harmless mutations (string content, for example) are accepted and checked');
      assert.ok(counts.reasons.size >= 15, `mutations reach many checks: ${[...counts.reasons.keys()].join(', ')}`);
      assert.ok(elapsed < BUDGET_MS, `bounded time: ${elapsed} ms`);
      assert.ok(counts.slowestMs < SINGLE_PARSE_MS, `bounded time per input: ${counts.slowestMs} ms`);
    });
  }
});

describe('mutated certificates', () => {
  const caKey = ecKey;
  const now = new Date('2026-06-01T00:00:00Z');
  const caDer = issueCertificate({
    subject: [{ type: 'CN', value: 'mutation-ca' }],
    publicKey: spkiOf(caKey),
    keyUsage: ['digitalSignature', 'keyCertSign'],
    ca: { pathLength: 0 },
    notBefore: now,
    notAfter: new Date(now.getTime() + 86_400_000),
    issuer: { kind: 'self', key: caKey },
    randomBytes: () => Buffer.alloc(16, 0x42),
  });
  const ca = parseCertificate(caDer);
  const leafDer = issueCertificate({
    subject: SUBJECT,
    publicKey: spkiOf(rsaKey),
    sans: EVERY_SAN,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: ['serverAuth', 'clientAuth'],
    notBefore: now,
    notAfter: new Date(now.getTime() + 3_600_000),
    issuer: { kind: 'ca', certificate: ca, key: caKey },
    randomBytes: () => Buffer.alloc(16, 0x97),
  });
  const base: Base = {
    name: 'leaf',
    der: leafDer,
    key: caKey,
    signatureAlgorithm: encodeSequence(encodeOid(Oid.ecdsaSha256)),
    hash: 'sha256',
  };
  const verifies = (where: string) => (cert: ReturnType<typeof parseCertificate>) => {
    try {
      assert.equal(typeof verifyIssuedBy(cert, ca), 'boolean');
    } catch (error) {
      assert.ok(isTlsbootError(error), `${where}: verifyIssuedBy threw ${String(error)}`);
    }
  };

  for (const [mode, seed] of [
    ['whole certificate', 0x5eed2000],
    ['TBSCertificate, re-signed', 0x5eed2001],
  ] as const) {
    test(`1,500 mutations of the ${mode}`, (t) => {
      const r = mulberry32(seed);
      const target = mode === 'whole certificate' ? leafDer : inner(leafDer);
      const headers = headerOffsets(target);
      const counts = tally();
      const started = performance.now();
      for (let n = 0; n < 1500; n++) {
        const where = `seed ${seed.toString(16)} iteration ${n}`;
        const mutant = mutate(target, r, headers);
        check(mode === 'whole certificate' ? mutant : signed(base, mutant), parseCertificate, counts, where, verifies(where));
      }
      const elapsed = performance.now() - started;
      t.diagnostic(`accepted ${counts.accepted}, refused ${counts.refused} with ${counts.reasons.size} reasons, ${elapsed.toFixed(0)} ms`);
      assert.ok(counts.accepted > 0 && counts.refused > 0);
      assert.ok(counts.reasons.size >= 12, `mutations reach many checks: ${[...counts.reasons.keys()].join(', ')}`);
      assert.ok(elapsed < BUDGET_MS, `bounded time: ${elapsed} ms`);
      assert.ok(counts.slowestMs < SINGLE_PARSE_MS, `bounded time per input: ${counts.slowestMs} ms`);
    });
  }
});

describe('the mutation engine itself', () => {
  test('the lenient re-encoder is not the identity: it normalises long-form and leading-zero lengths, and rejects indefinite ones', () => {
    const minimal = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
    assert.ok(reencode(minimal)?.equals(minimal));
    assert.ok(reencode(Buffer.from([0x30, 0x81, 0x03, 0x02, 0x01, 0x05]))?.equals(minimal));
    assert.ok(reencode(Buffer.from([0x30, 0x05, 0x02, 0x82, 0x00, 0x01, 0x05]))?.equals(minimal));
    assert.equal(reencode(Buffer.from([0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00])), undefined);
  });

  test('tree mutations encode the length forms they ask for', () => {
    const leaf: Node = { tag: 0x04, content: Uint8Array.from([1, 2]) };
    assert.deepEqual([...encodeNode({ ...leaf, lengthForm: 'long' })], [0x04, 0x81, 0x02, 1, 2]);
    assert.deepEqual([...encodeNode({ ...leaf, lengthForm: 'leading-zero' })], [0x04, 0x82, 0x00, 0x02, 1, 2]);
    assert.deepEqual([...encodeNode({ tag: 0x30, children: [leaf], lengthForm: 'indefinite' })], [0x30, 0x80, 0x04, 0x02, 1, 2, 0, 0]);
    const big: Node = { tag: 0x04, content: new Uint8Array(300) };
    assert.deepEqual([...encodeNode({ ...big, lengthForm: 'long' }).subarray(0, 5)], [0x04, 0x83, 0x00, 0x01, 0x2c]);
    assert.deepEqual([...encodeNode({ ...big, lengthForm: 'leading-zero' }).subarray(0, 5)], [0x04, 0x83, 0x00, 0x01, 0x2c]);
  });
});
