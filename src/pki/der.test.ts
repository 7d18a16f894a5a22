/**
 * The strict DER reader and writer (der.ts). The reader must refuse everything that is BER but
 * not DER (indefinite lengths, non-minimal or needlessly long-form lengths, non-minimal INTEGERs,
 * BOOLEANs other than 00/FF, trailing bytes inside a SEQUENCE or after the top element), refuse
 * truncation and high tag numbers, and bound hostile input: nesting deeper than the limit is
 * TOO_LARGE `DER_TOO_DEEP`, input over the size cap is TOO_LARGE `DER_TOO_LARGE`, and a 250 KB
 * OID is refused in well under a millisecond per kilobyte. The primitive decoders (OIDs, strings,
 * times, named bits) are checked at their boundaries, and the writer round-trips through the reader
 * with minimal encodings.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { rejects } from '../../test/helpers/errors.ts';
import { parseCsr } from './csr.ts';
import {
  contextTag,
  DEFAULT_DER_LIMITS,
  DerReader,
  decodeBitStringBytes,
  decodeBoolean,
  decodeIntegerBytes,
  decodeNamedBits,
  decodeOid,
  decodeSmallInt,
  decodeString,
  decodeTime,
  encodeBitString,
  encodeNamedBits,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInt,
  encodeString,
  encodeTime,
  encodeTlv,
  encodeUnsignedInteger,
  Tag,
} from './der.ts';
import { Oid } from './oids.ts';

/** Walks every constructed element of `bytes` with the strict reader, as a generic DER check. */
function walk(bytes: Uint8Array, limits = DEFAULT_DER_LIMITS): number {
  let elements = 0;
  const visit = (r: DerReader): void => {
    while (!r.done) {
      const tlv = r.next();
      elements++;
      if ((tlv.tag & 0x20) !== 0) visit(r.enter(tlv, 'element'));
    }
    r.finish('element');
  };
  visit(DerReader.of(bytes, limits));
  return elements;
}

const bytes = (...b: number[]) => Uint8Array.from(b);

function nested(depth: number): Buffer {
  let v: Buffer = encodeSequence();
  for (let i = 1; i < depth; i++) v = encodeSequence(v);
  return v;
}

describe('DER lengths', () => {
  test('minimal short and long forms are accepted and give the right extent', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 4095, 65535, 65536]) {
      const der = encodeTlv(Tag.OCTET_STRING, Buffer.alloc(n, 0xab));
      const expectedHeader = n < 0x80 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : 5;
      assert.equal(der.length, n + expectedHeader, `header length for ${n}`);
      const r = DerReader.of(der, { maxBytes: 1 << 20, maxDepth: 4 });
      const tlv = r.next();
      r.finish('top');
      assert.deepEqual([tlv.contentStart, tlv.end], [expectedHeader, der.length]);
    }
  });

  test('indefinite length is refused', () => {
    rejects(() => walk(bytes(0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00)), 'INVALID', 'DER_INDEFINITE_LENGTH');
  });

  test('a long-form length where the short form fits is refused', () => {
    rejects(() => walk(bytes(0x04, 0x81, 0x01, 0x00)), 'INVALID', 'DER_LENGTH');
    rejects(() => walk(bytes(0x04, 0x81, 0x7f, ...new Array<number>(0x7f).fill(0))), 'INVALID', 'DER_LENGTH');
    // The same content with the short form is fine: the failure above is about the form only.
    assert.equal(walk(bytes(0x04, 0x7f, ...new Array<number>(0x7f).fill(0))), 1);
  });

  test('a long-form length with leading zero octets is refused', () => {
    const content = new Array<number>(0x80).fill(0);
    assert.equal(walk(bytes(0x04, 0x81, 0x80, ...content)), 1);
    rejects(() => walk(bytes(0x04, 0x82, 0x00, 0x80, ...content)), 'INVALID', 'DER_LENGTH');
    rejects(() => walk(bytes(0x04, 0x82, 0x00, 0x01, 0x00)), 'INVALID', 'DER_LENGTH');
  });

  test('a length field of more than four octets is refused', () => {
    rejects(() => walk(bytes(0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00)), 'INVALID', 'DER_LENGTH');
  });

  test('truncation anywhere is refused: missing length, short content, lengths past the container', () => {
    rejects(() => DerReader.of(bytes()).next(), 'INVALID', 'DER_TRUNCATED');
    rejects(() => walk(bytes(0x30)), 'INVALID', 'DER_TRUNCATED');
    rejects(() => walk(bytes(0x04, 0x05, 0x00)), 'INVALID', 'DER_TRUNCATED');
    rejects(() => walk(bytes(0x04, 0x82, 0x01)), 'INVALID', 'DER_TRUNCATED');
    // The inner element claims 3 octets but its SEQUENCE holds only 2 after its header.
    rejects(() => walk(bytes(0x30, 0x04, 0x04, 0x03, 0x00, 0x00, 0x00)), 'INVALID', 'DER_TRUNCATED');
  });

  test('every proper prefix of a real CSR is refused as truncated', () => {
    const { privateKey: key, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cri = encodeSequence(
      encodeSmallInt(0),
      encodeSequence(encodeSetOf([encodeSequence(encodeOid('2.5.4.3'), encodeString(Tag.UTF8_STRING, 'prefix'))])),
      publicKey.export({ type: 'spki', format: 'der' }),
      encodeTlv(contextTag(0, true), []),
    );
    const der = encodeSequence(cri, encodeSequence(encodeOid(Oid.ecdsaSha256)), encodeBitString(sign('sha256', cri, key)));
    assert.equal(walk(der) > 10, true);
    for (let n = 0; n < der.length; n++) rejects(() => parseCsr(der.subarray(0, n)), 'INVALID', 'DER_TRUNCATED');
  });
});

describe('DER structure', () => {
  test('trailing bytes after the top element are refused', () => {
    const r = DerReader.of(bytes(0x05, 0x00, 0x00));
    r.next();
    rejects(() => r.finish('top'), 'INVALID', 'DER_TRAILING_DATA');
  });

  test('trailing bytes inside a SEQUENCE are refused by the schema reader', () => {
    // SEQUENCE { INTEGER 1, NULL }: a reader that expects only the INTEGER must not ignore the NULL.
    const top = DerReader.of(bytes(0x30, 0x05, 0x02, 0x01, 0x01, 0x05, 0x00));
    const seq = top.enterNext(Tag.SEQUENCE, 'seq');
    top.finish('top');
    assert.equal(decodeSmallInt(seq.content(seq.expect(Tag.INTEGER, 'n')), 'n'), 1);
    rejects(() => seq.finish('seq'), 'INVALID', 'DER_TRAILING_DATA');
  });

  test('high tag numbers, a wrong tag, and entering a primitive are refused', () => {
    rejects(() => walk(bytes(0x1f, 0x20, 0x00)), 'INVALID', 'DER_TAG');
    rejects(() => walk(bytes(0x7f, 0x20, 0x00)), 'INVALID', 'DER_TAG');
    rejects(() => DerReader.of(bytes(0x05, 0x00)).expect(Tag.SEQUENCE, 'seq'), 'INVALID', 'DER_UNEXPECTED_TAG');
    const r = DerReader.of(bytes(0x04, 0x00));
    const tlv = r.next();
    rejects(() => r.enter(tlv, 'octets'), 'INVALID', 'DER_NOT_CONSTRUCTED');
  });

  test('nesting up to the limit is fine, one deeper is TOO_LARGE DER_TOO_DEEP', () => {
    assert.equal(DEFAULT_DER_LIMITS.maxDepth, 24);
    assert.equal(walk(nested(24)), 24);
    rejects(() => walk(nested(25)), 'TOO_LARGE', 'DER_TOO_DEEP');
    assert.equal(walk(nested(3), { maxBytes: 1024, maxDepth: 3 }), 3);
    rejects(() => walk(nested(4), { maxBytes: 1024, maxDepth: 3 }), 'TOO_LARGE', 'DER_TOO_DEEP');
  });

  test('10,000 nested SEQUENCEs are refused at the depth limit, quickly and without recursion trouble', () => {
    let v: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 10_000; i++) v = encodeSequence(v);
    const limits = { maxBytes: 1 << 20, maxDepth: 24 };
    const started = performance.now();
    rejects(() => walk(v, limits), 'TOO_LARGE', 'DER_TOO_DEEP');
    assert.ok(performance.now() - started < 50, 'bounded work');
  });

  test('input over the size cap is TOO_LARGE DER_TOO_LARGE before any parsing; at the cap it is parsed', () => {
    const cap = DEFAULT_DER_LIMITS.maxBytes;
    const atCap = encodeTlv(Tag.OCTET_STRING, Buffer.alloc(cap - 4));
    assert.equal(atCap.length, cap);
    assert.equal(walk(atCap), 1);
    rejects(() => DerReader.of(Buffer.alloc(cap + 1)), 'TOO_LARGE', 'DER_TOO_LARGE');
    rejects(() => parseCsr(Buffer.alloc(cap + 1, 0x30)), 'TOO_LARGE', 'DER_TOO_LARGE');
    rejects(() => DerReader.of(Buffer.alloc(101), { maxBytes: 100, maxDepth: 4 }), 'TOO_LARGE', 'DER_TOO_LARGE');
  });

  test('a 250 KB OID is refused quickly, directly and inside a CSR parsed with a raised size cap', () => {
    const huge = Buffer.alloc(250 * 1024, 0x81);
    huge[huge.length - 1] = 0x01;
    let started = performance.now();
    rejects(() => decodeOid(huge, 'oid'), 'INVALID', 'DER_OID');
    assert.ok(performance.now() - started < 20, 'decodeOid is bounded');

    const { privateKey: key, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const attribute = encodeSequence(encodeTlv(Tag.OID, huge), encodeSetOf([encodeString(Tag.UTF8_STRING, 'x')]));
    const cri = encodeSequence(
      encodeSmallInt(0),
      encodeSequence(),
      publicKey.export({ type: 'spki', format: 'der' }),
      encodeTlv(contextTag(0, true), [attribute]),
    );
    const csr = encodeSequence(cri, encodeSequence(encodeOid(Oid.ecdsaSha256)), encodeBitString(sign('sha256', cri, key)));
    started = performance.now();
    rejects(() => parseCsr(csr), 'TOO_LARGE', 'DER_TOO_LARGE');
    rejects(() => parseCsr(csr, { maxBytes: 1 << 20, maxDepth: 24 }), 'INVALID', 'DER_OID');
    assert.ok(performance.now() - started < 50, 'parseCsr is bounded');
  });
});

describe('DER primitives', () => {
  test('INTEGER must be minimal two’s complement', () => {
    for (const ok of [[0x00], [0x7f], [0x00, 0x80], [0xff], [0xff, 0x7f], [0x01, 0x00]]) {
      assert.deepEqual([...decodeIntegerBytes(bytes(...ok), 'n')], ok);
    }
    for (const bad of [[], [0x00, 0x00], [0x00, 0x7f], [0xff, 0x80], [0xff, 0xff]]) {
      rejects(() => decodeIntegerBytes(bytes(...bad), 'n'), 'INVALID', 'DER_INTEGER');
    }
    assert.equal(decodeSmallInt(bytes(0x7f, 0xff, 0xff, 0xff), 'n'), 0x7fffffff);
    rejects(() => decodeSmallInt(bytes(0x80), 'n'), 'INVALID', 'DER_INTEGER');
    rejects(() => decodeSmallInt(bytes(0x01, 0x00, 0x00, 0x00, 0x00), 'n'), 'INVALID', 'DER_INTEGER');
  });

  test('BOOLEAN must be one octet, 0x00 or 0xFF', () => {
    assert.equal(decodeBoolean(bytes(0xff), 'b'), true);
    assert.equal(decodeBoolean(bytes(0x00), 'b'), false);
    for (const bad of [[0x01], [0x7f], [0xfe], [], [0xff, 0xff]])
      rejects(() => decodeBoolean(bytes(...bad), 'b'), 'INVALID', 'DER_BOOLEAN');
  });

  test('BIT STRING for keys and signatures has no unused bits', () => {
    assert.deepEqual([...decodeBitStringBytes(bytes(0x00, 0xaa), 'k')], [0xaa]);
    rejects(() => decodeBitStringBytes(bytes(0x01, 0xaa), 'k'), 'INVALID', 'DER_BIT_STRING');
    rejects(() => decodeBitStringBytes(bytes(), 'k'), 'INVALID', 'DER_BIT_STRING');
  });

  test('named bits round-trip for every combination of the first 9 bits, and non-minimal forms are refused', () => {
    for (let bits = 0; bits < 1 << 9; bits++) {
      const v = bits << 7;
      const der = encodeNamedBits(v);
      assert.equal(decodeNamedBits(der.subarray(2), 'ku'), v, `bits ${v.toString(16)}`);
    }
    // digitalSignature alone: 03 02 07 80. Claiming 0 unused bits keeps trailing zeros: not DER.
    assert.deepEqual([...encodeNamedBits(0x8000)], [0x03, 0x02, 0x07, 0x80]);
    rejects(() => decodeNamedBits(bytes(0x00, 0x80), 'ku'), 'INVALID', 'DER_BIT_STRING');
    rejects(() => decodeNamedBits(bytes(0x07, 0x80, 0x00), 'ku'), 'INVALID', 'DER_BIT_STRING');
    rejects(() => decodeNamedBits(bytes(0x07, 0x81), 'ku'), 'INVALID', 'DER_BIT_STRING');
    rejects(() => decodeNamedBits(bytes(0x08, 0x80), 'ku'), 'INVALID', 'DER_BIT_STRING');
  });

  test('OIDs round-trip, including arc boundaries and large arcs', () => {
    for (const oid of [
      '0.0',
      '0.39',
      '1.0',
      '1.39',
      '2.0',
      '2.40',
      '2.999.1',
      '1.2.840.113549.1.1.11',
      `1.3.6.1.4.1.${2 ** 40}`,
      '2.5.29.17',
    ]) {
      const der = encodeOid(oid);
      assert.equal(decodeOid(der.subarray(2), 'oid'), oid);
    }
  });

  test('OIDs that are empty, non-minimal, unterminated, too long or overflowing are refused', () => {
    rejects(() => decodeOid(bytes(), 'oid'), 'INVALID', 'DER_OID');
    rejects(() => decodeOid(bytes(0x2a, 0x80, 0x01), 'oid'), 'INVALID', 'DER_OID');
    rejects(() => decodeOid(bytes(0x2a, 0x86), 'oid'), 'INVALID', 'DER_OID');
    rejects(() => decodeOid(Buffer.alloc(65, 0x01), 'oid'), 'INVALID', 'DER_OID');
    assert.equal(decodeOid(Buffer.alloc(64, 0x01), 'oid').split('.').length, 65);
    rejects(() => decodeOid(bytes(0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 'oid'), 'INVALID', 'DER_OID');
  });

  test('strings: only UTF8String, PrintableString and IA5String, each with its own alphabet', () => {
    assert.equal(decodeString(Tag.UTF8_STRING, Buffer.from('nœud-ü', 'utf8'), 's'), 'nœud-ü');
    assert.equal(decodeString(Tag.PRINTABLE_STRING, Buffer.from("A z0'()+,-./:=?"), 's'), "A z0'()+,-./:=?");
    assert.equal(decodeString(Tag.IA5_STRING, Buffer.from('a@b.example'), 's'), 'a@b.example');
    rejects(() => decodeString(Tag.PRINTABLE_STRING, Buffer.from('a@b'), 's'), 'INVALID', 'DER_STRING');
    rejects(() => decodeString(Tag.PRINTABLE_STRING, Buffer.from('a*b'), 's'), 'INVALID', 'DER_STRING');
    rejects(() => decodeString(Tag.IA5_STRING, bytes(0x61, 0xe9), 's'), 'INVALID', 'DER_STRING');
    for (const badUtf8 of [[0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff]]) {
      rejects(() => decodeString(Tag.UTF8_STRING, bytes(...badUtf8), 's'), 'INVALID', 'DER_STRING');
    }
    for (const tag of [Tag.BMP_STRING, Tag.T61_STRING, Tag.UNIVERSAL_STRING, Tag.OCTET_STRING]) {
      rejects(() => decodeString(tag, Buffer.from('x'), 's'), 'INVALID', 'DER_STRING_TYPE');
    }
  });

  test('a UTF-8 byte-order mark is kept, not silently dropped (so "\\uFEFFadmin" never reads as "admin")', () => {
    const value = decodeString(Tag.UTF8_STRING, Buffer.from('\ufeffadmin', 'utf8'), 's');
    assert.notEqual(value, 'admin');
    assert.equal(value, '\ufeffadmin');
  });

  test('times: UTCTime through 2049, GeneralizedTime from 2050, whole seconds, round trip', () => {
    const cases: [string, number, string][] = [
      ['1950-01-01T00:00:00Z', Tag.UTC_TIME, '500101000000Z'],
      ['1999-12-31T23:59:59Z', Tag.UTC_TIME, '991231235959Z'],
      ['2026-11-23T04:05:06Z', Tag.UTC_TIME, '261123040506Z'],
      ['2049-12-31T23:59:59Z', Tag.UTC_TIME, '491231235959Z'],
      ['2050-01-01T00:00:00Z', Tag.GENERALIZED_TIME, '20500101000000Z'],
      ['9999-12-31T23:59:59Z', Tag.GENERALIZED_TIME, '99991231235959Z'],
    ];
    for (const [iso, tag, text] of cases) {
      const der = encodeTime(new Date(iso));
      assert.equal(der[0], tag, iso);
      assert.equal(der.subarray(2).toString('latin1'), text);
      assert.equal(decodeTime(tag, der.subarray(2), 't').getTime(), Date.parse(iso));
    }
    assert.equal(encodeTime(new Date('2026-01-01T00:00:00.999Z')).subarray(2).toString('latin1'), '260101000000Z');
  });

  test('times that are not calendar dates or not in the one RFC 5280 form are refused', () => {
    for (const bad of [
      '260231000000Z',
      '261301000000Z',
      '260101240000Z',
      '260101006000Z',
      '260101000060Z',
      '2601010000Z',
      '260101000000',
      '260101000000.5Z',
      '260101000000+0100',
    ]) {
      rejects(() => decodeTime(Tag.UTC_TIME, Buffer.from(bad), 't'), 'INVALID', 'DER_TIME');
    }
    rejects(() => decodeTime(Tag.GENERALIZED_TIME, Buffer.from('20260101000000.123Z'), 't'), 'INVALID', 'DER_TIME');
    rejects(() => decodeTime(Tag.GENERALIZED_TIME, Buffer.from('260101000000Z'), 't'), 'INVALID', 'DER_TIME');
    rejects(() => decodeTime(Tag.OCTET_STRING, Buffer.from('260101000000Z'), 't'), 'INVALID', 'DER_TIME');
  });
});

describe('DER writer', () => {
  test('unsigned INTEGERs are minimal: leading zeros dropped, 0x00 added before a high bit', () => {
    assert.deepEqual([...encodeUnsignedInteger(bytes())], [0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeUnsignedInteger(bytes(0x00, 0x00))], [0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeUnsignedInteger(bytes(0x00, 0x01))], [0x02, 0x01, 0x01]);
    assert.deepEqual([...encodeUnsignedInteger(bytes(0x80))], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...encodeSmallInt(0)], [0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeSmallInt(128)], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...encodeSmallInt(256)], [0x02, 0x02, 0x01, 0x00]);
    assert.throws(() => encodeSmallInt(-1), RangeError);
    assert.throws(() => encodeSmallInt(1.5), RangeError);
  });

  test('SET OF orders its elements as octet strings, padding the shorter with zeros', () => {
    const a = encodeString(Tag.UTF8_STRING, 'b');
    const b = encodeString(Tag.UTF8_STRING, 'a');
    const c = encodeString(Tag.UTF8_STRING, 'ab');
    const set = encodeSetOf([a, c, b]);
    assert.deepEqual([...set], [0x31, 10, ...b, ...a, ...c]);
  });

  test('everything the writer makes passes the strict reader', () => {
    const der = encodeSequence(
      encodeSmallInt(5),
      encodeOid('1.2.3.4'),
      encodeBitString(bytes(1, 2, 3)),
      encodeNamedBits(0x8400),
      encodeTime(new Date('2060-01-01T00:00:00Z')),
      encodeSetOf([encodeString(Tag.PRINTABLE_STRING, 'x'), encodeString(Tag.IA5_STRING, 'y')]),
      encodeTlv(contextTag(3, true), [encodeSequence()]),
      encodeTlv(Tag.OCTET_STRING, Buffer.alloc(300)),
    );
    assert.equal(walk(der), 12);
  });
});
