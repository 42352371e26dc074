/**
 * Traffic profiles → the synthesizer's edges. A profile's identities were resolved when the
 * connects happened (src/cluster/profile/identity.ts, from the same resolveFlow `learn --flows`
 * uses), so they are taken as they are: a workload becomes an endpoint with the selector it had
 * then, whether or not its pods still exist, and a rollout never turns older observations into
 * unknown pods. The cluster index is only asked for namespace labels (and, by the synthesizer,
 * for the DNS pods and the self-check).
 */
import type { ClusterIndex } from '../cluster/lookup.js';
import type { V1Pod } from '../cluster/objects.js';
import type { MergedProfile } from '../cluster/profile/merge.js';
import type { PeerIdentity, ProfileEdge, WorkloadIdentity } from '../cluster/profile/types.js';
import { workloadIdentityKey } from '../cluster/profile/types.js';
import type { LearnEdge } from './synthesize/index.js';
import type { Endpoint, PodEndpoint, ServiceRef } from './traffic.js';
import { UNANSWERED } from './learn.js';
import type { LocatedFlow, Protocol } from '../flows/record.js';

/** One endpoint per workload identity: the synthesizer caches per pod object. */
function endpointMaker(index: ClusterIndex): (w: WorkloadIdentity) => PodEndpoint {
  const made = new Map<string, PodEndpoint>();
  return (w) => {
    const key = workloadIdentityKey(w);
    let ep = made.get(key);
    if (!ep) {
      // A stand-in pod of the workload: what scope filters (-l) and the host-network check read.
      const pod: V1Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: w.namespace, name: `${w.kind.toLowerCase()}.${w.name}`, labels: w.labels },
        spec: { containers: [], ...(w.hostNetwork ? { hostNetwork: true } : {}) },
      };
      ep = {
        kind: 'pod',
        namespace: w.namespace,
        name: pod.metadata!.name!,
        labels: w.labels,
        namespaceLabels: index.namespaceLabels(w.namespace),
        pod,
        workload: { kind: w.kind, namespace: w.namespace, name: w.name, selector: w.selector },
      };
      made.set(key, ep);
    }
    return ep;
  };
}

function peerEndpoint(peer: PeerIdentity, endpoint: (w: WorkloadIdentity) => PodEndpoint): Endpoint | undefined {
  if ('workload' in peer) return endpoint(peer.workload);
  if ('address' in peer) return peer.node ? { kind: 'external', ip: peer.address, node: peer.node } : { kind: 'external', ip: peer.address };
  return undefined;
}

/**
 * A flow record standing for the edge in reports (no pod names: the profile keeps identities).
 * `observed` says UDP was observed for it when every node that saw it observed UDP since before it
 * first saw it (merge.ts): the synthesizer then learns the workload's DNS rule from its lookups,
 * as it does for flows recorded on a node.
 */
function sampleFlow(owner: FlowOwner, e: ProfileEdge): LocatedFlow {
  const dst = 'address' in e.peer ? e.peer.address : '0.0.0.0';
  return {
    v: 1,
    proto: e.protocol as Protocol,
    ts: e.lastSeen,
    src: owner.src,
    dst: { ip: dst, port: e.via?.port ?? e.port, ...(e.via ? { namespace: e.via.namespace, service: e.via.name } : {}) },
    ...(e.outcome !== 'unknown' ? { outcome: e.outcome } : {}),
    observed: e.udpUnobserved === undefined ? ['TCP', 'UDP'] : ['TCP'],
    origin: owner.origin,
  };
}

/**
 * What every sample flow of one workload shares, made once per profile rather than per edge
 * (60,000 edges at the scale of bench/learn-profiles-scale.mjs). Nothing downstream writes to a
 * flow's src or origin.
 */
interface FlowOwner {
  src: LocatedFlow['src'];
  origin: LocatedFlow['origin'];
}

function flowOwner(owner: WorkloadIdentity): FlowOwner {
  return {
    src: { namespace: owner.namespace, pod: `${owner.kind.toLowerCase()}.${owner.name}` },
    origin: { file: `trafficprofile ${owner.namespace}/${owner.kind}/${owner.name}`, line: 0 },
  };
}

export interface ProfileEdges {
  edges: LearnEdge[];
  /** Connects in the profiles (all edges). */
  connects: number;
  /** Connects left out because nobody answered them (see UNANSWERED), unless includeFailed. */
  unanswered: number;
  /**
   * Workloads (workloadIdentityKey) with an edge learned whose connects were not all made while UDP
   * was observed, and the first reason: their DNS rule is assumed, and learn says why.
   */
  udpUnobserved: Map<string, string>;
}

export function profileLearnEdges(profiles: MergedProfile[], index: ClusterIndex, opts: { includeFailed?: boolean } = {}): ProfileEdges {
  const endpoint = endpointMaker(index);
  const edges: LearnEdge[] = [];
  let connects = 0;
  let unanswered = 0;
  const udpUnobserved = new Map<string, string>();
  for (const p of profiles) {
    const src = endpoint(p.workload);
    const key = workloadIdentityKey(p.workload);
    const owner = flowOwner(p.workload);
    for (const e of p.edges) {
      connects += e.count;
      if (!opts.includeFailed && UNANSWERED.has(e.outcome)) {
        unanswered += e.count;
        continue;
      }
      if (e.udpUnobserved !== undefined && !udpUnobserved.has(key)) udpUnobserved.set(key, e.udpUnobserved);
      const flow = sampleFlow(owner, e);
      const via: ServiceRef | undefined = e.via ? { namespace: e.via.namespace, name: e.via.name, port: e.via.port, selectorless: e.via.selectorless ?? false } : undefined;
      const dst = peerEndpoint(e.peer, endpoint);
      const base = { flow, src, count: e.count, firstSeen: e.firstSeen, lastSeen: e.lastSeen, ...(via ? { service: via } : {}) };
      if (!dst) {
        const problem = 'service' in e.peer ? e.peer.problem : 'no peer';
        edges.push({ ...base, targets: [], problem });
        continue;
      }
      edges.push({ ...base, targets: [{ src, dst, port: e.port, proto: e.protocol as Protocol, ...(via ? { via } : {}) }] });
    }
  }
  return { edges, connects, unanswered, udpUnobserved };
}
