/**
 * The Kubernetes objects netpol reads, typed with @kubernetes/client-node's models (type-only
 * imports: `policy` and `flows` never load the client library at run time).
 */
import type {
  V1CronJob,
  V1DaemonSet,
  V1Deployment,
  V1EndpointSlice,
  V1Job,
  V1LabelSelector,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1Node,
  V1Pod,
  V1ReplicaSet,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';

export type {
  V1CronJob,
  V1DaemonSet,
  V1Deployment,
  V1EndpointSlice,
  V1Job,
  V1LabelSelector,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1ReplicaSet,
  V1Service,
  V1StatefulSet,
};

/**
 * An ingress rule's peers under either name: YAML (and the policies netpol builds) say `from`,
 * @kubernetes/client-node's deserializer says `_from`. Every reader of a rule's peers asks here;
 * the only other place the alias appears is render.ts, which writes `from`.
 */
export function ingressPeers(rule: object): V1NetworkPolicyPeer[] | undefined {
  const r = rule as { _from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[] };
  return r._from ?? r.from;
}

/** Controllers that own pods, directly or through a ReplicaSet/Job. */
export type OwnerObject =
  | (V1ReplicaSet & { kind: 'ReplicaSet' })
  | (V1Deployment & { kind: 'Deployment' })
  | (V1StatefulSet & { kind: 'StatefulSet' })
  | (V1DaemonSet & { kind: 'DaemonSet' })
  | (V1Job & { kind: 'Job' })
  | (V1CronJob & { kind: 'CronJob' });

export const OWNER_KINDS = ['ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'] as const;
export type OwnerKind = (typeof OWNER_KINDS)[number];

/** Everything a view knows at one moment. Plain data: the same shape from a snapshot or a live cluster. */
export interface ClusterObjects {
  namespaces: V1Namespace[];
  pods: V1Pod[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  networkPolicies: V1NetworkPolicy[];
  nodes: V1Node[];
  owners: OwnerObject[];
}

export function emptyClusterObjects(): ClusterObjects {
  return { namespaces: [], pods: [], services: [], endpointSlices: [], networkPolicies: [], nodes: [], owners: [] };
}

/** Labels a namespace carries, including the one the API server sets on every namespace since 1.21. */
export function namespaceLabels(objects: ClusterObjects, name: string): Record<string, string> {
  const ns = objects.namespaces.find((n) => n.metadata?.name === name);
  return { ...(ns?.metadata?.labels ?? {}), 'kubernetes.io/metadata.name': name };
}

export type { V1LabelSelector as LabelSelector };
