/**
 * Small factories for cluster objects in unit tests: each takes the few fields a test cares about
 * and fills the rest the way `kubectl get -o yaml` would. Objects are plain YAML-shaped data
 * (NetworkPolicy ingress rules use `from`, as in YAML, not client-node's `_from`).
 */
import type { V1IPBlock, V1LabelSelector, V1NetworkPolicyPort } from '@kubernetes/client-node';
import {
  emptyClusterObjects,
  type ClusterObjects,
  type V1EndpointSlice,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Pod,
  type V1Service,
} from '../../../src/cluster/objects.js';
import type { LocatedFlow } from '../../../src/flows/record.js';

export interface ContainerPortInput {
  containerPort: number;
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface PodInput {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  /** status.podIP (and podIPs, first); omit for a pod without an address yet. */
  ip?: string;
  /** Extra addresses (dual stack): status.podIPs after `ip`. */
  ips?: string[];
  ports?: ContainerPortInput[];
  /** Ports of a second container, to test lookups across containers. */
  sidecarPorts?: ContainerPortInput[];
  hostNetwork?: boolean;
  nodeName?: string;
  owner?: { kind: string; name: string };
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
}

export function makePod(input: PodInput): V1Pod {
  const namespace = input.namespace ?? 'default';
  const ips = [...(input.ip ? [input.ip] : []), ...(input.ips ?? [])];
  const containers: NonNullable<V1Pod['spec']>['containers'] = [
    { name: input.name, image: 'busybox', ...(input.ports ? { ports: input.ports } : {}) },
  ];
  if (input.sidecarPorts) containers.push({ name: 'sidecar', image: 'busybox', ports: input.sidecarPorts });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name,
      namespace,
      ...(input.labels ? { labels: { ...input.labels } } : {}),
      ...(input.owner
        ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: input.owner.kind, name: input.owner.name, uid: `uid-${input.owner.name}`, controller: true }] }
        : {}),
    },
    spec: {
      containers,
      ...(input.hostNetwork ? { hostNetwork: true } : {}),
      ...(input.nodeName ? { nodeName: input.nodeName } : {}),
    },
    status: {
      phase: input.phase ?? 'Running',
      ...(ips.length > 0 ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
    },
  };
}

export function makeNamespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
  };
}

export interface ServicePortInput {
  port: number;
  targetPort?: number | string;
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface ServiceInput {
  name: string;
  namespace?: string;
  /** Absent for a selectorless Service (backends from EndpointSlices only, like `kubernetes`). */
  selector?: Record<string, string>;
  clusterIP: string;
  ports: ServicePortInput[];
}

export function makeService(input: ServiceInput): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: input.name, namespace: input.namespace ?? 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: input.clusterIP,
      clusterIPs: [input.clusterIP],
      ...(input.selector ? { selector: { ...input.selector } } : {}),
      ports: input.ports.map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        protocol: p.protocol ?? 'TCP',
        targetPort: (p.targetPort ?? p.port) as never,
      })),
    },
  };
}

export interface EndpointSliceInput {
  service: string;
  namespace?: string;
  name?: string;
  addressType?: 'IPv4' | 'IPv6';
  /** Ports named after the Service port they serve ('' or absent for an unnamed Service port). */
  ports: { port: number; name?: string; protocol?: 'TCP' | 'UDP' | 'SCTP' }[];
  endpoints: { ip: string; pod?: string; ready?: boolean }[];
}

export function makeEndpointSlice(input: EndpointSliceInput): V1EndpointSlice {
  const namespace = input.namespace ?? 'default';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    addressType: input.addressType ?? (input.endpoints[0]?.ip.includes(':') ? 'IPv6' : 'IPv4'),
    metadata: {
      name: input.name ?? `${input.service}-abcde`,
      namespace,
      labels: { 'kubernetes.io/service-name': input.service },
    },
    ports: input.ports.map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', ...(p.name !== undefined ? { name: p.name } : {}) })),
    endpoints: input.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true },
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace } } : {}),
    })),
  };
}

/** NetworkPolicy peers and rules as written in YAML. */
export interface PeerInput {
  podSelector?: V1LabelSelector;
  namespaceSelector?: V1LabelSelector;
  ipBlock?: V1IPBlock;
}

export interface RuleInput {
  from?: PeerInput[];
  to?: PeerInput[];
  ports?: V1NetworkPolicyPort[];
}

export interface PolicyInput {
  name: string;
  namespace?: string;
  podSelector?: V1LabelSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: RuleInput[];
  egress?: RuleInput[];
}

export function makePolicy(input: PolicyInput): V1NetworkPolicy {
  const spec: Record<string, unknown> = { podSelector: input.podSelector ?? {} };
  if (input.policyTypes) spec.policyTypes = input.policyTypes;
  if (input.ingress) spec.ingress = input.ingress;
  if (input.egress) spec.egress = input.egress;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: input.name, namespace: input.namespace ?? 'default' },
    spec: spec as unknown as V1NetworkPolicy['spec'],
  };
}

/**
 * A ClusterObjects from the given lists; Namespace objects are added for every namespace an object
 * uses and no Namespace was given for (with the `kubernetes.io/metadata.name` label).
 */
export function makeCluster(parts: Partial<ClusterObjects>): ClusterObjects {
  const objects = { ...emptyClusterObjects(), ...parts };
  const known = new Set(objects.namespaces.map((n) => n.metadata?.name));
  const used = new Set<string>();
  for (const list of [objects.pods, objects.services, objects.endpointSlices, objects.networkPolicies, objects.owners]) {
    for (const o of list as { metadata?: { namespace?: string } }[]) used.add(o.metadata?.namespace ?? 'default');
  }
  objects.namespaces = [...objects.namespaces];
  for (const ns of [...used].sort()) if (!known.has(ns)) objects.namespaces.push(makeNamespace(ns));
  return objects;
}

/** A flow record as the agent writes it, for resolveFlow: `makeFlow('10.0.0.1', '10.0.0.2', 80)`. */
export function makeFlow(
  srcIp: string,
  dstIp: string,
  dstPort: number,
  proto: 'TCP' | 'UDP' | 'SCTP' = 'TCP',
  extra: { id?: string; src?: Record<string, unknown>; dst?: Record<string, unknown> } = {},
): LocatedFlow {
  return {
    v: 1,
    ...(extra.id !== undefined ? { id: extra.id } : {}),
    proto,
    src: { ip: srcIp, port: 40000, ...extra.src },
    dst: { ip: dstIp, port: dstPort, ...extra.dst },
  };
}
