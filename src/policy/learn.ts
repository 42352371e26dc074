/**
 * The learning pipeline shared by `learn` (offline, local, live) and `check` (drift): flows are
 * deduplicated into edges, each edge resolved against the cluster once, then synthesized.
 */
import type { ClusterIndex } from '../cluster/lookup.js';
import { EdgeAggregator, type FlowEdge } from '../flows/edges.js';
import type { LocatedFlow } from '../flows/record.js';
import { synthesize, type LearnEdge, type SynthesisOptions, type SynthesisResult } from './synthesize/index.js';
import { resolveFlow } from './traffic.js';
import { policyFilePath } from './write.js';

export interface LearnOutcome {
  result: SynthesisResult;
  flows: number;
  edges: number;
  /** Flows left out because their connect was never answered (see UNANSWERED). */
  unanswered: number;
}

/**
 * Outcomes of connects that never reached a listening peer: nobody answered the SYN (timeout),
 * the socket was given up before any answer (closed — what a connect blocked by a policy looks
 * like), or connect() failed outright (error). Learning them would turn blocked or mistaken
 * attempts into allow rules, so they are left out unless asked for (`--include-failed`).
 * A refused connect did reach the peer (it answered RST) and is learned.
 */
export const UNANSWERED: ReadonlySet<string> = new Set(['timeout', 'closed', 'error']);

export function resolveEdges(edges: FlowEdge[], index: ClusterIndex): LearnEdge[] {
  return edges.map((e) => {
    // resolveFlow returns a fresh object: extended in place (same keys, same order as a spread copy,
    // without copying 40k objects on large learns).
    const edge = resolveFlow(e.sample, index) as LearnEdge;
    edge.count = e.count;
    if (e.firstSeen !== undefined) edge.firstSeen = e.firstSeen;
    if (e.lastSeen !== undefined) edge.lastSeen = e.lastSeen;
    return edge;
  });
}

export function learnFromEdges(edges: FlowEdge[], flows: number, index: ClusterIndex, options: SynthesisOptions): LearnOutcome {
  let unanswered = 0;
  const learned = options.includeFailed
    ? edges
    : edges.filter((e) => {
        const skip = e.sample.outcome !== undefined && UNANSWERED.has(e.sample.outcome);
        if (skip) unanswered += e.count;
        return !skip;
      });
  return learnFromResolved(resolveEdges(learned, index), flows, unanswered, index, options);
}

/**
 * Synthesis over edges already resolved (from flows above, or from traffic profiles, whose
 * identities were resolved when the connects happened: src/policy/profile-edges.ts).
 */
export function learnFromResolved(resolved: LearnEdge[], flows: number, unanswered: number, index: ClusterIndex, options: SynthesisOptions): LearnOutcome {
  const result = synthesize(resolved, index, options);
  const unidentified = resolved.filter((e) => e.unidentified !== undefined);
  if (unidentified.length > 0) {
    // Learned from their addresses alone (what the synthesizer can do), but never silently.
    const flowsOf = unidentified.reduce((n, e) => n + e.count, 0);
    result.warnings.push(`${unidentified.length} connection(s) (${flowsOf} flows) name a pod or Service the cluster view does not hold, learned by address only; first: ${unidentified[0]!.unidentified}`);
  }
  // The path every consumer (write, the drift check, the live preview) sees is the one written.
  for (const p of result.policies) p.path = policyFilePath(p.path);
  result.policies.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { result, flows, edges: resolved.length, unanswered };
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
