/**
 * The serving approver's policy (security.md §5 items 30-34) and the bootstrap-token rules (items
 * 1-6): every forbidden SAN form is denied with a reason naming it, honest requests are approved,
 * and token Secrets are judged exactly as reference §1 says.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCsrPem, generatePrivateKey, parseCsrPem } from '../pki/index.ts';
import { bootstrapTokenSecret, checkBootstrapTokenSecret, parseBootstrapToken } from './core.ts';
import { NodeNameIndex, reservedIdentities } from './identity.ts';
import type { NodeAddress } from './nodes.ts';
import { evaluateServingRequest, parseServingPolicy, type ServingContext, type ServingPolicy } from './serving-policy.ts';

const policy = parseServingPolicy({
  nodes: { 'node-1': { ips: ['10.0.0.11'], dns: ['node-1.corp.example'] }, 'node-2': { ips: ['10.0.0.12'] } },
  allowedCidrs: ['10.1.0.0/16'],
  dnsSuffixes: ['.nodes.example'],
});
const key = generatePrivateKey('ecdsa-p256');

function request(
  sans: { dns?: string[]; ip?: string[]; email?: string[] },
  opts: { cn?: string; user?: string; groups?: string[]; usages?: string[] } = {},
) {
  const csr = parseCsrPem(
    createCsrPem({
      key,
      subject: [
        { type: 'O', value: 'system:nodes' },
        { type: 'CN', value: opts.cn ?? 'system:node:node-1' },
      ],
      sans: { dns: sans.dns ?? [], ip: sans.ip ?? [], email: sans.email ?? [], uri: [] },
    }),
  );
  return evaluateServingRequest(
    {
      signerName: 'kubernetes.io/kubelet-serving',
      csr,
      usages: opts.usages ?? ['digital signature', 'server auth'],
      username: opts.user ?? 'system:node:node-1',
      groups: opts.groups ?? ['system:nodes', 'system:authenticated'],
    },
    policy,
  );
}

function denied(d: ReturnType<typeof request>, pattern: RegExp): void {
  assert.equal(d.kind, 'deny', JSON.stringify(d));
  assert.match(d.kind === 'deny' ? d.problems.join('; ') : '', pattern);
}

describe('serving policy', () => {
  test('approves names and addresses that belong to the node by inventory, CIDR or suffix', () => {
    assert.equal(
      request({ dns: ['node-1', 'node-1.corp.example', 'node-1.nodes.example'], ip: ['10.0.0.11', '10.1.2.3'] }).kind,
      'approve',
    );
  });

  const deniedIps: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['::ffff:127.0.0.1', /loopback/],
    ['169.254.169.254', /link-local/],
    ['10.96.0.1', /forbidden range 10\.96\.0\.0\/12/],
    ['10.0.0.12', /belongs to node node-2/],
    ['192.168.5.5', /not an address of node-1/],
  ];
  // SANs are shown canonically (::ffff:127.0.0.1 reads ::ffff:7f00:1), so match the reason.
  for (const [ip, why] of deniedIps)
    test(`denies IP ${ip}`, () => denied(request({ dns: ['node-1'], ip: [ip] }), new RegExp(`IP \\S+ .*${why.source}`)));

  const deniedDns: [string, RegExp][] = [
    ['node-2', /belongs to node node-2/],
    ['kubernetes.default.svc', /API server name/],
    ['kubernetes', /API server name/],
    ['web.default.svc.cluster.local', /cluster service name/],
    ['*.nodes.example', /wildcard/],
    ['localhost', /loopback name/],
    ['Node-1', /not lower case/],
    ['node-1.', /trailing dot/],
    ['xn--node-1.nodes.example', /punycode/],
    [`${'a'.repeat(64)}.example`, /not a valid DNS name/],
    ['node-1..example', /not a valid DNS name/],
    ['node_1.example', /not a valid DNS name/],
    ['evil.example', /not a name of node-1/],
  ];
  for (const [dns, why] of deniedDns) test(`denies DNS ${dns.slice(0, 30)}`, () => denied(request({ dns: [dns], ip: ['10.0.0.11'] }), why));

  test('denies a requester that is not the node named, a non-node, bad usages, email SANs, and too many SANs', () => {
    denied(request({ ip: ['10.0.0.11'] }, { user: 'system:node:node-2' }), /sent by system:node:node-2/);
    denied(request({ ip: ['10.0.0.11'] }, { user: 'system:node:node-1', groups: ['system:authenticated'] }), /is not a node/);
    denied(request({ ip: ['10.0.0.11'] }, { usages: ['digital signature', 'server auth', 'client auth'] }), /usages must be exactly/);
    denied(request({ ip: ['10.0.0.11'], email: ['a@example.com'] }), /email or URI/);
    denied(request({ ip: Array.from({ length: 17 }, (_, i) => `10.1.0.${i + 1}`) }), /at most 16/);
  });

  test('refuses a malformed policy with the field named', () => {
    assert.throws(
      () => parseServingPolicy({ allowedCidrs: ['10.0.0.0'] }),
      (e: unknown) => (e as { field?: string }).field === 'allowedCidrs',
    );
    assert.throws(
      () => parseServingPolicy({ nodes: { a: { ips: ['nope'] } } }),
      (e: unknown) => (e as { field?: string }).field === 'nodes.a.ips',
    );
    assert.throws(
      () => parseServingPolicy({ dnsSuffixes: ['nodes.example'] }),
      (e: unknown) => (e as { field?: string }).field === 'dnsSuffixes',
    );
  });
});

describe('serving policy with DNS resolution', () => {
  const withDns = parseServingPolicy({ resolveDns: true, nodes: { 'node-1': { ips: ['10.0.0.11'] }, 'node-2': { ips: ['10.0.0.12'] } } });
  const req = () => {
    const csr = parseCsrPem(
      createCsrPem({
        key,
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: 'system:node:node-1' },
        ],
        sans: { dns: ['web.example'], ip: ['10.0.0.11'], email: [], uri: [] },
      }),
    );
    return {
      signerName: 'kubernetes.io/kubelet-serving',
      csr,
      usages: ['digital signature', 'server auth'],
      username: 'system:node:node-1',
      groups: ['system:nodes'],
    };
  };
  test('without resolution a name the policy does not vouch for is denied', () => {
    const d = evaluateServingRequest(req(), policy);
    assert.equal(d.kind, 'deny');
  });
  test('a name resolving only to the node’s addresses is approved', () => {
    assert.equal(evaluateServingRequest(req(), withDns, new Map([['web.example', ['10.0.0.11']]])).kind, 'approve');
  });
  test('a name resolving to another node’s address, or to nothing, is denied with the reason', () => {
    const other = evaluateServingRequest(req(), withDns, new Map([['web.example', ['10.0.0.11', '10.0.0.12']]]));
    assert.match(other.kind === 'deny' ? other.problems.join() : '', /resolves to 10\.0\.0\.12/);
    const none = evaluateServingRequest(req(), withDns, new Map([['web.example', []]]));
    assert.match(none.kind === 'deny' ? none.problems.join() : '', /does not resolve/);
  });
  test('a transient lookup failure asks for a retry instead of a denial', () => {
    assert.equal(evaluateServingRequest(req(), withDns, new Map([['web.example', 'transient']])).kind, 'retry');
  });
});

describe('bootstrap token rules (reference §1)', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const token = { id: 'abc123', secret: '0123456789abcdef' };
  const secret = (overrides: Record<string, string | undefined> = {}) => {
    const s = bootstrapTokenSecret({
      token,
      usages: ['authentication', 'signing'],
      groups: ['system:bootstrappers:kubeadm:default-node-token'],
      expiration: new Date('2026-06-02T00:00:00Z'),
    });
    const data = { ...(s.data as Record<string, string>) };
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete data[k];
      else data[k] = Buffer.from(v).toString('base64');
    }
    return { ...s, data };
  };

  test('tokens that do not match the format are refused without echoing them', () => {
    for (const bad of [
      'ABC123.0123456789abcdef',
      'abc123.0123456789abcde',
      'abc123.0123456789abcdefg',
      'abc.123.0123456789abcd',
      'abc123.0123456789abcdef\n',
      'аbc123.0123456789abcdef',
    ]) {
      assert.throws(
        () => parseBootstrapToken(bad),
        (e: unknown) => (e as { reason?: string }).reason === 'TOKEN_FORMAT' && !(e as Error).message.includes(bad),
      );
    }
  });

  test('a valid token yields its usages and groups', () => {
    const check = checkBootstrapTokenSecret(secret(), now);
    assert.ok(check.ok);
    assert.deepEqual(check.ok && check.token.usages, { authentication: true, signing: true });
  });

  test('expired one second ago, or an unparsable expiration, is invalid', () => {
    assert.equal(checkBootstrapTokenSecret(secret({ expiration: '2026-05-31T23:59:59Z' }), now).ok, false);
    assert.equal(checkBootstrapTokenSecret(secret({ expiration: 'tomorrow' }), now).ok, false);
  });

  test('usage-bootstrap-authentication must be exactly "true"', () => {
    const check = checkBootstrapTokenSecret(secret({ 'usage-bootstrap-authentication': 'yes' }), now);
    assert.ok(check.ok && !check.token.usages.authentication);
    const missing = checkBootstrapTokenSecret(secret({ 'usage-bootstrap-authentication': undefined }), now);
    assert.ok(missing.ok && !missing.token.usages.authentication);
  });

  test('one extra group outside system:bootstrappers:* (system:masters) invalidates the token, and cannot be created', () => {
    assert.equal(checkBootstrapTokenSecret(secret({ 'auth-extra-groups': 'system:bootstrappers:ok,system:masters' }), now).ok, false);
    assert.throws(
      () => bootstrapTokenSecret({ token, usages: ['authentication'], groups: ['system:masters'] }),
      (e: unknown) => (e as { reason?: string }).reason === 'TOKEN_GROUP',
    );
  });

  test('a token-id that disagrees with the Secret name is invalid', () => {
    assert.equal(checkBootstrapTokenSecret(secret({ 'token-id': 'zzz999' }), now).ok, false);
  });
});

describe('serving requests and the identity rules', () => {
  const nodes = new NodeNameIndex();
  nodes.set('registered/web', 'web');
  nodes.set('registered/node-1', 'node-1');
  const ctx: ServingContext = {
    reserved: reservedIdentities([
      { source: 'API server certificate', dns: ['api.example', 'cp-1', 'kubernetes'], ip: ['10.96.0.1', '10.1.0.1'] },
    ]),
    nodes,
    addressHolder: (ip) => (ip === '10.1.0.50' ? 'node-2' : ip === '10.1.0.11' ? 'node-1' : undefined),
  };
  const csrFor = (sans: { dns?: string[]; ip?: string[] }, cn = 'system:node:node-1') =>
    parseCsrPem(
      createCsrPem({
        key,
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: cn },
        ],
        sans: { dns: sans.dns ?? [], ip: sans.ip ?? [], email: [], uri: [] },
      }),
    );
  const decide = (sans: { dns?: string[]; ip?: string[] }, withPolicy: boolean, node = 'node-1') =>
    evaluateServingRequest(
      {
        signerName: 'kubernetes.io/kubelet-serving',
        csr: csrFor(sans, `system:node:${node}`),
        usages: ['digital signature', 'server auth'],
        username: `system:node:${node}`,
        groups: ['system:nodes', 'system:authenticated'],
      },
      withPolicy ? policy : undefined,
      new Map(),
      ctx,
    );

  for (const withPolicy of [true, false]) {
    const mode = withPolicy ? 'with a policy' : 'without a policy';
    test(`${mode}: a reserved name or address in any spelling is denied`, () => {
      for (const sans of [
        { dns: ['api.example'] },
        { dns: ['node-1', 'cp-1'] },
        { ip: ['10.96.0.1'] },
        { ip: ['::ffff:10.96.0.1'] },
        { ip: ['::10.1.0.1'] },
      ]) {
        const d = decide(sans, withPolicy);
        assert.equal(d.kind, 'deny', `${JSON.stringify(sans)}: ${JSON.stringify(d)}`);
        assert.equal(d.kind === 'deny' ? d.reason : '', 'ReservedIdentity');
      }
      denied(decide({ dns: ['API.EXAMPLE'] }, withPolicy), /reserved|not lower case/);
    });

    test(`${mode}: another node's names and held addresses are denied`, () => {
      denied(decide({ dns: ['web'] }, withPolicy), /belongs to node web/);
      denied(decide({ dns: ['web.nodes.example'] }, withPolicy), /belongs to node web/);
      denied(decide({ ip: ['10.1.0.50'] }, withPolicy), /held by node node-2/);
      denied(decide({ ip: ['127.0.0.1'] }, withPolicy), /loopback/);
      denied(decide({ ip: ['169.254.169.254'] }, withPolicy), /link-local/);
      denied(decide({ ip: ['10.96.0.10'] }, withPolicy), /forbidden range/);
    });

    test(`${mode}: a node whose own name is reserved or overlaps another node is denied`, () => {
      const d = decide({ dns: ['web.x'] }, withPolicy, 'web.x');
      assert.equal(d.kind === 'deny' ? d.reason : d.kind, 'InvalidNodeName');
      const r = decide({ dns: ['cp-1'] }, withPolicy, 'cp-1');
      assert.equal(r.kind === 'deny' ? r.reason : r.kind, 'InvalidNodeName');
    });
  }

  test('without a policy, what is not known to be wrong waits for a person; its own held address is fine', () => {
    assert.equal(decide({ dns: ['node-1', 'node-1.corp.example'], ip: ['10.1.2.3', '10.1.0.11'] }, false).kind, 'wait');
    assert.equal(decide({ dns: ['node-1.nodes.example'], ip: ['10.1.0.11'] }, true).kind, 'approve');
  });
});

describe('serving decisions with Node evidence (Node.status.addresses)', () => {
  const nodes = new NodeNameIndex();
  nodes.set('registered/node-1', 'node-1');
  nodes.set('registered/node-2', 'node-2');
  const ctx: ServingContext = {
    reserved: reservedIdentities([{ source: 'API server certificate', dns: ['api.example'], ip: ['10.0.0.1'] }]),
    nodes,
    addressHolder: (ip) => (ip === '10.0.0.50' ? 'node-2' : undefined),
  };
  const decide = (sans: { dns?: string[]; ip?: string[] }, addresses: NodeAddress[] | undefined, withPolicy?: ServingPolicy) =>
    evaluateServingRequest(
      {
        signerName: 'kubernetes.io/kubelet-serving',
        csr: parseCsrPem(
          createCsrPem({
            key,
            subject: [
              { type: 'O', value: 'system:nodes' },
              { type: 'CN', value: 'system:node:node-1' },
            ],
            sans: { dns: sans.dns ?? [], ip: sans.ip ?? [], email: [], uri: [] },
          }),
        ),
        usages: ['digital signature', 'server auth'],
        username: 'system:node:node-1',
        groups: ['system:nodes', 'system:authenticated'],
      },
      withPolicy,
      new Map(),
      ctx,
      addresses,
    );
  const registered: NodeAddress[] = [
    { type: 'Hostname', address: 'node-1' },
    { type: 'InternalDNS', address: 'node-1.internal.example' },
    { type: 'InternalIP', address: '10.0.0.11' },
    { type: 'ExternalIP', address: '2001:db8::11' },
  ];
  const message = (d: ReturnType<typeof decide>) => (d.kind === 'deny' ? d.problems.join('; ') : 'message' in d ? d.message : '');

  test('without a policy, every SAN among the Node addresses approves it', () => {
    const d = decide({ dns: ['node-1', 'node-1.internal.example'], ip: ['10.0.0.11', '2001:db8:0:0::11'] }, registered);
    assert.equal(d.kind, 'approve', JSON.stringify(d));
    assert.equal(d.kind === 'approve' && d.reason, 'NodeAddressesApproved');
  });

  test('without a policy, one SAN missing from the Node (or listed under the wrong type) withholds it for a person', () => {
    const missing = decide({ dns: ['node-1'], ip: ['10.0.0.11', '10.0.0.12'] }, registered);
    assert.equal(missing.kind, 'wait', JSON.stringify(missing));
    assert.match(message(missing), /IP 10\.0\.0\.12 is not among Node node-1's status\.addresses/);
    const wrongType = decide({ dns: ['node-1'], ip: ['10.0.0.11'] }, [
      { type: 'InternalIP', address: '10.0.0.11' },
      { type: 'InternalIP', address: 'node-1' },
    ]);
    assert.equal(wrongType.kind, 'wait', JSON.stringify(wrongType));
    assert.match(message(wrongType), /DNS name node-1 is not among/);
    assert.equal(decide({ dns: ['node-1'] }, []).kind, 'wait', 'a Node without addresses vouches for nothing');
  });

  test('without a Node, the decision is exactly the one without Node evidence', () => {
    const d = decide({ dns: ['node-1'], ip: ['10.0.0.11'] }, undefined);
    assert.equal(d.kind, 'wait', JSON.stringify(d));
    assert.match(message(d), /No serving policy is configured, so a person decides: nothing in the request is known to be wrong/);
  });

  test('what no evidence can allow is still denied, even when the Node lists it', () => {
    const listing = (extra: NodeAddress) => [...registered, extra];
    const cases: [{ dns?: string[]; ip?: string[] }, NodeAddress, string, RegExp][] = [
      [{ ip: ['10.0.0.1'] }, { type: 'InternalIP', address: '10.0.0.1' }, 'ReservedIdentity', /10\.0\.0\.1/],
      [{ dns: ['api.example'] }, { type: 'InternalDNS', address: 'api.example' }, 'ReservedIdentity', /api\.example/],
      [{ ip: ['127.0.0.1'] }, { type: 'InternalIP', address: '127.0.0.1' }, 'SANNotOwnedByNode', /loopback/],
      [{ ip: ['10.96.0.10'] }, { type: 'InternalIP', address: '10.96.0.10' }, 'SANNotOwnedByNode', /forbidden range/],
      [{ ip: ['10.0.0.50'] }, { type: 'InternalIP', address: '10.0.0.50' }, 'SANNotOwnedByNode', /held by node node-2/],
      [{ dns: ['node-2'] }, { type: 'Hostname', address: 'node-2' }, 'SANNotOwnedByNode', /belongs to node node-2/],
    ];
    for (const [sans, extra, reason, why] of cases) {
      const d = decide({ dns: ['node-1', ...(sans.dns ?? [])], ip: sans.ip ?? [] }, listing(extra));
      assert.equal(d.kind, 'deny', `${JSON.stringify(sans)}: ${JSON.stringify(d)}`);
      assert.equal(d.kind === 'deny' && d.reason, reason, JSON.stringify(sans));
      assert.match(message(d), why);
    }
    const many = Array.from({ length: 16 }, (_, i) => `10.2.0.${i + 1}`);
    const crowded = decide({ dns: ['node-1'], ip: many }, [
      ...registered,
      ...many.map((address): NodeAddress => ({ type: 'InternalIP', address })),
    ]);
    assert.equal(crowded.kind === 'deny' && crowded.reason, 'TooManySANs', JSON.stringify(crowded));
  });

  test('a requester named like a node but outside system:nodes is not a node, whatever its Node says', () => {
    const d = evaluateServingRequest(
      {
        signerName: 'kubernetes.io/kubelet-serving',
        csr: parseCsrPem(
          createCsrPem({
            key,
            subject: [
              { type: 'O', value: 'system:nodes' },
              { type: 'CN', value: 'system:node:node-1' },
            ],
            sans: { dns: ['node-1'], ip: [], email: [], uri: [] },
          }),
        ),
        usages: ['digital signature', 'server auth'],
        username: 'system:node:node-1',
        groups: ['system:authenticated'],
      },
      undefined,
      new Map(),
      ctx,
      registered,
    );
    assert.equal(d.kind === 'deny' && d.reason, 'RequesterNotANode', JSON.stringify(d));
  });

  test('with a policy, its limits still apply: both the Node and the policy must vouch for every SAN', () => {
    const strict = parseServingPolicy({ nodes: { 'node-1': { ips: ['10.0.0.11'] } } });
    const both = decide({ dns: ['node-1'], ip: ['10.0.0.11'] }, registered, strict);
    assert.equal(both.kind === 'approve' && both.reason, 'ServingPolicyApproved', JSON.stringify(both));
    const onlyNode = decide({ dns: ['node-1'], ip: ['10.0.0.11', '2001:db8::11'] }, registered, strict);
    assert.equal(onlyNode.kind, 'deny', JSON.stringify(onlyNode));
    assert.match(message(onlyNode), /IP 2001:db8::11 is not an address of node-1/);
    const onlyPolicy = decide({ dns: ['node-1'], ip: ['10.0.0.11'] }, [{ type: 'Hostname', address: 'node-1' }], strict);
    assert.equal(onlyPolicy.kind, 'deny', JSON.stringify(onlyPolicy));
    assert.match(message(onlyPolicy), /IP 10\.0\.0\.11 is not among Node node-1's status\.addresses/);
    const capped = parseServingPolicy({ nodes: { 'node-1': { ips: ['10.0.0.11'] } }, maxSans: 1 });
    assert.equal(decide({ dns: ['node-1'], ip: ['10.0.0.11'] }, registered, capped).kind === 'deny', true, 'the policy SAN cap');
  });
});
