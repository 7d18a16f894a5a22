/**
 * Query parameters read as apimachinery's parameter codec reads them, in one place, so that every
 * parameter (`watch`, `allowWatchBookmarks`, `sendInitialEvents`, ...) accepts what clients send:
 * python3-kubernetes sends `watch=True`, Go clients `true`, curl users `1`.
 */
import { BadRequestError } from '../base/errors.ts';

/**
 * apimachinery's Convert_Slice_string_To_bool: the first value decides; absent, `0` and `false`
 * in any case are false, anything else (including an empty value, `?watch`) is true.
 */
export function queryBool(query: URLSearchParams, name: string): boolean {
  const first = query.get(name);
  if (first === null) return false;
  return !(first === '0' || first.toLowerCase() === 'false');
}

/**
 * `dryRun` as kube-apiserver validates it: a list whose only allowed value is `All`; any other
 * value is a 400, not silently a real write.
 */
export function queryDryRun(query: URLSearchParams): boolean {
  const values = query.getAll('dryRun');
  for (const v of values) {
    if (v !== 'All')
      throw new BadRequestError('DRY_RUN', `Invalid dry run argument: "${v}": supported values: "All"`, {
        field: 'dryRun',
      });
  }
  return values.length > 0;
}
