/**
 * Target: one NetworkPolicy compiled for evaluation — which pods it selects (its namespace and pod
 * selector), which directions it isolates, and its rules with their peer and port matchers. The
 * evaluator and the explanations both read this form; nothing re-reads the raw policy.
 *
 * policyTypes defaulting (the API server's SetDefaults_NetworkPolicy): when policyTypes is absent
 * or empty, a policy isolates Ingress always, plus Egress when it has at least one egress rule.
 * When policyTypes is given, it alone decides; rules of a direction not listed are ignored.
 */
import type { V1NetworkPolicyEgressRule, V1NetworkPolicyIngressRule } from '@kubernetes/client-node';
import type { V1LabelSelector, V1NetworkPolicy } from '../cluster/objects.js';
import type { Protocol } from '../flows/record.js';
import { compilePeer, peerMatches, type PeerMatcher } from './peer-matcher.js';
import { compilePort, portMatches, type PortMatcher } from './port-matcher.js';
import { compileSelector, formatSelector, type LabelPredicate } from './selector.js';
import type { Endpoint, Traffic } from './traffic.js';
import type { RuleRef } from './verdict.js';

export type Direction = 'egress' | 'ingress';

export interface CompiledRule {
  ref: RuleRef;
  /** null: `from`/`to` empty or absent — every peer, in and out of the cluster. */
  peers: PeerMatcher[] | null;
  /** null: `ports` empty or absent — every port of every protocol. */
  ports: PortMatcher[] | null;
}

export interface Target {
  /** namespace/name of the policy: the key used in attribution (RuleRef.policy, isolatedBy). */
  key: string;
  namespace: string;
  name: string;
  podSelector: V1LabelSelector;
  /** kubectl form of podSelector ('' for all pods). */
  podSelectorText: string;
  selects: LabelPredicate;
  isolatesIngress: boolean;
  isolatesEgress: boolean;
  /** Rules of a direction the policy isolates; empty for a direction it does not. */
  ingress: CompiledRule[];
  egress: CompiledRule[];
  policy: V1NetworkPolicy;
}

export function policyKey(policy: V1NetworkPolicy): string {
  return `${policy.metadata?.namespace ?? 'default'}/${policy.metadata?.name ?? ''}`;
}

/** The effective policyTypes of a policy, after the API server's defaulting. */
export function effectivePolicyTypes(policy: V1NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = policy.spec?.policyTypes ?? [];
  if (types.length > 0) return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  return { ingress: true, egress: (policy.spec?.egress ?? []).length > 0 };
}

function compileRule(
  rule: V1NetworkPolicyIngressRule | V1NetworkPolicyEgressRule,
  peers: V1NetworkPolicyIngressRule['_from'] | undefined,
  ref: RuleRef,
  namespace: string,
): CompiledRule {
  return {
    ref,
    peers: peers && peers.length > 0 ? peers.map((p) => compilePeer(p, namespace)) : null,
    ports: rule.ports && rule.ports.length > 0 ? rule.ports.map(compilePort) : null,
  };
}

/** `from` as it appears in YAML, or `_from` as @kubernetes/client-node names it after deserializing. */
export function ingressPeers(rule: V1NetworkPolicyIngressRule): V1NetworkPolicyIngressRule['_from'] {
  return rule._from ?? (rule as { from?: V1NetworkPolicyIngressRule['_from'] }).from;
}

export function compileTarget(policy: V1NetworkPolicy): Target {
  const namespace = policy.metadata?.namespace ?? 'default';
  const name = policy.metadata?.name ?? '';
  const key = `${namespace}/${name}`;
  const types = effectivePolicyTypes(policy);
  const podSelector = policy.spec?.podSelector ?? {};
  return {
    key,
    namespace,
    name,
    podSelector,
    podSelectorText: formatSelector(podSelector),
    selects: compileSelector(podSelector),
    isolatesIngress: types.ingress,
    isolatesEgress: types.egress,
    ingress: types.ingress
      ? (policy.spec?.ingress ?? []).map((r, i) => compileRule(r, ingressPeers(r), { policy: key, direction: 'ingress', rule: i }, namespace))
      : [],
    egress: types.egress
      ? (policy.spec?.egress ?? []).map((r, i) => compileRule(r, r.to, { policy: key, direction: 'egress', rule: i }, namespace))
      : [],
    policy,
  };
}

/**
 * Whether a rule admits the traffic: its peer is the endpoint on the other side (the destination
 * for egress, the source for ingress) and its port matches the port reached on the destination.
 */
export function ruleAllows(rule: CompiledRule, direction: Direction, traffic: Traffic): boolean {
  if (rule.ports !== null && !anyPortMatches(rule.ports, traffic.port, traffic.proto, traffic.dst)) return false;
  if (rule.peers === null) return true;
  const other = direction === 'egress' ? traffic.dst : traffic.src;
  for (let i = 0; i < rule.peers.length; i++) if (peerMatches(rule.peers[i]!, other)) return true;
  return false;
}

function anyPortMatches(ports: PortMatcher[], port: number, proto: Protocol, dst: Endpoint): boolean {
  for (let i = 0; i < ports.length; i++) if (portMatches(ports[i]!, port, proto, dst)) return true;
  return false;
}
