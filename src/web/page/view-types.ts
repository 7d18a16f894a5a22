/**
 * The shapes the console's JSON API answers with, shared by the server (views.ts builds them) and
 * the page (which reads them); no imports, so the page's DOM-only type check can include it.
 */
export interface CsrView {
  readonly name: string;
  readonly uid: string;
  readonly createdAt: string;
  readonly requester: string;
  readonly groups: readonly string[];
  readonly signer: string;
  readonly subject: string;
  readonly commonName: string;
  readonly organizations: readonly string[];
  readonly sans: readonly string[];
  readonly keyType: string;
  readonly usages: readonly string[];
  /** Seconds, or null when the request leaves it to the signer. */
  readonly requestedSeconds: number | null;
  readonly pending: boolean;
  /** Approved, Denied, Failed, Issued or Pending, as `kubectl get csr` sums it up. */
  readonly state: string;
  readonly conditions: readonly { readonly type: string; readonly reason: string; readonly message: string }[];
  /** Why it waits, in plain words, and what would unblock it. */
  readonly why: readonly string[];
}

export interface CertificateView {
  /** Where it comes from: `issued` (the signer's inventory) or `control-plane`. */
  readonly source: 'issued' | 'control-plane';
  readonly name: string;
  readonly commonName: string;
  readonly signer: string;
  readonly requester: string;
  readonly csrName: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
}

/** A stored CertificateRevocation: the serial, the RFC 5280 reason, who and when, and the holder it was issued to. */
export interface RevocationView {
  readonly serialNumber: string;
  readonly reason: string;
  readonly revokedAt: string;
  readonly revokedBy: string;
  readonly commonName: string;
  readonly notAfter: string;
}

export interface TokenView {
  readonly id: string;
  readonly description: string;
  readonly expiration: string;
  /** Time left as kubeadm prints it, `<forever>`, or `<invalid>` for an expired or malformed token. */
  readonly ttl: string;
  readonly usages: readonly string[];
  readonly groups: string;
}

/** A count by the labels that tell it apart (signer, reason, method...). */
export interface MetricCount {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** CSR-to-certificate latency of one signer, from the histogram; quantiles estimated within buckets. */
export interface IssuanceLatency {
  readonly signer: string;
  readonly count: number;
  readonly meanSeconds: number | null;
  readonly p50Seconds: number | null;
  readonly p99Seconds: number | null;
}

/** What the Cluster tab shows of the API server's /metrics; a family the server does not expose is empty. */
export interface MetricsView {
  readonly issued: readonly MetricCount[];
  readonly pending: readonly MetricCount[];
  readonly issuance: readonly IssuanceLatency[];
  readonly approvals: readonly MetricCount[];
  readonly denials: readonly MetricCount[];
  readonly authenticationFailures: readonly MetricCount[];
  readonly revocations: readonly MetricCount[];
  readonly crlAgeSeconds: readonly MetricCount[];
  /** Sample lines that did not parse, skipped. */
  readonly skippedLines: number;
}
