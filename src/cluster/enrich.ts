/**
 * Enrichment of the agent's connect events with Kubernetes identity, in cluster mode:
 *
 *   source  cgroup id → cgroup path → container id → pod (status.containerStatuses), falling back
 *           to the pod UID in the path (sandbox/pause, conmon) and then to the source IP;
 *   dest    pod IP (any of status.podIPs) → pod; ClusterIP/externalIPs/LB IP → Service;
 *           node InternalIP/ExternalIP → node (host-network pods share it).
 */
import type { FlowRecord, Outcome } from '../flows/record.js';
import { formatEndpoint } from './endpoint-notation.js';
import type { ClusterIndex } from './lookup.js';
import type { V1Pod } from './objects.js';
import { parseKubeletCgroupPath } from '../agent/cgroup-path.js';

/** What enrichment needs of an agent event; the agent's ConnectEvent has all of it. */
export interface ConnectFacts {
  cgroupId: bigint;
  pid: number;
  comm: string;
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  latencyNs: number;
  /**
   * `connecting`: reported as the connect was made, no answer, latency or outcome yet; `sent`: a
   * UDP datagram, which has no answer to wait for.
   */
  outcome: Outcome | 'connecting' | 'sent';
  /** Default TCP. */
  proto?: 'TCP' | 'UDP';
}

export interface PodIdentity {
  pod: V1Pod;
  namespace: string;
  name: string;
  /** The container's name in the pod spec, when the cgroup named one. */
  container?: string;
}

/** How the source pod was found, for -v output and tests. */
export type SourceMatch = 'container-id' | 'pod-uid' | 'pod-ip' | 'none';

const podsByUidCache = new WeakMap<ClusterIndex, Map<string, V1Pod>>();
function podByUid(index: ClusterIndex, uid: string): V1Pod | undefined {
  let map = podsByUidCache.get(index);
  if (!map) {
    map = new Map();
    for (const pod of index.objects.pods) if (pod.metadata?.uid) map.set(pod.metadata.uid, pod);
    podsByUidCache.set(index, map);
  }
  return map.get(uid);
}

function identity(pod: V1Pod, container?: string): PodIdentity {
  return { pod, namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', container };
}

/**
 * The pod (and container) of a container the node agent identified by its cgroup (container id
 * and, for kubelet layouts, the pod UID from the path).
 */
export function podOfContainer(index: ClusterIndex, c: { containerId?: string; podUid?: string }): { identity?: PodIdentity; match: SourceMatch } {
  if (c.containerId) {
    const hit = index.podByContainerId(c.containerId);
    if (hit) return { identity: identity(hit.pod, hit.container), match: 'container-id' };
  }
  if (c.podUid) {
    const pod = podByUid(index, c.podUid);
    if (pod) return { identity: identity(pod), match: 'pod-uid' };
  }
  return { match: 'none' };
}

/** The pod (and container) a cgroup path belongs to, through the index. */
export function podOfCgroup(index: ClusterIndex, path: string): { identity?: PodIdentity; match: SourceMatch } {
  const parsed = parseKubeletCgroupPath(path);
  return parsed ? podOfContainer(index, parsed) : { match: 'none' };
}

export interface EnrichedConnect {
  record: FlowRecord;
  /** The source pod, when known (K8S.* columns and pod filters read it). */
  source?: PodIdentity;
  sourceMatch: SourceMatch;
  cgroupPath?: string;
}

/** A connect as a flow record, its source found by `sourceOf` (cgroup, container id or address). */
export function enrichWithIndex(
  ev: ConnectFacts,
  index: ClusterIndex,
  node: string,
  ts: string,
  sourceOf: (ev: ConnectFacts, index: ClusterIndex) => { identity?: PodIdentity; match: SourceMatch; cgroupPath?: string },
): EnrichedConnect {
  const src = sourceOf(ev, index);
  const record: FlowRecord = {
    v: 1,
    ts,
    node,
    proto: ev.proto ?? 'TCP',
    src: {
      ip: ev.saddr,
      port: ev.sport,
      namespace: src.identity?.namespace ?? null,
      pod: src.identity?.name ?? null,
      container: src.identity?.container ?? null,
      pid: ev.pid,
      comm: ev.comm,
    },
    dst: { ip: ev.daddr, port: ev.dport, namespace: null, pod: null, service: null },
    ...(ev.outcome !== 'connecting' && ev.outcome !== 'sent' ? { latencyNs: ev.latencyNs, outcome: ev.outcome } : {}),
  };
  const dstPod = index.podByIP(ev.daddr);
  if (dstPod) {
    record.dst.namespace = dstPod.metadata?.namespace ?? 'default';
    record.dst.pod = dstPod.metadata?.name ?? null;
  } else {
    // By address and port: LoadBalancer and external IPs may be shared by Services and nodes.
    const svc = index.serviceByAddress(ev.daddr, ev.dport, ev.proto ?? 'TCP');
    if (svc) {
      record.dst.namespace = svc.metadata?.namespace ?? 'default';
      record.dst.service = svc.metadata?.name ?? null;
    } else {
      const dstNode = index.nodeByIP(ev.daddr);
      if (dstNode) record.dst.node = dstNode.metadata?.name;
    }
  }
  return { record, source: src.identity, sourceMatch: src.match, cgroupPath: src.cgroupPath };
}

/** SRC in the seed notation: the pod when enrichment named one, else the address. */
export function flowSourceNotation(src: FlowRecord['src']): string {
  if (typeof src.namespace === 'string' && typeof src.pod === 'string' && src.pod !== '') {
    return formatEndpoint({ kind: 'pod', namespace: src.namespace, name: src.pod }, src.port ?? 0);
  }
  return formatEndpoint({ kind: 'raw', ip: src.ip ?? '' }, src.port ?? 0);
}

/** DST in the seed notation: a Service when the address was a Service's, a pod, else the address. */
export function flowDestinationNotation(dst: FlowRecord['dst']): string {
  if (typeof dst.namespace === 'string' && typeof dst.service === 'string' && dst.service !== '') {
    return formatEndpoint({ kind: 'service', namespace: dst.namespace, name: dst.service }, dst.port);
  }
  if (typeof dst.namespace === 'string' && typeof dst.pod === 'string' && dst.pod !== '') {
    return formatEndpoint({ kind: 'pod', namespace: dst.namespace, name: dst.pod }, dst.port);
  }
  return formatEndpoint({ kind: 'raw', ip: dst.ip }, dst.port);
}
