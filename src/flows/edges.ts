/**
 * Aggregation of flows into edges: identical (source, destination address, port, protocol, outcome) flows
 * collapse into one edge with a count and first/last seen, before anything is resolved against a
 * cluster. A million flows of a chatty workload become a handful of edges, so resolution and
 * synthesis cost per edge, not per flow.
 */
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

/** Destination address → (port, protocol, outcome) → edge. */
type DestinationEdges = Map<string, Map<number, FlowEdge>>;

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
 * Edges keyed level by level (namespace → pod, or source address; then destination address; then
 * port and protocol as one number) rather than by one concatenated string: each level hashes a
 * string JSON.parse already made, and no key string is built per flow. This is the per-flow hot
 * path of learning from large recordings.
 */
export class EdgeAggregator {
  private readonly byPod = new Map<string, Map<string, DestinationEdges>>();
  private readonly byAddress = new Map<string, DestinationEdges>();
  private readonly edges: FlowEdge[] = [];
  flows = 0;

  private destinations(flow: LocatedFlow): DestinationEdges {
    const src = flow.src;
    if (typeof src.namespace === 'string' && typeof src.pod === 'string') {
      let pods = this.byPod.get(src.namespace);
      if (!pods) this.byPod.set(src.namespace, (pods = new Map()));
      let dsts = pods.get(src.pod);
      if (!dsts) pods.set(src.pod, (dsts = new Map()));
      return dsts;
    }
    const ip = String(src.ip);
    let dsts = this.byAddress.get(ip);
    if (!dsts) this.byAddress.set(ip, (dsts = new Map()));
    return dsts;
  }

  add(flow: LocatedFlow): void {
    this.flows++;
    const dsts = this.destinations(flow);
    let ports = dsts.get(flow.dst.ip);
    if (!ports) dsts.set(flow.dst.ip, (ports = new Map()));
    // Port, protocol and outcome folded into one number: (port × 4 + protocol) × 8 + outcome.
    const portKey = (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
    const edge = ports.get(portKey);
    const ts = flow.ts;
    if (!edge) {
      const created: FlowEdge = { sample: flow, count: 1, firstSeen: ts, lastSeen: ts, ids: flow.id ? [flow.id] : [] };
      ports.set(portKey, created);
      this.edges.push(created);
      return;
    }
    edge.count++;
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
