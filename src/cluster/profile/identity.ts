/**
 * A connect's identity for the profile, taken when the connect happens: the source pod becomes its
 * workload (owner, selector, stable labels), each peer it reached becomes a workload, an address
 * or — when a Service led nowhere — that Service. Pod names and IPs are not kept: a rollout that
 * replaces every pod leaves older observations exactly as valid as new ones.
 *
 * The input is the resolution the synthesizer itself uses (src/policy/traffic.ts resolveFlow),
 * described here by shape only so this layer does not import the policy layer: what the profile
 * stores is what `learn --flows` would have resolved at that moment.
 */
import type { LabelSelector, V1Pod } from '../objects.js';
import { stableLabels } from '../workload.js';
import type { EdgeObservation, PeerIdentity, ProfileObservation, ProfileOutcome, ProfileProtocol, WorkloadIdentity } from './types.js';
import { edgeKey } from './types.js';

/** The parts of a resolved endpoint this module reads (src/policy/traffic.ts Endpoint). */
export type ResolvedEndpoint =
  | { kind: 'pod'; namespace: string; labels: Record<string, string>; pod: V1Pod; workload: { kind: string; namespace: string; name: string; selector: LabelSelector } }
  | { kind: 'external'; ip: string; node?: string };

/** The parts of a resolved flow this module reads (src/policy/traffic.ts ResolvedFlow). */
export interface ResolvedConnect {
  src: ResolvedEndpoint;
  service?: { namespace: string; name: string; port: number; selectorless: boolean };
  targets: { dst: ResolvedEndpoint; port: number; proto: string }[];
  problem?: string;
  flow: { proto: string; dst: { port: number }; outcome?: string };
}

export function workloadIdentity(ep: Extract<ResolvedEndpoint, { kind: 'pod' }>): WorkloadIdentity {
  const w = ep.workload;
  const id: WorkloadIdentity = { namespace: w.namespace, kind: w.kind, name: w.name, selector: w.selector, labels: stableLabels(ep.labels) };
  if (ep.pod.spec?.hostNetwork) id.hostNetwork = true;
  return id;
}

function peerOf(ep: ResolvedEndpoint): PeerIdentity {
  if (ep.kind === 'pod') return { workload: workloadIdentity(ep) };
  return ep.node ? { address: ep.ip, node: ep.node } : { address: ep.ip };
}

const OUTCOMES: ReadonlySet<string> = new Set(['established', 'refused', 'timeout', 'closed', 'error']);

function protocolOf(p: string): ProfileProtocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

/**
 * The observation of one connect, or undefined when its source is not a pod (the agent hands the
 * sink pods' connects only; a host process has no workload to profile).
 */
export function observationOf(resolved: ResolvedConnect, time: string): ProfileObservation | undefined {
  if (resolved.src.kind !== 'pod') return undefined;
  const owner = workloadIdentity(resolved.src);
  const outcome: ProfileOutcome = resolved.flow.outcome && OUTCOMES.has(resolved.flow.outcome) ? (resolved.flow.outcome as ProfileOutcome) : 'unknown';
  const via = resolved.service
    ? { namespace: resolved.service.namespace, name: resolved.service.name, port: resolved.service.port, ...(resolved.service.selectorless ? { selectorless: true } : {}) }
    : undefined;
  const edges: EdgeObservation[] = [];
  if (resolved.targets.length === 0) {
    // A Service without backends on that port: the attempt is kept, against the Service, with why.
    const peer: PeerIdentity = resolved.service
      ? { service: { namespace: resolved.service.namespace, name: resolved.service.name }, problem: resolved.problem ?? 'no backends' }
      : { address: '0.0.0.0' };
    edges.push({ peer, ...(via ? { via } : {}), port: resolved.flow.dst.port, protocol: protocolOf(resolved.flow.proto), outcome });
  }
  const seen = new Set<string>();
  for (const t of resolved.targets) {
    const e: EdgeObservation = { peer: peerOf(t.dst), ...(via ? { via } : {}), port: t.port, protocol: protocolOf(t.proto), outcome };
    // Several backends of one workload are one edge: the profile keys on identities, not pods.
    const key = edgeKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push(e);
  }
  return { owner, edges, time };
}
