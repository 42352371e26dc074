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
const MAX_IDS_PER_EDGE = 16;

/** The identity of an edge: who connected (pod, else address), to which address, port and protocol. */
export function edgeKey(flow: LocatedFlow): string {
  const src = flow.src;
  const who = typeof src.namespace === 'string' && typeof src.pod === 'string' ? `p/${src.namespace}/${src.pod}` : `r/${src.ip}`;
  return `${who}|${flow.dst.ip}|${flow.dst.port}|${flow.proto}`;
}

export class EdgeAggregator {
  private readonly edges = new Map<string, FlowEdge>();
  flows = 0;

  add(flow: LocatedFlow): void {
    this.flows++;
    const key = edgeKey(flow);
    const edge = this.edges.get(key);
    if (!edge) {
      this.edges.set(key, { sample: flow, count: 1, firstSeen: flow.ts, lastSeen: flow.ts, ids: flow.id ? [flow.id] : [] });
      return;
    }
    edge.count++;
    const ts = flow.ts;
    if (ts !== undefined) {
      // Compared as instants: RFC 3339 strings with different fraction lengths do not sort as text.
      const t = Date.parse(ts);
      if (edge.firstSeen === undefined || t < Date.parse(edge.firstSeen)) edge.firstSeen = ts;
      if (edge.lastSeen === undefined || t > Date.parse(edge.lastSeen)) edge.lastSeen = ts;
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
