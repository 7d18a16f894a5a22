/**
 * IP address text <-> the 4 or 16 octets an iPAddress SAN carries. IPv6 is printed in the
 * RFC 5952 canonical form, so two spellings of one address compare equal as strings.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidError } from '../base/errors.ts';

export function ipToBytes(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  // node:net accepts a zone ID ("fe80::1%eth0"), which an iPAddress SAN cannot carry: refuse it, never drop it.
  if (!isIPv6(text) || text.includes('%')) throw new InvalidError('IP_ADDRESS', `"${text}" is not an IP address`);
  let s = text;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    tail.push(...(v4[1] as string).split('.').map(Number));
    s = `${s.slice(0, v4.index)}0:0`;
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const words = (x: string) => (x === '' ? [] : x.split(':').map((w) => Number.parseInt(w, 16)));
  const h = words(head);
  const r = rest === undefined ? [] : words(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new InvalidError('IP_ADDRESS', `an IP address has 4 or 16 octets, not ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // RFC 5952: compress the longest run of two or more zero words, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hexes = words.map((w) => w.toString(16));
  if (best < 0) return hexes.join(':');
  return `${hexes.slice(0, best).join(':')}::${hexes.slice(best + bestLen).join(':')}`;
}

/** The canonical text of an address, or an INVALID error naming the input. */
export function canonicalIp(text: string): string {
  return bytesToIp(ipToBytes(text));
}

/**
 * The form in which two addresses are compared for identity: canonical text, with IPv6 addresses
 * that carry an IPv4 address (mapped, compatible, NAT64, 6to4) taken as that IPv4 address, so no
 * spelling of an address escapes a rule about it.
 */
export function comparableIp(text: string): string {
  const b = ipToBytes(text);
  const v4 = embeddedIpv4(b);
  return bytesToIp(v4 ?? b);
}

const hex = (b: Uint8Array, from: number, to: number) => Array.from(b.subarray(from, to), (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one and
 * reach it: IPv4-mapped ::ffff:0:0/96 and the SIIT ::ffff:0:0:0/96, IPv4-compatible ::/96 (not
 * :: or ::1), NAT64's well-known 64:ff9b::/96 and local-use 64:ff9b:1::/48 (RFC 6052, /96 form),
 * and 6to4 2002::/16 (RFC 3056).
 */
function embeddedIpv4(b: Uint8Array): Uint8Array | undefined {
  if (b.length !== 16) return undefined;
  const head = hex(b, 0, 12);
  if (head === '00000000000000000000ffff' || head === '0000000000000000ffff0000') return b.subarray(12);
  if (head === '000000000000000000000000' && (b[12] !== 0 || b[13] !== 0)) return b.subarray(12);
  if (head === '0064ff9b0000000000000000' || (hex(b, 0, 6) === '0064ff9b0001' && hex(b, 6, 12) === '000000000000')) return b.subarray(12);
  if (b[0] === 0x20 && b[1] === 0x02) return b.subarray(2, 6);
  return undefined;
}
