/**
 * Port ranges for opt-in widening (`learn --port-ranges[=GAP]`): observed ports of one protocol
 * that are contiguous become one `port`/`endPort` range (8000, 8001, 8002 → 8000-8002, no port
 * added). With a gap, ports at most `gap` apart in missing ports join too (gap 2: 8000, 8003 →
 * 8000-8003, adding 8001 and 8002). Without the option nothing is ranged.
 */
import { NetpolError } from '../errors.js';

export interface PortRange {
  port: number;
  /** Absent for a single port. */
  endPort?: number;
  /** The observed ports the range covers, ascending. */
  members: number[];
  /** Ports allowed that were not observed. */
  added: number;
}

export function validatePortGap(gap: number): void {
  if (!Number.isInteger(gap) || gap < 0 || gap > 65535) {
    throw new NetpolError(`--port-ranges: the gap must be an integer from 0 to 65535, got ${gap}`);
  }
}

/** Groups ascending-sorted distinct ports into ranges; `gap` = how many missing ports may be bridged. */
export function compressPorts(ports: Iterable<number>, gap = 0): PortRange[] {
  validatePortGap(gap);
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const out: PortRange[] = [];
  let current: number[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const first = current[0]!;
    const last = current[current.length - 1]!;
    out.push(
      first === last
        ? { port: first, members: current, added: 0 }
        : { port: first, endPort: last, members: current, added: last - first + 1 - current.length },
    );
    current = [];
  };
  for (const port of sorted) {
    const prev = current[current.length - 1];
    if (prev !== undefined && port - prev - 1 > gap) flush();
    current.push(port);
  }
  flush();
  return out;
}
