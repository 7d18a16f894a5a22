/**
 * Whether the store answers, for /readyz: a current-revision read (on etcd a linearizable one,
 * which needs a quorum, as kube-apiserver's etcd readiness check does) that must succeed within a
 * bound. Probes that arrive while one is running share it, so a load balancer's checks add at
 * most one read in flight however often they ask.
 */
import type { Clock } from '../base/clock.ts';
import type { Store } from '../store/index.ts';

/** How long a probe may take before the store counts as away. */
export const STORE_READINESS_TIMEOUT_MS = 2000;

export function storeReadiness(
  store: Pick<Store, 'revision'>,
  clock: Clock,
  timeoutMs = STORE_READINESS_TIMEOUT_MS,
): () => Promise<boolean> {
  let inFlight: Promise<boolean> | undefined;
  const probe = (): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = clock.setTimeout(() => resolve(false), timeoutMs, { unref: true });
      store.revision().then(
        () => {
          timer.cancel();
          resolve(true);
        },
        () => {
          timer.cancel();
          resolve(false);
        },
      );
    });
  return () => {
    inFlight ??= probe().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
