// BootClock.epochMsAt (the record path's time: no BigInt while records fall in the same millisecond)
// against toEpochMs, on sequences that stay in a millisecond, cross its edges by one nanosecond, jump
// back and forth, and straddle a 2^32 ns boundary of the low half.
import { expect, it } from 'vitest';
import { BootClock } from '../../src/agent/clock.js';

it('epochMsAt gives what toEpochMs gives for the u64 at an offset, across millisecond edges and 2^32 boundaries', () => {
  const clock = new BootClock();
  const buf = new ArrayBuffer(64);
  const v = new DataView(buf);
  const at = 24;
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  // The nanosecond at which toEpochMs turns to the next millisecond, near `base`.
  const base = 46_000_000_000_000n;
  const edge = (() => {
    let lo = base;
    const ms = clock.toEpochMs(base);
    let hi = base + 2_000_000n;
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (clock.toEpochMs(mid) === ms) lo = mid;
      else hi = mid;
    }
    return hi;
  })();
  const values: bigint[] = [edge - 1n, edge, edge - 1n, edge + 999_999n, edge + 1_000_000n, edge, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n - 1n, 5n * 2n ** 32n + 7n];
  for (let i = 0; i < 20_000; i++) {
    const last = values[values.length - 1]!;
    const step = rnd() < 0.9 ? BigInt(Math.floor(rnd() * 60_000)) : -BigInt(Math.floor(rnd() * 3_000_000));
    values.push(last + step > 0n ? last + step : 1n);
  }
  for (const ns of values) {
    v.setBigUint64(at, ns, true);
    expect(clock.epochMsAt(v, at)).toBe(clock.toEpochMs(ns));
  }
});
