/**
 * The identity rules: every spelling of a reserved name or address is caught, node names are
 * DNS-1123 subdomains that are not reserved (also with a DNS suffix), and no node's name lies in
 * another's name space, in either direction.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { comparableIp } from '../pki/index.ts';
import {
  NodeNameIndex,
  nodeNameProblem,
  normalDnsName,
  reservedIdentities,
  reservedIpSource,
  reservedNameSource,
  reservedSanProblems,
} from './identity.ts';

const reserved = reservedIdentities([
  { source: 'API server certificate', dns: ['api.example', 'cp-1', 'kubernetes.default', '*.apps.example'], ip: ['10.96.0.1', 'fd00::1'] },
  { source: 'etcd server certificate', dns: ['cp-1', 'localhost'], ip: ['192.168.0.10'] },
]);

describe('reserved identities', () => {
  test('DNS names compare case-insensitively and without a trailing dot', () => {
    assert.equal(normalDnsName('API.Example.'), 'api.example');
    for (const spelling of ['api.example', 'API.EXAMPLE', 'api.example.', 'Api.Example.']) {
      assert.equal(reservedNameSource(reserved, spelling), 'API server certificate', spelling);
    }
    assert.equal(reservedNameSource(reserved, 'cp-1'), 'API server certificate', 'the first source that reserves a name names it');
    assert.equal(reservedNameSource(reserved, 'api.example.org'), undefined);
    assert.equal(reservedNameSource(reserved, 'xapi.example'), undefined);
  });

  test('a reserved wildcard reserves every name it covers, and only those', () => {
    assert.equal(reservedNameSource(reserved, 'console.apps.example'), 'API server certificate');
    assert.equal(reservedNameSource(reserved, 'CONSOLE.apps.example.'), 'API server certificate');
    assert.equal(reservedNameSource(reserved, 'a.b.apps.example'), undefined, 'a wildcard covers one label');
    assert.equal(reservedNameSource(reserved, 'apps.example'), undefined);
  });

  test('IPs compare in canonical form, IPv4-mapped and IPv4-compatible IPv6 included', () => {
    assert.equal(comparableIp('::ffff:10.96.0.1'), '10.96.0.1');
    assert.equal(comparableIp('::ffff:a60:1'), '10.96.0.1');
    assert.equal(comparableIp('::10.96.0.1'), '10.96.0.1');
    assert.equal(comparableIp('::1'), '::1', 'the loopback is not an IPv4-compatible address');
    for (const nat of [
      '64:ff9b::10.96.0.1',
      '64:ff9b::a60:1',
      '64:ff9b:1::10.96.0.1',
      '2002:a60:1::',
      '2002:a60:1:1::5',
      '::ffff:0:10.96.0.1',
    ])
      assert.equal(comparableIp(nat), '10.96.0.1', nat);
    assert.equal(comparableIp('64:ff9b:2::a60:1'), '64:ff9b:2::a60:1', 'not a NAT64 prefix');
    assert.equal(comparableIp('2001:db8::a60:1'), '2001:db8::a60:1');
    assert.equal(comparableIp('::'), '::');
    for (const spelling of ['10.96.0.1', '::ffff:10.96.0.1', '::ffff:0a60:0001', '::10.96.0.1', '0:0:0:0:0:ffff:10.96.0.1']) {
      assert.equal(reservedIpSource(reserved, spelling), 'API server certificate', spelling);
    }
    assert.equal(reservedIpSource(reserved, 'FD00:0:0::1'), 'API server certificate');
    assert.equal(reservedIpSource(reserved, '10.96.0.2'), undefined);
    assert.equal(reservedIpSource(reserved, 'not an ip'), undefined);
  });

  test('reservedSanProblems names each reserved SAN and the server that presents it', () => {
    const problems = reservedSanProblems(reserved, { dns: ['node-1', 'API.example.'], ip: ['10.0.0.5', '::ffff:192.168.0.10'] });
    assert.deepEqual(problems, [
      "DNS name API.example. is reserved: the cluster's API server certificate presents it",
      "IP ::ffff:192.168.0.10 is reserved: the cluster's etcd server certificate presents it",
    ]);
  });
});

describe('node names', () => {
  const index = new NodeNameIndex();
  index.set('registered/web', 'web');
  index.set('claimed/db.rack1', 'db.rack1');
  const ctx = { reserved, dnsSuffixes: ['.nodes.example', '.example'], nodes: index };

  test('must be non-empty lower-case DNS-1123 subdomains', () => {
    for (const [name, why] of [
      ['', /is empty/],
      ['Node-1', /not lower case/],
      ['node_1', /DNS-1123/],
      ['-node', /DNS-1123/],
      ['node-', /DNS-1123/],
      ['a..b', /DNS-1123/],
      ['node.', /DNS-1123/],
      ['system:node:x', /DNS-1123/],
      [`${'a'.repeat(64)}.b`, /DNS-1123/],
      ['a'.repeat(254), /longer than 253/],
      ['nöde', /DNS-1123/],
    ] as const) {
      assert.match(nodeNameProblem(name, ctx) ?? 'accepted', why, JSON.stringify(name));
    }
    assert.equal(nodeNameProblem('node-1', ctx), undefined);
    assert.equal(nodeNameProblem('node-1.rack2', ctx), undefined);
  });

  test('may not be reserved, nor become reserved with a DNS suffix', () => {
    assert.match(nodeNameProblem('cp-1', ctx) ?? '', /reserved/);
    assert.match(nodeNameProblem('api.example', ctx) ?? '', /reserved/);
    assert.match(nodeNameProblem('localhost', ctx) ?? '', /reserved: it is a name the cluster's etcd server certificate presents/);
    assert.match(nodeNameProblem('api', ctx) ?? '', /reserved: api\.example is a name the cluster's API server certificate/);
    assert.match(nodeNameProblem('x.apps', ctx) ?? '', /x\.apps\.example/, 'a suffix name under a reserved wildcard');
  });

  test("may not lie in another node's name space or hold one, in either direction", () => {
    assert.match(nodeNameProblem('web.nodes.example', ctx) ?? '', /collides with node "web"/);
    assert.match(nodeNameProblem('web.x', ctx) ?? '', /collides with node "web"/);
    assert.match(nodeNameProblem('db', ctx) ?? '', /collides with node "db\.rack1"/);
    assert.equal(nodeNameProblem('web', ctx), undefined, 'a known name is the same node: renewal is not a collision');
    assert.equal(nodeNameProblem('webserver', ctx), undefined, 'a shared prefix that is not a label is no collision');
    assert.equal(nodeNameProblem('rack1', ctx), undefined);
  });

  test('a first-time request for a known name is checked against the others; the node renewing its own name is not', () => {
    const both = new NodeNameIndex();
    both.set('claimed/web', 'web');
    both.set('claimed/web.example', 'web.example');
    const c = { reserved, dnsSuffixes: [], nodes: both };
    assert.equal(nodeNameProblem('web.example', c), undefined, 'renewal');
    assert.match(nodeNameProblem('web.example', c, true) ?? '', /collides with node "web"/);
    assert.match(nodeNameProblem('web', c, true) ?? '', /collides with node "web\.example"/);
  });

  test('the index forgets a name only when every source of it is gone', () => {
    const i = new NodeNameIndex();
    i.set('registered/a', 'alpha.one');
    i.set('claimed/a', 'alpha.one');
    assert.equal(i.overlapping('alpha'), 'alpha.one');
    i.set('registered/a', undefined);
    assert.equal(i.has('alpha.one'), true);
    assert.equal(i.overlapping('alpha'), 'alpha.one');
    i.set('claimed/a', undefined);
    assert.equal(i.has('alpha.one'), false);
    assert.equal(i.overlapping('alpha'), undefined);
    assert.equal(i.overlapping('alpha.one.two'), undefined);
  });
});
