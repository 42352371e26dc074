/**
 * The node agent's client API on 127.0.0.1:9808 (reached only through the pods/portforward
 * subresource, so the user's RBAC decides who reads it), version 1:
 *
 *   GET /v1/status    one JSON document (AgentStatus)
 *   GET /v1/connects  an NDJSON stream, one JSON object per line:
 *     - a connect: {"v":1,"when":"connect"|"answer","time":ISO,"node","namespace","pod","container",
 *       "event":{…the kernel event, 64-bit fields as decimal strings…},"flow":{…the flow record…}}
 *       `when` is "connect" for a connect reported as it is made (its SYN is going out; outcome
 *       "connecting", no latency yet) and "answer" once it was answered (latency, outcome).
 *     - {"lost":N}: N connects this client did not get because it read too slowly (the agent never
 *       waits for a client); sent once the client catches up, before the next connect.
 *     - {"lost":N,"counted":true}: N connects this client's query takes that cannot be sent one by
 *       one, because the agent counted them in the kernel (repeats of an edge every policy allows,
 *       counted while no client streamed: src/daemon/kernel-dedup.ts). Sent after a `since=`
 *       replay whose window had such counts, and live for counts swept after the client came.
 *       (A "lost" line, so that a client older than this field still says connects are missing.)
 *     Query parameters (all optional; repeated = the last wins):
 *       namespace=NS    only pods of this namespace (absent: every namespace)
 *       podname=NAME    only this pod
 *       selector=SEL    only pods matching this label selector (`a=b,c in (x,y),!d`)
 *       container=NAME  only this container
 *       when=connect|answer  as made (default) or when answered; when the agent cannot report
 *                       connects as made (no sockops hook), when=connect gets the answers instead.
 *                       The agent attaches its sockops hook for the first when=connect client
 *                       (src/daemon/as-made.ts): a connect whose SYN went out before that comes to
 *                       it once, when answered
 *       since=ISO       also the connects of this agent's recent past (its replay buffer, the last
 *                       REPLAY_SECONDS) made at or after this time, so a client that finds a pod
 *                       just after it started misses none of its first connects
 *
 * A newer agent may add fields; readers ignore fields they do not know. A change that readers
 * would misread gets a new version number (and a /v2 path).
 */
import type { ConnectEvent, ConnectOutcome, EventSource } from '../agent/event.js';
import type { PodConnect } from '../cluster/cluster-agent.js';
import type { FlowRecord } from '../flows/record.js';
import { parseFlowRecord } from '../flows/record.js';
import type { StatusFigures } from './sink.js';

export const WIRE_VERSION = 1;
export const API_PORT = 9808;
export const HEALTH_PORT = 9809;
/** How far back `since=` can reach. */
export const REPLAY_SECONDS = 30;

export type When = 'connect' | 'answer';

/** A connect as the stream carries it. */
export interface WireConnect {
  v: 1;
  when: When;
  /** Wall-clock time the connect started (ISO 8601, ms). */
  time: string;
  /** K8S.NODE: the pod's node. */
  node: string;
  namespace: string;
  pod: string;
  container: string | null;
  event: WireEvent;
  flow: FlowRecord;
}

/** ConnectEvent with its 64-bit fields as decimal strings (JSON numbers lose them). */
export type WireEvent = Omit<ConnectEvent, 'tsNs' | 'cgroupId'> & { tsNs: string; cgroupId: string };

export interface WireLost {
  lost: number;
  /** The connects were counted in the agent's kernel, not dropped for a slow reader. */
  counted?: true;
}

/** `counted`: the lost connects were counted in the agent's kernel (see {"lost":N,"counted":true}). */
export type WireLine = { kind: 'connect'; connect: WireConnect } | { kind: 'lost'; lost: number; counted: boolean };

/** A connect decoded: what the renderers of `trace` read (PodConnect's shape without the pod object). */
export interface StreamedConnect {
  when: When;
  event: ConnectEvent;
  time: Date;
  record: FlowRecord;
  node: string;
  source: { namespace: string; name: string; container?: string };
}

/** What a client asks /v1/connects for. */
export interface ConnectsQuery {
  namespace?: string;
  podname?: string;
  selector?: string;
  container?: string;
  when?: When;
  since?: Date;
  /** `proto=tcp` (the default: trace tcpconnect's clients never see UDP), `udp` or `all`. */
  proto?: 'TCP' | 'UDP' | 'all';
}

/** The /v1/status document. */
export interface AgentStatus {
  v: 1;
  node: string;
  version: string;
  startedAt: string;
  ready: boolean;
  reasons: string[];
  /** Kernel events read (total, and per second over the last minute), lost in the kernel, never attributed. */
  events: { total: number; perSecond: number; kernelLost: number; unresolved: number };
  /** Attributed connects: reported as made, and answered. */
  /** TCP connects reported as made and answered; UDP sends (first datagram per socket and destination). */
  /**
   * `answered` includes `dedupedInKernel`: answers of edges judged allowed that the kernel counted
   * instead of reporting each (handed to the sinks as repeats about once a second; kernelDedup).
   */
  connects: { made: number; answered: number; udpSends?: number; dedupedInKernel?: number };
  /**
   * Kernel de-duplication of allowed edges (src/daemon/kernel-dedup.ts): on, else why off; the
   * generation, edges in the table, connects counted there (`deduped`), table full, and connects a
   * pinned predecessor counted that could not be attributed (`orphaned`).
   */
  kernelDedup?: StatusFigures & { on: boolean; off?: string };
  /**
   * Connects are reported as made right now (the sockops hook attached), else why not; the hook is
   * attached only while something wants connects as made: `wantedBy` clients of when=connect (and
   * sinks). Without it, when=connect clients get each connect when answered.
   */
  connectsAsMade: { reported: boolean; problem?: string; wantedBy?: number };
  /** UDP sends are observed (the cgroup hooks attached), else why not. */
  udp?: { observed: boolean; problem?: string };
  subscribers: number;
  /**
   * The kernel side kept across restarts (pinned in the BPF filesystem), else why not; `unsettled`:
   * records read but not yet safe (journaled), which the next agent would read again; `unprotected`:
   * records freed before they were journaled because the ring was more than half full of unsettled
   * records (a SIGKILL before they are journaled would lose them).
   */
  kernelState?: { pinned: boolean; dir?: string; reopened?: boolean; resumeSkipped?: number; unsettled?: number; unprotected?: number; problem?: string; daemonSet?: string };
  /** The agent's watches of the API server. */
  clusterView?: { connected: boolean; restarts: number; lastError?: string };
  /** Per sink: its figures; `stream` is the live stream of /v1/connects. */
  sinks: Record<string, StatusFigures>;
}

export function encodeConnect(c: PodConnect, when: When): WireConnect {
  const { tsNs, cgroupId, ...rest } = c.event;
  return {
    v: WIRE_VERSION,
    when,
    time: c.time.toISOString(),
    node: c.node,
    namespace: c.source.namespace,
    pod: c.source.name,
    container: c.source.container ?? null,
    event: { ...rest, tsNs: tsNs.toString(), cgroupId: cgroupId.toString() },
    flow: c.record,
  };
}

export function encodeLine(c: PodConnect, when: When): string {
  return JSON.stringify(encodeConnect(c, when)) + '\n';
}

export function encodeLost(n: number, counted = false): string {
  return JSON.stringify((counted ? { lost: n, counted: true } : { lost: n }) satisfies WireLost) + '\n';
}

/** A stream line that is not what version 1 says: names the source (the agent) and the field. */
export class WireError extends Error {
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: ${field}: ${detail}`);
    this.name = 'WireError';
  }
}

const OUTCOMES: ReadonlySet<string> = new Set(['established', 'refused', 'timeout', 'closed', 'error', 'connecting', 'sent']);
const SOURCES: ReadonlySet<string> = new Set(['state', 'syscall', 'connect', 'udp']);

/** Parses one line of /v1/connects; `source` names the agent for the error message. */
export function decodeLine(line: string, source: string): WireLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new WireError(source, 'line', `not JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new WireError(source, 'line', 'not a JSON object');
  if ('lost' in value && !('event' in value)) return { kind: 'lost', lost: int(value, 'lost', source), counted: value.counted === true };
  if (value.v !== WIRE_VERSION) throw new WireError(source, 'v', `version ${JSON.stringify(value.v)} is not ${WIRE_VERSION} (agent and client versions differ?)`);
  const when = value.when;
  if (when !== 'connect' && when !== 'answer') throw new WireError(source, 'when', 'not "connect" or "answer"');
  const e = value.event;
  if (!isObject(e)) throw new WireError(source, 'event', 'missing');
  const outcome = str(e, 'event.outcome', source);
  if (!OUTCOMES.has(outcome)) throw new WireError(source, 'event.outcome', `unknown outcome ${JSON.stringify(outcome)}`);
  const evSource = str(e, 'event.source', source);
  if (!SOURCES.has(evSource)) throw new WireError(source, 'event.source', `unknown source ${JSON.stringify(evSource)}`);
  const family = e.family;
  if (family !== 4 && family !== 6) throw new WireError(source, 'event.family', 'not 4 or 6');
  const proto = e.proto === 'UDP' ? 'UDP' : 'TCP';
  const event: ConnectEvent = {
    tsNs: bigintField(e, 'tsNs', source),
    cgroupId: bigintField(e, 'cgroupId', source),
    latencyNs: int(e, 'latencyNs', source),
    pid: int(e, 'pid', source),
    tid: int(e, 'tid', source),
    uid: int(e, 'uid', source),
    gid: int(e, 'gid', source),
    mntns: int(e, 'mntns', source),
    netns: int(e, 'netns', source),
    family,
    saddr: str(e, 'event.saddr', source),
    daddr: str(e, 'event.daddr', source),
    sport: int(e, 'sport', source),
    dport: int(e, 'dport', source),
    outcome: outcome as ConnectOutcome,
    source: evSource as EventSource,
    proto,
    errno: int(e, 'errno', source),
    comm: str(e, 'event.comm', source),
  };
  const time = new Date(str(value, 'time', source));
  if (Number.isNaN(time.getTime())) throw new WireError(source, 'time', 'not an ISO 8601 time');
  let record: FlowRecord;
  try {
    record = parseFlowRecord(value.flow, source, 0);
  } catch (err) {
    throw new WireError(source, 'flow', (err as Error).message);
  }
  const container = value.container;
  if (container !== null && typeof container !== 'string') throw new WireError(source, 'container', 'not a string or null');
  return {
    kind: 'connect',
    connect: {
      v: WIRE_VERSION,
      when,
      time: time.toISOString(),
      node: str(value, 'node', source),
      namespace: str(value, 'namespace', source),
      pod: str(value, 'pod', source),
      container,
      event: { ...event, tsNs: event.tsNs.toString(), cgroupId: event.cgroupId.toString() },
      flow: record,
    },
  };
}

/** A decoded wire connect in the shape the trace renderers read. */
export function toStreamedConnect(w: WireConnect): StreamedConnect {
  const { tsNs, cgroupId, ...rest } = w.event;
  return {
    when: w.when,
    event: { ...rest, tsNs: BigInt(tsNs), cgroupId: BigInt(cgroupId) },
    time: new Date(w.time),
    record: w.flow,
    node: w.node,
    source: { namespace: w.namespace, name: w.pod, ...(w.container !== null ? { container: w.container } : {}) },
  };
}

/** The query string of /v1/connects (without the leading `?`). */
export function encodeQuery(q: ConnectsQuery): string {
  const p = new URLSearchParams();
  if (q.namespace !== undefined) p.set('namespace', q.namespace);
  if (q.podname !== undefined) p.set('podname', q.podname);
  if (q.selector !== undefined) p.set('selector', q.selector);
  if (q.container !== undefined) p.set('container', q.container);
  if (q.when !== undefined) p.set('when', q.when);
  if (q.since !== undefined) p.set('since', q.since.toISOString());
  if (q.proto !== undefined) p.set('proto', q.proto === 'all' ? 'all' : q.proto.toLowerCase());
  return p.toString();
}

/** A bad query parameter: the agent answers 400 with this message. */
export class QueryError extends Error {
  constructor(
    readonly param: string,
    detail: string,
  ) {
    super(`${param}: ${detail}`);
    this.name = 'QueryError';
  }
}

const KNOWN_PARAMS: ReadonlySet<string> = new Set(['namespace', 'podname', 'selector', 'container', 'when', 'since', 'proto']);

/** Parses /v1/connects' query; unknown parameters are refused, so a typo never widens a stream silently. */
export function parseQuery(params: URLSearchParams): ConnectsQuery {
  const q: ConnectsQuery = {};
  for (const key of params.keys()) if (!KNOWN_PARAMS.has(key)) throw new QueryError(key, `unknown parameter; known: ${[...KNOWN_PARAMS].join(', ')}`);
  const get = (k: string): string | undefined => {
    const all = params.getAll(k);
    const v = all[all.length - 1];
    if (v === '') throw new QueryError(k, 'empty');
    return v;
  };
  const namespace = get('namespace');
  if (namespace !== undefined) q.namespace = namespace;
  const podname = get('podname');
  if (podname !== undefined) q.podname = podname;
  const selector = get('selector');
  if (selector !== undefined) q.selector = selector;
  const container = get('container');
  if (container !== undefined) q.container = container;
  const when = get('when');
  if (when !== undefined) {
    if (when !== 'connect' && when !== 'answer') throw new QueryError('when', `"${when}" is not connect or answer`);
    q.when = when;
  }
  const proto = get('proto');
  if (proto !== undefined) {
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'all') throw new QueryError('proto', `"${proto}" is not tcp, udp or all`);
    q.proto = proto === 'all' ? 'all' : proto === 'tcp' ? 'TCP' : 'UDP';
  }
  const since = get('since');
  if (since !== undefined) {
    const d = new Date(since);
    if (Number.isNaN(d.getTime())) throw new QueryError('since', `"${since}" is not an ISO 8601 time`);
    q.since = d;
  }
  return q;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, field: string, source: string): string {
  const key = field.slice(field.lastIndexOf('.') + 1);
  const v = o[key];
  if (typeof v !== 'string') throw new WireError(source, field, 'not a string');
  return v;
}

function int(o: Record<string, unknown>, key: string, source: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || (v < 0 && key !== 'errno')) throw new WireError(source, key === 'lost' ? 'lost' : `event.${key}`, 'not a non-negative integer');
  return v;
}

function bigintField(o: Record<string, unknown>, key: string, source: string): bigint {
  const v = o[key];
  if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) throw new WireError(source, `event.${key}`, 'not a decimal string');
  return BigInt(v);
}
