/**
 * The agent's Node: it registers `core/v1` Node `<node-name>` with the addresses it puts in its
 * serving certificate request (a Hostname, InternalIPs, and InternalDNS for any further names),
 * authenticated by its node client certificate, as the kubelet registers itself. The serving
 * approver takes these addresses as evidence, and node restriction lets a node write only its
 * own Node. Registration is retried with backoff until it succeeds, then re-checked periodically
 * so that a deleted Node or changed addresses are put right.
 */
import type { NodeAddress } from '../api/nodes.ts';
import { type Clock, sleep } from '../base/clock.ts';
import { isTlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import { type ConnectionConfig, KubeClient } from '../client/client.ts';
import { canonicalIp } from '../pki/index.ts';
import { retryDelayMs } from './rotation.ts';

const NODES = '/api/v1/nodes';

/** The Node addresses for a node name and the SANs of its serving certificate. */
export function nodeAddressesFor(
  nodeName: string,
  sans: { readonly dns: readonly string[]; readonly ip: readonly string[] },
): NodeAddress[] {
  return [
    { type: 'Hostname', address: nodeName },
    ...[...new Set(sans.ip.map(canonicalIp))].map((address): NodeAddress => ({ type: 'InternalIP', address })),
    ...[...new Set(sans.dns)].filter((d) => d !== nodeName).map((address): NodeAddress => ({ type: 'InternalDNS', address })),
  ];
}

function sameAddresses(a: unknown, b: readonly NodeAddress[]): boolean {
  if (!Array.isArray(a) || a.length !== b.length) return false;
  return a.every((x, i) => isObject(x) && x.type === b[i]?.type && x.address === b[i]?.address);
}

export type Registration = 'created' | 'updated' | 'unchanged';

/** Creates the Node with `addresses`, or sets them through its status when it differs. */
export async function registerNode(client: KubeClient, nodeName: string, addresses: readonly NodeAddress[]): Promise<Registration> {
  const path = `${NODES}/${encodeURIComponent(nodeName)}`;
  let current: Record<string, unknown> | undefined;
  try {
    current = await client.request(path);
  } catch (error) {
    if (!(isTlsbootError(error) && error.code === 'NOT_FOUND')) throw error;
  }
  if (current === undefined) {
    try {
      await client.request(NODES, {
        method: 'POST',
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName }, status: { addresses } },
      });
      return 'created';
    } catch (error) {
      // Created meanwhile (an earlier attempt whose answer was lost): set the addresses below.
      if (!(isTlsbootError(error) && error.code === 'ALREADY_EXISTS')) throw error;
    }
  } else if (sameAddresses(isObject(current.status) ? current.status.addresses : undefined, addresses)) {
    return 'unchanged';
  }
  await client.request(`${path}/status`, {
    method: 'PATCH',
    contentType: 'application/merge-patch+json',
    body: { status: { addresses } },
  });
  return 'updated';
}

export interface NodeRegistrarOptions {
  readonly nodeName: string;
  readonly addresses: readonly NodeAddress[];
  /** The node's client-certificate connection now, or undefined while it has none usable. */
  readonly connection: () => ConnectionConfig | undefined;
  readonly clock: Clock;
  /** The backoff's jitter; [0, 1). */
  readonly random: () => number;
  /** Waits between attempts; on the clock by default (tests observe the waits). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How often a registered Node is checked again. */
  readonly resyncMs?: number;
  readonly log: (event: Record<string, unknown>, message: string) => void;
  readonly warn: (event: Record<string, unknown>, message: string) => void;
}

/** Keeps the node's Node registered; `firstAttempt` settles after the first try, whatever its outcome. */
export class NodeRegistrar {
  private readonly o: NodeRegistrarOptions;
  private settleFirst: () => void = () => {};
  readonly firstAttempt: Promise<void>;

  constructor(o: NodeRegistrarOptions) {
    this.o = o;
    this.firstAttempt = new Promise((r) => {
      this.settleFirst = r;
    });
  }

  /** One attempt with a fresh connection. */
  async registerOnce(): Promise<Registration> {
    const connection = this.o.connection();
    if (connection === undefined) throw new Error('no usable client certificate yet');
    const client = new KubeClient(connection);
    try {
      return await registerNode(client, this.o.nodeName, this.o.addresses);
    } finally {
      client.close();
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const outcome = await this.registerOnce();
        failures = 0;
        if (outcome !== 'unchanged') this.o.log({ node: this.o.nodeName, addresses: this.o.addresses, outcome }, 'node registered');
      } catch (error) {
        failures++;
        this.o.warn({ node: this.o.nodeName, error: error instanceof Error ? error.message : String(error) }, 'node registration failed');
      }
      this.settleFirst();
      if (signal.aborted) return;
      await (this.o.sleep ?? ((ms: number, sig: AbortSignal) => sleep(this.o.clock, ms, sig)))(
        failures > 0 ? retryDelayMs(failures, this.o.random) : (this.o.resyncMs ?? 300_000),
        signal,
      );
    }
    this.settleFirst();
  }
}
