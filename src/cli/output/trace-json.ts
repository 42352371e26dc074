/**
 * `trace tcpconnect -o json` lines written as bytes: what compileJsonText(TCPCONNECT_COLUMNS)
 * writes and a newline, byte for byte (test/unit/trace-json.test.ts compares the two over real
 * and awkward rows), for a connect storm's tens of thousands of lines a second.
 *
 * Hand-written for speed, against the column model's rule that every view is derived from the
 * declaration (./trace-columns.ts). Built as strings, each line cost ~20 string pieces and number
 * conversions, then the batch's encoding, ~1.5–2 µs a connect in a replay of recorded events and
 * most of the tracer's garbage (bench/trace-replay.ts); a writer that writes each field as bytes
 * still paid ~40 small copies and calls a line. A storm's lines differ in a few fields (the time,
 * the thread, the source port); the rest repeats. So the line is laid out as a few segments, each
 * the bytes of several fields kept from the last line that had the same values (compared as
 * values, not rebuilt), and the fields that change from line to line are written between them as
 * digits: about ten copies a line, no string and no object. A row whose fields changed rebuilds
 * the segments it touches from the columns' JSON text.
 *
 * The layout is the declaration's at the time of writing: TRACE_JSON_PATHS lists its JSON paths in
 * order, and a column list that differs (a column added, moved or renamed) is refused, so `trace`
 * falls back to compileJsonText (traceJsonWriter) rather than writing another layout.
 */
import { errnoName } from '../../agent/diagnose.js';
import type { ContainerInfo } from '../../agent/containers.js';
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

/**
 * The segments of a line, each with the values its bytes were built from:
 *
 *   {"timestamp":"…"                                                        time (ms)
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

  private runtimeBuilt = false;
  private containerName: string | null = null;
  private containerId: string | null = null;
  private containerImage: string | null = null;
  private containerRuntime: string | null = null;
  private cgroupId = 0n;
  private mntns = 0;
  private netns = 0;
  private runtimeBytes = NULL;

  private procBuilt = false;
  private uid = 0;
  private gid = 0;
  private comm = '';
  private family = 0;
  private saddr = '';
  private procBytes = NULL;

  private dstBuilt = false;
  private daddr = '';
  private dport = 0;
  private dstBytes = NULL;

  private endBuilt = false;
  private outcome = '';
  private errno = 0;
  private endBytes = NULL;

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
      if (
        !this.runtimeBuilt ||
        (c === null
          ? this.containerName !== null || this.containerId !== null || this.containerImage !== null || this.containerRuntime !== null
          : c.name !== this.containerName || c.id !== this.containerId || c.image !== this.containerImage || c.runtime !== this.containerRuntime) ||
        e.cgroupId !== this.cgroupId ||
        e.mntns !== this.mntns ||
        e.netns !== this.netns
      ) {
        this.buildRuntime(c, r);
      }
      out.raw(this.runtimeBytes);
      out.number(e.pid);
      out.raw(TID);
      out.number(e.tid);
      if (!this.procBuilt || e.uid !== this.uid || e.gid !== this.gid || e.comm !== this.comm || e.family !== this.family || e.saddr !== this.saddr) {
        this.buildProc(r);
      }
      out.raw(this.procBytes);
      out.number(e.sport);
      if (!this.dstBuilt || e.daddr !== this.daddr || e.dport !== this.dport) this.buildDst(r);
      out.raw(this.dstBytes);
      if (e.outcome === 'connecting') out.raw(NULL);
      else out.number(e.latencyNs);
      if (!this.endBuilt || e.outcome !== this.outcome || e.errno !== this.errno) this.buildEnd(r);
      out.raw(this.endBytes);
    } catch (err) {
      out.abort();
      throw err;
    }
  }

  private buildRuntime(c: ContainerInfo | null, r: TraceRow): void {
    const e = r.event;
    const name = c?.name ?? null;
    const id = c?.id ?? null;
    const image = c?.image ?? null;
    const runtime = c?.runtime ?? null;
    this.runtimeBytes = bytes(
      `,"runtime":{"containerName":${jsonText(name)},"containerId":${jsonText(id)},"containerImageName":${jsonText(image)},"runtimeName":${jsonText(runtime)}}` +
        `,"cgroupId":${jsonText(Number(e.cgroupId))},"mountnsid":${jsonText(e.mntns)},"netnsid":${jsonText(e.netns)},"pid":`,
    );
    this.containerName = name;
    this.containerId = id;
    this.containerImage = image;
    this.containerRuntime = runtime;
    this.cgroupId = e.cgroupId;
    this.mntns = e.mntns;
    this.netns = e.netns;
    this.runtimeBuilt = true;
  }

  private buildProc(r: TraceRow): void {
    const e = r.event;
    this.procBytes = bytes(`,"uid":${jsonText(e.uid)},"gid":${jsonText(e.gid)},"comm":${jsonText(e.comm)},"ipversion":${jsonText(e.family)},"src":{"addr":${jsonText(e.saddr)},"port":`);
    this.uid = e.uid;
    this.gid = e.gid;
    this.comm = e.comm;
    this.family = e.family;
    this.saddr = e.saddr;
    this.procBuilt = true;
  }

  private buildDst(r: TraceRow): void {
    const e = r.event;
    this.dstBytes = bytes(`},"dst":{"addr":${jsonText(e.daddr)},"port":${jsonText(e.dport)}},"latency":`);
    this.daddr = e.daddr;
    this.dport = e.dport;
    this.dstBuilt = true;
  }

  private buildEnd(r: TraceRow): void {
    const e = r.event;
    const error = e.errno ? `{"errno":${jsonText(e.errno)},"name":${jsonText(errnoName(e.errno))}}` : 'null';
    this.endBytes = bytes(`,"outcome":${jsonText(e.outcome)},"error":${error}}\n`);
    this.outcome = e.outcome;
    this.errno = e.errno;
    this.endBuilt = true;
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
