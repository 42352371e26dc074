/**
 * StagedNetworkPolicy (netpol.io/v1alpha1, deploy/crds/stagednetworkpolicies.yaml): a NetworkPolicy
 * spec held back from enforcement. `kubectl netpol stage` writes the spec; the node agents' live
 * judge (src/daemon/judge-sink.ts) writes the evidence to status, one `nodes[]` entry per node,
 * each owned by that node's agent (server-side apply, field manager netpol-agent/<node>);
 * `kubectl netpol promote` reads the evidence and applies the spec as a real NetworkPolicy.
 */
import { normalizeIngressPeers, type V1NetworkPolicy } from '../objects.js';

import { NETPOL_API_VERSION as STAGED_API_VERSION, NETPOL_GROUP as STAGED_GROUP, NETPOL_VERSION as STAGED_VERSION } from '../netpol-api.js';

export { STAGED_API_VERSION, STAGED_GROUP, STAGED_VERSION };
export const STAGED_KIND = 'StagedNetworkPolicy';
export const STAGED_PLURAL = 'stagednetworkpolicies';
/** For RBAC messages and `kubectl get`. */
export const STAGED_RESOURCE = `${STAGED_PLURAL}.${STAGED_GROUP}`;
/** Examples kept per node entry (the CRD's maxItems). */
export const MAX_EXAMPLES = 20;

export type Gate = 'egress' | 'ingress';

/** One distinct would-be-denied flow seen by one node. */
export interface EvidenceExample {
  /** The connecting workload: namespace/Kind/name. */
  source: string;
  /** Where it connected, in netpol's notation (p/ns/pod:port, s/ns/svc:port, r/ip:port). */
  peer: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  gate: Gate;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

/** One node's evidence about one staged policy (its agent's own entry of status.nodes). */
export interface NodeEvidence {
  node: string;
  observedGeneration?: number;
  judgingSince?: string;
  wouldDeny?: number;
  firstSeen?: string;
  lastSeen?: string;
  examples?: EvidenceExample[];
  examplesOmitted?: number;
}

export interface StagedStatus {
  wouldDeny?: number;
  lastSeen?: string;
  nodes?: NodeEvidence[];
}

export type NetworkPolicySpec = NonNullable<V1NetworkPolicy['spec']>;

export interface StagedNetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: NetworkPolicySpec;
  status?: StagedStatus;
}

export function stagedKey(s: { metadata?: { namespace?: string; name?: string } }): string {
  return `${s.metadata?.namespace ?? 'default'}/${s.metadata?.name ?? ''}`;
}

/** The NetworkPolicy a staged policy stands for (what the judge evaluates and promote applies). */
export function asNetworkPolicy(staged: StagedNetworkPolicy): V1NetworkPolicy {
  const annotations = { ...(staged.metadata?.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: staged.metadata?.name,
      namespace: staged.metadata?.namespace ?? 'default',
      ...(staged.metadata?.labels && Object.keys(staged.metadata.labels).length > 0 ? { labels: { ...staged.metadata.labels } } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: staged.spec ?? { podSelector: {} },
  } as V1NetworkPolicy;
}

/** The staged form of a NetworkPolicy (what `stage` writes). */
export function fromNetworkPolicy(np: V1NetworkPolicy): StagedNetworkPolicy {
  const annotations = { ...(np.metadata?.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return {
    apiVersion: STAGED_API_VERSION,
    kind: STAGED_KIND,
    metadata: {
      name: np.metadata?.name,
      namespace: np.metadata?.namespace ?? 'default',
      ...(np.metadata?.labels && Object.keys(np.metadata.labels).length > 0 ? { labels: { ...np.metadata.labels } } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    // In netpol's one shape (`from`, never client-node's `_from`): the shape the API server stores.
    spec: normalizeIngressPeers({ spec: structuredClone(np.spec ?? { podSelector: {} }) } as V1NetworkPolicy).spec as NetworkPolicySpec,
  };
}

