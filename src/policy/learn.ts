/**
 * The learning pipeline shared by `learn` (offline, local, live) and `check` (drift): flows are
 * deduplicated into edges, each edge resolved against the cluster once, then synthesized.
 */
import type { ClusterIndex } from '../cluster/lookup.js';
import { EdgeAggregator, type FlowEdge } from '../flows/edges.js';
import type { LocatedFlow } from '../flows/record.js';
import { synthesize, type LearnEdge, type SynthesisOptions, type SynthesisResult } from './synthesize.js';
import { resolveFlow } from './traffic.js';

export interface LearnOutcome {
  result: SynthesisResult;
  flows: number;
  edges: number;
}

export function resolveEdges(edges: FlowEdge[], index: ClusterIndex): LearnEdge[] {
  return edges.map((e) => {
    const edge: LearnEdge = { ...resolveFlow(e.sample, index), count: e.count };
    if (e.firstSeen !== undefined) edge.firstSeen = e.firstSeen;
    if (e.lastSeen !== undefined) edge.lastSeen = e.lastSeen;
    return edge;
  });
}

export function learnFromEdges(edges: FlowEdge[], flows: number, index: ClusterIndex, options: SynthesisOptions): LearnOutcome {
  return { result: synthesize(resolveEdges(edges, index), index, options), flows, edges: edges.length };
}

export async function learnFromFlows(
  flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>,
  index: ClusterIndex,
  options: SynthesisOptions,
): Promise<LearnOutcome> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return learnFromEdges(agg.result(), agg.flows, index, options);
}
