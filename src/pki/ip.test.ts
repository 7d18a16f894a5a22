/**
 * IP address text <-> iPAddress SAN octets (ip.ts). IPv4 and IPv6 round-trip; IPv6 is printed in
 * the RFC 5952 §4 canonical form (lower case, no leading zeros, the longest run of two or more
 * zero groups compressed, the first one on a tie, a single zero group never compressed), checked
 * rule by rule and against the WHATWG URL host serialiser (an implementation nobody here wrote)
 * for thousands of seeded random addresses. Text that is not exactly an address (zone IDs, CIDR
 * suffixes, leading zeros in IPv4, white space) is refused with IP_ADDRESS.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { bytesToIp, canonicalIp, ipToBytes } from './ip.ts';

function rejects(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: 'INVALID', reason: 'IP_ADDRESS' });
    return true;
  });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** mulberry32: a small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('IPv4', () => {
  test('round-trips, including the extremes', () => {
    for (const [text, octets] of [
      ['0.0.0.0', '00000000'],
      ['10.0.0.1', '0a000001'],
      ['192.168.255.254', 'c0a8fffe'],
      ['255.255.255.255', 'ffffffff'],
    ] as const) {
      assert.equal(hex(ipToBytes(text)), octets);
      assert.equal(bytesToIp(Buffer.from(octets, 'hex')), text);
      assert.equal(canonicalIp(text), text);
    }
  });

  test('refuses anything that is not exactly a dotted quad', () => {
    for (const bad of [
      '10.0.0.256',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.4/32',
      ' 1.2.3.4',
      '1.2.3.4\n',
      '0x7f.0.0.1',
      'localhost',
      '',
    ]) {
      rejects(() => ipToBytes(bad));
    }
  });
});

describe('IPv6', () => {
  test('RFC 5952 §4 rules, one by one', () => {
    const cases: [string, string, string][] = [
      ['leading zeros dropped (4.1)', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['lower case (4.3)', '2001:DB8:AB::CD', '2001:db8:ab::cd'],
      ['longest run compressed (4.2.1)', '2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
      ['one zero group is not compressed (4.2.2)', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['longest of two runs (4.2.3)', '2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['first run on a tie (4.2.3)', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['all zeros', '0:0:0:0:0:0:0:0', '::'],
      ['loopback', '0:0:0:0:0:0:0:1', '::1'],
      ['trailing run', 'fe80:0:0:0:0:0:0:0', 'fe80::'],
      ['no zeros', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['compressed input, expanded output', '1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['embedded IPv4 input', '64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      // RFC 5952 §5 only RECOMMENDS dotted notation for IPv4-mapped addresses; tlsboot prints
      // every IPv6 address in §4 form (as WHATWG URL does), so one address has one spelling.
      ['IPv4-mapped', '::ffff:127.0.0.1', '::ffff:7f00:1'],
    ];
    for (const [rule, input, canonical] of cases) {
      assert.equal(canonicalIp(input), canonical, rule);
      assert.equal(canonicalIp(canonical), canonical, `${rule}: canonical form is a fixed point`);
      assert.equal(ipToBytes(input).length, 16);
    }
  });

  test('matches the WHATWG URL serialiser and round-trips for 5,000 seeded random addresses', () => {
    const rand = prng(0x1f2e3d4c);
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(16);
      for (let w = 0; w < 8; w++) {
        // Mostly zero groups, so runs and ties of every length occur.
        const word = rand() < 0.55 ? 0 : Math.floor(rand() * 0x10000);
        bytes[2 * w] = word >> 8;
        bytes[2 * w + 1] = word & 0xff;
      }
      const text = bytesToIp(bytes);
      assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname, `WHATWG agrees on ${hex(bytes)}`);
      assert.equal(hex(ipToBytes(text)), hex(bytes), `round trip of ${text}`);
      const expanded = Array.from({ length: 8 }, (_, w) =>
        (((bytes[2 * w] as number) << 8) | (bytes[2 * w + 1] as number)).toString(16).padStart(4, '0').toUpperCase(),
      ).join(':');
      assert.equal(canonicalIp(expanded), text);
    }
  });

  test('refuses zone IDs, prefixes and malformed text instead of dropping what it does not understand', () => {
    for (const bad of [
      'fe80::1%eth0',
      'fe80::1%25eth0',
      '2001:db8::/32',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      ':::',
      '12345::',
      'g::1',
      '[::1]',
      '::1 ',
      '::ffff:1.2.3',
    ]) {
      rejects(() => ipToBytes(bad));
    }
  });

  test('octets of any length but 4 or 16 are refused', () => {
    for (const n of [0, 3, 5, 15, 17]) rejects(() => bytesToIp(new Uint8Array(n)));
  });
});
