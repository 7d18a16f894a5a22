/**
 * X.501 distinguished names: strict parsing (one attribute per RDN, no control characters, only
 * the string types tlsboot accepts) and canonical encoding. A parsed name keeps its exact bytes,
 * because an issuer is matched and copied byte for byte.
 */
import { InvalidError } from '../base/errors.ts';
import { type DerReader, decodeOid, decodeString, encodeOid, encodeSequence, encodeSetOf, encodeString, Tag, type Tlv } from './der.ts';
import { NAME_ATTRIBUTE_BY_OID, NAME_ATTRIBUTES, type NameAttributeType } from './oids.ts';

export interface NameAttribute {
  /** A short name tlsboot knows, or the dotted OID of an attribute it does not. */
  readonly type: NameAttributeType | string;
  readonly value: string;
}

export interface DistinguishedName {
  readonly attributes: readonly NameAttribute[];
  /** The exact encoding the name was read from or written as. */
  readonly der: Uint8Array;
}

// C0, DEL and C1 (U+0080-U+009F, e.g. NEL): every Unicode control character.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function nameError(reason: string, message: string): InvalidError {
  return new InvalidError(`NAME_${reason}`, message);
}

/** Reads a Name element from `outer` (which is positioned on it). */
export function readName(outer: DerReader, what: string): DistinguishedName {
  const tlv: Tlv = outer.expect(Tag.SEQUENCE, what);
  const rdns = outer.enter(tlv, what);
  const attributes: NameAttribute[] = [];
  while (!rdns.done) {
    const set = rdns.enterNext(Tag.SET, `${what} RDN`);
    const atv = set.enterNext(Tag.SEQUENCE, `${what} attribute`);
    if (!set.done) throw nameError('MULTI_VALUED_RDN', `${what} has a multi-valued RDN, which tlsboot does not accept`);
    const oid = decodeOid(atv.content(atv.expect(Tag.OID, `${what} attribute type`)), `${what} attribute type`);
    const valueTlv = atv.next();
    atv.finish(`${what} attribute`);
    const type = NAME_ATTRIBUTE_BY_OID.get(oid) ?? oid;
    const value = decodeString(valueTlv.tag, atv.content(valueTlv), `${what} ${type}`);
    if (CONTROL.test(value)) throw nameError('CONTROL_CHARACTER', `${what} ${type} contains a control character`);
    attributes.push({ type, value });
  }
  return { attributes, der: outer.bytes(tlv) };
}

function stringTagFor(type: NameAttributeType): number {
  if (type === 'C' || type === 'serialNumber') return Tag.PRINTABLE_STRING;
  if (type === 'DC' || type === 'emailAddress') return Tag.IA5_STRING;
  return Tag.UTF8_STRING;
}

function isKnownType(type: string): type is NameAttributeType {
  return Object.hasOwn(NAME_ATTRIBUTES, type);
}

/** Encodes attributes as a Name, one attribute per RDN, in the order given. */
export function encodeName(attributes: readonly NameAttribute[]): Buffer {
  return encodeSequence(
    ...attributes.map((a) => {
      if (!isKnownType(a.type)) throw nameError('UNKNOWN_ATTRIBUTE', `cannot encode subject attribute ${a.type}`);
      if (CONTROL.test(a.value)) throw nameError('CONTROL_CHARACTER', `subject ${a.type} contains a control character`);
      return encodeSetOf([encodeSequence(encodeOid(NAME_ATTRIBUTES[a.type]), encodeString(stringTagFor(a.type), a.value))]);
    }),
  );
}

export function makeName(attributes: readonly NameAttribute[]): DistinguishedName {
  return { attributes, der: encodeName(attributes) };
}

export function commonName(name: DistinguishedName): string | undefined {
  return name.attributes.find((a) => a.type === 'CN')?.value;
}

export function organizations(name: DistinguishedName): string[] {
  return name.attributes.filter((a) => a.type === 'O').map((a) => a.value);
}

/** `CN=x, O=y` for messages and tables; values with separators are quoted. */
export function formatName(name: DistinguishedName): string {
  return name.attributes.map((a) => `${a.type}=${/[,=+"]/.test(a.value) ? JSON.stringify(a.value) : a.value}`).join(', ');
}

/** The rules a requested subject must satisfy: known types only, at most one CN. */
export function assertRequestableSubject(name: DistinguishedName): void {
  let cn = 0;
  for (const a of name.attributes) {
    if (!isKnownType(a.type)) throw nameError('UNKNOWN_ATTRIBUTE', `subject attribute ${a.type} is not supported`);
    if (a.type === 'CN' && ++cn > 1) throw nameError('DUPLICATE_CN', 'subject has more than one CN');
    if (a.value === '') throw nameError('EMPTY_VALUE', `subject ${a.type} is empty`);
  }
}
