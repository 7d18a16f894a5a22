/**
 * The other resources the control plane and its controllers exchange, as types with guards:
 * core/v1 Secret and ConfigMap, and coordination.k8s.io/v1 Lease (leader election). Shapes follow
 * the Go types' JSON tags; each guard takes `unknown` and throws INVALID naming the field of the
 * wrong type. What may be written (key syntax, bootstrap-token rules) is the strategies' job
 * (core.ts).
 */
import { OBJECT_META, type ObjectMeta } from './meta.ts';
import { assertShape, boolean, type Check, fields, integer, mapOf, optional, string } from './shape.ts';

export type Secret = {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly type?: string;
  /** Values are base64, as JSON carries bytes. */
  readonly data?: Readonly<Record<string, string>>;
  /** Write-only convenience: merged into `data` by the server, never returned. */
  readonly stringData?: Readonly<Record<string, string>>;
  readonly immutable?: boolean;
};

export const SECRET: Check = fields({
  apiVersion: optional(string),
  kind: optional(string),
  metadata: optional(OBJECT_META),
  type: optional(string),
  data: optional(mapOf(string)),
  stringData: optional(mapOf(string)),
  immutable: optional(boolean),
});

export function asSecret(value: unknown): Secret {
  assertShape<Secret>(SECRET, value);
  return value;
}

export type ConfigMap = {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly data?: Readonly<Record<string, string>>;
  /** Values are base64, as JSON carries bytes. */
  readonly binaryData?: Readonly<Record<string, string>>;
  readonly immutable?: boolean;
};

export const CONFIG_MAP: Check = fields({
  apiVersion: optional(string),
  kind: optional(string),
  metadata: optional(OBJECT_META),
  data: optional(mapOf(string)),
  binaryData: optional(mapOf(string)),
  immutable: optional(boolean),
});

export function asConfigMap(value: unknown): ConfigMap {
  assertShape<ConfigMap>(CONFIG_MAP, value);
  return value;
}

import { LEASE_API_VERSION } from './lease.ts';

export { LEASE_API_VERSION };

export type LeaseSpec = {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with microseconds (`2026-12-01T10:00:00.000000Z`). */
  readonly acquireTime?: string;
  /** MicroTime, as acquireTime. */
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
};

export type Lease = {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly spec?: LeaseSpec;
};

export const LEASE: Check = fields({
  apiVersion: optional(string),
  kind: optional(string),
  metadata: optional(OBJECT_META),
  spec: optional(
    fields({
      holderIdentity: optional(string),
      leaseDurationSeconds: optional(integer),
      acquireTime: optional(string),
      renewTime: optional(string),
      leaseTransitions: optional(integer),
    }),
  ),
});

export function asLease(value: unknown): Lease {
  assertShape<Lease>(LEASE, value);
  return value;
}
