/**
 * BPF timestamps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns); this turns them into
 * wall-clock time with one offset measured at start-up.
 */
import koffi from 'koffi';

const CLOCK_BOOTTIME = 7;
let clockGettime: ((id: number, ts: Buffer) => number) | undefined;

/** CLOCK_BOOTTIME now, in ns. */
export function bootTimeNs(): bigint {
  clockGettime ??= koffi.load('libc.so.6').func('int clock_gettime(int clk, _Out_ uint8_t *ts)') as (id: number, ts: Buffer) => number;
  const ts = Buffer.alloc(16);
  if (clockGettime(CLOCK_BOOTTIME, ts) !== 0) throw new Error('clock_gettime(CLOCK_BOOTTIME) failed');
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

/** Maps boot-time ns to epoch ms. */
export class BootClock {
  private readonly offsetNs: bigint;
  constructor() {
    const wallNs = BigInt(Date.now()) * 1_000_000n;
    this.offsetNs = wallNs - bootTimeNs();
  }
  toEpochMs(bootNs: bigint): number {
    return Number((bootNs + this.offsetNs) / 1_000_000n);
  }
  toDate(bootNs: bigint): Date {
    return new Date(this.toEpochMs(bootNs));
  }

  /**
   * The boot-time ns range of the last millisecond epochMsAt returned, as 32-bit halves
   * [start, end): a storm's records fall tens to a millisecond, and each BigInt is garbage.
   */
  private msLast = Number.NaN;
  // NaN, not 0 (none matches before the first call): V8 keeps these fields as doubles from the
  // start, so the first word over 2^31 does not change the object's hidden class (trace-json.ts's
  // RecordKey says what that costs).
  private msStartHigh = Number.NaN;
  private msStartLow = Number.NaN;
  private msEndHigh = Number.NaN;
  private msEndLow = Number.NaN;

  /** toEpochMs of the little-endian u64 at `at` of `v` (a record's ts_ns), without a BigInt while it falls in the last one's millisecond. */
  epochMsAt(v: DataView, at: number): number {
    const low = v.getUint32(at, true);
    const high = v.getUint32(at + 4, true);
    if (
      (high > this.msStartHigh || (high === this.msStartHigh && low >= this.msStartLow)) &&
      (high < this.msEndHigh || (high === this.msEndHigh && low < this.msEndLow))
    ) {
      return this.msLast;
    }
    const ms = this.toEpochMs(v.getBigUint64(at, true));
    // Every boot-time ns in [start, end) maps to `ms` (toEpochMs rounds down: epoch ns are positive).
    const start = BigInt(ms) * 1_000_000n - this.offsetNs;
    const end = start + 1_000_000n;
    this.msLast = ms;
    this.msStartHigh = Number(start >> 32n);
    this.msStartLow = Number(start & 0xffffffffn);
    this.msEndHigh = Number(end >> 32n);
    this.msEndLow = Number(end & 0xffffffffn);
    return ms;
  }
}
