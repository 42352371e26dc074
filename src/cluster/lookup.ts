/**
 * ClusterIndex: the questions netpol asks a cluster, answered from one immutable ClusterObjects.
 * Built once per snapshot (or per change of a live view); every lookup is a Map hit, because the
 * evaluator and the enricher call these per flow.
 */
import { canonicalIp, ipFamily } from '../flows/ip.js';
import type {
  ClusterObjects,
  V1EndpointSlice,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1Service,
} from './objects.js';
import { namespaceLabels } from './objects.js';
import { fallbackLabels, ownerLookup, resolveWorkloadDetailed, workloadKey, type Workload } from './workload.js';
import type { V1ServicePort } from '@kubernetes/client-node';

export type { Workload } from './workload.js';

/** One backend of a Service port: the pod (when known) and the port the connection really reaches. */
export interface ServiceBackend {
  ip: string;
  /** Numeric target port after resolving a named targetPort on the backend pod. */
  port: number;
  protocol: string;
  pod?: V1Pod;
}

export interface ClusterIndex {
  readonly objects: ClusterObjects;
  pod(namespace: string, name: string): V1Pod | undefined;
  /** A pod by any of its status.podIPs; hostNetwork pods are not returned (their IP is the node's). */
  podByIP(ip: string): V1Pod | undefined;
  /** A pod by container id (with or without the `containerd://` style prefix). */
  podByContainerId(id: string): { pod: V1Pod; container: string } | undefined;
  service(namespace: string, name: string): V1Service | undefined;
  /**
   * A Service by clusterIP(s), externalIPs or load-balancer ingress IP. Several Services may share an
   * external or load-balancer address (on different ports): prefer serviceByAddress.
   */
  serviceByIP(ip: string): V1Service | undefined;
  /** The Service that serves `ip:port/protocol`: the one among those on that address with that port. */
  serviceByAddress(ip: string, port: number, protocol: string): V1Service | undefined;
  nodeByIP(ip: string): V1Node | undefined;
  namespaceLabels(namespace: string): Record<string, string>;
  workloadOf(pod: V1Pod): Workload;
  podsOfWorkload(workload: Workload): V1Pod[];
  /**
   * A pod the view no longer holds (replaced by a rollout: new name, new address), found by the name
   * a record gave it: the workload of the namespace whose generated pod names it follows
   * (`<deployment>-<hash>-<x>`, `<statefulset>-<n>`, `<daemonset>-<x>`, ...). Returns a stand-in pod
   * of that name with the labels its workload's pods carry now (what policies select), on no node;
   * undefined when no workload fits.
   */
  formerPod(namespace: string, name: string): V1Pod | undefined;
  /** The Service port a connection to `port` reaches, matched on port and protocol. */
  servicePort(service: V1Service, port: number, protocol: string): V1ServicePort | undefined;
  /**
   * Where a Service port really leads, from EndpointSlices, else from the selector and pod ports.
   * With `family`, only backends of that address family (what a connect to an address of that family
   * reaches on a dual-stack Service). Endpoints not ready are left out unless none is ready.
   */
  serviceBackends(service: V1Service, servicePort: V1ServicePort, family?: 4 | 6): ServiceBackend[];
  /** NetworkPolicies, all or of one namespace. */
  networkPolicies(namespace?: string): V1NetworkPolicy[];
  /** The numeric port a named container port has on a pod, for a protocol. */
  namedPort(pod: V1Pod, name: string, protocol: string): number | undefined;
}

/**
 * What a controller appends to its name to name a pod: a ReplicaSet's `<hash>-<x>` under a
 * Deployment, `<x>` (5 characters) for a ReplicaSet, DaemonSet or Job, `<n>` for a StatefulSet,
 * `<n>-<x>` for a CronJob's Job. One pattern for all: the kind a name came from is not in a record.
 */
const GENERATED_SUFFIX = /^(?:\d+|[a-z0-9]{5}|[a-z0-9]{1,10}-[a-z0-9]{5}|\d+-[a-z0-9]{5})$/;

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function mapLabelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** Strips the runtime prefix kubelet puts on container ids (`containerd://abc` → `abc`). */
export function bareContainerId(id: string): string {
  const i = id.indexOf('://');
  return i >= 0 ? id.slice(i + 3) : id;
}

export function buildIndex(objects: ClusterObjects): ClusterIndex {
  const pods = new Map<string, V1Pod>();
  const podsByNamespace = new Map<string, V1Pod[]>();
  const podsByIp = new Map<string, V1Pod>();
  const podsByContainer = new Map<string, { pod: V1Pod; container: string }>();
  // The same map per namespace, for pod(): no key string built per lookup (asked once or twice per
  // edge). Used only when no two (namespace, name) pairs share a `namespace/name` key, i.e. always
  // for valid names (neither may contain `/`); otherwise lookups go through `pods` as they always did.
  const podsByNsName = new Map<string, Map<string, V1Pod>>();
  let podCount = 0;
  for (const pod of objects.pods) {
    const ns = pod.metadata?.namespace ?? 'default';
    pods.set(podKey(ns, pod.metadata?.name ?? ''), pod);
    let named = podsByNsName.get(ns);
    if (!named) podsByNsName.set(ns, (named = new Map()));
    if (!named.has(pod.metadata?.name ?? '')) podCount++;
    named.set(pod.metadata?.name ?? '', pod);
    const inNs = podsByNamespace.get(ns);
    if (inNs) inNs.push(pod);
    else podsByNamespace.set(ns, [pod]);
    const phase = pod.status?.phase;
    const done = phase === 'Succeeded' || phase === 'Failed';
    if (!pod.spec?.hostNetwork) {
      const ips = new Set<string>();
      if (pod.status?.podIP) ips.add(pod.status.podIP);
      for (const p of pod.status?.podIPs ?? []) if (p.ip) ips.add(p.ip);
      for (const ip of ips) {
        const key = canonicalIp(ip);
        // A finished pod's IP may already belong to a running one: the running pod wins.
        if (!done || !podsByIp.has(key)) podsByIp.set(key, pod);
      }
    }
    const statuses = [
      ...(pod.status?.containerStatuses ?? []),
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.ephemeralContainerStatuses ?? []),
    ];
    for (const s of statuses) if (s.containerID) podsByContainer.set(bareContainerId(s.containerID), { pod, container: s.name });
  }

  const podsNested = podCount === pods.size;

  const services = new Map<string, V1Service>();
  const servicesByIp = new Map<string, V1Service[]>();
  for (const svc of objects.services) {
    services.set(podKey(svc.metadata?.namespace ?? 'default', svc.metadata?.name ?? ''), svc);
    const ips = [
      svc.spec?.clusterIP,
      ...(svc.spec?.clusterIPs ?? []),
      ...(svc.spec?.externalIPs ?? []),
      ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
    ];
    for (const ip of new Set(ips.filter((i): i is string => !!i && i !== 'None').map(canonicalIp))) {
      const list = servicesByIp.get(ip);
      if (list) list.push(svc);
      else servicesByIp.set(ip, [svc]);
    }
  }

  const nodesByIp = new Map<string, V1Node>();
  for (const node of objects.nodes) {
    for (const a of node.status?.addresses ?? []) {
      if (a.type === 'InternalIP' || a.type === 'ExternalIP') nodesByIp.set(canonicalIp(a.address), node);
    }
  }

  const slicesByService = new Map<string, V1EndpointSlice[]>();
  for (const slice of objects.endpointSlices) {
    const svcName = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svcName) continue;
    const key = podKey(slice.metadata?.namespace ?? 'default', svcName);
    const list = slicesByService.get(key) ?? [];
    list.push(slice);
    slicesByService.set(key, list);
  }

  const policiesByNs = new Map<string, V1NetworkPolicy[]>();
  for (const np of objects.networkPolicies) {
    const ns = np.metadata?.namespace ?? 'default';
    const list = policiesByNs.get(ns) ?? [];
    list.push(np);
    policiesByNs.set(ns, list);
  }

  const nsLabelCache = new Map<string, Record<string, string>>();
  const lookupOwner = ownerLookup(objects);
  const workloadCache = new WeakMap<V1Pod, Workload>();
  let workloadsResolved = false;
  /**
   * Resolves every pod's workload at once: where no owner object gave a selector, the selector is
   * what all pods of that workload share, so it does not depend on which pod is asked first.
   */
  function resolveAllWorkloads(): void {
    workloadsResolved = true;
    const fromLabels = new Map<string, { workload: Workload; pods: V1Pod[] }>();
    for (const pod of objects.pods) {
      const r = resolveWorkloadDetailed(pod, lookupOwner);
      if (!r.fromPodLabels || r.workload.kind === 'Pod') {
        workloadCache.set(pod, r.workload);
        continue;
      }
      const key = workloadKey(r.workload);
      const group = fromLabels.get(key);
      if (group) group.pods.push(pod);
      else fromLabels.set(key, { workload: r.workload, pods: [pod] });
    }
    for (const { workload, pods: members } of fromLabels.values()) {
      let common: Record<string, string> | undefined;
      for (const pod of members) {
        const labels = fallbackLabels(pod.metadata?.labels);
        if (!common) common = { ...labels };
        else for (const [k, v] of Object.entries(common)) if (labels[k] !== v) delete common[k];
      }
      const shared = Object.keys(common ?? {}).length > 0;
      for (const pod of members) {
        // Nothing in common: each pod keeps its own labels rather than selecting the whole namespace.
        const matchLabels = shared ? { ...common } : fallbackLabels(pod.metadata?.labels);
        workloadCache.set(pod, { ...workload, selector: { matchLabels } });
      }
    }
  }
  const podsByWorkload = new Map<string, V1Pod[]>();
  // Stand-ins for pods gone from the view, one object per name (evaluate.ts caches per pod object).
  const formerPods = new Map<string, V1Pod | null>();
  function findFormerPod(namespace: string, name: string): V1Pod | null {
    let best: { pod: V1Pod; workload: Workload } | undefined;
    for (const pod of podsByNamespace.get(namespace) ?? []) {
      const w = index.workloadOf(pod);
      if (w.kind === 'Pod' || !name.startsWith(`${w.name}-`)) continue;
      if (!GENERATED_SUFFIX.test(name.slice(w.name.length + 1))) continue;
      const better = !best || w.name.length > best.workload.name.length || (w.name === best.workload.name && (pod.metadata?.name ?? '') < (best.pod.metadata?.name ?? ''));
      if (better) best = { pod, workload: w };
    }
    if (!best) return null;
    const { pod, workload } = best;
    const standIn: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { ...(pod.metadata?.labels ?? {}) }, ...(pod.metadata?.ownerReferences ? { ownerReferences: pod.metadata.ownerReferences } : {}), annotations: { 'netpol.io/judged-as': `${workload.kind} ${namespace}/${workload.name}` } },
      // Its node is unknown: no own-node exemption is assumed for it.
      spec: { containers: pod.spec?.containers ?? [], ...(pod.spec?.hostNetwork ? { hostNetwork: true } : {}) },
    };
    workloadCache.set(standIn, workload);
    return standIn;
  }
  // Asked once per resolved edge; a Service port's backends never change within one index.
  const backendCache = new WeakMap<V1ServicePort, Map<number, ServiceBackend[]>>();

  // Pods per namespace and label (`ns\0key\0value`), built on first use: a Service's selector then
  // scans only the pods carrying one of its labels instead of its whole namespace.
  let podsByLabel: Map<string, V1Pod[]> | undefined;
  /** The pods of `ns` that may match a map selector: a superset, in podsByNamespace order. */
  function selectorCandidates(ns: string, selector: Record<string, string>): V1Pod[] {
    if (!podsByLabel) {
      podsByLabel = new Map();
      for (const [namespace, list] of podsByNamespace) {
        for (const pod of list) {
          for (const [k, v] of Object.entries(pod.metadata?.labels ?? {})) {
            const key = `${namespace}\u0000${k}\u0000${String(v)}`;
            const withLabel = podsByLabel.get(key);
            if (withLabel) withLabel.push(pod);
            else podsByLabel.set(key, [pod]);
          }
        }
      }
    }
    let best = podsByNamespace.get(ns) ?? [];
    for (const [k, v] of Object.entries(selector)) {
      // A pod matches only if labels[k] === v, so it is in the list of (k, String(v)).
      const list = podsByLabel.get(`${ns}\u0000${k}\u0000${String(v)}`) ?? [];
      if (list.length < best.length) best = list;
    }
    return best;
  }

  function findBackends(service: V1Service, servicePort: V1ServicePort, family: 4 | 6 | undefined): ServiceBackend[] {
    const ns = service.metadata?.namespace ?? 'default';
    const protocol = servicePort.protocol ?? 'TCP';
    const slices = slicesByService.get(podKey(ns, service.metadata?.name ?? '')) ?? [];
    const ready: ServiceBackend[] = [];
    const notReady: ServiceBackend[] = [];
    if (slices.length > 0) {
      for (const slice of slices) {
        // A dual-stack Service has one slice per family: a connect reaches the dialled family only.
        if (family !== undefined && (slice.addressType === 'IPv4' || slice.addressType === 'IPv6') && slice.addressType !== `IPv${family}`) continue;
        // EndpointSlice ports are named after the Service port they serve (unnamed: '' or absent).
        const sp = (slice.ports ?? []).find(
          (p) => (p.name ?? '') === (servicePort.name ?? '') && (p.protocol ?? 'TCP') === protocol,
        );
        if (!sp || sp.port === undefined) continue;
        for (const ep of slice.endpoints ?? []) {
          const target = ep.targetRef;
          const named = target?.kind === 'Pod' ? pods.get(podKey(target.namespace ?? ns, target.name ?? '')) : undefined;
          // kube-proxy sends to ready endpoints, and to the others only when none is ready.
          const into = ep.conditions?.ready === false ? notReady : ready;
          for (const addr of ep.addresses ?? []) {
            // Slices written by hand or by other controllers may omit targetRef: the address still names the pod.
            const ip = canonicalIp(addr);
            if (family !== undefined && ipFamily(ip) !== 0 && ipFamily(ip) !== family) continue;
            into.push({ ip, port: sp.port, protocol, pod: named ?? podsByIp.get(ip) });
          }
        }
      }
      return ready.length > 0 ? ready : notReady;
    }
    const out: ServiceBackend[] = [];
    const selector = service.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) return out;
    for (const pod of selectorCandidates(ns, selector)) {
      if ((pod.metadata?.namespace ?? 'default') !== ns || !mapLabelsMatch(selector, pod.metadata?.labels)) continue;
      const target = servicePort.targetPort ?? servicePort.port;
      const port = typeof target === 'number' ? target : /^\d+$/.test(String(target)) ? Number(target) : index.namedPort(pod, String(target), protocol);
      if (port === undefined) continue;
      const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].filter((i): i is string => !!i).map(canonicalIp);
      let ip = ips[0];
      if (family !== undefined && ips.length > 0) {
        ip = ips.find((i) => ipFamily(i) === family);
        // The pod has no address of the dialled family: that connect never reaches it.
        if (ip === undefined) continue;
      }
      out.push({ ip: ip ?? '', port, protocol, pod });
    }
    return out;
  }

  // Lookups by address canonicalize it first; flows repeat the same few thousand addresses (each edge
  // asks for its destination several times), so the spellings seen are remembered (bounded).
  const canonical = new Map<string, string>();
  const canon = (ip: string): string => {
    let c = canonical.get(ip);
    if (c === undefined) {
      c = canonicalIp(ip);
      if (canonical.size >= 100_000) canonical.clear();
      canonical.set(ip, c);
    }
    return c;
  };

  const index: ClusterIndex = {
    objects,
    pod: (namespace, name) => (podsNested ? podsByNsName.get(namespace)?.get(name) : pods.get(podKey(namespace, name))),
    podByIP: (ip) => podsByIp.get(canon(ip)),
    podByContainerId: (id) => podsByContainer.get(bareContainerId(id)),
    service: (namespace, name) => services.get(podKey(namespace, name)),
    serviceByIP: (ip) => servicesByIp.get(canon(ip))?.at(-1),
    serviceByAddress(ip, port, protocol) {
      const list = servicesByIp.get(canon(ip)) ?? [];
      for (let i = list.length - 1; i >= 0; i--) if (index.servicePort(list[i]!, port, protocol)) return list[i];
      return undefined;
    },
    nodeByIP: (ip) => nodesByIp.get(canon(ip)),
    namespaceLabels(namespace) {
      let labels = nsLabelCache.get(namespace);
      if (!labels) {
        labels = namespaceLabels(objects, namespace);
        nsLabelCache.set(namespace, labels);
      }
      return labels;
    },
    workloadOf(pod) {
      if (!workloadsResolved) resolveAllWorkloads();
      let w = workloadCache.get(pod);
      if (!w) {
        // A pod object from outside this view.
        w = resolveWorkloadDetailed(pod, lookupOwner).workload;
        workloadCache.set(pod, w);
      }
      return w;
    },
    formerPod(namespace, name) {
      const key = podKey(namespace, name);
      let found = formerPods.get(key);
      if (found === undefined) {
        found = findFormerPod(namespace, name);
        formerPods.set(key, found);
      }
      return found ?? undefined;
    },
    podsOfWorkload(workload) {
      if (podsByWorkload.size === 0) {
        for (const pod of objects.pods) {
          const key = workloadKey(index.workloadOf(pod));
          const list = podsByWorkload.get(key) ?? [];
          list.push(pod);
          podsByWorkload.set(key, list);
        }
      }
      return podsByWorkload.get(workloadKey(workload)) ?? [];
    },
    servicePort(service, port, protocol) {
      const ports = service.spec?.ports ?? [];
      for (let i = 0; i < ports.length; i++) {
        const p = ports[i]!;
        if (p.port === port && (p.protocol ?? 'TCP') === protocol) return p;
      }
      return undefined;
    },
    serviceBackends(service, servicePort, family) {
      let perFamily = backendCache.get(servicePort);
      if (!perFamily) backendCache.set(servicePort, (perFamily = new Map()));
      let cached = perFamily.get(family ?? 0);
      if (!cached) {
        cached = findBackends(service, servicePort, family);
        perFamily.set(family ?? 0, cached);
      }
      return cached;
    },
    networkPolicies: (namespace) => (namespace === undefined ? objects.networkPolicies : policiesByNs.get(namespace) ?? []),
    namedPort(pod, name, protocol) {
      for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
        for (const p of c.ports ?? []) if (p.name === name && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
      }
      return undefined;
    },
  };
  return index;
}
