/**
 * Rendering: peers, ports and rules as Kubernetes API objects, and the NetworkPolicy object for
 * one workload with the labels and annotation that mark it as netpol's.
 */
import type { V1NetworkPolicyIngressRule, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { Workload } from '../../cluster/lookup.js';
import type { LabelSelector, V1NetworkPolicy } from '../../cluster/objects.js';
import type { Peer } from './peers.js';
import { canonicalSelector } from './peers.js';
import type { PortSpec } from './ports.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'netpol';
/** Annotation naming the workload a generated policy is for, e.g. `Deployment/web`. */
export const WORKLOAD_ANNOTATION = 'netpol.io/workload';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** One rule as rendered: its peers, the identity of each, and its ports. */
export interface BuiltRule {
  peers: V1NetworkPolicyPeer[];
  /** Identity of each rendered peer (same key, same rendered object), for the self-check. */
  peerKeys: string[];
  ports: V1NetworkPolicyPort[];
}

/** A pod peer in another namespace gets a namespaceSelector on `kubernetes.io/metadata.name`. */
export function renderPeer(peer: Peer, ownNamespace: string): V1NetworkPolicyPeer {
  if (peer.kind === 'ip') return { ipBlock: { cidr: peer.cidr } };
  const out: V1NetworkPolicyPeer = {};
  if (peer.namespace !== ownNamespace) out.namespaceSelector = { matchLabels: { [NAMESPACE_NAME_LABEL]: peer.namespace } };
  out.podSelector = cloneSelector(peer.selector);
  return out;
}

/** A copy per rule, so no two generated objects share a selector a caller might mutate. */
function cloneSelector(s: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  if (s.matchLabels) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions) out.matchExpressions = s.matchExpressions.map((e) => (e.values ? { ...e, values: [...e.values] } : { ...e }));
  return out;
}

export function renderPort(p: PortSpec): V1NetworkPolicyPort {
  const out: V1NetworkPolicyPort = { protocol: p.proto, port: p.port };
  if (p.endPort !== undefined) out.endPort = p.endPort;
  return out;
}

/** YAML-shaped `from`, the shape every policy in netpol has (cluster/objects.ts normalizeIngressPeers). */
export function ingressRule(r: Pick<BuiltRule, 'peers' | 'ports'>): V1NetworkPolicyIngressRule {
  return { from: r.peers, ports: r.ports } as V1NetworkPolicyIngressRule;
}

export function egressRule(r: Pick<BuiltRule, 'peers' | 'ports'>): { to: V1NetworkPolicyPeer[]; ports: V1NetworkPolicyPort[] } {
  return { to: r.peers, ports: r.ports };
}

/**
 * The NetworkPolicy of one workload: its selector, policyTypes (Ingress only when `ingress` is
 * given), and the rules; empty rule lists are left out (no rule: nothing allowed).
 */
export function renderPolicy(
  workload: Workload,
  name: string,
  ingress: BuiltRule[] | undefined,
  egress: BuiltRule[],
  annotations: Record<string, string> = {},
): V1NetworkPolicy {
  const policyTypes: string[] = [];
  const spec: NonNullable<V1NetworkPolicy['spec']> = { podSelector: canonicalSelector(workload.selector) };
  if (ingress) policyTypes.push('Ingress');
  policyTypes.push('Egress');
  spec.policyTypes = policyTypes;
  if (ingress && ingress.length > 0) spec.ingress = ingress.map(ingressRule);
  if (egress.length > 0) spec.egress = egress.map(egressRule);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name,
      namespace: workload.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: { ...annotations, [WORKLOAD_ANNOTATION]: `${workload.kind}/${workload.name}` },
    },
    spec,
  };
}
