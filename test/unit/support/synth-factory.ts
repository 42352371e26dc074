/**
 * Small builders of cluster objects and flows for the synthesizer tests: enough of each object for
 * the index (labels, owners, IPs, ports), nothing more.
 */
import { buildIndex, type ClusterIndex } from '../../../src/cluster/lookup.js';
import { emptyClusterObjects, type ClusterObjects, type OwnerObject, type V1EndpointSlice, type V1Namespace, type V1Pod, type V1Service } from '../../../src/cluster/objects.js';
import type { LocatedFlow, Protocol } from '../../../src/flows/record.js';
import type { LearnEdge } from '../../../src/policy/synthesize/index.js';
import { resolveFlow } from '../../../src/policy/traffic.js';

export interface ContainerPortSpec {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
}

export interface PodOptions {
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
  ips?: string[];
  owner?: { kind: string; name: string };
  ports?: ContainerPortSpec[];
  hostNetwork?: boolean;
}

export function pod(name: string, o: PodOptions = {}): V1Pod {
  const ips = o.ips ?? (o.ip ? [o.ip] : []);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      labels: o.labels ?? {},
      ownerReferences: o.owner ? [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, uid: `uid-${o.owner.name}`, controller: true }] : undefined,
    },
    spec: {
      hostNetwork: o.hostNetwork,
      containers: [{ name: 'main', ports: (o.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' })) }],
    },
    status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

function owner(kind: OwnerObject['kind'], namespace: string, name: string, spec: Record<string, unknown>, ownedBy?: { kind: string; name: string }): OwnerObject {
  return {
    apiVersion: kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: {
      name,
      namespace,
      ownerReferences: ownedBy ? [{ apiVersion: 'apps/v1', kind: ownedBy.kind, name: ownedBy.name, uid: `uid-${ownedBy.name}`, controller: true }] : undefined,
    },
    spec,
  } as unknown as OwnerObject;
}

/**
 * A Deployment with its ReplicaSet and pods, labelled the way the controllers do it: the template
 * labels plus `pod-template-hash` on the pods and on the ReplicaSet's selector.
 */
export function deployment(
  name: string,
  o: { namespace?: string; labels: Record<string, string>; hash?: string; pods: { name?: string; ip: string; ports?: ContainerPortSpec[] }[] },
): { owners: OwnerObject[]; pods: V1Pod[] } {
  const namespace = o.namespace ?? 'default';
  const hash = o.hash ?? '5d8f7c9b4';
  const rs = `${name}-${hash}`;
  const owners = [
    owner('Deployment', namespace, name, { selector: { matchLabels: o.labels }, template: { metadata: { labels: o.labels } } }),
    owner('ReplicaSet', namespace, rs, { selector: { matchLabels: { ...o.labels, 'pod-template-hash': hash } } }, { kind: 'Deployment', name }),
  ];
  const pods = o.pods.map((p, i) =>
    pod(p.name ?? `${rs}-${String.fromCharCode(97 + i)}x${i}`, {
      namespace,
      labels: { ...o.labels, 'pod-template-hash': hash },
      ip: p.ip,
      ports: p.ports,
      owner: { kind: 'ReplicaSet', name: rs },
    }),
  );
  return { owners, pods };
}

export function statefulSet(name: string, o: { namespace?: string; labels: Record<string, string>; ips: string[] }): { owners: OwnerObject[]; pods: V1Pod[] } {
  const namespace = o.namespace ?? 'default';
  return {
    owners: [owner('StatefulSet', namespace, name, { selector: { matchLabels: o.labels } })],
    pods: o.ips.map((ip, i) =>
      pod(`${name}-${i}`, {
        namespace,
        ip,
        labels: { ...o.labels, 'controller-revision-hash': `${name}-7f9d`, 'statefulset.kubernetes.io/pod-name': `${name}-${i}`, 'apps.kubernetes.io/pod-index': String(i) },
        owner: { kind: 'StatefulSet', name },
      }),
    ),
  };
}

export function daemonSet(name: string, o: { namespace?: string; labels: Record<string, string>; ips: string[] }): { owners: OwnerObject[]; pods: V1Pod[] } {
  const namespace = o.namespace ?? 'default';
  return {
    owners: [owner('DaemonSet', namespace, name, { selector: { matchLabels: o.labels } })],
    pods: o.ips.map((ip, i) =>
      pod(`${name}-n${i}`, {
        namespace,
        ip,
        labels: { ...o.labels, 'controller-revision-hash': '6c4b', 'pod-template-generation': '3' },
        owner: { kind: 'DaemonSet', name },
      }),
    ),
  };
}

/** A CronJob, one Job it started and that Job's pods (labelled with the Job's controller-uid). */
export function cronJob(name: string, o: { namespace?: string; labels: Record<string, string>; job: string; ips: string[] }): { owners: OwnerObject[]; pods: V1Pod[] } {
  const namespace = o.namespace ?? 'default';
  const uid = `uid-${o.job}`;
  return {
    owners: [
      owner('CronJob', namespace, name, { jobTemplate: { spec: { template: { metadata: { labels: o.labels } } } } }),
      owner('Job', namespace, o.job, { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } }, template: { metadata: { labels: { ...o.labels, 'batch.kubernetes.io/controller-uid': uid, 'job-name': o.job } } } }, { kind: 'CronJob', name }),
    ],
    pods: o.ips.map((ip, i) =>
      pod(`${o.job}-p${i}`, {
        namespace,
        ip,
        labels: { ...o.labels, 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid, 'job-name': o.job, 'batch.kubernetes.io/job-name': o.job },
        owner: { kind: 'Job', name: o.job },
      }),
    ),
  };
}

export interface ServicePortSpec {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: Protocol;
}

export function service(name: string, o: { namespace?: string; selector?: Record<string, string>; clusterIP: string; ports: ServicePortSpec[] }): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec: {
      selector: o.selector,
      clusterIP: o.clusterIP,
      clusterIPs: [o.clusterIP],
      ports: o.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort as never, protocol: p.protocol ?? 'TCP' })),
    },
  };
}

export function endpointSlice(
  service: string,
  o: {
    namespace?: string;
    /** An address, or an address with the pod behind it (targetRef, as the EndpointSlice controller sets it). */
    addresses: (string | { ip: string; pod: string })[];
    ports: { name?: string; port: number; protocol?: Protocol }[];
    family?: 'IPv4' | 'IPv6';
  },
): V1EndpointSlice {
  const namespace = o.namespace ?? 'default';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-abcde`, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: o.family ?? 'IPv4',
    endpoints: o.addresses.map((a) =>
      typeof a === 'string'
        ? { addresses: [a], conditions: { ready: true } }
        : { addresses: [a.ip], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace, name: a.pod } },
    ),
    ports: o.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** The API server Service as every cluster has it: selectorless, endpoints on 6443. */
export function apiServer(endpoints: string[], clusterIP = '10.96.0.1'): { services: V1Service[]; endpointSlices: V1EndpointSlice[] } {
  return {
    services: [service('kubernetes', { clusterIP, ports: [{ name: 'https', port: 443, targetPort: 6443 }] })],
    endpointSlices: [endpointSlice('kubernetes', { addresses: endpoints, ports: [{ name: 'https', port: 6443 }] })],
  };
}

export function namespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } } };
}

export type ObjectsPart = Partial<ClusterObjects> | { owners: OwnerObject[]; pods: V1Pod[] };

/** Merges object groups into one ClusterObjects (namespaces added for every namespace used). */
export function objects(...parts: ObjectsPart[]): ClusterObjects {
  const out = emptyClusterObjects();
  for (const p of parts) {
    const part = p as Partial<ClusterObjects>;
    out.namespaces.push(...(part.namespaces ?? []));
    out.pods.push(...(part.pods ?? []));
    out.services.push(...(part.services ?? []));
    out.endpointSlices.push(...(part.endpointSlices ?? []));
    out.networkPolicies.push(...(part.networkPolicies ?? []));
    out.nodes.push(...(part.nodes ?? []));
    out.owners.push(...(part.owners ?? []));
  }
  const known = new Set(out.namespaces.map((n) => n.metadata?.name));
  for (const o of [...out.pods, ...out.services]) {
    const ns = o.metadata?.namespace ?? 'default';
    if (!known.has(ns)) {
      known.add(ns);
      out.namespaces.push(namespace(ns));
    }
  }
  return out;
}

export function cluster(...parts: ObjectsPart[]): ClusterIndex {
  return buildIndex(objects(...parts));
}

let flowLine = 0;

/** A flow from a pod (`ns/name`) or an address to `ip:port`. */
export function flow(src: string, dst: string, port: number, proto: Protocol = 'TCP'): LocatedFlow {
  flowLine++;
  const fromPod = src.includes('/') && !src.includes(':') && !/^\d+\.\d+\.\d+\.\d+/.test(src);
  const [ns, podName] = fromPod ? src.split('/') : [];
  return {
    v: 1,
    proto,
    src: fromPod ? { namespace: ns, pod: podName } : { ip: src },
    dst: { ip: dst, port },
    origin: { file: 'test.jsonl', line: flowLine },
  };
}

export function edges(index: ClusterIndex, flows: LocatedFlow[]): LearnEdge[] {
  return flows.map((f) => ({ ...resolveFlow(f, index), count: 1 }));
}
