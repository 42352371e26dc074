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
import type { ConnectEvent } from '../../agent/event.js';
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
}

/**
 * The `-o json` line writer for a column list: TraceJsonLines when the list's JSON paths are the
 * ones it writes (TRACE_JSON_PATHS, in order), else compileJsonText's text and a newline.
 */
export function traceJsonWriter(columns: readonly Column<TraceRow>[]): (r: TraceRow, out: ByteBatch) => void {
  const paths = columns.flatMap((c) => (c.json ? [c.json.path] : []));
  if (paths.length === TRACE_JSON_PATHS.length && paths.every((p, i) => p === TRACE_JSON_PATHS[i])) {
    const lines = new TraceJsonLines();
    return (r, out) => lines.write(r, out);
  }
  const text = compileJsonText(columns);
  return (r, out) => out.text(text(r) + '\n');
}
