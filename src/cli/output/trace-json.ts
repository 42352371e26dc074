/**
 * `trace tcpconnect -o json` lines written as bytes: what compileJsonText(TCPCONNECT_COLUMNS)
 * writes and a newline, byte for byte (test/unit/trace-json.test.ts compares the two over real
 * and awkward rows), for a connect storm's tens of thousands of lines a second.
 *
 * Hand-written for speed, against the column model's rule that every view is derived from the
 * declaration (./trace-columns.ts). Built as strings (compileJsonText, then LineBatch encoding the
 * batch), a line cost ~2 µs of CPU a connect in a replay of a storm's records
 * (bench/trace-replay.ts: 2.3 µs a connect with decoding and enrichment, against 0.23 for those
 * alone) and most of the tracer's garbage. A writer that wrote each field as bytes in turn still
 * cost ~1.2 µs a line: some forty small copies and calls. But a storm's lines differ in a few fields
 * (the time, the thread, the source port) and repeat the rest, so here the line is a few segments,
 * each the bytes of several fields kept from a line that had the same values (the values are
 * compared, nothing is rebuilt), with the fields that change from line to line written between them
 * as digits: about ten copies a line, no string and no object (0.4 µs a line in the replay). A
 * row whose values changed rebuilds the segments they are in from their JSON text (jsonText).
 *
 * The layout is the declaration's at the time of writing: TRACE_JSON_PATHS lists its JSON paths in
 * order, and a column list that differs (a column added, moved or renamed) is refused, so `trace`
 * falls back to compileJsonText (traceJsonWriter) rather than writing another layout.
 */
import { errnoName } from '../../agent/diagnose.js';
import type { ContainerInfo } from '../../agent/containers.js';
import { AF_INET, type ConnectEvent, decodeEventAt, EVENT_LAYOUT } from '../../agent/event.js';
import { isoTime } from '../../flows/timestamp.js';
import type { ByteBatch } from './byte-batch.js';
import { compileJsonText, jsonText } from './columns/json.js';
import type { Column } from './columns/model.js';
import type { TraceRow } from './trace-columns.js';

/** The JSON paths TraceJsonLines writes, in the order compileJsonText writes them. */
export const TRACE_JSON_PATHS = [
  'timestamp',
  'runtime.containerName',
  'runtime.containerId',
  'runtime.containerImageName',
  'runtime.runtimeName',
  'cgroupId',
  'mountnsid',
  'netnsid',
  'pid',
  'tid',
  'uid',
  'gid',
  'comm',
  'ipversion',
  'src',
  'dst',
  'latency',
  'outcome',
  'error',
] as const;

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const TID = bytes(',"tid":');
const NULL = bytes('null');
/** enum tcpconnect_outcome's TCPCONNECT_CONNECTING (event.ts OUTCOME_BY_CODE). */
const OUTCOME_CONNECTING = 6;
/**
 * writeRecord's field offsets (EVENT_LAYOUT) as constants of this module: read through the import
 * per field per record, they were a property lookup each (a getter, where the module is transformed).
 */
const LATENCY = EVENT_LAYOUT.latency_ns;
const CGROUP = EVENT_LAYOUT.cgroup_id;
const PID = EVENT_LAYOUT.pid;
const TID_AT = EVENT_LAYOUT.tid;
const UID = EVENT_LAYOUT.uid;
const GID = EVENT_LAYOUT.gid;
const MNTNS = EVENT_LAYOUT.mntns;
const NETNS = EVENT_LAYOUT.netns;
const SADDR = EVENT_LAYOUT.saddr;
const DADDR = EVENT_LAYOUT.daddr;
const SPORT = EVENT_LAYOUT.sport;
const DPORT = EVENT_LAYOUT.dport;
const FAMILY = EVENT_LAYOUT.family;
const OUTCOME = EVENT_LAYOUT.outcome;
const ERR = EVENT_LAYOUT.err;
const COMM = EVENT_LAYOUT.comm;
const FAMILY_INET = AF_INET;

/** A segment's bytes and the values they were built from. */
interface RuntimeSegment {
  name: string | null;
  id: string | null;
  image: string | null;
  runtime: string | null;
  cgroupId: bigint;
  mntns: number;
  netns: number;
  bytes: Buffer;
}
interface ProcessSegment {
  uid: number;
  gid: number;
  comm: string;
  family: number;
  saddr: string;
  bytes: Buffer;
}
interface DestinationSegment {
  daddr: string;
  dport: number;
  bytes: Buffer;
}
interface EndSegment {
  outcome: string;
  errno: number;
  bytes: Buffer;
}

/**
 * The segments of one kind last built, besides the last one used: a host where two storms run at
 * once alternates between their segments, and each switch would otherwise rebuild them. Searched
 * in order (a few comparisons each: no key to hash or build); when full, the oldest is replaced.
 */
class Recent<S> {
  private readonly items: S[] = [];
  private next = 0;
  constructor(private readonly size: number) {}

  find(same: (s: S, c: ContainerInfo | null, e: ConnectEvent) => boolean, c: ContainerInfo | null, e: ConnectEvent): S | undefined {
    const items = this.items;
    for (let i = 0; i < items.length; i++) if (same(items[i]!, c, e)) return items[i];
    return undefined;
  }

  add(s: S): S {
    if (this.items.length < this.size) this.items.push(s);
    else {
      this.items[this.next] = s;
      this.next = (this.next + 1) % this.size;
    }
    return s;
  }
}

/** Segments of each kind kept (Recent): distinct containers, processes, destinations connecting in turn. */
const RECENT = 16;

function sameRuntime(s: RuntimeSegment, c: ContainerInfo | null, e: ConnectEvent): boolean {
  return (
    e.cgroupId === s.cgroupId &&
    e.mntns === s.mntns &&
    e.netns === s.netns &&
    (c === null
      ? s.name === null && s.id === null && s.image === null && s.runtime === null
      : c.name === s.name && c.id === s.id && c.image === s.image && c.runtime === s.runtime)
  );
}

function runtimeSegment(c: ContainerInfo | null, e: ConnectEvent): RuntimeSegment {
  const name = c?.name ?? null;
  const id = c?.id ?? null;
  const image = c?.image ?? null;
  const runtime = c?.runtime ?? null;
  const text =
    `,"runtime":{"containerName":${jsonText(name)},"containerId":${jsonText(id)},"containerImageName":${jsonText(image)},"runtimeName":${jsonText(runtime)}}` +
    `,"cgroupId":${jsonText(Number(e.cgroupId))},"mountnsid":${jsonText(e.mntns)},"netnsid":${jsonText(e.netns)},"pid":`;
  return { name, id, image, runtime, cgroupId: e.cgroupId, mntns: e.mntns, netns: e.netns, bytes: bytes(text) };
}

function sameProcess(s: ProcessSegment, _c: ContainerInfo | null, e: ConnectEvent): boolean {
  return e.comm === s.comm && e.saddr === s.saddr && e.uid === s.uid && e.gid === s.gid && e.family === s.family;
}

function processSegment(e: ConnectEvent): ProcessSegment {
  const text = `,"uid":${jsonText(e.uid)},"gid":${jsonText(e.gid)},"comm":${jsonText(e.comm)},"ipversion":${jsonText(e.family)},"src":{"addr":${jsonText(e.saddr)},"port":`;
  return { uid: e.uid, gid: e.gid, comm: e.comm, family: e.family, saddr: e.saddr, bytes: bytes(text) };
}

function sameDestination(s: DestinationSegment, _c: ContainerInfo | null, e: ConnectEvent): boolean {
  return e.dport === s.dport && e.daddr === s.daddr;
}

function destinationSegment(e: ConnectEvent): DestinationSegment {
  return { daddr: e.daddr, dport: e.dport, bytes: bytes(`},"dst":{"addr":${jsonText(e.daddr)},"port":${jsonText(e.dport)}},"latency":`) };
}

function sameEnd(s: EndSegment, _c: ContainerInfo | null, e: ConnectEvent): boolean {
  return e.outcome === s.outcome && e.errno === s.errno;
}

function endSegment(e: ConnectEvent): EndSegment {
  const error = e.errno ? `{"errno":${jsonText(e.errno)},"name":${jsonText(errnoName(e.errno))}}` : 'null';
  return { outcome: e.outcome, errno: e.errno, bytes: bytes(`,"outcome":${jsonText(e.outcome)},"error":${error}}\n`) };
}

/**
 * The record bytes that decide a line's segments (TraceJsonLines.writeRecord), as 32-bit words,
 * with the segments write() chose for a record with these bytes: equal bytes decode to equal
 * values, so the same segments. The container is compared by its values, as write() does.
 */
class RecordKey {
  valid = false;
  container: ContainerInfo | null = null;
  runtime: RuntimeSegment | undefined;
  process: ProcessSegment | undefined;
  destination: DestinationSegment | undefined;
  end: EndSegment | undefined;
  /**
   * Segments that always follow each other, as one copy each (a copy is a native call, five a line
   * were a quarter of writeRecord's time): the time's and the runtime's, made once per millisecond
   * (`headMs`); for a connect reported as made, the destination's, the null latency and the end's.
   */
  head: Buffer | undefined;
  headMs = Number.NaN;
  tail: Buffer | undefined;
  // The 32-bit words start as NaN, not 0, so V8 keeps them as doubles from the start. A field first
  // a small integer and later given a word over 2^31 (a namespace inode) changed the key's hidden
  // class; the other key, never set with one source, kept the old, deprecated one, and TurboFan
  // compiles of writeRecord were aborted and its code deoptimized again and again in a storm
  // (--trace-opt; test/unit/trace-json-optimized.test.ts).
  private cgroupLow = NaN;
  private cgroupHigh = NaN;
  private mntns = NaN;
  private netns = NaN;
  private uid = NaN;
  private gid = NaN;
  private family = 0;
  private saddr0 = NaN;
  private saddr1 = NaN;
  private saddr2 = NaN;
  private saddr3 = NaN;
  private comm0 = NaN;
  private comm1 = NaN;
  private comm2 = NaN;
  private comm3 = NaN;
  private daddr0 = NaN;
  private daddr1 = NaN;
  private daddr2 = NaN;
  private daddr3 = NaN;
  private dport = 0;
  outcome = 0;
  private errno = NaN;

  matches(v: DataView, off: number, c: ContainerInfo | null): boolean {
    if (!this.valid) return false;
    const rt = this.runtime!;
    const family = v.getUint16(off + FAMILY, true);
    // An IPv4 address is its first word (the decoder reads no more); anything else, all four.
    const v6 = family !== FAMILY_INET;
    return (
      // The runtime segment: container, cgroup id, namespaces.
      c === this.container &&
      (c === null || (c.name === rt.name && c.id === rt.id && c.image === rt.image && c.runtime === rt.runtime)) &&
      v.getUint32(off + CGROUP, true) === this.cgroupLow &&
      v.getUint32(off + CGROUP + 4, true) === this.cgroupHigh &&
      v.getUint32(off + MNTNS, true) === this.mntns &&
      v.getUint32(off + NETNS, true) === this.netns &&
      // The process segment: uid, gid, comm, family, source address.
      v.getUint32(off + UID, true) === this.uid &&
      v.getUint32(off + GID, true) === this.gid &&
      family === this.family &&
      v.getUint32(off + SADDR, true) === this.saddr0 &&
      (!v6 || (v.getUint32(off + SADDR + 4, true) === this.saddr1 && v.getUint32(off + SADDR + 8, true) === this.saddr2 && v.getUint32(off + SADDR + 12, true) === this.saddr3)) &&
      v.getUint32(off + COMM, true) === this.comm0 &&
      v.getUint32(off + COMM + 4, true) === this.comm1 &&
      v.getUint32(off + COMM + 8, true) === this.comm2 &&
      v.getUint32(off + COMM + 12, true) === this.comm3 &&
      // The destination segment: address and port.
      v.getUint32(off + DADDR, true) === this.daddr0 &&
      (!v6 || (v.getUint32(off + DADDR + 4, true) === this.daddr1 && v.getUint32(off + DADDR + 8, true) === this.daddr2 && v.getUint32(off + DADDR + 12, true) === this.daddr3)) &&
      v.getUint16(off + DPORT, true) === this.dport &&
      // The end segment: outcome and errno.
      v.getUint8(off + OUTCOME) === this.outcome &&
      v.getInt32(off + ERR, true) === this.errno
    );
  }

  set(v: DataView, off: number, c: ContainerInfo | null, runtime: RuntimeSegment, process: ProcessSegment, destination: DestinationSegment, end: EndSegment): void {
    this.container = c;
    this.runtime = runtime;
    this.process = process;
    this.destination = destination;
    this.end = end;
    this.head = undefined;
    this.headMs = Number.NaN;
    this.tail = v.getUint8(off + OUTCOME) === OUTCOME_CONNECTING ? Buffer.concat([destination.bytes, NULL, end.bytes]) : undefined;
    this.cgroupLow = v.getUint32(off + CGROUP, true);
    this.cgroupHigh = v.getUint32(off + CGROUP + 4, true);
    this.mntns = v.getUint32(off + MNTNS, true);
    this.netns = v.getUint32(off + NETNS, true);
    this.uid = v.getUint32(off + UID, true);
    this.gid = v.getUint32(off + GID, true);
    this.family = v.getUint16(off + FAMILY, true);
    this.saddr0 = v.getUint32(off + SADDR, true);
    this.saddr1 = v.getUint32(off + SADDR + 4, true);
    this.saddr2 = v.getUint32(off + SADDR + 8, true);
    this.saddr3 = v.getUint32(off + SADDR + 12, true);
    this.comm0 = v.getUint32(off + COMM, true);
    this.comm1 = v.getUint32(off + COMM + 4, true);
    this.comm2 = v.getUint32(off + COMM + 8, true);
    this.comm3 = v.getUint32(off + COMM + 12, true);
    this.daddr0 = v.getUint32(off + DADDR, true);
    this.daddr1 = v.getUint32(off + DADDR + 4, true);
    this.daddr2 = v.getUint32(off + DADDR + 8, true);
    this.daddr3 = v.getUint32(off + DADDR + 12, true);
    this.dport = v.getUint16(off + DPORT, true);
    this.outcome = v.getUint8(off + OUTCOME);
    this.errno = v.getInt32(off + ERR, true);
    this.valid = true;
  }
}

/**
 * A line as segments, each the bytes of the values it was built from, and the values that change
 * from connect to connect written between them:
 *
 *   {"timestamp":"…"                                                        the time (ms)
 *   ,"runtime":{…},"cgroupId":N,"mountnsid":N,"netnsid":N,"pid":            container, cgroup, namespaces
 *   PID ,"tid": TID
 *   ,"uid":N,"gid":N,"comm":"…","ipversion":N,"src":{"addr":"…","port":     uid, gid, comm, family, saddr
 *   SPORT
 *   },"dst":{"addr":"…","port":N},"latency":                                 daddr, dport
 *   LATENCY (null while connecting)
 *   ,"outcome":"…","error":…}\n                                             outcome, errno
 */
export class TraceJsonLines {
  /**
   * writeRecord's keys: the record bytes of the last two sources and the segments write() chose for
   * them (RecordKey), the last one used first.
   */
  private current = new RecordKey();
  private other = new RecordKey();
  private timeMs = Number.NaN;
  private timeBytes = NULL;
  private runtime: RuntimeSegment | undefined;
  private readonly runtimes = new Recent<RuntimeSegment>(RECENT);
  private process: ProcessSegment | undefined;
  private readonly processes = new Recent<ProcessSegment>(RECENT);
  private destination: DestinationSegment | undefined;
  private readonly destinations = new Recent<DestinationSegment>(RECENT);
  private end: EndSegment | undefined;
  private readonly ends = new Recent<EndSegment>(RECENT);

  /** Writes the row's line (and its newline) into `out`. */
  write(r: TraceRow, out: ByteBatch): void {
    const e = r.event;
    const c = r.container;
    out.begin();
    try {
      const ms = r.time.getTime();
      if (ms !== this.timeMs) {
        // isoTime before the cache is updated: an invalid time throws and leaves the cache as it was.
        this.timeBytes = bytes(`{"timestamp":${jsonText(isoTime(r.time))}`);
        this.timeMs = ms;
      }
      out.raw(this.timeBytes);
      let runtime = this.runtime;
      if (runtime === undefined || !sameRuntime(runtime, c, e)) {
        runtime = this.runtime = this.runtimes.find(sameRuntime, c, e) ?? this.runtimes.add(runtimeSegment(c, e));
      }
      out.raw(runtime.bytes);
      out.number(e.pid);
      out.raw(TID);
      out.number(e.tid);
      let proc = this.process;
      if (proc === undefined || !sameProcess(proc, c, e)) {
        proc = this.process = this.processes.find(sameProcess, c, e) ?? this.processes.add(processSegment(e));
      }
      out.raw(proc.bytes);
      out.number(e.sport);
      let dst = this.destination;
      if (dst === undefined || !sameDestination(dst, c, e)) {
        dst = this.destination = this.destinations.find(sameDestination, c, e) ?? this.destinations.add(destinationSegment(e));
      }
      out.raw(dst.bytes);
      if (e.outcome === 'connecting') out.raw(NULL);
      else out.number(e.latencyNs);
      let end = this.end;
      if (end === undefined || !sameEnd(end, c, e)) {
        end = this.end = this.ends.find(sameEnd, c, e) ?? this.ends.add(endSegment(e));
      }
      out.raw(end.bytes);
    } catch (err) {
      out.abort();
      throw err;
    }
  }

  /**
   * The line of a ring-buffer record (struct tcpconnect_event at `off` of `v`/`b`, the layout of
   * agent/event.ts), straight from its bytes, with no event, row or Date object: what write()
   * writes for the decoded record, byte for byte (test/unit/trace-json.test.ts).
   *
   * Hand-written for the same reason as TraceJsonLines, one step further: decoding a record into a
   * ConnectEvent (a BigInt, a dozen fields, the addresses as text) and wrapping it in a row and a Date
   * was most of what was left of the tracer's user-space time per connect in a storm. The segments
   * are write()'s; what is new is how one is found: by comparing the record's bytes that determine
   * its values (as 32-bit words: cgroup id, namespaces, uid, gid, family, addresses, comm, port,
   * outcome, errno) with the bytes it was last chosen for. Equal bytes decode to equal values, so
   * the segment is right. The keys of the last two sources are kept (two storms on one host take
   * turns); a record matching neither takes the general way: decoded, write() choosing the segments,
   * which are then kept with the record's bytes in place of the older key.
   */
  writeRecord(v: DataView, b: Uint8Array, off: number, c: ContainerInfo | null, timeMs: number, out: ByteBatch): void {
    let key = this.current;
    if (!key.matches(v, off, c)) {
      const other = this.other;
      // Two sources in turn (two storms, or a storm and a busy server): the other's segments.
      this.other = key;
      this.current = other;
      if (other.matches(v, off, c)) key = other;
      else {
        // The general way (it throws for a record it cannot decode, as the tracer's decoder does),
        // then the segments write() chose, keyed by this record's bytes, replace the older key.
        other.valid = false;
        this.write({ event: decodeEventAt(v, b, off), container: c, time: new Date(timeMs) }, out);
        other.set(v, off, c, this.runtime!, this.process!, this.destination!, this.end!);
        return;
      }
    }
    // Every segment is the one write() would choose: only the values that change per connect are written.
    if (timeMs !== this.timeMs) {
      this.timeBytes = bytes(`{"timestamp":${jsonText(isoTime(new Date(timeMs)))}`);
      this.timeMs = timeMs;
    }
    if (key.headMs !== timeMs) {
      key.head = Buffer.concat([this.timeBytes, key.runtime!.bytes]);
      key.headMs = timeMs;
    }
    out.raw(key.head!);
    out.number(v.getUint32(off + PID, true));
    out.raw(TID);
    out.number(v.getUint32(off + TID_AT, true));
    out.raw(key.process!.bytes);
    out.number(v.getUint16(off + SPORT, true));
    const tail = key.tail;
    if (tail !== undefined) out.raw(tail);
    else {
      out.raw(key.destination!.bytes);
      out.number(v.getUint32(off + LATENCY, true) + v.getUint32(off + LATENCY + 4, true) * 2 ** 32);
      out.raw(key.end!.bytes);
    }
  }
}

/** TraceJsonLines when the column list's JSON paths are the ones it writes (TRACE_JSON_PATHS, in order), else undefined. */
export function traceJsonLines(columns: readonly Column<TraceRow>[]): TraceJsonLines | undefined {
  const paths = columns.flatMap((c) => (c.json ? [c.json.path] : []));
  return paths.length === TRACE_JSON_PATHS.length && paths.every((p, i) => p === TRACE_JSON_PATHS[i]) ? new TraceJsonLines() : undefined;
}

/**
 * The `-o json` line writer for a column list: TraceJsonLines when the list's JSON paths are the
 * ones it writes (TRACE_JSON_PATHS, in order), else compileJsonText's text and a newline.
 */
export function traceJsonWriter(columns: readonly Column<TraceRow>[], lines = traceJsonLines(columns)): (r: TraceRow, out: ByteBatch) => void {
  if (lines) return (r, out) => lines.write(r, out);
  const text = compileJsonText(columns);
  return (r, out) => out.text(text(r) + '\n');
}
