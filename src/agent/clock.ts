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
}
