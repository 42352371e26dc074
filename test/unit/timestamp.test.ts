// One table of RFC 3339 cases that both spellings of the grammar must agree on: the string one
// (src/flows/timestamp.ts isRfc3339, used by the record parser) and the byte one the flow scanner
// keeps by hand for speed (src/flows/line-scan.ts isRfc3339Bytes). A change to the grammar is a
// change to both and to this table.
import { describe, expect, it } from 'vitest';
import { isRfc3339Bytes } from '../../src/flows/line-scan.js';
import { compareTimestamps, compareUtcStampWithBytes, compareUtcStampWithText, isRfc3339, stampAtOrAfter, stampBefore } from '../../src/flows/timestamp.js';
import { isExpired } from '../../src/cluster/profile/gc.js';
import { expireEdges } from '../../src/cluster/profile/merge.js';
import { filterSince } from '../../src/cluster/profile/reader.js';
import type { TrafficProfile } from '../../src/cluster/profile/types.js';

const RFC3339_CASES: readonly [string, boolean][] = [
  ['2026-11-24T10:00:00Z', true],
  ['2026-11-24T10:00:00.123Z', true],
  ['2026-11-24t10:00:00.123456789z', true],
  ['2026-11-24T10:00:00+05:30', true],
  ['2026-11-24T10:00:00.5-23:59', true],
  ['2016-12-31T23:59:60Z', true],
  ['2024-02-29T00:00:00Z', true],
  ['2000-02-29T00:00:00Z', true],
  ['0001-01-01T00:00:00Z', true],
  ['2026-02-29T00:00:00Z', false],
  ['1900-02-29T00:00:00Z', false],
  ['2026-11-31T00:00:00Z', false],
  ['2026-13-01T00:00:00Z', false],
  ['2026-00-01T00:00:00Z', false],
  ['2026-11-00T00:00:00Z', false],
  ['2026-11-24T24:00:00Z', false],
  ['2026-11-24T10:60:00Z', false],
  ['2026-11-24T10:00:61Z', false],
  ['2026-11-24 10:00:00Z', false],
  ['2026-11-24T10:00:00', false],
  ['2026-11-24T10:00:00.Z', false],
  ['2026-11-24T10:00:00.xZ', false],
  ['2026-11-24T10:00:00ZZ', false],
  ['2026-11-24T10:00:00+24:00', false],
  ['2026-11-24T10:00:00+05:60', false],
  ['2026-11-24T10:00:00+0530', false],
  ['2026-11-24', false],
  ['Tue, 24 Nov 2026 10:00:00 GMT', false],
  ['', false],
];

describe('the RFC 3339 grammar', () => {
  it('is the same on strings and on bytes, case by case', () => {
    for (const [text, valid] of RFC3339_CASES) {
      expect(isRfc3339(text), text).toBe(valid);
      const b = Buffer.from(`"${text}"`, 'latin1');
      expect(isRfc3339Bytes(b, 1, b.length - 1), text).toBe(valid);
    }
  });
});

describe('the in-place UTC comparison', () => {
  it('agrees with compareTimestamps where it applies and steps aside elsewhere', () => {
    const stamps = ['2026-11-24T10:00:00.123Z', '2026-11-24T10:00:00.124Z', '2026-11-24T09:59:59.999Z', '2026-11-24T10:00:00.123Z'];
    for (const a of stamps) {
      for (const b of stamps) {
        const buf = Buffer.from(`x${a}`, 'latin1');
        const kept = Buffer.from(`yy${b}`, 'latin1');
        const want = Math.sign(compareTimestamps(a, b));
        expect(Math.sign(compareUtcStampWithText(buf, 1, b, a.length)!), `${a} ${b}`).toBe(want);
        expect(Math.sign(compareUtcStampWithBytes(buf, 1, kept, 2, a.length)!), `${a} ${b}`).toBe(want);
      }
    }
    const offset = '2026-11-24T10:00:00.12+00:00';
    const utc = '2026-11-24T10:00:00.000000Z';
    expect(compareUtcStampWithText(Buffer.from(offset), 0, utc.padEnd(offset.length, 'Z'), offset.length)).toBeUndefined();
    expect(compareUtcStampWithBytes(Buffer.from('2026-11-24t10:00:00Z'), 0, Buffer.from('2026-11-24T10:00:00Z'), 0, 20)).toBeUndefined();
  });
});

// Stamps against the clock (retention, the profile sweep, --since): one reading, Date.parse's, to
// the millisecond, and text it cannot read is neither before nor at-or-after any time.
describe('stamps against the clock', () => {
  const cutoff = Date.parse('2026-11-24T10:00:00.000Z');
  const CASES: readonly [string, boolean, boolean][] = [
    // stamp, stampBefore(stamp, cutoff), stampAtOrAfter(stamp, cutoff)
    ['2026-11-24T09:59:59.999Z', true, false],
    ['2026-11-24T10:00:00Z', false, true], // at the cutoff: kept by both
    ['2026-11-24T10:00:00.0009Z', false, true], // below the millisecond: the cutoff's own millisecond
    ['2026-11-24T11:00:00+01:00', false, true], // the same instant, with an offset
    ['2026-11-24T10:59:59+01:00', true, false],
    ['not a time', false, false],
    ['', false, false],
  ];
  it.each(CASES)('%s', (stamp, before, atOrAfter) => {
    expect(stampBefore(stamp, cutoff)).toBe(before);
    expect(stampAtOrAfter(stamp, cutoff)).toBe(atOrAfter);
  });

  it('the profile sweep and --since read stamps the same way: an unreadable one never expires, and --since leaves it out', () => {
    const edge = { peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP' as const, outcome: 'established' as const, count: 2, firstSeen: 'x', lastSeen: 'x' };
    const profile = (lastSeen: string) =>
      ({ metadata: { name: 'p', namespace: 'a' }, spec: {}, status: { edges: [{ ...edge, lastSeen }] } }) as unknown as TrafficProfile;
    expect(isExpired(profile('2026-11-24T09:59:59.999Z'), cutoff)).toBe(true);
    expect(isExpired(profile('2026-11-24T10:00:00Z'), cutoff)).toBe(false);
    expect(isExpired(profile('garbled'), cutoff)).toBe(false);
    const table = new Map([['k', { ...edge, lastSeen: 'garbled' }]]);
    expect(expireEdges(table, cutoff)).toEqual({ edges: 0, connects: 0 });
    const merged = [{ workload: { namespace: 'a', kind: 'Pod', name: 'p', selector: {}, labels: {} }, edges: [...table.values()], nodes: [], overflow: { edges: 0, connects: 0 }, expired: { edges: 0, connects: 0 }, objects: [] }];
    expect(filterSince(merged, cutoff).older).toEqual({ edges: 1, connects: 2 });
  });
});
