/**
 * What the CSR controllers did, counted as it lands: a ClusterClient decorator that, once a write
 * of a CSR succeeded (alone or in a transaction), compares what it wrote with the informer's copy
 * from before, and counts each new Approved or Denied condition (by controller and reason) and
 * each new certificate (by signer, with the seconds since the CSR was created). Counting the
 * landed write, not the decision, keeps a transaction that failed, or a lost compare-and-swap,
 * out of the counts. The controller is named by the CSR's signer: the serving approver decides
 * kubelet-serving requests, the approver every other it decides.
 */
import { csrConditions, csrIsPending, SIGNER_KUBELET_SERVING } from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { type CsrMetrics, type PendingCsr, secondsBetween } from '../base/metrics.ts';
import { type ClusterClient, CSRS, type KubeObject } from './cluster.ts';

function signerOf(csr: JsonObject): string {
  const spec = isObject(csr.spec) ? csr.spec : {};
  return typeof spec.signerName === 'string' ? spec.signerName : '';
}

function nameOf(csr: JsonObject): string {
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  return typeof meta.name === 'string' ? meta.name : '';
}

function createdMs(csr: JsonObject): number | undefined {
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  const t = typeof meta.creationTimestamp === 'string' ? Date.parse(meta.creationTimestamp) : Number.NaN;
  return Number.isNaN(t) ? undefined : t;
}

function hasCertificate(csr: JsonObject | undefined): boolean {
  const status = csr !== undefined && isObject(csr.status) ? csr.status : {};
  return typeof status.certificate === 'string' && status.certificate !== '';
}

/** The controller that decides CSRs of this signer. */
function deciderOf(signer: string): string {
  return signer === SIGNER_KUBELET_SERVING ? 'serving-approver' : 'approver';
}

interface CsrWrite {
  readonly object: JsonObject;
  readonly subresource?: 'status' | 'approval' | undefined;
}

/**
 * Counts what the writes of one CSR add to `before` (the informer's copy). Decisions count only
 * from the approval subresource: a later status write carries the approval too, and the cache
 * may not have caught up with it yet.
 */
function countLanded(metrics: CsrMetrics, before: KubeObject | undefined, written: readonly CsrWrite[], nowMs: number): void {
  const last = written[written.length - 1]?.object;
  if (last === undefined) return;
  const signer = signerOf(last);
  const had = new Set(before === undefined ? [] : csrConditions(before).map((c) => c.type));
  const counted = new Set<string>();
  for (const w of written) {
    if (w.subresource !== 'approval') continue;
    for (const c of csrConditions(w.object)) {
      if ((c.type !== 'Approved' && c.type !== 'Denied') || had.has(c.type) || counted.has(c.type)) continue;
      counted.add(c.type);
      const labels = { controller: deciderOf(signer), reason: c.reason ?? '' };
      if (c.type === 'Approved') metrics.approvals.inc(labels);
      else metrics.denials.inc(labels);
    }
  }
  if (!hasCertificate(before) && written.some((w) => hasCertificate(w.object))) {
    metrics.issued.inc({ signer });
    const created = createdMs(last) ?? (before === undefined ? undefined : createdMs(before));
    if (created !== undefined) metrics.issuanceSeconds.observe({ signer }, secondsBetween(created, nowMs));
  }
}

/**
 * `client` with its CSR writes counted into `metrics`; `cached(name)` is the CSR informer's copy
 * (read before the write lands, so it is what the write changed).
 */
export function meteredClient(
  client: ClusterClient,
  metrics: CsrMetrics,
  cached: (name: string) => KubeObject | undefined,
  now: () => Date,
): ClusterClient {
  const transaction = client.transaction?.bind(client);
  const servesTransactions = client.servesTransactions?.bind(client);
  return {
    get: (r, namespace, name) => client.get(r, namespace, name),
    list: (r, namespace) => client.list(r, namespace),
    create: (r, obj) => client.create(r, obj),
    delete: (r, namespace, name, resourceVersion) => client.delete(r, namespace, name, resourceVersion),
    listWatch: (r, namespace) => client.listWatch(r, namespace),
    allowed: (attributes) => client.allowed(attributes),
    async update(r, obj, subresource) {
      if (r !== CSRS) return client.update(r, obj, subresource);
      const before = cached(nameOf(obj));
      const stored = await client.update(r, obj, subresource);
      countLanded(metrics, before, [{ object: obj, subresource }], now().getTime());
      return stored;
    },
    ...(servesTransactions === undefined ? {} : { servesTransactions }),
    ...(transaction === undefined
      ? {}
      : {
          async transaction(writes) {
            const byCsr = new Map<string, CsrWrite[]>();
            for (const w of writes) if (w.resource === CSRS) byCsr.set(nameOf(w.object), [...(byCsr.get(nameOf(w.object)) ?? []), w]);
            const before = new Map([...byCsr.keys()].map((name) => [name, cached(name)]));
            const stored = await transaction(writes);
            const t = now().getTime();
            for (const [name, written] of byCsr) countLanded(metrics, before.get(name), written, t);
            return stored;
          },
        }),
  };
}

/** The CSRs of `csrs` neither denied, failed nor issued, for the pending gauges. */
export function pendingCsrs(csrs: readonly KubeObject[]): PendingCsr[] {
  const pending: PendingCsr[] = [];
  for (const csr of csrs) {
    if (!csrIsPending(csr)) continue;
    const created = createdMs(csr);
    if (created !== undefined) pending.push({ signer: signerOf(csr), createdMs: created });
  }
  return pending;
}
