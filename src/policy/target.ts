/**
 * Target: one NetworkPolicy compiled for evaluation — which pods it selects (its namespace and pod
 * selector), which directions it isolates, and its rules with their peer and port matchers. The
 * evaluator and the explanations both read this form; nothing re-reads the raw policy.
 *
 * policyTypes defaulting (the API server's SetDefaults_NetworkPolicy): when policyTypes is absent
 * or empty, a policy isolates Ingress always, plus Egress when it has at least one egress rule.
 * When policyTypes is given, it alone decides; rules of a direction not listed are ignored.
 */
import type { V1NetworkPolicyEgressRule, V1NetworkPolicyIngressRule, V1NetworkPolicyPeer } from '@kubernetes/client-node';
import { ingressPeers, type V1LabelSelector, type V1NetworkPolicy } from '../cluster/objects.js';
import type { Protocol } from '../flows/record.js';
import { compilePeer, ipBlockMatchesParsed, isPolicyPod, parseIpv4ForMatch, podPeerMatches, type PeerMatcher } from './peer-matcher.js';
import { compilePort, portMatches, type PortMatcher } from './port-matcher.js';
import { compileSelector, formatSelector, type LabelPredicate } from './selector.js';
import type { Endpoint, PodEndpoint, Traffic } from './traffic.js';
import type { RuleRef } from './verdict.js';

export type Direction = 'egress' | 'ingress';

/** anyPeerMatches' marker for "address not parsed yet" (parseIpv4ForMatch returns >= -1). */
const NOT_PARSED = -2;

export interface CompiledRule {
  ref: RuleRef;
  /** null: `from`/`to` empty or absent — every peer, in and out of the cluster. */
  peers: PeerMatcher[] | null;
  /** null: `ports` empty or absent — every port of every protocol. */
  ports: PortMatcher[] | null;
  /**
   * `ports` laid out for speed: numeric and protocol-only entries as parallel arrays of inclusive
   * ranges (protocol-only = 0..65535), checked before any peer...
   */
  portProto: string[];
  portFrom: number[];
  portTo: number[];
  /** ...named ones (a lookup on the destination pod) only after the peer matched. */
  namedPorts: PortMatcher[];
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

/** The effective policyTypes of a policy, after the API server's defaulting. */
export function effectivePolicyTypes(policy: V1NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = policy.spec?.policyTypes ?? [];
  if (types.length > 0) return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  return { ingress: true, egress: (policy.spec?.egress ?? []).length > 0 };
}

function compileRule(
  rule: V1NetworkPolicyIngressRule | V1NetworkPolicyEgressRule,
  peers: V1NetworkPolicyPeer[] | undefined,
  ref: RuleRef,
  namespace: string,
): CompiledRule {
  const ports = rule.ports && rule.ports.length > 0 ? rule.ports.map(compilePort) : null;
  const numeric = (ports ?? []).filter((p) => p.kind !== 'named');
  return {
    ref,
    peers: peers && peers.length > 0 ? peers.map((p) => compilePeer(p, namespace)) : null,
    ports,
    portProto: numeric.map((p) => p.proto),
    portFrom: numeric.map((p) => (p.kind === 'range' ? p.from : 0)),
    portTo: numeric.map((p) => (p.kind === 'range' ? p.to : 65535)),
    namedPorts: (ports ?? []).filter((p) => p.kind === 'named'),
  };
}

/**
 * A compiled policy. A class so podSelectorText (explanations only) is made on first read through
 * a prototype getter, keeping one shape for every target: the evaluator's hot path reads them.
 */
class CompiledTarget implements Target {
  private text: string | undefined;
  constructor(
    readonly key: string,
    readonly namespace: string,
    readonly name: string,
    readonly podSelector: V1LabelSelector,
    readonly selects: LabelPredicate,
    readonly isolatesIngress: boolean,
    readonly isolatesEgress: boolean,
    readonly ingress: CompiledRule[],
    readonly egress: CompiledRule[],
    readonly policy: V1NetworkPolicy,
  ) {}

  get podSelectorText(): string {
    return (this.text ??= formatSelector(this.podSelector));
  }
}

export function compileTarget(policy: V1NetworkPolicy): Target {
  const namespace = policy.metadata?.namespace ?? 'default';
  const name = policy.metadata?.name ?? '';
  const key = `${namespace}/${name}`;
  const types = effectivePolicyTypes(policy);
  const podSelector = policy.spec?.podSelector ?? {};
  return new CompiledTarget(
    key,
    namespace,
    name,
    podSelector,
    compileSelector(podSelector),
    types.ingress,
    types.egress,
    types.ingress
      ? (policy.spec?.ingress ?? []).map((r, i) => compileRule(r, ingressPeers(r), { policy: key, direction: 'ingress', rule: i }, namespace))
      : [],
    types.egress ? (policy.spec?.egress ?? []).map((r, i) => compileRule(r, r.to, { policy: key, direction: 'egress', rule: i }, namespace)) : [],
    policy,
  );
}

/**
 * Whether a rule admits the traffic: its peer is the endpoint on the other side (the destination
 * for egress, the source for ingress) and its port matches the port reached on the destination.
 * Cheap checks first: numeric ports, then peers, then named ports (a lookup on the destination pod).
 */
export function ruleAllows(rule: CompiledRule, direction: Direction, traffic: Traffic, otherIsPolicyPod?: boolean): boolean {
  let portOk = rule.ports === null;
  if (!portOk) {
    const { port, proto } = traffic;
    const from = rule.portFrom;
    for (let i = 0; i < from.length; i++) {
      if (port >= from[i]! && port <= rule.portTo[i]! && rule.portProto[i] === proto) {
        portOk = true;
        break;
      }
    }
  }
  if (!portOk && rule.namedPorts.length === 0) return false;
  if (rule.peers !== null) {
    const other = direction === 'egress' ? traffic.dst : traffic.src;
    if (!anyPeerMatches(rule.peers, other, otherIsPolicyPod ?? isPolicyPod(other))) return false;
  }
  if (!portOk) portOk = anyPortMatches(rule.namedPorts, traffic.port, traffic.proto, traffic.dst);
  return portOk;
}

function anyPortMatches(ports: PortMatcher[], port: number, proto: Protocol, dst: Endpoint): boolean {
  for (let i = 0; i < ports.length; i++) if (portMatches(ports[i]!, port, proto, dst)) return true;
  return false;
}

/** `otherIsPolicyPod`: isPolicyPod(other), which the evaluator knows from its per-pod cache. */
function anyPeerMatches(peers: PeerMatcher[], other: Endpoint, otherIsPolicyPod: boolean): boolean {
  // The address is parsed once per rule, only if an ipBlock peer needs it.
  let v4 = NOT_PARSED;
  for (let i = 0; i < peers.length; i++) {
    const m = peers[i]!;
    if (m.kind === 'ipBlock') {
      const ip = other.ip;
      if (ip === undefined || ip === '') continue;
      if (v4 === NOT_PARSED) v4 = parseIpv4ForMatch(ip);
      if (ipBlockMatchesParsed(m, v4, ip)) return true;
    } else if (otherIsPolicyPod && podPeerMatches(m, other as PodEndpoint)) {
      return true;
    }
  }
  return false;
}
