/**
 * Strict PEM (RFC 7468): the label is checked, base64 must be canonical, no encapsulated
 * headers, and nothing but white space may surround the blocks. One block unless the caller
 * asks for a bundle, so a second certificate smuggled after a CSR is an error, not ignored.
 */
import { InvalidError } from '../base/errors.ts';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

function pemError(reason: string, message: string, field?: string): InvalidError {
  return new InvalidError(`PEM_${reason}`, message, field === undefined ? {} : { field });
}

/** Every block of a PEM text, in order, whatever their labels. */
export function decodePemBlocks(text: string | Uint8Array, field?: string): PemBlock[] {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  const blocks: PemBlock[] = [];
  let last = 0;
  for (const m of s.matchAll(BLOCK)) {
    const [whole, begin, body, end] = m as unknown as [string, string, string, string];
    if (s.slice(last, m.index).trim() !== '') {
      throw pemError('JUNK', 'PEM input has text outside the BEGIN/END lines', field);
    }
    if (begin !== end) throw pemError('LABEL', `PEM BEGIN label "${begin}" does not match END label "${end}"`, field);
    const lines = body
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (lines.some((l) => l.includes(':'))) throw pemError('HEADERS', 'PEM block has encapsulated headers', field);
    const b64 = lines.join('');
    if (!lines.every((l) => BASE64_LINE.test(l)) || b64.length % 4 !== 0 || /=[^=]/.test(b64)) {
      throw pemError('BASE64', `PEM block "${begin}" is not valid base64`, field);
    }
    const der = Buffer.from(b64, 'base64');
    if (der.toString('base64') !== b64) throw pemError('BASE64', `PEM block "${begin}" is not canonical base64`, field);
    if (der.length === 0) throw pemError('EMPTY', `PEM block "${begin}" is empty`, field);
    blocks.push({ label: begin, der });
    last = (m.index ?? 0) + whole.length;
  }
  if (s.slice(last).trim() !== '') throw pemError('JUNK', 'PEM input has text after the last END line', field);
  if (blocks.length === 0) throw pemError('MISSING', 'no PEM block found', field);
  return blocks;
}

/** Exactly one block with exactly this label. */
export function decodePem(text: string | Uint8Array, label: string, field?: string): Buffer {
  const blocks = decodePemBlocks(text, field);
  const first = blocks[0] as PemBlock;
  if (blocks.length !== 1) throw pemError('MULTIPLE', `expected one PEM block "${label}", found ${blocks.length}`, field);
  if (first.label !== label) {
    throw pemError('LABEL', `PEM block type must be ${label}, found ${first.label}`, field);
  }
  return first.der;
}

/** One or more blocks, all with this label (certificate bundles). */
export function decodePemBundle(text: string | Uint8Array, label: string, field?: string): Buffer[] {
  return decodePemBlocks(text, field).map((b) => {
    if (b.label !== label) throw pemError('LABEL', `PEM block type must be ${label}, found ${b.label}`, field);
    return b.der;
  });
}

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----\n`;
}
