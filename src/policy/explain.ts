/**
 * Explanations: for one flow, each gate, each policy selecting the pod on that side, each rule of
 * it and why it matched or not — peer mismatch (pod labels, namespace, ipBlock), port mismatch
 * (number, range, protocol, named port) — answering "which policy dropped this?". Built on the
 * evaluator's compiled Targets and matchers, so the explanation and the verdict cannot disagree
 * (a test checks they never do). Pure data: strings and booleans, no cluster objects, so `-o json`
 * prints it as it is.
 */
import { formatEndpoint } from '../cluster/endpoint-notation.js';
import type { Protocol } from '../flows/record.js';
import type { PolicySet } from './evaluate.js';
import { exemptionReason, gateStatus } from './exemptions.js';
import { ipBlockMatches, isPolicyPod, type PeerMatcher } from './peer-matcher.js';
import { resolveNamedPort, type PortMatcher } from './port-matcher.js';
import type { CompiledRule, Direction, Target } from './target.js';
import { destinationNotation, sourceName, type Endpoint, type PodEndpoint, type ResolvedFlow, type ServiceRef, type Traffic } from './traffic.js';
import type { RuleRef, VerdictKind } from './verdict.js';

export interface MatchCheck {
  /** The peer or port entry as written: `ipBlock 1.1.1.1/32`, `pods app=web in namespace shop`, `80/TCP`. */
  entry: string;
  matched: boolean;
  /** Why, in words: `1.0.0.1 is not in 1.1.1.1/32`, `namespace shop, not default`. */
  why: string;
}

export type RuleOutcome = 'matches' | 'peer-mismatch' | 'port-mismatch' | 'peer-and-port-mismatch';

export interface RuleExplanation {
  ref: RuleRef;
  outcome: RuleOutcome;
  /** null: the rule names no peers (every peer). */
  peers: MatchCheck[] | null;
  /** null: the rule names no ports (every port and protocol). */
  ports: MatchCheck[] | null;
  /** One line: `egress[0]: peer mismatch — 1.0.0.1 is not in 1.1.1.1/32`. */
  summary: string;
}

export interface PolicyExplanation {
  /** namespace/name */
  policy: string;
  /** kubectl form of the pod selector ('' = all pods of the namespace). */
  podSelector: string;
  /** Whether the policy has this direction in its (defaulted) policyTypes. */
  isolates: boolean;
  rules: RuleExplanation[];
  /** Some rule of this policy admits the traffic. */
  allows: boolean;
}

export interface GateExplanation {
  direction: Direction;
  /**
   * False when that side is not a pod NetworkPolicy governs, or when the traffic is exempt: a pod
   * talking to itself, or to or from its own node (then `exemption` says why).
   */
  applies: boolean;
  /** The pod the gate belongs to (`ns/name`), when it applies or the traffic is exempt. */
  pod?: string;
  /** Why a pod's gate does not apply: `a pod cannot block traffic to itself`, `traffic to its own node is always allowed`. */
  exemption?: string;
  isolated: boolean;
  /** Every policy selecting the pod: isolating ones with their rules, and the others for context. */
  policies: PolicyExplanation[];
  allowed: boolean;
  /** Isolating policies none of whose rules admit the traffic (what dropped it on this side). */
  droppedBy: string[];
  summary: string;
}

export interface TrafficExplanation {
  /** `p/default/mypod`, `r/1.1.1.1` */
  src: string;
  /** The destination actually judged, with the port the packet reaches. */
  dst: string;
  port: number;
  proto: Protocol;
  /** The Service dialled, when the destination was one: `s/shop/api:80`. */
  via?: string;
  egress: GateExplanation;
  ingress: GateExplanation;
  verdict: VerdictKind;
  droppedBy: string[];
}

export interface FlowExplanation {
  id?: string;
  origin?: { file: string; line: number };
  /** As recorded: `p/default/mypod:46781 → r/1.0.0.1:80`. */
  src: string;
  dst: string;
  proto: Protocol;
  /** One per judged destination (one per Service backend). */
  targets: TrafficExplanation[];
  /** Set when nothing could be judged (a Service without backends on that port). */
  problem?: string;
  verdict: VerdictKind;
  /** Policies that dropped it, over all targets and gates. */
  droppedBy: string[];
  /** The answer in one sentence. */
  summary: string;
}

function endpointText(e: Endpoint): string {
  return e.kind === 'pod' ? formatEndpoint({ kind: 'pod', namespace: e.namespace, name: e.name }) : formatEndpoint({ kind: 'raw', ip: e.ip });
}

function labelsText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '(no labels)' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/** Is `other` (the far side of the rule) this peer, and if not, why not. */
export function checkPeer(m: PeerMatcher, other: Endpoint): MatchCheck {
  const entry = m.description;
  if (m.kind === 'ipBlock') {
    const ip = other.ip;
    if (ip === undefined || ip === '') return { entry, matched: false, why: `${endpointText(other)} has no address to match` };
    if (ipBlockMatches(m, ip)) return { entry, matched: true, why: `${ip} is in ${m.cidr.text}` };
    const inBlock = ipBlockMatches({ ...m, except: [] }, ip);
    if (inBlock) {
      const ex = m.except.find((e) => ipBlockMatches({ ...m, cidr: e, except: [] }, ip));
      return { entry, matched: false, why: `${ip} is in ${m.cidr.text} but excepted by ${ex?.text ?? 'an except entry'}` };
    }
    return { entry, matched: false, why: `${ip} is not in ${m.cidr.text}` };
  }
  if (!isPolicyPod(other)) {
    // (isPolicyPod is false for host-network pods too, which the type guard cannot express.)
    const what = (other as Endpoint).kind === 'pod' ? `${endpointText(other)} is a host-network pod (seen as its node's address)` : `${endpointText(other)} is not a pod`;
    return { entry, matched: false, why: `${what}; pod and namespace selectors match only pods` };
  }
  const ns = m.namespaces;
  if (ns.kind === 'same') {
    if (other.namespace !== ns.namespace) return { entry, matched: false, why: `namespace mismatch: pod is in ${other.namespace}, the peer means ${ns.namespace}` };
  } else if (!ns.matches(other.namespaceLabels)) {
    return { entry, matched: false, why: `namespace mismatch: namespace ${other.namespace} (${labelsText(other.namespaceLabels)}) does not match ${ns.selector}` };
  }
  if (!m.pods(other.labels)) return { entry, matched: false, why: `pod labels ${labelsText(other.labels)} do not match` };
  return { entry, matched: true, why: `${endpointText(other)} matches` };
}

/** Does traffic on `port`/`proto` reaching `dst` match this port entry, and if not, why not. */
export function checkPort(m: PortMatcher, port: number, proto: Protocol, dst: Endpoint): MatchCheck {
  const entry = m.description;
  if (m.proto !== proto) return { entry, matched: false, why: `protocol ${proto}, not ${m.proto}` };
  switch (m.kind) {
    case 'protocol':
      return { entry, matched: true, why: `any ${proto} port` };
    case 'range': {
      const ok = port >= m.from && port <= m.to;
      const want = m.from === m.to ? `${m.from}` : `${m.from}-${m.to}`;
      return { entry, matched: ok, why: ok ? `port ${port} is ${m.from === m.to ? '' : 'in '}${want}` : `port ${port}, not ${want}` };
    }
    case 'named': {
      if (dst.kind !== 'pod') return { entry, matched: false, why: `named port "${m.name}" needs a pod destination; ${endpointText(dst)} is not one` };
      const n = resolveNamedPort(dst.pod, m.name, proto);
      if (n === undefined) return { entry, matched: false, why: `${endpointText(dst)} has no ${proto} container port named "${m.name}"` };
      return { entry, matched: n === port, why: n === port ? `"${m.name}" is ${n} on ${endpointText(dst)}` : `"${m.name}" is ${n} on ${endpointText(dst)}, the traffic reaches ${port}` };
    }
  }
}

function ruleName(ref: RuleRef): string {
  return `${ref.direction}[${ref.rule}]`;
}

export function explainRule(rule: CompiledRule, direction: Direction, traffic: Traffic): RuleExplanation {
  const other = direction === 'egress' ? traffic.dst : traffic.src;
  const peers = rule.peers === null ? null : rule.peers.map((p) => checkPeer(p, other));
  const ports = rule.ports === null ? null : rule.ports.map((p) => checkPort(p, traffic.port, traffic.proto, traffic.dst));
  const peerOk = peers === null || peers.some((c) => c.matched);
  const portOk = ports === null || ports.some((c) => c.matched);
  const outcome: RuleOutcome = peerOk && portOk ? 'matches' : !peerOk && !portOk ? 'peer-and-port-mismatch' : !peerOk ? 'peer-mismatch' : 'port-mismatch';
  // One reason per side: the entry's own words when there is one entry, else "none of them".
  const reasons: string[] = [];
  if (!peerOk) reasons.push(peers!.length === 1 ? peers![0]!.why : `${endpointText(other)} is none of ${peers!.map((c) => c.entry).join(', ')}`);
  if (!portOk) reasons.push(ports!.length === 1 ? ports![0]!.why : `${traffic.port}/${traffic.proto} is none of ${ports!.map((c) => c.entry).join(', ')}`);
  const head = `${ruleName(rule.ref)}: ${outcome.replace(/-/g, ' ')}`;
  let summary: string;
  if (outcome === 'matches') {
    const what = [peers === null ? 'any peer' : peers.find((c) => c.matched)!.entry, ports === null ? 'any port' : ports.find((c) => c.matched)!.entry];
    summary = `${head} (${what.join(', ')})`;
  } else {
    summary = `${head} — ${reasons.join('; ')}`;
  }
  return { ref: rule.ref, outcome, peers, ports, summary };
}

function noGate(direction: Direction, endpoint: Endpoint): GateExplanation {
  const why =
    endpoint.kind === 'pod'
      ? `${endpointText(endpoint)} is a host-network pod: NetworkPolicy does not apply to it`
      : `${endpointText(endpoint)} is not a pod of the cluster: no ${direction} gate`;
  return { direction, applies: false, isolated: false, policies: [], allowed: true, droppedBy: [], summary: why };
}

/** A pod's gate that does not apply: the pod talks to itself or to its own node (exemptions.ts). */
function exemptGate(direction: Direction, pod: PodEndpoint, status: 'self' | 'own-node'): GateExplanation {
  const podName = `${pod.namespace}/${pod.name}`;
  const exemption = exemptionReason(status, direction);
  const node = pod.pod.spec?.nodeName;
  const what = status === 'self' ? `${direction} of ${podName} ${direction === 'egress' ? 'to' : 'from'} itself` : `${direction} of ${podName} ${direction === 'egress' ? 'to' : 'from'} its own node ${node}`;
  return { direction, applies: false, pod: podName, isolated: false, policies: [], allowed: true, droppedBy: [], exemption, summary: `${what}: allowed — ${exemption}` };
}

export function explainGate(set: PolicySet, direction: Direction, traffic: Traffic): GateExplanation {
  const side = direction === 'egress' ? traffic.src : traffic.dst;
  // The same decision as the evaluator's: whether this gate exists at all.
  const status = gateStatus(direction, traffic);
  if (status === 'not-a-pod' || status === 'host-network') return noGate(direction, side);
  const pod = side as PodEndpoint;
  if (status !== 'applies') return exemptGate(direction, pod, status);
  const policies: PolicyExplanation[] = [];
  for (const t of set.targetsInNamespace(pod.namespace)) {
    if (!t.selects(pod.labels)) continue;
    policies.push(explainPolicy(t, direction, traffic));
  }
  const isolating = policies.filter((p) => p.isolates);
  const isolated = isolating.length > 0;
  const allowed = !isolated || isolating.some((p) => p.allows);
  const droppedBy = allowed ? [] : [...new Set(isolating.map((p) => p.policy))].sort();
  const podName = `${pod.namespace}/${pod.name}`;
  let summary: string;
  if (!isolated) {
    summary =
      policies.length === 0
        ? `${direction} of ${podName}: allowed — no policy selects the pod`
        : `${direction} of ${podName}: allowed — the policies selecting the pod (${policies.map((p) => p.policy).join(', ')}) do not isolate ${direction}`;
  } else if (allowed) {
    const by = isolating.flatMap((p) => p.rules.filter((r) => r.outcome === 'matches').map((r) => `${p.policy} ${ruleName(r.ref)}`));
    summary = `${direction} of ${podName}: allowed by ${by.join(', ')}`;
  } else {
    const rules = isolating.reduce((n, p) => n + p.rules.length, 0);
    const none = rules === 0 ? `no ${direction} rule exists` : rules === 1 ? 'its one rule does not match' : `none of the ${rules} rules matches`;
    summary = `${direction} of ${podName}: denied — isolated by ${droppedBy.join(', ')} and ${none}`;
  }
  return { direction, applies: true, pod: podName, isolated, policies, allowed, droppedBy, summary };
}

function explainPolicy(t: Target, direction: Direction, traffic: Traffic): PolicyExplanation {
  const isolates = direction === 'egress' ? t.isolatesEgress : t.isolatesIngress;
  const rules = isolates ? (direction === 'egress' ? t.egress : t.ingress).map((r) => explainRule(r, direction, traffic)) : [];
  return { policy: t.key, podSelector: t.podSelectorText, isolates, rules, allows: rules.some((r) => r.outcome === 'matches') };
}

function viaText(via: ServiceRef | undefined): string | undefined {
  return via ? formatEndpoint({ kind: 'service', namespace: via.namespace, name: via.name }, via.port) : undefined;
}

export function explainTraffic(set: PolicySet, traffic: Traffic): TrafficExplanation {
  const egress = explainGate(set, 'egress', traffic);
  const ingress = explainGate(set, 'ingress', traffic);
  const via = viaText(traffic.via);
  return {
    src: endpointText(traffic.src),
    dst: `${endpointText(traffic.dst)}:${traffic.port}`,
    port: traffic.port,
    proto: traffic.proto,
    ...(via ? { via } : {}),
    egress,
    ingress,
    verdict: egress.allowed && ingress.allowed ? 'allowed' : 'denied',
    droppedBy: [...new Set([...egress.droppedBy, ...ingress.droppedBy])].sort(),
  };
}

/** The whole explanation of one resolved flow. */
export function explainFlow(set: PolicySet, resolved: ResolvedFlow): FlowExplanation {
  const flow = resolved.flow;
  const srcPort = flow.src.port ?? undefined;
  const src = formatEndpoint(sourceName(resolved), srcPort);
  const dst = destinationNotation(resolved);
  const base = {
    ...(flow.id !== undefined ? { id: flow.id } : {}),
    ...(flow.origin ? { origin: { file: flow.origin.file, line: flow.origin.line } } : {}),
    src,
    dst,
    proto: flow.proto,
  };
  if (resolved.problem !== undefined || resolved.targets.length === 0) {
    const problem = resolved.problem ?? 'the flow resolved to no destination';
    return { ...base, targets: [], problem, verdict: 'denied', droppedBy: [], summary: `denied: ${problem}` };
  }
  const targets = resolved.targets.map((t) => explainTraffic(set, t));
  const denied = targets.filter((t) => t.verdict === 'denied');
  const droppedBy = [...new Set(denied.flatMap((t) => t.droppedBy))].sort();
  let summary: string;
  if (denied.length === 0) {
    const gates = [targets[0]!.egress, targets[0]!.ingress].filter((g) => g.applies || g.exemption !== undefined).map((g) => g.summary);
    summary = `allowed${targets.length > 1 ? ` to all ${targets.length} backends` : ''}: ${gates.length > 0 ? gates.join('; ') : 'neither end is a pod NetworkPolicy governs'}`;
  } else {
    const first = denied[0]!;
    const gates = [first.egress, first.ingress].filter((g) => !g.allowed).map((g) => g.summary);
    const backends = targets.length > 1 ? ` (${denied.length} of ${targets.length} backends denied; first: ${first.dst})` : '';
    summary = `denied by ${droppedBy.join(', ')}${backends}: ${gates.join('; ')}`;
  }
  return { ...base, targets, verdict: denied.length > 0 ? 'denied' : 'allowed', droppedBy, summary };
}
