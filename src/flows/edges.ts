/**
 * Aggregation of flows into edges: identical (source, destination address, port, protocol) flows
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

/** The identity of an edge: who connected (pod, else address), to which address, port and protocol. */
export function edgeKey(flow: LocatedFlow): string {
  const src = flow.src;
  const who = typeof src.namespace === 'string' && typeof src.pod === 'string' ? `p/${src.namespace}/${src.pod}` : `r/${src.ip}`;
  return `${who}|${flow.dst.ip}|${flow.dst.port}|${flow.proto}`;
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

export class EdgeAggregator {
  private readonly edges = new Map<string, FlowEdge>();
  flows = 0;

  add(flow: LocatedFlow): void {
    this.flows++;
    const key = edgeKey(flow);
    const edge = this.edges.get(key);
    const ts = flow.ts;
    if (!edge) {
      this.edges.set(key, { sample: flow, count: 1, firstSeen: ts, lastSeen: ts, ids: flow.id ? [flow.id] : [] });
      return;
    }
    edge.count++;
    if (ts !== undefined) {
      if (edge.firstSeen === undefined || compareTimestamps(ts, edge.firstSeen) < 0) edge.firstSeen = ts;
      if (edge.lastSeen === undefined || compareTimestamps(ts, edge.lastSeen) > 0) edge.lastSeen = ts;
    }
    if (flow.id && edge.ids.length < MAX_IDS_PER_EDGE) edge.ids.push(flow.id);
  }

  /** Edges in first-seen order of their key (deterministic for a given input order). */
  result(): FlowEdge[] {
    return [...this.edges.values()];
  }
}

export async function aggregateFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>): Promise<FlowEdge[]> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return agg.result();
}
