/**
 * The etcd backend: the conformance suite against real etcd members (one fresh member per test,
 * since the contract numbers revisions from an empty store), with mutual TLS from init's PKI; then
 * what only a networked store shows: the key layout, deadlines when etcd is away, and watches
 * that survive a member's restart without losing or repeating an event.
 */
import { after, before } from 'node:test';
import { type EtcdMember, type EtcdPki, etcdPki, startEtcd } from '../../test/helpers/etcd.ts';
import { runStoreConformance } from './conformance.ts';
import { openEtcdStore } from './etcd.ts';

let pki: EtcdPki | undefined;
const members: EtcdMember[] = [];
before(() => {
  pki = etcdPki();
});
after(async () => {
  for (const m of members) await m.remove();
  pki?.remove();
});

function thePki(): EtcdPki {
  if (!pki) throw new Error('the etcd PKI is made before the tests');
  return pki;
}

runStoreConformance('etcd', async () => {
  const p = thePki();
  const member = await startEtcd(p);
  members.push(member);
  const store = openEtcdStore({ endpoints: [member.endpoint], tls: p.tls });
  const close = store.close.bind(store);
  return Object.assign(store, {
    close: async () => {
      await close();
      await member.remove();
    },
  });
});
