/**
 * Aggregation of flows into edges: identical (source, destination address, port, protocol, outcome) flows
 * collapse into one edge with a count and first/last seen, before anything is resolved against a
 * cluster. A million flows of a chatty workload become a handful of edges, so resolution and
 * synthesis cost per edge, not per flow.
 */
import { bytesEqual, latin1, type FlowLineScanner } from './line-scan.js';
import type { LocatedFlow } from './record.js';

export interface FlowEdge {
  /** The first flow seen for this edge; resolution and reports use it. */
  sample: LocatedFlow;
  count: number;
  firstSeen?: string;
  lastSeen?: string;

  /** Ids of the flows folded into this edge (only when the input carries ids; capped). */
  ids: string[];
}

/** Ids kept per edge: enough to point at examples without making memory grow with the input. */
export const MAX_IDS_PER_EDGE = 16;

/**
 * The identity of an edge: who connected (pod, else address), to which address, port and protocol,
 * and how it ended — a connect nobody answered is not the same fact as one that was established.
 */
export function edgeKey(flow: LocatedFlow): string {
  const src = flow.src;
  const who = typeof src.namespace === 'string' && typeof src.pod === 'string' ? `p/${src.namespace}/${src.pod}` : `r/${src.ip}`;
  return `${who}|${flow.dst.ip}|${flow.dst.port}|${flow.proto}|${flow.outcome ?? ''}`;
}

/**
 * Orders RFC 3339 timestamps as instants. Two UTC (`Z`) stamps of the same length sort as text,
 * which is the common case and much cheaper than Date.parse; anything else (offsets, different
 * fraction lengths) is parsed.
 */
export function compareTimestamps(a: string, b: string): number {
  if (a.length === b.length && a.endsWith('Z') && b.endsWith('Z')) return a < b ? -1 : a > b ? 1 : 0;
  return Date.parse(a) - Date.parse(b);
}

// Comparisons, not a lookup table: a keyed load with a fresh string per flow is the slower path.
function protocolIndex(proto: string): number {
  return proto === 'TCP' ? 0 : proto === 'UDP' ? 1 : proto === 'SCTP' ? 2 : 3;
}

function outcomeIndex(outcome: string | undefined): number {
  if (outcome === undefined) return 0;
  switch (outcome) {
    case 'established':
      return 1;
    case 'refused':
      return 2;
    case 'timeout':
      return 3;
    case 'closed':
      return 4;
    case 'error':
      return 5;
    default:
      return 6;
  }
}

/**
 * One edge in the aggregator's table: its identity spelled out (compared on lookup, so a hash
 * collision never merges two edges) and the edge.
 */
interface Slot {
  /** Namespace of the source pod, or the source address. */
  who: string;
  /** Name of the source pod; null when the source is an address. */
  pod: string | null;
  dstIp: string;
  /** Port, protocol and outcome folded into one number: (port × 4 + protocol) × 8 + outcome. */
  portKey: number;
  edge: FlowEdge;
  /** Next slot with the same hash. */
  next: Slot | undefined;
}

// FNV-1a over the identity, the same for a record's strings and a line's bytes (the fast path only
// accepts ASCII in these fields, where the two agree), folded to a small integer: a number key
// is what a Map looks up fastest.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ 0xff, FNV_PRIME);
}

function hashBytes(h: number, buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return Math.imul(h ^ 0xff, FNV_PRIME);
}

function finishHash(h: number, portKey: number): number {
  return Math.imul(h ^ portKey, FNV_PRIME) & 0x3fffffff;
}

/**
 * Compares a timestamp in a line's bytes with one already kept, like compareTimestamps; in place
 * for two UTC stamps of the same length (the common case), else through the strings.
 */
function compareTimestampBytes(buf: Uint8Array, start: number, end: number, kept: string): number {
  const len = end - start;
  if (len === kept.length && buf[end - 1] === 0x5a && kept.charCodeAt(len - 1) === 0x5a) {
    for (let i = 0; i < len; i++) {
      const d = buf[start + i]! - kept.charCodeAt(i);
      if (d !== 0) return d;
    }
    return 0;
  }
  return compareTimestamps(latin1(buf, start, end), kept);
}

/**
 * Edges in one table keyed by a hash of their identity. Records and fast-path lines (see
 * line-scan.ts) land in the same table, so a recording may mix both. Per flow this costs one hash
 * over the identity's characters and one lookup by a small integer — no key string is built, and
 * no string made per flow is hashed into a map (strings cut out of a larger text hash slowly).
 * This is the per-flow hot path of learning from large recordings.
 */
export class EdgeAggregator {
  private readonly slots = new Map<number, Slot>();
  private readonly edges: FlowEdge[] = [];
  flows = 0;

  add(flow: LocatedFlow): void {
    this.flows++;
    const src = flow.src;
    const isPod = typeof src.namespace === 'string' && typeof src.pod === 'string';
    const who = isPod ? (src.namespace as string) : String(src.ip);
    const pod = isPod ? (src.pod as string) : null;
    const portKey = (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
    let h = hashString(isPod ? FNV_OFFSET : ~FNV_OFFSET, who);
    if (pod !== null) h = hashString(h, pod);
    h = finishHash(hashString(h, flow.dst.ip), portKey);
    let slot = this.slots.get(h);
    while (slot && !(slot.portKey === portKey && slot.who === who && slot.pod === pod && slot.dstIp === flow.dst.ip)) slot = slot.next;
    if (!slot) {
      this.insert(h, flow, who, pod, portKey);
      return;
    }
    const edge = slot.edge;
    edge.count++;
    const ts = flow.ts;
    if (ts !== undefined) {
      // Recordings are mostly in time order: a new last is the common case, and then it cannot be
      // a new first (first <= last).
      if (edge.lastSeen === undefined || compareTimestamps(ts, edge.lastSeen) > 0) {
        edge.lastSeen = ts;
        if (edge.firstSeen === undefined) edge.firstSeen = ts;
      } else if (edge.firstSeen === undefined || compareTimestamps(ts, edge.firstSeen) < 0) {
        edge.firstSeen = ts;
      }
    }
    if (flow.id && edge.ids.length < MAX_IDS_PER_EDGE) edge.ids.push(flow.id);
  }

  /**
   * A line the fast path has accepted (`line` scanned `buf`): the same as `add` of its record,
   * which is built (`record()`) only when the line starts a new edge and becomes its sample.
   */
  addScanned(line: FlowLineScanner, buf: Uint8Array, record: () => LocatedFlow): void {
    this.flows++;
    const isPod = line.srcIsPod;
    const portKey = (line.dstPort * 4 + protocolIndex(line.proto)) * 8 + outcomeIndex(line.outcome);
    let h: number;
    if (isPod) h = hashBytes(hashBytes(FNV_OFFSET, buf, line.nsStart, line.nsEnd), buf, line.podStart, line.podEnd);
    else h = hashBytes(~FNV_OFFSET, buf, line.srcIpStart, line.srcIpEnd);
    h = finishHash(hashBytes(h, buf, line.dstIpStart, line.dstIpEnd), portKey);
    let slot = this.slots.get(h);
    while (slot) {
      if (
        slot.portKey === portKey &&
        bytesEqual(buf, line.dstIpStart, line.dstIpEnd, slot.dstIp) &&
        (isPod
          ? slot.pod !== null && bytesEqual(buf, line.podStart, line.podEnd, slot.pod) && bytesEqual(buf, line.nsStart, line.nsEnd, slot.who)
          : slot.pod === null && bytesEqual(buf, line.srcIpStart, line.srcIpEnd, slot.who))
      ) {
        break;
      }
      slot = slot.next;
    }
    if (!slot) {
      const flow = record();
      const src = flow.src;
      this.insert(h, flow, isPod ? (src.namespace as string) : String(src.ip), isPod ? (src.pod as string) : null, portKey);
      return;
    }
    const edge = slot.edge;
    edge.count++;
    if (line.tsStart >= 0) {
      const { tsStart: s, tsEnd: e } = line;
      if (edge.lastSeen === undefined || compareTimestampBytes(buf, s, e, edge.lastSeen) > 0) {
        edge.lastSeen = latin1(buf, s, e);
        if (edge.firstSeen === undefined) edge.firstSeen = edge.lastSeen;
      } else if (edge.firstSeen === undefined || compareTimestampBytes(buf, s, e, edge.firstSeen) < 0) {
        edge.firstSeen = latin1(buf, s, e);
      }
    }
    if (line.idStart >= 0 && line.idEnd > line.idStart && edge.ids.length < MAX_IDS_PER_EDGE) edge.ids.push(latin1(buf, line.idStart, line.idEnd));
  }

  private insert(hash: number, flow: LocatedFlow, who: string, pod: string | null, portKey: number): void {
    const edge: FlowEdge = { sample: flow, count: 1, firstSeen: flow.ts, lastSeen: flow.ts, ids: flow.id ? [flow.id] : [] };
    this.slots.set(hash, { who, pod, dstIp: flow.dst.ip, portKey, edge, next: this.slots.get(hash) });
    this.edges.push(edge);
  }

  /** Edges in the order they were first seen (deterministic for a given input order). */
  result(): FlowEdge[] {
    return [...this.edges];
  }
}

export async function aggregateFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>): Promise<FlowEdge[]> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return agg.result();
}
