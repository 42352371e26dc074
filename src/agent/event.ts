/**
 * The one place that mirrors bpf/tcpconnect.h: struct tcpconnect_event, struct
 * tcpconnect_config and struct tcpconnect_edge, field by field with their offsets (the *_LAYOUT
 * tables below, which every encoder and decoder here reads). Change this file and the header
 * together: test/unit/agent-event.test.ts compiles the header with clang and checks every field
 * offset and each struct's size against clang's record layout (-fdump-record-layouts).
 */
import type { Outcome } from '../flows/record.js';
import { addressBytes, formatIPv6 } from '../flows/ip.js';

export const AF_INET = 2;
export const AF_INET6 = 10;

/**
 * How a connect ended, or `connecting`: the event reports the connect as it is made (the SYN is
 * going out; report_connects mode, without --latency), before any answer.
 */
export type ConnectOutcome = Outcome | 'connecting' | 'sent';

/** enum tcpconnect_outcome */
export const OUTCOME_BY_CODE: Readonly<Record<number, ConnectOutcome>> = {
  1: 'established',
  2: 'refused',
  3: 'timeout',
  4: 'closed',
  5: 'error',
  6: 'connecting',
  7: 'sent',
};

/** enum tcpconnect_source: the hook that produced the event. */
export type EventSource = 'state' | 'syscall' | 'connect' | 'udp';
const SOURCE_BY_CODE: Readonly<Record<number, EventSource>> = { 1: 'state', 2: 'syscall', 3: 'connect', 4: 'udp' };
const CODE_BY_SOURCE: Readonly<Record<EventSource, number>> = { state: 1, syscall: 2, connect: 3, udp: 4 };
const IPPROTO_UDP = 17;

/** FILTER_* flags of struct tcpconnect_config. */
export const FILTER_CGROUP = 1 << 0;
export const FILTER_PID = 1 << 1;
export const FILTER_NETNS = 1 << 2;
export const FILTER_DPORT = 1 << 3;

/**
 * Offsets of every field of struct tcpconnect_event, padding included, so the table is the whole
 * struct (test/unit/agent-event.test.ts checks it field for field against clang's layout).
 */
export const EVENT_LAYOUT = {
  ts_ns: 0,
  latency_ns: 8,
  cgroup_id: 16,
  pid: 24,
  tid: 28,
  uid: 32,
  gid: 36,
  mntns: 40,
  netns: 44,
  saddr: 48,
  daddr: 64,
  sport: 80,
  dport: 82,
  family: 84,
  outcome: 86,
  source: 87,
  err: 88,
  proto: 92,
  _pad: 93,
  comm: 96,
} as const;
const EV = EVENT_LAYOUT;
export const EVENT_SIZE = 112;

/** Offsets of every field of struct tcpconnect_config (checked like EVENT_LAYOUT). */
export const CONFIG_LAYOUT = { filters: 0, dedup_edges: 4, report_connects: 8, state_attached: 12 } as const;
export const CONFIG_SIZE = 16;

/** Offsets of every field of struct tcpconnect_edge, the edges map key (checked like EVENT_LAYOUT). */
export const EDGE_KEY_LAYOUT = { cgroup_id: 0, netns: 8, family: 12, dport: 14, daddr: 16, outcome: 32, _pad: 33 } as const;
const EK = EDGE_KEY_LAYOUT;
export const EDGE_KEY_SIZE = 40;

/** A decoded struct tcpconnect_event. */
export interface ConnectEvent {
  /** Boot-time ns (CLOCK_BOOTTIME) when the connect started. */
  tsNs: bigint;
  latencyNs: number;
  cgroupId: bigint;
  pid: number;
  tid: number;
  uid: number;
  gid: number;
  mntns: number;
  netns: number;
  family: 4 | 6;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  outcome: ConnectOutcome;
  source: EventSource;
  /** TCP connects, or a UDP socket's first datagram to a destination (outcome `sent`). */
  proto: 'TCP' | 'UDP';
  /** errno of the failure (0 when established). */
  errno: number;
  comm: string;
}

export function formatAddress(bytes: Uint8Array, family: number): string {
  if (family === AF_INET) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  return formatIPv6(bytes);
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('utf8');
}

/** Decodes one ring-buffer record (copies nothing it does not need). */
export function decodeEvent(data: ArrayBuffer | Uint8Array): ConnectEvent {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength < EVENT_SIZE) throw new Error(`tcpconnect event too short: ${bytes.byteLength} < ${EVENT_SIZE} bytes`);
  return decodeEventAt(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, 0);
}

function ipv4At(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * The last IPv4 source and destination decoded, as their 32 bits and text, and the last cgroup id:
 * a storm's events repeat them, and each new text (six small strings on the way) or BigInt is
 * garbage a connect.
 */
let lastSaddrBits = -1;
let lastSaddr = '';
let lastDaddrBits = -1;
let lastDaddr = '';
let lastCgroupLow = -1;
let lastCgroupHigh = -1;
let lastCgroupId = 0n;

/** The u64 cgroup id at `at` of `v` (a record's cgroup_id), the same BigInt as the last one's while it repeats. */
export function cgroupIdAt(v: DataView, at: number): bigint {
  const low = v.getUint32(at, true);
  const high = v.getUint32(at + 4, true);
  if (low !== lastCgroupLow || high !== lastCgroupHigh) {
    lastCgroupId = v.getBigUint64(at, true);
    lastCgroupLow = low;
    lastCgroupHigh = high;
  }
  return lastCgroupId;
}

/** The last comm decoded and its bytes: a storm's events repeat the same few process names. */
const lastCommBytes = new Uint8Array(16);
let lastComm: string | undefined;

function commAt(b: Uint8Array, at: number): string {
  if (lastComm !== undefined) {
    let same = true;
    for (let i = 0; i < 16; i++) {
      const c = b[at + i] as number;
      if (c !== lastCommBytes[i]) {
        same = false;
        break;
      }
      if (c === 0) break; // bytes after the terminator do not matter
    }
    if (same) return lastComm;
  }
  const s = decodeComm(b, at);
  lastCommBytes.fill(0);
  for (let i = 0; i < 16; i++) {
    const c = b[at + i] as number;
    lastCommBytes[i] = c;
    if (c === 0) break;
  }
  lastComm = s;
  return s;
}

function decodeComm(b: Uint8Array, at: number): string {
  let s = '';
  for (let i = at; i < at + 16; i++) {
    const c = b[i] as number;
    if (c === 0) break;
    if (c > 0x7f) return cString(b.subarray(at, at + 16)); // not ASCII: decode as UTF-8
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Decodes the event at `off` of a larger buffer (the mmap'ed ring buffer) without creating
 * views per event. `v` and `b` must cover the same memory.
 */
export function decodeEventAt(v: DataView, b: Uint8Array, off: number): ConnectEvent {
  const family = v.getUint16(off + EV.family, true);
  const code = v.getUint8(off + EV.outcome);
  const outcome = OUTCOME_BY_CODE[code];
  if (!outcome) throw new Error(`tcpconnect event with unknown outcome ${code}`);
  const v4 = family === AF_INET;
  let saddr: string;
  let daddr: string;
  if (v4) {
    const sbits = v.getUint32(off + EV.saddr, true);
    if (sbits !== lastSaddrBits) {
      lastSaddr = ipv4At(b, off + EV.saddr);
      lastSaddrBits = sbits;
    }
    saddr = lastSaddr;
    const dbits = v.getUint32(off + EV.daddr, true);
    if (dbits !== lastDaddrBits) {
      lastDaddr = ipv4At(b, off + EV.daddr);
      lastDaddrBits = dbits;
    }
    daddr = lastDaddr;
  } else {
    saddr = formatIPv6(b.subarray(off + EV.saddr, off + EV.saddr + 16));
    daddr = formatIPv6(b.subarray(off + EV.daddr, off + EV.daddr + 16));
  }
  return {
    tsNs: v.getBigUint64(off + EV.ts_ns, true),
    latencyNs: v.getUint32(off + EV.latency_ns, true) + v.getUint32(off + EV.latency_ns + 4, true) * 2 ** 32,
    cgroupId: cgroupIdAt(v, off + EV.cgroup_id),
    pid: v.getUint32(off + EV.pid, true),
    tid: v.getUint32(off + EV.tid, true),
    uid: v.getUint32(off + EV.uid, true),
    gid: v.getUint32(off + EV.gid, true),
    mntns: v.getUint32(off + EV.mntns, true),
    netns: v.getUint32(off + EV.netns, true),
    family: v4 ? 4 : 6,
    saddr,
    daddr,
    sport: v.getUint16(off + EV.sport, true),
    dport: v.getUint16(off + EV.dport, true),
    outcome,
    source: SOURCE_BY_CODE[v.getUint8(off + EV.source)] ?? 'state',
    proto: v.getUint8(off + EV.proto) === IPPROTO_UDP ? 'UDP' : 'TCP',
    errno: v.getInt32(off + EV.err, true),
    comm: commAt(b, off + EV.comm),
  };
}

/** Encodes a struct tcpconnect_event (tests and fixtures use it to round-trip the decoder). */
export function encodeEvent(e: ConnectEvent): Buffer {
  const b = Buffer.alloc(EVENT_SIZE);
  b.writeBigUInt64LE(e.tsNs, EV.ts_ns);
  b.writeBigUInt64LE(BigInt(e.latencyNs), EV.latency_ns);
  b.writeBigUInt64LE(e.cgroupId, EV.cgroup_id);
  b.writeUInt32LE(e.pid, EV.pid);
  b.writeUInt32LE(e.tid, EV.tid);
  b.writeUInt32LE(e.uid, EV.uid);
  b.writeUInt32LE(e.gid, EV.gid);
  b.writeUInt32LE(e.mntns, EV.mntns);
  b.writeUInt32LE(e.netns, EV.netns);
  addressBytes(e.saddr, e.family).copy(b, EV.saddr);
  addressBytes(e.daddr, e.family).copy(b, EV.daddr);
  b.writeUInt16LE(e.sport, EV.sport);
  b.writeUInt16LE(e.dport, EV.dport);
  b.writeUInt16LE(e.family === 6 ? AF_INET6 : AF_INET, EV.family);
  const code = Object.entries(OUTCOME_BY_CODE).find(([, o]) => o === e.outcome)?.[0];
  b.writeUInt8(Number(code), EV.outcome);
  b.writeUInt8(CODE_BY_SOURCE[e.source], EV.source);
  b.writeInt32LE(e.errno, EV.err);
  b.writeUInt8(e.proto === 'UDP' ? IPPROTO_UDP : 0, EV.proto);
  Buffer.from(e.comm, 'utf8').subarray(0, 15).copy(b, EV.comm);
  return b;
}

/** struct tcpconnect_config */
/** Values of tcpconnect_config.report_connects (REPORT_* in bpf/tcpconnect.h). */
export const REPORT_ANSWERS = 0;
export const REPORT_CONNECTS = 1;
export const REPORT_BOTH = 2;

/**
 * `stateAttached` (default true): whether the state program will be attached. False only when it
 * never is (`trace` without --latency): the sockops program then skips its `pending` lookup.
 */
export function encodeConfig(cfg: { filters: number; dedupEdges: boolean; reportConnects?: boolean; alsoAnswers?: boolean; stateAttached?: boolean }): Buffer {
  const b = Buffer.alloc(CONFIG_SIZE);
  b.writeUInt32LE(cfg.filters, CONFIG_LAYOUT.filters);
  b.writeUInt32LE(cfg.dedupEdges ? 1 : 0, CONFIG_LAYOUT.dedup_edges);
  b.writeUInt32LE(!cfg.reportConnects ? REPORT_ANSWERS : cfg.alsoAnswers ? REPORT_BOTH : REPORT_CONNECTS, CONFIG_LAYOUT.report_connects);
  b.writeUInt32LE(cfg.stateAttached === false ? 0 : 1, CONFIG_LAYOUT.state_attached);
  return b;
}

/** struct tcpconnect_edge, decoded (learn mode's in-kernel de-duplication key). */
export interface EdgeKey {
  cgroupId: bigint;
  netns: number;
  family: 4 | 6;
  dport: number;
  daddr: string;
  outcome: Outcome;
}

/** Edges are keyed by final outcomes only (learn mode never reports connects as they are made). */
function edgeOutcome(code: number): Outcome {
  const o = OUTCOME_BY_CODE[code];
  return o === undefined || o === 'connecting' || o === 'sent' ? 'error' : o;
}

export function decodeEdgeKey(b: Buffer): EdgeKey {
  const family = b.readUInt16LE(EK.family);
  return {
    cgroupId: b.readBigUInt64LE(EK.cgroup_id),
    netns: b.readUInt32LE(EK.netns),
    family: family === AF_INET6 ? 6 : 4,
    dport: b.readUInt16LE(EK.dport),
    daddr: formatAddress(b.subarray(EK.daddr, EK.daddr + 16), family),
    outcome: edgeOutcome(b.readUInt8(EK.outcome)),
  };
}
