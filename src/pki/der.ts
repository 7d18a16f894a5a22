/**
 * A small, strict DER reader and writer: the only ASN.1 code on tlsboot's issuance path.
 *
 * The reader accepts DER and nothing looser: definite, minimally encoded lengths, low tag
 * numbers only, minimal INTEGERs, canonical BOOLEANs, and bounded input size, nesting depth and
 * OID length, so that a hostile CSR costs a bounded amount of work and anything that parses
 * re-encodes to the same bytes. The writer builds encodings from already-encoded parts with one
 * allocation per element. General-purpose ASN.1 object layers cost 10-30x more per certificate
 * (DESIGN.md, "Performance by design"), which is why this exists at all.
 */
import { InvalidError, TooLargeError } from '../base/errors.ts';

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Identifier octet of a context-specific tag `[n]`. */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

export interface DerLimits {
  /** Largest encoding accepted as a whole. */
  readonly maxBytes: number;
  /** Deepest nesting of constructed elements. */
  readonly maxDepth: number;
}

/** Generous for any CSR or certificate tlsboot handles; small enough to bound hostile input. */
export const DEFAULT_DER_LIMITS: DerLimits = { maxBytes: 64 * 1024, maxDepth: 24 };

const MAX_OID_BYTES = 64;

/** One element: its identifier octet and where its header and content lie in the buffer. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function derError(reason: string, message: string): InvalidError {
  return new InvalidError(`DER_${reason}`, `malformed DER: ${message}`);
}

/**
 * A cursor over the elements of one constructed value (or of the top level). Every read checks
 * that the element fits inside the cursor's range, so a lying length can never reach outside it.
 */
export class DerReader {
  readonly buf: Uint8Array;
  private pos: number;
  private readonly limit: number;
  private readonly depth: number;
  private readonly maxDepth: number;

  private constructor(buf: Uint8Array, start: number, end: number, depth: number, maxDepth: number) {
    this.buf = buf;
    this.pos = start;
    this.limit = end;
    this.depth = depth;
    this.maxDepth = maxDepth;
  }

  static of(buf: Uint8Array, limits: DerLimits = DEFAULT_DER_LIMITS): DerReader {
    if (buf.length > limits.maxBytes) {
      throw new TooLargeError('DER_TOO_LARGE', `DER input of ${buf.length} bytes exceeds the limit of ${limits.maxBytes}`);
    }
    return new DerReader(buf, 0, buf.length, 0, limits.maxDepth);
  }

  get done(): boolean {
    return this.pos >= this.limit;
  }

  peekTag(): number | undefined {
    return this.pos < this.limit ? this.buf[this.pos] : undefined;
  }

  next(): Tlv {
    const buf = this.buf;
    const start = this.pos;
    if (start >= this.limit) throw derError('TRUNCATED', 'expected another element');
    const tag = buf[start] as number;
    if ((tag & 0x1f) === 0x1f) throw derError('TAG', 'high tag numbers are not used by X.509');
    if (start + 1 >= this.limit) throw derError('TRUNCATED', 'missing length');
    let p = start + 1;
    const first = buf[p++] as number;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else if (first === 0x80) {
      throw derError('INDEFINITE_LENGTH', 'indefinite length is BER, not DER');
    } else {
      const octets = first & 0x7f;
      if (octets > 4) throw derError('LENGTH', 'length field too long');
      if (p + octets > this.limit) throw derError('TRUNCATED', 'length runs past the end');
      if (buf[p] === 0) throw derError('LENGTH', 'length has leading zero octets');
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + (buf[p++] as number);
      if (length < 0x80) throw derError('LENGTH', 'long-form length where short form fits');
    }
    const end = p + length;
    if (end > this.limit) throw derError('TRUNCATED', 'element runs past its container');
    this.pos = end;
    return { tag, start, contentStart: p, end };
  }

  /** Reads the next element and checks its tag. */
  expect(tag: number, what: string): Tlv {
    const tlv = this.next();
    if (tlv.tag !== tag) {
      throw derError('UNEXPECTED_TAG', `${what}: expected tag 0x${hex(tag)}, found 0x${hex(tlv.tag)}`);
    }
    return tlv;
  }

  /** Reads the next element only when it carries `tag`. */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** A reader over the content of a constructed element read from this one. */
  enter(tlv: Tlv, what: string): DerReader {
    if ((tlv.tag & 0x20) === 0) throw derError('NOT_CONSTRUCTED', `${what} must be constructed`);
    if (this.depth + 1 > this.maxDepth) throw new TooLargeError('DER_TOO_DEEP', `${what}: nesting deeper than ${this.maxDepth}`);
    return new DerReader(this.buf, tlv.contentStart, tlv.end, this.depth + 1, this.maxDepth);
  }

  /** Reads a constructed element with `tag` and returns a reader over its content. */
  enterNext(tag: number, what: string): DerReader {
    return this.enter(this.expect(tag, what), what);
  }

  /** Asserts the cursor consumed everything: trailing bytes inside a SEQUENCE are BER slop. */
  finish(what: string): void {
    if (this.pos !== this.limit) throw derError('TRAILING_DATA', `unexpected data after ${what}`);
  }

  bytes(tlv: Tlv): Uint8Array {
    return this.buf.subarray(tlv.start, tlv.end);
  }

  content(tlv: Tlv): Uint8Array {
    return this.buf.subarray(tlv.contentStart, tlv.end);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------
// Primitive decoders. Each takes the content octets of an element already checked for its tag.

/** INTEGER content, checked for minimal two's-complement form. Returns the content octets. */
export function decodeIntegerBytes(content: Uint8Array, what: string): Uint8Array {
  if (content.length === 0) throw derError('INTEGER', `${what} is empty`);
  if (content.length > 1) {
    const a = content[0] as number;
    const b = content[1] as number;
    if ((a === 0x00 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0)) {
      throw derError('INTEGER', `${what} is not minimally encoded`);
    }
  }
  return content;
}

/** A small non-negative INTEGER (versions, path lengths). */
export function decodeSmallInt(content: Uint8Array, what: string): number {
  decodeIntegerBytes(content, what);
  if ((content[0] as number) & 0x80) throw derError('INTEGER', `${what} is negative`);
  if (content.length > 4) throw derError('INTEGER', `${what} is too large`);
  let v = 0;
  for (const b of content) v = v * 256 + b;
  return v;
}

export function decodeBoolean(content: Uint8Array, what: string): boolean {
  if (content.length !== 1) throw derError('BOOLEAN', `${what} must be one octet`);
  if (content[0] === 0xff) return true;
  if (content[0] === 0x00) return false;
  throw derError('BOOLEAN', `${what} must be 0x00 or 0xFF in DER`);
}

/** BIT STRING content whose unused-bit count must be zero (keys, signatures). */
export function decodeBitStringBytes(content: Uint8Array, what: string): Uint8Array {
  if (content.length === 0 || content[0] !== 0) {
    throw derError('BIT_STRING', `${what} must be a whole number of octets`);
  }
  return content.subarray(1);
}

/**
 * A named-bit BIT STRING (KeyUsage) as an integer of its first 16 bits, MSB first. DER demands
 * that trailing zero bits are dropped, which the unused-bit count must reflect.
 */
export function decodeNamedBits(content: Uint8Array, what: string): number {
  if (content.length < 1 || content.length > 3) throw derError('BIT_STRING', `${what} has an unexpected length`);
  const unused = content[0] as number;
  if (unused > 7 || (content.length === 1 && unused !== 0)) throw derError('BIT_STRING', `${what} has a bad unused-bit count`);
  if (content.length === 1) return 0;
  const last = content[content.length - 1] as number;
  if (last === 0 || (last & ((1 << unused) - 1)) !== 0 || (last & (1 << unused)) === 0) {
    throw derError('BIT_STRING', `${what} is not minimally encoded`);
  }
  let bits = 0;
  for (let i = 1; i < content.length; i++) bits |= (content[i] as number) << (8 * (2 - i));
  return bits;
}

const oidCache = new Map<string, string>();

/** OBJECT IDENTIFIER content to dotted form; bounded so a huge OID cannot cost quadratic time. */
export function decodeOid(content: Uint8Array, what: string): string {
  if (content.length === 0) throw derError('OID', `${what} is empty`);
  if (content.length > MAX_OID_BYTES) throw derError('OID', `${what} is longer than ${MAX_OID_BYTES} octets`);
  const key = Buffer.from(content.buffer, content.byteOffset, content.length).toString('latin1');
  const cached = oidCache.get(key);
  if (cached !== undefined) return cached;
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const b of content) {
    if (fresh && b === 0x80) throw derError('OID', `${what} has a non-minimal arc`);
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw derError('OID', `${what} has an arc that is too large`);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw derError('OID', `${what} ends inside an arc`);
  const firstArc = arcs[0] as number;
  const head = firstArc < 40 ? [0, firstArc] : firstArc < 80 ? [1, firstArc - 40] : [2, firstArc - 80];
  const dotted = [...head, ...arcs.slice(1)].join('.');
  if (oidCache.size < 1024) oidCache.set(key, dotted);
  return dotted;
}

// ignoreBOM keeps a leading U+FEFF in the value: stripping it would let two different encodings read as one name.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A directory or IA5 string by its tag; other string types are refused, not guessed at. */
export function decodeString(tag: number, content: Uint8Array, what: string): string {
  let s: string;
  switch (tag) {
    case Tag.UTF8_STRING:
      try {
        s = utf8.decode(content);
      } catch {
        throw derError('STRING', `${what} is not valid UTF-8`);
      }
      break;
    case Tag.PRINTABLE_STRING:
      s = Buffer.from(content).toString('latin1');
      if (!PRINTABLE.test(s)) throw derError('STRING', `${what} has characters outside PrintableString`);
      break;
    case Tag.IA5_STRING:
      s = Buffer.from(content).toString('latin1');
      for (let i = 0; i < s.length; i++) {
        if (s.charCodeAt(i) > 0x7f) throw derError('STRING', `${what} has characters outside IA5String`);
      }
      break;
    default:
      throw derError('STRING_TYPE', `${what} uses string tag 0x${hex(tag)}; only UTF8String, PrintableString and IA5String are accepted`);
  }
  return s;
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** UTCTime or GeneralizedTime in the one form RFC 5280 allows: seconds, no fraction, `Z`. */
export function decodeTime(tag: number, content: Uint8Array, what: string): Date {
  const s = Buffer.from(content).toString('latin1');
  const m = tag === Tag.UTC_TIME ? UTC_TIME.exec(s) : tag === Tag.GENERALIZED_TIME ? GENERALIZED_TIME.exec(s) : null;
  if (!m) throw derError('TIME', `${what} is not a valid UTCTime or GeneralizedTime`);
  const yearDigits = Number(m[1]);
  const year = tag === Tag.GENERALIZED_TIME ? yearDigits : yearDigits >= 50 ? 1900 + yearDigits : 2000 + yearDigits;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  const date = new Date(ms);
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    throw derError('TIME', `${what} is not a calendar date`);
  }
  return date;
}

// ---------------------------------------------------------------------------------------------
// Writer. Every function returns a complete encoding; composite ones take encoded children.

export type Der = Uint8Array;

function lengthOctets(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x1000000) return 4;
  return 5;
}

function writeHeader(out: Uint8Array, tag: number, n: number): number {
  out[0] = tag;
  const lo = lengthOctets(n);
  if (lo === 1) {
    out[1] = n;
    return 2;
  }
  out[1] = 0x80 | (lo - 1);
  for (let i = lo - 1; i >= 1; i--) {
    out[1 + i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return 1 + lo;
}

/** One element with the given identifier octet around already-encoded content parts. */
export function encodeTlv(tag: number, parts: readonly Der[] | Der): Buffer {
  const list = parts instanceof Uint8Array ? [parts] : parts;
  let n = 0;
  for (const p of list) n += p.length;
  const out = Buffer.allocUnsafe(1 + lengthOctets(n) + n);
  let off = writeHeader(out, tag, n);
  for (const p of list) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function encodeSequence(...parts: Der[]): Buffer {
  return encodeTlv(Tag.SEQUENCE, parts);
}

/** SET OF: DER orders the encoded elements as octet strings. */
export function encodeSetOf(parts: readonly Der[]): Buffer {
  const sorted = parts.length > 1 ? [...parts].sort((a, b) => Buffer.compare(padTo(a, b), padTo(b, a))) : parts;
  return encodeTlv(Tag.SET, sorted);
}

function padTo(a: Der, b: Der): Der {
  if (a.length >= b.length) return a;
  const out = new Uint8Array(b.length);
  out.set(a);
  return out;
}

export function encodeExplicit(n: number, inner: Der): Buffer {
  return encodeTlv(contextTag(n, true), [inner]);
}

/** INTEGER from unsigned big-endian magnitude octets. */
export function encodeUnsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  if (m.length === 0) return Buffer.from([Tag.INTEGER, 1, 0]);
  return (m[0] as number) & 0x80 ? encodeTlv(Tag.INTEGER, [Buffer.from([0]), m]) : encodeTlv(Tag.INTEGER, m);
}

export function encodeSmallInt(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`not a small non-negative integer: ${n}`);
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return encodeUnsignedInteger(Uint8Array.from(bytes));
}

const TRUE = Buffer.from([Tag.BOOLEAN, 1, 0xff]);
export function encodeTrue(): Buffer {
  return TRUE;
}

export const NULL_DER: Buffer = Buffer.from([Tag.NULL, 0]);

export function encodeOctetString(content: Der): Buffer {
  return encodeTlv(Tag.OCTET_STRING, content);
}

export function encodeBitString(content: Der): Buffer {
  return encodeTlv(Tag.BIT_STRING, [Buffer.from([0]), content]);
}

/** A named-bit BIT STRING from the first 16 bits of `bits` (MSB = bit 0), trailing zeros dropped. */
export function encodeNamedBits(bits: number): Buffer {
  const octets = [(bits >> 8) & 0xff, bits & 0xff];
  while (octets.length > 0 && octets[octets.length - 1] === 0) octets.pop();
  if (octets.length === 0) return Buffer.from([Tag.BIT_STRING, 1, 0]);
  const last = octets[octets.length - 1] as number;
  let unused = 0;
  while (((last >> unused) & 1) === 0) unused++;
  return encodeTlv(Tag.BIT_STRING, Uint8Array.from([unused, ...octets]));
}

const oidEncodeCache = new Map<string, Buffer>();

export function encodeOid(dotted: string): Buffer {
  const hit = oidEncodeCache.get(dotted);
  if (hit) return hit;
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`bad OID ${dotted}`);
    return Number(a);
  });
  if (arcs.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const [a0, a1] = arcs as [number, number];
  const out: number[] = [];
  for (const arc of [a0 * 40 + a1, ...arcs.slice(2)]) {
    const chunk: number[] = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  const der = encodeTlv(Tag.OID, Uint8Array.from(out));
  oidEncodeCache.set(dotted, der);
  return der;
}

export function encodeString(tag: number, value: string): Buffer {
  return encodeTlv(tag, Buffer.from(value, tag === Tag.UTF8_STRING ? 'utf8' : 'latin1'));
}

function two(n: number): string {
  return n.toString().padStart(2, '0');
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function encodeTime(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return encodeString(Tag.UTC_TIME, `${two(y % 100)}${rest}`);
  return encodeString(Tag.GENERALIZED_TIME, `${y.toString().padStart(4, '0')}${rest}`);
}
