/**
 * Assertions on failures by their stable code and reason (never message text): a throw that must
 * be a TlsbootError with exactly this code and reason, and the outcome of a call as a short string
 * (`ok`, or `CODE/REASON`) for tables of cases.
 */
import assert from 'node:assert/strict';
import { isTlsbootError } from '../../src/base/errors.ts';

/** Asserts `fn` throws a TlsbootError with exactly this code and reason. */
export function rejects(fn: () => unknown, code: string, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code, reason });
    return true;
  });
}

/** The `reason` of the TlsbootError `fn` throws (anything else fails the test), or undefined when it does not throw. */
export function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    return e.reason;
  }
}

function describeFailure(error: unknown): string {
  return isTlsbootError(error) ? `${error.code}/${error.reason}` : String(error);
}

/** `ok` when `fn` returns, else `CODE/REASON` of what it threw. */
export function outcomeOfSync(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return describeFailure(error);
  }
}

/** `ok` when the promise resolves, else `CODE/REASON` of its rejection. */
export async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    return describeFailure(error);
  }
}
