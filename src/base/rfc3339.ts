/**
 * RFC 3339 times as the Kubernetes API writes and reads them: `formatRfc3339` writes metav1.Time's
 * form (UTC, second precision, `2026-12-01T14:00:00Z`), and `parseRfc3339` accepts only what Go's
 * `time.Parse(time.RFC3339, …)` accepts. `Date.parse` is no substitute: it takes `2030-01-01`,
 * `Dec 1 2030` and more, so a field that one reader parses with it and another strictly means two
 * different things to them.
 */
import { InvalidError } from './errors.ts';

/** `d` in UTC to the second, as metav1.Time is serialised (the sub-second part is dropped, not rounded). */
export function formatRfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The instant `text` names, or undefined when it is not an RFC 3339 date-time: a full date, `T`,
 * a time with seconds (fraction optional), and `Z` or a `±hh:mm` offset, every field in range.
 */
export function parseRfc3339(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const utc = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  utc.setUTCFullYear(year);
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  return new Date(utc.getTime() + fraction - offsetMinutes * 60_000);
}

/** `parseRfc3339` in epoch milliseconds, NaN when not RFC 3339: the strict drop-in for `Date.parse`. */
export function rfc3339Millis(text: string): number {
  return parseRfc3339(text)?.getTime() ?? Number.NaN;
}

/** `parseRfc3339`, throwing INVALID/TIME_FORMAT naming `field` when the text is not RFC 3339. */
export function requireRfc3339(text: string, field: string): Date {
  const d = parseRfc3339(text);
  if (d === undefined) throw new InvalidError('TIME_FORMAT', `${field}: Invalid value: "${text}": must be an RFC 3339 time`, { field });
  return d;
}
