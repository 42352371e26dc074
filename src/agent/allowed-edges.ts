/**
 * The kernel's table of edges judged allowed (bpf/allowed-edges.h): user space writes an edge once
 * its connect was judged allowed and handed to every sink; the state program then only counts that
 * edge's established answers (per CPU, with the last time seen) and sends nothing through the ring.
 * This file is the byte layout and the map operations; what to write and when, the generations and
 * the sweep, are the node agent's (src/daemon/kernel-dedup.ts).
 */
import type { ConnectEvent } from './event.js';
import { BpfMap, possibleCpus } from './libbpf.js';
import { addressBytes } from '../flows/ip.js';
import { bootTimeNs } from './clock.js';

/**
 * How far ahead each write of the state extends the lease (bpf/allowed-edges.h): an agent that
 * died stops counting in the kernel this long after its last sweep at most.
 */
export const ALLOWED_LEASE_NS = 3_000_000_000n;

/** The edge part of the key (struct allowed_edge_key without the generation). */
export interface AllowedEdge {
  cgroupId: bigint;
  netns: number;
  family: 4 | 6;
  /** 16 bytes, network order (IPv4 in the first 4). */
  daddr: Buffer;
  dport: number;
}

/** One entry's counts, summed over the CPUs. */
export interface AllowedEdgeCount {
  /** The key's bytes (edge and generation): what remove() takes. */
  key: Buffer;
  /** The key without the generation, as a string: what identifies the edge across generations. */
  edgeId: string;
  generation: number;
  /** Connects counted since the entry was written (never reset: deltas are taken in user space). */
  count: number;
  /** CLOCK_BOOTTIME ns of the last one (0n: none yet). */
  lastSeenNs: bigint;
}

/** What the node agent's de-duplication needs of the kernel table (an in-memory one in unit tests). */
export interface AllowedEdgeTable {
  /** The generation the program looks up, and whether it looks at all (renewing the lease). */
  setState(generation: number, enabled: boolean): void;
  /** Extends the lease (every sweep): the program stops counting if it is not renewed. */
  renew?(): void;
  /** Writes an edge with zero counts: 'added', 'present' (already there) or 'full'. */
  add(edge: AllowedEdge, generation: number): 'added' | 'present' | 'full';
  /** Every entry with its counts (a snapshot). */
  counts(): AllowedEdgeCount[];
  remove(key: Buffer): void;
  /**
   * What was handed over of an entry's count, kept beside the table (pinned: a successor after a
   * crash reads it). Optional: tables without it (an object pinned before it existed) keep nothing.
   */
  setReported?(key: Buffer, count: number): void;
  reported?(key: Buffer): number | undefined;
}

const KEY_SIZE = 40;
const VALUE_SIZE = 16;
const AF_INET = 2;
const AF_INET6 = 10;
/** BPF_NOEXIST */
const NOEXIST = 1;
const EEXIST = 17;
const E2BIG = 7;
const ENOMEM = 12;

/** The edge of an answered TCP connect (what the kernel keys its count by). */
export function allowedEdgeOf(e: ConnectEvent): AllowedEdge {
  return { cgroupId: e.cgroupId, netns: e.netns, family: e.family, daddr: addressBytes(e.daddr, e.family), dport: e.dport };
}

export function encodeAllowedKey(edge: AllowedEdge, generation: number): Buffer {
  const b = Buffer.alloc(KEY_SIZE);
  b.writeBigUInt64LE(edge.cgroupId, 0);
  b.writeUInt32LE(edge.netns, 8);
  b.writeUInt16LE(edge.family === 6 ? AF_INET6 : AF_INET, 12);
  b.writeUInt16LE(edge.dport, 14);
  edge.daddr.copy(b, 16, 0, 16);
  b.writeUInt32LE(generation >>> 0, 32);
  return b;
}

/** The key's edge part as text (bytes 0..32). */
export function edgeIdOfKey(key: Buffer): string {
  return key.toString('hex', 0, 32);
}

export class AllowedEdgesMap implements AllowedEdgeTable {
  private readonly ncpu = possibleCpus();
  private readonly zero: Buffer;
  private state_: { generation: number; enabled: boolean } = { generation: 0, enabled: false };

  constructor(
    private readonly edges: BpfMap,
    private readonly state: BpfMap,
    /** allowed_reported; absent in objects pinned before it existed. */
    private readonly reportedMap?: BpfMap,
  ) {
    this.zero = Buffer.alloc(VALUE_SIZE * this.ncpu);
  }

  setState(generation: number, enabled: boolean): void {
    this.state_ = { generation, enabled };
    const v = Buffer.alloc(16);
    v.writeUInt32LE(generation >>> 0, 0);
    v.writeUInt32LE(enabled ? 1 : 0, 4);
    v.writeBigUInt64LE(enabled ? bootTimeNs() + ALLOWED_LEASE_NS : 0n, 8);
    this.state.update(Buffer.alloc(4), v);
  }

  renew(): void {
    if (this.state_.enabled) this.setState(this.state_.generation, true);
  }

  /** The state the program reads now (a restarted agent finds its predecessor's). */
  readState(): { generation: number; enabled: boolean } {
    const v = this.state.lookup(Buffer.alloc(4), 16);
    return v ? { generation: v.readUInt32LE(0), enabled: v.readUInt32LE(4) !== 0 } : { generation: 0, enabled: false };
  }

  add(edge: AllowedEdge, generation: number): 'added' | 'present' | 'full' {
    const rc = this.edges.tryUpdate(encodeAllowedKey(edge, generation), this.zero, NOEXIST);
    if (rc === 0) return 'added';
    if (rc === -EEXIST) return 'present';
    if (rc === -E2BIG || rc === -ENOMEM) return 'full';
    throw new Error(`writing an allowed edge into the kernel: errno ${-rc}`);
  }

  counts(): AllowedEdgeCount[] {
    const out: AllowedEdgeCount[] = [];
    for (const key of this.edges.keys(KEY_SIZE)) {
      const v = this.edges.lookup(key, VALUE_SIZE * this.ncpu);
      if (!v) continue; // deleted meanwhile
      let count = 0n;
      let last = 0n;
      for (let i = 0; i < this.ncpu; i++) {
        count += v.readBigUInt64LE(i * VALUE_SIZE);
        const at = v.readBigUInt64LE(i * VALUE_SIZE + 8);
        if (at > last) last = at;
      }
      out.push({ key, edgeId: edgeIdOfKey(key), generation: key.readUInt32LE(32), count: Number(count), lastSeenNs: last });
    }
    return out;
  }

  remove(key: Buffer): void {
    this.edges.delete(key);
    this.reportedMap?.delete(key);
  }

  setReported(key: Buffer, count: number): void {
    if (!this.reportedMap) return;
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(BigInt(count));
    this.reportedMap.update(key, v);
  }

  reported(key: Buffer): number | undefined {
    const v = this.reportedMap?.lookup(key, 8);
    return v ? Number(v.readBigUInt64LE(0)) : undefined;
  }
}
