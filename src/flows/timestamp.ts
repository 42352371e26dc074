/**
 * RFC 3339 timestamps, the one definition: the grammar flows are validated by, the order
 * first/last seen are kept in, and how a stamp compares with a time on the clock (profile
 * retention and learn's --since: stampBefore, stampAtOrAfter). The flow scanner (line-scan.ts
 * isRfc3339Bytes) checks the same grammar on a line's bytes without making a string, for speed
 * (measured: bench/); the edge table compares two UTC stamps of one length byte by byte
 * (compareUtcStampBytes). Both fall back to, or are tested against, this module:
 * test/unit/timestamp.test.ts holds one table of cases that isRfc3339 and isRfc3339Bytes must
 * agree on.
 */

/**
 * An RFC 3339 date-time (what the agent writes: `2026-11-24T10:00:00.123Z`), fields in range:
 * YYYY-MM-DD, T or t, hh:mm:ss (60 for a leap second), an optional fraction, Z, z or ±hh:mm.
 * Stricter than Date.parse, which also takes `2026-11-24` or `Tue, 24 Nov 2026`, and cheaper.
 * Groups: year, month, day, hour, minute, second, fraction digits, offset sign, hours, minutes.
 */
const RFC3339 = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(?:\.(\d+))?(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))$/;

export function isRfc3339(text: string): boolean {
  if (!RFC3339.test(text)) return false;
  return Number(text.slice(8, 10)) <= daysInMonth(Number(text.slice(0, 4)), Number(text.slice(5, 7)));
}

/** Days in a month of the proleptic Gregorian calendar (RFC 3339 section 5.7). */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** What orders a stamp: its UTC minute, its second (60 for a leap second) and its fraction's digits. */
function stampKey(stamp: string): { minute: number; second: number; fraction: string } | undefined {
  const m = RFC3339.exec(stamp);
  if (!m) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3])); // setUTCFullYear: years below 100 stay as they are
  date.setUTCHours(Number(m[4]), Number(m[5]));
  let minute = date.getTime() / 60000;
  if (m[8]) minute -= (m[8] === '+' ? 1 : -1) * (Number(m[9]) * 60 + Number(m[10]));
  return { minute, second: Number(m[6]), fraction: (m[7] ?? '').replace(/0+$/, '') };
}

/**
 * Orders RFC 3339 timestamps (as isRfc3339 validates them) as instants, down to every fraction
 * digit; a leap second (:60) comes after :59 of its minute; two spellings of the same instant are
 * ordered by their text. A total order, so first/last seen do not depend on the order flows are
 * folded in (worker ranges merge in any grouping). Two UTC (`Z`, `T`) stamps of the same length
 * order as text — the common case, and cheap.
 */
export function compareTimestamps(a: string, b: string): number {
  if (a.length === b.length && a.charCodeAt(10) === 0x54 && b.charCodeAt(10) === 0x54 && a.endsWith('Z') && b.endsWith('Z')) return a < b ? -1 : a > b ? 1 : 0;
  const ka = stampKey(a);
  const kb = stampKey(b);
  if (ka && kb) {
    if (ka.minute !== kb.minute) return ka.minute < kb.minute ? -1 : 1;
    if (ka.second !== kb.second) return ka.second - kb.second;
    if (ka.fraction !== kb.fraction) {
      const len = Math.max(ka.fraction.length, kb.fraction.length);
      return ka.fraction.padEnd(len, '0') < kb.fraction.padEnd(len, '0') ? -1 : 1;
    }
  } else if (ka || kb) {
    return ka ? -1 : 1; // not a stamp at all (records are validated; only other callers): after every stamp
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * compareTimestamps' cheap case in place: a stamp at buf[start, start+len) and one kept as text,
 * both UTC (`T` … `Z`) and of the same length, order as their bytes. Undefined when the case
 * does not apply (the caller then compares the strings). Two monomorphic functions rather than
 * one over `Uint8Array | string`: the edge table calls these once per flow.
 */
export function compareUtcStampWithText(buf: Uint8Array, start: number, kept: string, len: number): number | undefined {
  if (buf[start + len - 1] !== 0x5a || kept.charCodeAt(len - 1) !== 0x5a || buf[start + 10] !== 0x54 || kept.charCodeAt(10) !== 0x54) return undefined;
  for (let i = 0; i < len; i++) {
    const d = buf[start + i]! - kept.charCodeAt(i);
    if (d !== 0) return d;
  }
  return 0;
}

/** compareUtcStampWithText for a stamp kept as bytes, at kept[at, at+len). */
export function compareUtcStampWithBytes(buf: Uint8Array, start: number, kept: Uint8Array, at: number, len: number): number | undefined {
  if (buf[start + len - 1] !== 0x5a || kept[at + len - 1] !== 0x5a || buf[start + 10] !== 0x54 || kept[at + 10] !== 0x54) return undefined;
  for (let i = 0; i < len; i++) {
    const d = buf[start + i]! - kept[at + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * ISO 8601 text of a time (Date.toISOString), kept for the last millisecond seen: a connect
 * storm shares milliseconds, and toISOString is the dearest part of writing a connect's line.
 * One memo for the process; a miss only costs the toISOString it saves otherwise.
 */
let lastIsoMs = NaN;
let lastIso = '';
export function isoTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== lastIsoMs) {
    lastIsoMs = ms;
    lastIso = d.toISOString();
  }
  return lastIso;
}

/**
 * Whether a stamp is before `ms` (a time on the clock, such as now minus a retention), read as
 * Date.parse reads it (to the millisecond). False for text Date.parse cannot read: such a stamp is
 * never before anything, so it expires no edge and no profile.
 */
export function stampBefore(stamp: string, ms: number): boolean {
  return Date.parse(stamp) < ms;
}

/**
 * Whether a stamp is at or after `ms` (learn's --since cutoff). Not the negation of stampBefore:
 * text Date.parse cannot read is false here too, so --since leaves it out.
 */
export function stampAtOrAfter(stamp: string, ms: number): boolean {
  return Date.parse(stamp) >= ms;
}

/** The earlier of two stamps in compareTimestamps' order (the first of two equal ones). */
export function earlierTimestamp(a: string, b: string): string {
  return compareTimestamps(a, b) <= 0 ? a : b;
}

/** The later of two stamps in compareTimestamps' order (the second of two equal ones). */
export function laterTimestamp(a: string, b: string): string {
  return compareTimestamps(a, b) <= 0 ? b : a;
}
