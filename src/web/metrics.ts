/**
 * The console's reading of the API server's /metrics: a small strict parser of the Prometheus text
 * format (only `name{labels} value` sample lines; comments skipped, a malformed line skipped and
 * counted, never thrown) and the summary the Cluster tab shows, with histogram quantiles
 * estimated as PromQL's histogram_quantile does (linear within the bucket).
 */
import type { IssuanceLatency, MetricCount, MetricsView } from './page/view-types.ts';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /^[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,|$)/;

/** Label values unescaped as the format defines (`\\`, `\"`, `\n`); undefined for a malformed set. */
function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.trim() !== '') {
    const m = LABEL.exec(rest);
    if (m === null) return undefined;
    const [whole, key = '', raw = ''] = m;
    if (Object.hasOwn(labels, key)) return undefined;
    labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** The samples of an exposition, and how many non-comment lines were not samples. */
export function parsePrometheusText(text: string): { samples: Sample[]; skipped: number } {
  const samples: Sample[] = [];
  let skipped = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    const labels = m === null ? undefined : parseLabels(m[2] ?? '');
    const value = m === null ? undefined : parseValue(m[3] ?? '');
    if (m === null || labels === undefined || value === undefined) {
      skipped++;
      continue;
    }
    samples.push({ name: m[1] ?? '', labels, value });
  }
  return { samples, skipped };
}

/** Samples of one metric by the `keep` labels only, those that then share a label set summed. */
function counts(samples: readonly Sample[], name: string, keep: readonly string[]): MetricCount[] {
  const byKey = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const s of samples) {
    if (s.name !== name || !Number.isFinite(s.value)) continue;
    const labels = Object.fromEntries(keep.map((k) => [k, s.labels[k] ?? '']));
    const key = JSON.stringify(labels);
    const entry = byKey.get(key);
    if (entry === undefined) byKey.set(key, { labels, value: s.value });
    else entry.value += s.value;
  }
  return [...byKey.values()];
}

/**
 * The q-quantile of a cumulative histogram (bucket upper bounds with counts, +Inf last), as
 * histogram_quantile: linear within the bucket the rank falls in; in the +Inf bucket, the highest
 * finite bound. Null for an empty histogram.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0 || sorted.at(-1)?.le !== Number.POSITIVE_INFINITY) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket <= 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}

const ISSUANCE = 'tlsboot_csr_issuance_duration_seconds';

function issuance(samples: readonly Sample[]): IssuanceLatency[] {
  const signers = new Map<string, { buckets: { le: number; count: number }[]; count: number; sum: number }>();
  const of = (signer: string) => {
    const entry = signers.get(signer) ?? { buckets: [], count: 0, sum: 0 };
    signers.set(signer, entry);
    return entry;
  };
  for (const s of samples) {
    const signer = s.labels.signer ?? '';
    if (s.name === `${ISSUANCE}_bucket`) {
      const le = parseValue(s.labels.le ?? '');
      if (le !== undefined && !Number.isNaN(le)) of(signer).buckets.push({ le, count: s.value });
    } else if (s.name === `${ISSUANCE}_count`) of(signer).count = s.value;
    else if (s.name === `${ISSUANCE}_sum`) of(signer).sum = s.value;
  }
  return [...signers].map(([signer, h]) => ({
    signer,
    count: h.count,
    meanSeconds: h.count > 0 ? h.sum / h.count : null,
    p50Seconds: histogramQuantile(0.5, h.buckets),
    p99Seconds: histogramQuantile(0.99, h.buckets),
  }));
}

/** The Cluster tab's summary of an exposition. */
export function metricsView(text: string): MetricsView {
  const { samples, skipped } = parsePrometheusText(text);
  return {
    issued: counts(samples, 'tlsboot_certificates_issued_total', ['signer']),
    pending: counts(samples, 'tlsboot_csr_pending', ['age']),
    issuance: issuance(samples),
    approvals: counts(samples, 'tlsboot_csr_approvals_total', ['controller', 'reason']),
    denials: counts(samples, 'tlsboot_csr_denials_total', ['controller', 'reason']),
    authenticationFailures: counts(samples, 'tlsboot_authentication_failures_total', ['method']),
    revocations: counts(samples, 'tlsboot_certificates_revoked_total', ['reason']),
    crlAgeSeconds: counts(samples, 'tlsboot_crl_age_seconds', ['shard']),
    skippedLines: skipped,
  };
}
