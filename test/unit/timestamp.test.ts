// One table of RFC 3339 cases that both spellings of the grammar must agree on: the string one
// (src/flows/timestamp.ts isRfc3339, used by the record parser) and the byte one the flow scanner
// keeps by hand for speed (src/flows/line-scan.ts isRfc3339Bytes). A change to the grammar is a
// change to both and to this table.
import { describe, expect, it } from 'vitest';
import { isRfc3339Bytes } from '../../src/flows/line-scan.js';
import { compareTimestamps, compareUtcStampWithBytes, compareUtcStampWithText, isRfc3339 } from '../../src/flows/timestamp.js';

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
