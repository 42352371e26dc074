/**
 * Traffic: a flow record resolved against a cluster into what NetworkPolicy actually judges —
 * endpoints that are pods (with labels, namespace labels, workload) or outside addresses, and the
 * port the connection really reaches. A connect to a ClusterIP is judged after Service DNAT: one
 * Traffic per backing pod, on the targetPort (DESIGN.md).
 */
import type { ClusterIndex, ServiceBackend, Workload } from '../cluster/lookup.js';
import { formatEndpoint, type EndpointName } from '../cluster/endpoint-notation.js';
import { canonicalIp, ipFamily } from '../flows/ip.js';
import type { V1Pod, V1Service } from '../cluster/objects.js';
import { InputError } from '../errors.js';
import type { LocatedFlow, Protocol } from '../flows/record.js';

export interface PodEndpoint {
  kind: 'pod';
  namespace: string;
  name: string;
  labels: Record<string, string>;
  namespaceLabels: Record<string, string>;
  ip?: string;
  pod: V1Pod;
  workload: Workload;
}

export interface ExternalEndpoint {
  kind: 'external';
  ip: string;
  /** Set when the address is a node's (host network): policies see it as an ipBlock peer all the same. */
  node?: string;
}

export type Endpoint = PodEndpoint | ExternalEndpoint;

export interface ServiceRef {
  namespace: string;
  name: string;
  /** The Service port that was dialled. */
  port: number;
  /** True for a Service without a selector (e.g. `default/kubernetes`): backends are plain IPs. */
  selectorless: boolean;
}

export interface Traffic {
  src: Endpoint;
  dst: Endpoint;
  /** The port the packet reaches: the dialled port, or the Service's targetPort. */
  port: number;
  proto: Protocol;
  via?: ServiceRef;
}

export interface ResolvedFlow {
  flow: LocatedFlow;
  src: Endpoint;
  /** Set when the destination was a Service address. */
  service?: ServiceRef;
  /** What NetworkPolicy judges: one entry, or one per Service backend. Empty only with `problem`. */
  targets: Traffic[];
  /** Why nothing could be judged (a Service with no ready backends on that port). */
  problem?: string;
  /**
   * Set when the record names a pod or Service the cluster view does not hold and no workload of
   * that name does either: what the flow reached is unknown, so it cannot be judged (an audit
   * reports it as unjudged; learn warns). The endpoints above are then only what its addresses say.
   */
  unidentified?: string;
  /** Set when a recorded pod was found only through its workload (a rollout replaced it): said in the reason. */
  identityNote?: string;
}

/** What resolving one flow learned about the names its record carries. */
interface Identity {
  unidentified?: string;
  notes?: string[];
}

/**
 * A pod a record names, from the view: the pod itself, else a stand-in of its workload when a
 * rollout replaced it (ClusterIndex.formerPod), with a note saying so; undefined when neither.
 */
function recordedPod(namespace: string, name: string, side: 'source' | 'destination', index: ClusterIndex, id: Identity, ip?: string): PodEndpoint | undefined {
  const pod = index.pod(namespace, name);
  if (pod) return podEndpoint(pod, index, ip);
  const former = index.formerPod(namespace, name);
  if (!former) return undefined;
  const w = index.workloadOf(former);
  (id.notes ??= []).push(`${side} pod ${namespace}/${name} is no longer in the cluster view: judged as a pod of ${w.kind} ${namespace}/${w.name}`);
  return podEndpoint(former, index, ip);
}

function unidentified(id: Identity, what: string, ip: string | undefined): void {
  id.unidentified ??= `${what} is not in the cluster view, nor any workload it could belong to: cannot be judged${ip ? ` (its recorded address ${ip} may belong to something else by now)` : ''}`;
}

/** Endpoints per index and pod, for the pod's own address: resolution meets the same pods over and over. */
const endpointCache = new WeakMap<ClusterIndex, WeakMap<V1Pod, PodEndpoint>>();

/** A pod as an endpoint. Treat it as immutable: the same object is handed out for every flow of the pod. */
export function podEndpoint(pod: V1Pod, index: ClusterIndex, ip?: string): PodEndpoint {
  const own = pod.status?.podIP;
  const cacheable = ip === undefined || ip === own;
  let perPod = endpointCache.get(index);
  if (cacheable) {
    const hit = perPod?.get(pod);
    if (hit) return hit;
  }
  const namespace = pod.metadata?.namespace ?? 'default';
  const endpoint: PodEndpoint = {
    kind: 'pod',
    namespace,
    name: pod.metadata?.name ?? '',
    labels: pod.metadata?.labels ?? {},
    namespaceLabels: index.namespaceLabels(namespace),
    ip: ip ?? own,
    pod,
    workload: index.workloadOf(pod),
  };
  if (cacheable) {
    if (!perPod) endpointCache.set(index, (perPod = new WeakMap()));
    perPod.set(pod, endpoint);
  }
  return endpoint;
}

function where(flow: LocatedFlow): { file: string; line?: number } {
  return { file: flow.origin?.file ?? '(flow)', line: flow.origin?.line };
}

function resolveSource(flow: LocatedFlow, index: ClusterIndex, id: Identity): Endpoint {
  const { namespace, pod: podName, ip } = flow.src;
  if (typeof namespace === 'string' && typeof podName === 'string') {
    const pod = recordedPod(namespace, podName, 'source', index, id, ip);
    if (pod) return pod;
    if (!ip) {
      const at = where(flow);
      throw new InputError(at.file, `source pod ${namespace}/${podName} is not in the cluster view and the flow has no src.ip`, at.line, 'src.pod');
    }
    unidentified(id, `source pod ${namespace}/${podName}`, ip);
  }
  const pod = ip ? index.podByIP(ip) : undefined;
  if (pod) return podEndpoint(pod, index, ip);
  const addr = canonicalIp(ip ?? '');
  const node = index.nodeByIP(addr)?.metadata?.name;
  return node ? { kind: 'external', ip: addr, node } : { kind: 'external', ip: addr };
}

/**
 * The destination endpoints of a backend list (index.serviceBackends hands out one list per Service
 * port and family): made once per list, shared by every flow to that Service like podEndpoint's.
 */
const backendEndpoints = new WeakMap<ClusterIndex, WeakMap<readonly ServiceBackend[], Endpoint[]>>();

function endpointsOf(backends: readonly ServiceBackend[], index: ClusterIndex): Endpoint[] {
  let perIndex = backendEndpoints.get(index);
  if (!perIndex) backendEndpoints.set(index, (perIndex = new WeakMap()));
  let list = perIndex.get(backends);
  if (!list) {
    list = backends.map((b) => (b.pod ? podEndpoint(b.pod, index, b.ip) : ({ kind: 'external', ip: b.ip } as ExternalEndpoint)));
    perIndex.set(backends, list);
  }
  return list;
}

/** One ServiceRef per Service and dialled port, shared by every flow to it (treat as immutable). */
const serviceRefs = new WeakMap<V1Service, Map<number, ServiceRef>>();

function serviceRef(service: V1Service, port: number): ServiceRef {
  let perPort = serviceRefs.get(service);
  if (!perPort) serviceRefs.set(service, (perPort = new Map()));
  let ref = perPort.get(port);
  if (!ref) {
    const namespace = service.metadata?.namespace ?? 'default';
    const name = service.metadata?.name ?? '';
    const selectorless = !service.spec?.selector || Object.keys(service.spec.selector).length === 0;
    perPort.set(port, (ref = { namespace, name, port, selectorless }));
  }
  return ref;
}

/** The resolution of a flow to a Service address: its backends on the target port. */
function resolveServiceTargets(
  flow: LocatedFlow,
  src: Endpoint,
  service: V1Service,
  index: ClusterIndex,
  dstIp: string,
): ResolvedFlow {
  const ref = serviceRef(service, flow.dst.port);
  const { namespace, name } = ref;
  const servicePort = index.servicePort(service, flow.dst.port, flow.proto);
  if (!servicePort) {
    return { flow, src, service: ref, targets: [], problem: `service ${namespace}/${name} has no ${flow.proto} port ${flow.dst.port}` };
  }
  // A dual-stack Service's connect reaches backends of the dialled family only.
  const family = ipFamily(dstIp);
  const backends = index.serviceBackends(service, servicePort, family === 0 ? undefined : family);
  const dsts = endpointsOf(backends, index);
  const targets: Traffic[] = new Array(backends.length);
  for (let i = 0; i < backends.length; i++) targets[i] = { src, dst: dsts[i]!, port: backends[i]!.port, proto: flow.proto, via: ref };
  if (targets.length === 0) {
    return { flow, src, service: ref, targets, problem: `service ${namespace}/${name} port ${flow.dst.port} has no backends` };
  }
  return { flow, src, service: ref, targets };
}

/** Resolves one flow against the cluster; throws InputError naming the flow's file and line when it cannot. */
export function resolveFlow(flow: LocatedFlow, index: ClusterIndex): ResolvedFlow {
  const id: Identity = {};
  const resolved = resolveTargets(flow, index, id);
  if (id.unidentified !== undefined) resolved.unidentified = id.unidentified;
  if (id.notes) resolved.identityNote = id.notes.join('; ');
  return resolved;
}

function resolveTargets(flow: LocatedFlow, index: ClusterIndex, id: Identity): ResolvedFlow {
  const src = resolveSource(flow, index, id);
  const dstIp = canonicalIp(flow.dst.ip);
  const { namespace, pod: podName, service: svcName } = flow.dst;
  const namesPod = typeof namespace === 'string' && typeof podName === 'string' && podName !== '';
  if (namesPod) {
    // The record's names were fixed when the connect happened; an address may have been reused since.
    const pod = recordedPod(namespace, podName, 'destination', index, id, dstIp);
    if (pod) return { flow, src, targets: [{ src, dst: pod, port: flow.dst.port, proto: flow.proto }] };
    unidentified(id, `destination pod ${namespace}/${podName}`, dstIp);
  }
  const dstPod = index.podByIP(dstIp);
  if (dstPod) {
    return { flow, src, targets: [{ src, dst: podEndpoint(dstPod, index, dstIp), port: flow.dst.port, proto: flow.proto }] };
  }
  // Load-balancer and external IPs may be shared by Services on different ports, or be a node's own
  // address (k3s ServiceLB, MetalLB): the Service is the one with the dialled port.
  const service = index.serviceByAddress(dstIp, flow.dst.port, flow.proto);
  if (service) return resolveServiceTargets(flow, src, service, index, dstIp);
  const node = index.nodeByIP(dstIp)?.metadata?.name;
  const onAddress = index.serviceByIP(dstIp);
  if (onAddress && !node) {
    // A Service address without that port, and no node behind it to answer.
    return resolveServiceTargets(flow, src, onAddress, index, dstIp);
  }
  // Records that carry names but an address we do not know (e.g. a snapshot taken later).
  if (typeof namespace === 'string' && typeof svcName === 'string' && svcName !== '' && !onAddress) {
    const svc = index.service(namespace, svcName);
    if (svc) return resolveServiceTargets(flow, src, svc, index, dstIp);
    unidentified(id, `destination service ${namespace}/${svcName}`, dstIp);
  }
  const dst: ExternalEndpoint = node ? { kind: 'external', ip: dstIp, node } : { kind: 'external', ip: dstIp };
  return { flow, src, targets: [{ src, dst, port: flow.dst.port, proto: flow.proto }] };
}

/** The flow's source as the seed names it: the pod, else the raw address. */
export function sourceName(resolved: ResolvedFlow): EndpointName {
  const s = resolved.src;
  return s.kind === 'pod' ? { kind: 'pod', namespace: s.namespace, name: s.name } : { kind: 'raw', ip: s.ip };
}

/** Seed notation of what was dialled: the Service, the pod, or the raw address. */
export function destinationNotation(resolved: ResolvedFlow): string {
  const port = resolved.flow.dst.port;
  if (resolved.service) return formatEndpoint({ kind: 'service', namespace: resolved.service.namespace, name: resolved.service.name }, port);
  const target = resolved.targets[0];
  if (target?.dst.kind === 'pod') return formatEndpoint({ kind: 'pod', namespace: target.dst.namespace, name: target.dst.name }, port);
  return formatEndpoint({ kind: 'raw', ip: target?.dst.kind === 'external' ? target.dst.ip : resolved.flow.dst.ip }, port);
}
