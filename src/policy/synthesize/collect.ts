/**
 * Edge collection: each edge's traffic becomes observed ports on the egress side of its source
 * workload and the ingress side of its destination workload. What cannot become a rule (a bad
 * port, no pod on either side, a peer that cannot be named) is counted in a warning, never dropped
 * silently; what did become rules is kept for the self-check against the evaluator.
 */
import { workloadKey } from '../../cluster/workload.js';
import { recordedWithUdp } from '../../flows/record.js';
import type { PodEndpoint, Traffic } from '../traffic.js';
import { peerOf } from './endpoint-peers.js';
import { addObserved } from './peer-ports.js';
import type { LearnedWorkload, SynthesisState } from './state.js';
import type { LearnEdge } from './types.js';
import { workloadLabel } from './warnings.js';

/** Adds every edge to the learned workloads of the state. */
export function collectEdges(state: SynthesisState, edges: LearnEdge[]): void {
  const { warnings } = state;
  for (const edge of edges) {
    if (edge.problem !== undefined || edge.targets.length === 0) {
      // The source was still seen: it is learned (its egress isolated), only this flow is not allowed.
      if (edge.src.kind === 'pod') {
        const owner = learnedFor(state, edge.src);
        if (owner) noteOutbound(owner, edge);
      }
      warnings.add(`skipped: ${edge.problem ?? 'flow resolved to nothing to judge'}`, edge.count);
      continue;
    }
    for (const t of edge.targets) {
      if (t.port < 1 || t.port > 65535) {
        warnings.add(`skipped: flows to port ${t.port} (a NetworkPolicy port must be 1-65535)`, edge.count);
        continue;
      }
      if (t.src.kind === 'external' && t.dst.kind === 'external') {
        warnings.add('skipped: flows with no pod on either side (nothing a NetworkPolicy selects)', edge.count);
        continue;
      }
      // Both ends: `&` and not `&&`, so the destination's side is learned even when the source's peer has no name.
      const named = learnEnd(state, t, 'egress', edge) & learnEnd(state, t, 'ingress', edge);
      if (named) {
        state.verifyTraffic.push(t);
        state.verifyCount.push(edge.count);
      }
    }
  }
}

/** A flow the workload sent: it was seen connecting out, and UDP was observed only if every such flow says so. */
function noteOutbound(owner: LearnedWorkload, edge: LearnEdge): void {
  owner.outbound = true;
  owner.udpObserved = (owner.udpObserved ?? true) && recordedWithUdp(edge.flow);
}

/**
 * One end of a connection learns its side of it: the source its egress to the destination, the
 * destination its ingress from the source. 0 when that end gets a policy but the peer cannot be
 * named (the connection is then not allowed, and said so), else 1.
 */
function learnEnd(state: SynthesisState, t: Traffic, direction: 'egress' | 'ingress', edge: LearnEdge): 0 | 1 {
  const [self, other] = direction === 'egress' ? [t.src, t.dst] : [t.dst, t.src];
  if (self.kind !== 'pod') return 1;
  const owner = learnedFor(state, self);
  if (!owner) return 1;
  if (direction === 'egress') noteOutbound(owner, edge);
  else owner.inbound = true;
  const peer = peerOf(state, other);
  if (peer) {
    addObserved(owner[direction], peer, t.proto, t.port);
    return 1;
  }
  const label = workloadLabel(owner.workload);
  const relation = direction === 'egress' ? `egress of ${label} to` : `ingress of ${label} from`;
  state.warnings.add(`not allowed: ${relation} a peer that cannot be named`, edge.count);
  return 0;
}

/** The learned entry of a pod's workload, or undefined when it gets no policy (cached per pod). */
function learnedFor(state: SynthesisState, ep: PodEndpoint): LearnedWorkload | undefined {
  const cached = state.learnedByPod.get(ep.pod);
  if (cached !== undefined) return cached ?? undefined;
  const entry = learnedEntry(state, ep);
  state.learnedByPod.set(ep.pod, entry ?? null);
  return entry;
}

/** Out of scope or in the host network: no policy (the latter said once). Else its entry, made on first sight. */
function learnedEntry(state: SynthesisState, ep: PodEndpoint): LearnedWorkload | undefined {
  const { scope } = state.options;
  if (scope && !scope(ep.pod, ep.workload)) return undefined;
  const w = ep.workload;
  const key = workloadKey(w);
  if (ep.pod.spec?.hostNetwork) {
    state.warnings.addOnce(`host:${key}`, `${workloadLabel(w)} runs in the host network; NetworkPolicy does not apply to it, no policy generated`);
    return undefined;
  }
  let entry = state.learned.get(key);
  if (!entry) {
    entry = { workload: w, key, egress: new Map(), ingress: new Map(), inbound: false, outbound: false };
    state.learned.set(key, entry);
  }
  return entry;
}
