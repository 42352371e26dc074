/**
 * The columns of a traced connect (`trace tcpconnect`), declared once in the column model
 * (./columns/model.ts): the table, `-o json` and `-o columns=a,b` are views of this declaration.
 * The default layouts reproduce the headers of `ig trace tcpconnect` byte for byte (with and
 * without --latency).
 *
 * To add columns (e.g. K8S.NODE, K8S.NAMESPACE, K8S.POD), append Columns to
 * TCPCONNECT_COLUMNS with `visible: false`, or name them in a layout.
 */
import type { ConnectEvent } from '../../agent/event.js';
import type { ContainerInfo } from '../../agent/containers.js';
import { errnoName } from '../../agent/diagnose.js';
import { InputError } from '../../errors.js';
import { isoTime } from '../../flows/timestamp.js';
import { jsonText } from './columns/json.js';
import { selectColumns, visibleLayout, type Column, type Layout } from './columns/model.js';

/** One event with what enrichment found out about it. */
export interface TraceRow {
  event: ConnectEvent;
  /** The container of the connecting task, or null for a host process. */
  container: ContainerInfo | null;
  /** Wall-clock time the connect started. */
  time: Date;
  /** Extra enrichment keyed by column name (for columns other modules add). */
  extra?: Record<string, unknown>;
}

/** Go's time.Duration String(): 47.069µs, 14.149828ms, 1.006814808s, 1m2.5s. */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  const trim = (v: string) => v.replace(/\.?0+$/, '');
  if (ns < 1_000) return `${ns}ns`;
  if (ns < 1_000_000) return `${trim((ns / 1_000).toFixed(3))}µs`;
  if (ns < 1_000_000_000) return `${trim((ns / 1_000_000).toFixed(6))}ms`;
  const totalSeconds = Math.floor(ns / 1_000_000_000);
  const frac = ns % 1_000_000_000;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const sec = frac === 0 ? `${s}` : `${s}.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${sec}s`;
}

export function endpoint(addr: string, port: number, family: 4 | 6): string {
  return family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Outcome as shown in the table: established, refused, timeout, closed, or error:ERRNO. */
export function outcomeText(e: ConnectEvent): string {
  return e.outcome === 'error' ? `error:${errnoName(e.errno)}` : e.outcome;
}

/**
 * `{"addr":…,"port":…}` as JSON.stringify writes it, for `-o json` of a connect storm (see
 * Column.json.text); each writer keeps its last address's text (a storm repeats the same few).
 */
function addrPortText(): (addr: string, port: number) => string {
  let lastAddr = '';
  let lastAddrText = '""';
  return (addr, port) => {
    if (addr !== lastAddr) {
      lastAddr = addr;
      lastAddrText = jsonText(addr)!;
    }
    return `{"addr":${lastAddrText},"port":${port}}`;
  };
}
const srcText = addrPortText();
const dstText = addrPortText();

export const TCPCONNECT_COLUMNS: Column<TraceRow>[] = [
  { name: 'TIMESTAMP', width: 24, visible: false, text: (r) => isoTime(r.time), json: { path: 'timestamp', value: (r) => isoTime(r.time) } },
  {
    name: 'RUNTIME.CONTAINERNAME',
    width: 42,
    text: (r) => r.container?.name ?? '',
    json: { path: 'runtime.containerName', value: (r) => r.container?.name ?? null },
  },
  { name: 'RUNTIME.CONTAINERID', width: 13, visible: false, text: (r) => r.container?.id.slice(0, 12) ?? '', json: { path: 'runtime.containerId', value: (r) => r.container?.id ?? null } },
  {
    name: 'RUNTIME.CONTAINERIMAGENAME',
    width: 30,
    visible: false,
    text: (r) => r.container?.image ?? '',
    json: { path: 'runtime.containerImageName', value: (r) => r.container?.image ?? null },
  },
  { name: 'RUNTIME.RUNTIMENAME', width: 10, visible: false, text: (r) => r.container?.runtime ?? '', json: { path: 'runtime.runtimeName', value: (r) => r.container?.runtime ?? null } },
  { name: 'CGROUPID', width: 12, visible: false, text: (r) => r.event.cgroupId.toString(), json: { path: 'cgroupId', value: (r) => Number(r.event.cgroupId) } },
  { name: 'MNTNS', width: 12, visible: false, text: (r) => String(r.event.mntns), json: { path: 'mountnsid', value: (r) => r.event.mntns } },
  { name: 'NETNS', width: 12, visible: false, text: (r) => String(r.event.netns), json: { path: 'netnsid', value: (r) => r.event.netns } },
  { name: 'PID', width: 10, text: (r) => String(r.event.pid), json: { path: 'pid', value: (r) => r.event.pid } },
  { name: 'TID', width: 10, visible: false, text: (r) => String(r.event.tid), json: { path: 'tid', value: (r) => r.event.tid } },
  { name: 'UID', width: 8, visible: false, text: (r) => String(r.event.uid), json: { path: 'uid', value: (r) => r.event.uid } },
  { name: 'GID', width: 8, visible: false, text: (r) => String(r.event.gid), json: { path: 'gid', value: (r) => r.event.gid } },
  { name: 'COMM', width: 16, text: (r) => r.event.comm, json: { path: 'comm', value: (r) => r.event.comm } },
  { name: 'IP', width: 2, text: (r) => String(r.event.family), json: { path: 'ipversion', value: (r) => r.event.family } },
  {
    name: 'SRC',
    width: 42,
    text: (r) => endpoint(r.event.saddr, r.event.sport, r.event.family),
    json: { path: 'src', value: (r) => ({ addr: r.event.saddr, port: r.event.sport }), text: (r) => srcText(r.event.saddr, r.event.sport) },
  },
  {
    name: 'DST',
    width: 42,
    text: (r) => endpoint(r.event.daddr, r.event.dport, r.event.family),
    json: { path: 'dst', value: (r) => ({ addr: r.event.daddr, port: r.event.dport }), text: (r) => dstText(r.event.daddr, r.event.dport) },
  },
  {
    name: 'LATENCY',
    width: 13,
    align: 'right',
    visible: false,
    // A connect reported as it is made has no answer yet: no latency to show.
    text: (r) => (r.event.outcome === 'connecting' ? '' : formatDuration(r.event.latencyNs)),
    json: { path: 'latency', value: (r) => (r.event.outcome === 'connecting' ? null : r.event.latencyNs) },
  },
  { name: 'OUTCOME', width: 20, text: (r) => outcomeText(r.event), json: { path: 'outcome', value: (r) => r.event.outcome } },
  {
    name: 'ERRNO',
    width: 14,
    visible: false,
    text: (r) => (r.event.errno ? errnoName(r.event.errno) : ''),
    json: {
      path: 'error',
      value: (r) => (r.event.errno ? { errno: r.event.errno, name: errnoName(r.event.errno) } : null),
      text: (r) => (r.event.errno ? `{"errno":${r.event.errno},"name":${jsonText(errnoName(r.event.errno))}}` : 'null'),
    },
  },
];

/**
 * Seed layouts of `ig trace tcpconnect`. Without --latency a connect is shown as it is made, so the
 * layout is exactly the seed's; with --latency it is shown when answered, and our OUTCOME column
 * follows LATENCY.
 */
export function defaultLayout(latency: boolean, columns: Column<TraceRow>[] = TCPCONNECT_COLUMNS): Layout {
  const visible = visibleLayout(columns).columns;
  if (!latency) return { columns: visible.filter((name) => name !== 'OUTCOME') };
  const at = visible.indexOf('DST') + 1;
  return {
    columns: [...visible.slice(0, at), 'LATENCY', ...visible.slice(at)],
    // ig narrows the columns when LATENCY is added (as in the seed's --latency output).
    widths: { 'RUNTIME.CONTAINERNAME': 29, SRC: 28, DST: 30 },
  };
}

/** `-o columns=a,b`: names matched case-insensitively; unknown names are an error listing the known ones. */
export function customLayout(spec: string, columns: Column<TraceRow>[] = TCPCONNECT_COLUMNS): Layout {
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new Error('-o columns= needs at least one column');
  const unknown = (name: string, known: string[]) => `unknown column "${name}"; available: ${known.join(', ')}`;
  return { columns: selectColumns(columns, names, { ignoreCase: true, unknown }).map((c) => c.name) };
}

// ---------------------------------------------------------------------------------------------
// Cluster mode (src/cli/commands/trace/cluster.ts): K8S.* columns, and SRC/DST in the seed's endpoint notation
// (p/ns/pod:port, s/ns/svc:port, r/ip:port). The enrichment rides in row.extra.k8s.

/** What a cluster-mode trace knows about a row (set by src/cli/commands/trace/cluster.ts). */
export interface K8sRowInfo {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  /** SRC and DST in the seed notation. */
  src: string;
  dst: string;
  dstKind: 'pod' | 'svc' | 'raw';
  dstNamespace?: string;
  dstName?: string;
}

const k8sOf = (r: TraceRow): K8sRowInfo | undefined => r.extra?.k8s as K8sRowInfo | undefined;

export const K8S_COLUMNS: Column<TraceRow>[] = [
  { name: 'K8S.NODE', width: 24, text: (r) => k8sOf(r)?.node ?? '', json: { path: 'k8s.node', value: (r) => k8sOf(r)?.node ?? null } },
  { name: 'K8S.NAMESPACE', width: 24, text: (r) => k8sOf(r)?.namespace ?? '', json: { path: 'k8s.namespace', value: (r) => k8sOf(r)?.namespace ?? null } },
  { name: 'K8S.POD', width: 24, text: (r) => k8sOf(r)?.pod ?? '', json: { path: 'k8s.podName', value: (r) => k8sOf(r)?.pod ?? null } },
  { name: 'K8S.CONTAINER', width: 24, text: (r) => k8sOf(r)?.container ?? '', json: { path: 'k8s.containerName', value: (r) => k8sOf(r)?.container ?? null } },
];

/** The columns of a cluster-mode trace: K8S.* first, SRC/DST in endpoint notation, the rest as in TCPCONNECT_COLUMNS. */
export const K8S_TCPCONNECT_COLUMNS: Column<TraceRow>[] = [
  ...K8S_COLUMNS,
  ...TCPCONNECT_COLUMNS.map((c): Column<TraceRow> => {
    if (c.name === 'RUNTIME.CONTAINERNAME') return { ...c, visible: false };
    if (c.name === 'SRC') {
      return {
        ...c,
        width: 23,
        text: (r) => k8sOf(r)?.src ?? c.text(r),
        json: { path: 'src', value: (r) => ({ addr: r.event.saddr, port: r.event.sport, endpoint: k8sOf(r)?.src ?? null }) },
      };
    }
    if (c.name === 'DST') {
      return {
        ...c,
        text: (r) => k8sOf(r)?.dst ?? c.text(r),
        json: {
          path: 'dst',
          value: (r) => {
            const k = k8sOf(r);
            return { addr: r.event.daddr, port: r.event.dport, endpoint: k?.dst ?? null, kind: k?.dstKind ?? 'raw', namespace: k?.dstNamespace ?? null, name: k?.dstName ?? null };
          },
        },
      };
    }
    if (c.name === 'COMM') return { ...c, width: 13 };
    return c;
  }),
];

/** Columns that only an answered connect can fill: a layout with any of them waits for the answer. */
export const ANSWER_COLUMNS: ReadonlySet<string> = new Set(['LATENCY', 'OUTCOME', 'ERRNO']);

/** True when rows of this layout need the connect's answer (so connects are shown when answered). */
export function needsAnswer(layout: Layout): boolean {
  return layout.columns.some((name) => ANSWER_COLUMNS.has(name));
}

/**
 * The seed's cluster-mode layouts, byte for byte: K8S.NODE K8S.NAMESPACE K8S.POD K8S.CONTAINER PID
 * COMM IP SRC DST, and with --latency the narrower widths of the seed's latency example.
 */
export function k8sLayout(latency: boolean): Layout {
  const columns = ['K8S.NODE', 'K8S.NAMESPACE', 'K8S.POD', 'K8S.CONTAINER', 'PID', 'COMM', 'IP', 'SRC', 'DST'];
  if (!latency) return { columns };
  return {
    columns: [...columns, 'LATENCY'],
    widths: { 'K8S.NODE': 21, 'K8S.NAMESPACE': 14, 'K8S.POD': 18, 'K8S.CONTAINER': 18, COMM: 15, SRC: 27, DST: 27 },
  };
}

/** How a trace prints its rows: a table of a layout, or one JSON object per line. */
export type TraceView = { kind: 'table'; layout: Layout } | { kind: 'json' };

/**
 * `-o`: `columns` (or nothing: the mode's default layout), `json`, or `columns=a,b` of `columns`;
 * anything else is an input error naming -o.
 */
export function parseTraceOutput(output: string | undefined, defaultLayout: Layout, columns: Column<TraceRow>[]): TraceView {
  if (output === undefined || output === 'columns') return { kind: 'table', layout: defaultLayout };
  if (output === 'json') return { kind: 'json' };
  if (output.startsWith('columns=')) {
    try {
      return { kind: 'table', layout: customLayout(output.slice('columns='.length), columns) };
    } catch (err) {
      throw new InputError('-o', (err as Error).message);
    }
  }
  throw new InputError('-o', `unknown output "${output}"; use columns, json or columns=a,b`);
}
