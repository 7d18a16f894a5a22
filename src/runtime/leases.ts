/**
 * Leader election's Lease port over the controllers' cluster client: the Lease read back from the
 * API is checked to be one before leader election trusts its fields.
 */
import { type ClusterClient, LEASES } from '../api/cluster-client.ts';
import { LEASE_API_VERSION, type Lease, type LeaseClient } from '../api/lease.ts';
import { InternalError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';

function leaseOf(v: unknown): Lease {
  if (!isObject(v) || !isObject(v.metadata) || typeof v.metadata.name !== 'string' || (v.spec !== undefined && !isObject(v.spec)))
    throw new InternalError('LEASE_BODY', 'the server answered with something that is not a Lease');
  const { name, namespace, resourceVersion, ...rest } = v.metadata;
  const spec = isObject(v.spec) ? v.spec : {};
  const text = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const num = (x: unknown) => (typeof x === 'number' && Number.isSafeInteger(x) ? x : undefined);
  const fields = {
    holderIdentity: text(spec.holderIdentity),
    leaseDurationSeconds: num(spec.leaseDurationSeconds),
    acquireTime: text(spec.acquireTime),
    renewTime: text(spec.renewTime),
    leaseTransitions: num(spec.leaseTransitions),
  };
  return {
    apiVersion: LEASE_API_VERSION,
    kind: 'Lease',
    metadata: {
      ...rest,
      name: String(name),
      namespace: typeof namespace === 'string' ? namespace : '',
      ...(typeof resourceVersion === 'string' ? { resourceVersion } : {}),
    },
    spec: Object.fromEntries(Object.entries(fields).filter(([, x]) => x !== undefined)),
  };
}

export function leaseClientOf(client: ClusterClient): LeaseClient {
  return {
    async get(namespace, name) {
      const found = await client.get(LEASES, namespace, name);
      return found === undefined ? undefined : leaseOf(found);
    },
    async create(lease) {
      return leaseOf(await client.create(LEASES, { ...lease }));
    },
    async update(lease) {
      return leaseOf(await client.update(LEASES, { ...lease }));
    },
  };
}
