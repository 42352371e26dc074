/**
 * The Kubernetes objects netpol reads, typed with @kubernetes/client-node's models (type-only
 * imports: `policy` and `flows` never load the client library at run time).
 */
import type { V1CronJob, V1DaemonSet, V1Deployment, V1EndpointSlice, V1Job, V1LabelSelector, V1Namespace, V1NetworkPolicy, V1NetworkPolicyPeer, V1Node, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';

export type { V1CronJob, V1DaemonSet, V1Deployment, V1EndpointSlice, V1Job, V1LabelSelector, V1Namespace, V1NetworkPolicy, V1Node, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';

/**
 * Puts a NetworkPolicy in the one shape netpol's readers see: an ingress rule's peers under `from`,
 * the name YAML and the API's JSON use. @kubernetes/client-node's model (and so its deserializer)
 * names them `_from`. Every place a policy enters netpol passes it through here once — policy
 * files (policy/load.ts), snapshots (snapshot.ts), the live view (live.ts), the API server's
 * answers to apply (apply.ts) — so nothing past the entry knows the alias. In place (it is called
 * on objects just read), and returned for chaining.
 */
export function normalizeIngressPeers<T extends V1NetworkPolicy>(np: T): T {
  for (const rule of np.spec?.ingress ?? []) {
    const r = rule as { _from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[] };
    if (!('_from' in r)) continue;
    if (r._from !== undefined) r.from = r._from;
    delete r._from;
  }
  return np;
}

/**
 * An ingress rule's peers. The client-node type names the field `_from`; netpol's objects say
 * `from` (normalizeIngressPeers), so this is the one typed reader of it.
 */
export function ingressPeers(rule: object): V1NetworkPolicyPeer[] | undefined {
  return (rule as { from?: V1NetworkPolicyPeer[] }).from;
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
