/**
 * The evaluator: compiled policies + one Traffic → a Verdict with evidence for both gates.
 *
 * Egress and ingress are separate gates (DESIGN.md). The egress gate exists when the source is a
 * pod NetworkPolicy governs, the ingress gate when the destination is — except that neither gate
 * applies to a pod talking to itself, nor to traffic between a pod and its own node, which
 * NetworkPolicy cannot block (exemptions.ts decides, for explain.ts too). In each direction the pod is
 * isolated when some policy of its namespace selects it and has that direction in its (defaulted)
 * policyTypes; an isolated pod's traffic passes the gate when at least one rule of one of those
 * policies admits it. Traffic is allowed when both gates pass.
 *
 * Speed: policies are indexed by namespace, and the policies selecting a pod are computed once per
 * pod object (WeakMap) — a flow costs two cache hits plus the rules of the few policies that select
 * its endpoints.
 */
import type { V1NetworkPolicy, V1Pod } from '../cluster/objects.js';
import { InputError } from '../errors.js';
import { isPolicyPod } from './peer-matcher.js';
import { exemptionReason, gateApplies, gateStatus } from './exemptions.js';
import { compileTarget, ruleAllows, type CompiledRule, type Direction, type Target } from './target.js';
import type { Endpoint, PodEndpoint, ResolvedFlow, Traffic } from './traffic.js';
import type { GateResult, RuleRef, Verdict, VerdictKind } from './verdict.js';

export { fromOwnNode, gateApplies, gateStatus, toOwnNode, type GateStatus } from './exemptions.js';

/** The policies that select one pod, per direction in which they isolate it. */
export interface SelectingTargets {
  /** False for a pod NetworkPolicy does not govern (host network): no gates, matched by ipBlock only. */
  governed: boolean;
  egress: readonly Target[];
  ingress: readonly Target[];
  /** The rules of those targets, flattened in policy order then rule order (what a gate walks). */
  egressRules: readonly CompiledRule[];
  ingressRules: readonly CompiledRule[];
  /** Sorted policy keys, shared by every verdict about this pod (frozen). */
  egressIsolatedBy: readonly string[];
  ingressIsolatedBy: readonly string[];
  /**
   * Gate results that depend only on the pod and the one rule that allowed (the common case), made
   * once and shared (frozen), so judging a flow allocates nothing but its Verdict: [0] is "denied",
   * [i + 1] "allowed by rule i" of egressRules/ingressRules.
   */
  egressGates: (GateResult | undefined)[];
  ingressGates: (GateResult | undefined)[];
}

export interface PolicySet {
  readonly policies: readonly V1NetworkPolicy[];
  /** One Target per policy, in input order. */
  readonly targets: readonly Target[];
  targetsInNamespace(namespace: string): readonly Target[];
  /**
   * The policies selecting a pod endpoint, and whether NetworkPolicy governs it at all (cached per
   * pod object: the labels and namespace read are the pod's own).
   */
  selecting(endpoint: PodEndpoint): SelectingTargets;
}

const EMPTY_KEYS: readonly string[] = Object.freeze([]);
const NO_RULES: readonly RuleRef[] = Object.freeze([]);
const NO_TARGETS: readonly Target[] = Object.freeze([]);
const NO_COMPILED_RULES: readonly CompiledRule[] = Object.freeze([]);
const NOT_SELECTED: SelectingTargets = Object.freeze({
  governed: true,
  egress: NO_TARGETS,
  ingress: NO_TARGETS,
  egressRules: NO_COMPILED_RULES,
  ingressRules: NO_COMPILED_RULES,
  egressIsolatedBy: EMPTY_KEYS,
  ingressIsolatedBy: EMPTY_KEYS,
  egressGates: [],
  ingressGates: [],
});

const NOT_GOVERNED: SelectingTargets = Object.freeze({ ...NOT_SELECTED, governed: false });

/** Gate results that carry no per-traffic evidence are shared constants (frozen: do not mutate). */
const openGate = (applies: boolean): GateResult =>
  Object.freeze({ applies, isolated: false, isolatedBy: EMPTY_KEYS as string[], allowedBy: NO_RULES as RuleRef[], allowed: true });
const NO_GATE = openGate(false);
const NOT_ISOLATED = openGate(true);

function computeSelecting(targets: readonly Target[], endpoint: PodEndpoint): SelectingTargets {
  let egress: Target[] | undefined;
  let ingress: Target[] | undefined;
  for (const t of targets) {
    if (!t.selects(endpoint.labels)) continue;
    if (t.isolatesEgress) (egress ??= []).push(t);
    if (t.isolatesIngress) (ingress ??= []).push(t);
  }
  if (!egress && !ingress) return NOT_SELECTED;
  const keys = (list: Target[] | undefined): readonly string[] =>
    list ? Object.freeze([...new Set(list.map((t) => t.key))].sort()) : EMPTY_KEYS;
  return {
    governed: true,
    egress: egress ?? NO_TARGETS,
    ingress: ingress ?? NO_TARGETS,
    egressRules: egress ? egress.flatMap((t) => t.egress) : NO_COMPILED_RULES,
    ingressRules: ingress ? ingress.flatMap((t) => t.ingress) : NO_COMPILED_RULES,
    egressIsolatedBy: keys(egress),
    ingressIsolatedBy: keys(ingress),
    egressGates: [],
    ingressGates: [],
  };
}

/** compileTarget, with what it cannot compile (a policy that skipped validation) as an InputError. */
function compileChecked(policy: V1NetworkPolicy): Target {
  try {
    return compileTarget(policy);
  } catch (err) {
    const key = `${policy.metadata?.namespace ?? 'default'}/${policy.metadata?.name ?? ''}`;
    throw new InputError(`NetworkPolicy ${key}`, `cannot be evaluated: ${(err as Error).message}`);
  }
}

/**
 * Compiles NetworkPolicies once; the result is immutable and can judge any number of flows.
 * Policies should be valid (validate.ts); one that cannot be compiled is an InputError naming it.
 */
export function compilePolicies(policies: readonly V1NetworkPolicy[]): PolicySet {
  const targets = policies.map(compileChecked);
  const byNamespace = new Map<string, Target[]>();
  for (const t of targets) {
    const list = byNamespace.get(t.namespace);
    if (list) list.push(t);
    else byNamespace.set(t.namespace, [t]);
  }
  const cache = new WeakMap<V1Pod, SelectingTargets>();
  return {
    policies,
    targets,
    targetsInNamespace: (namespace) => byNamespace.get(namespace) ?? NO_TARGETS,
    selecting(endpoint) {
      let s = cache.get(endpoint.pod);
      if (s === undefined) {
        const inNs = byNamespace.get(endpoint.namespace);
        s = !isPolicyPod(endpoint) ? NOT_GOVERNED : inNs ? computeSelecting(inNs, endpoint) : NOT_SELECTED;
        cache.set(endpoint.pod, s);
      }
      return s;
    },
  };
}

function isolatedGate(isolatedBy: readonly string[], allowedBy: readonly RuleRef[]): GateResult {
  return Object.freeze({
    applies: true,
    isolated: true,
    isolatedBy: isolatedBy as string[],
    allowedBy: allowedBy as RuleRef[],
    allowed: allowedBy.length > 0,
  });
}

/** One gate of one pod: isolated when some policy selects it in this direction; passes when a rule admits the traffic. */
function gate(
  rules: readonly CompiledRule[],
  isolatedBy: readonly string[],
  shared: (GateResult | undefined)[],
  direction: Direction,
  traffic: Traffic,
  otherIsPolicyPod: boolean,
): GateResult {
  if (isolatedBy.length === 0) return NOT_ISOLATED;
  let first = -1;
  let allowedBy: RuleRef[] | undefined;
  for (let r = 0; r < rules.length; r++) {
    if (!ruleAllows(rules[r]!, direction, traffic, otherIsPolicyPod)) continue;
    if (first < 0) first = r;
    else (allowedBy ??= [rules[first]!.ref]).push(rules[r]!.ref);
  }
  if (allowedBy) return { applies: true, isolated: true, isolatedBy: isolatedBy as string[], allowedBy, allowed: true };
  return (shared[first + 1] ??= isolatedGate(isolatedBy, first < 0 ? NO_RULES : Object.freeze([rules[first]!.ref])));
}

/** Judges one Traffic on both gates. Shared sub-objects of the result are frozen. */
export function evaluate(set: PolicySet, traffic: Traffic): Verdict {
  // One cache hit per pod end answers both "is it governed?" and "which policies select it?".
  const src = traffic.src.kind === 'pod' ? set.selecting(traffic.src) : NOT_GOVERNED;
  const dst = traffic.dst.kind === 'pod' ? set.selecting(traffic.dst) : NOT_GOVERNED;
  // Whether a gate exists at all (a pod of the cluster, not talking to itself or its own node) is
  // decided by gateApplies alone, which explain.ts uses too.
  const egress = gateApplies('egress', traffic)
    ? gate(src.egressRules, src.egressIsolatedBy, src.egressGates, 'egress', traffic, dst.governed)
    : NO_GATE;
  const ingress = gateApplies('ingress', traffic)
    ? gate(dst.ingressRules, dst.ingressIsolatedBy, dst.ingressGates, 'ingress', traffic, src.governed)
    : NO_GATE;
  return { verdict: egress.allowed && ingress.allowed ? 'allowed' : 'denied', egress, ingress };
}

// ---------------------------------------------------------------------------------------------
// Judging resolved flows, with a sentence that says why.

export interface TargetJudgement {
  traffic: Traffic;
  verdict: Verdict;
}

export interface FlowJudgement {
  verdict: VerdictKind;
  /** One per Traffic of the resolved flow (one per Service backend); empty when it had a problem. */
  targets: TargetJudgement[];
  reason: string;
}

export function describeEndpoint(e: Endpoint): string {
  if (e.kind === 'pod') return `${e.namespace}/${e.name}`;
  return e.node ? `${e.ip} (node ${e.node})` : e.ip;
}

function hostPort(e: Endpoint, port: number): string {
  if (e.kind === 'pod') return `${e.namespace}/${e.name}:${port}`;
  return e.ip.includes(':') ? `[${e.ip}]:${port}` : `${e.ip}:${port}`;
}

function formatRule(ref: RuleRef): string {
  return `${ref.policy} ${ref.direction}[${ref.rule}]`;
}

/** One clause per gate that applies: why it passed or failed. */
function gateClause(direction: Direction, g: GateResult, traffic: Traffic): string | undefined {
  if (!g.applies) {
    // Only worth a word when the end is a pod after all: one on the host network, a pod talking to
    // itself, or a pod and its own node.
    const end = direction === 'egress' ? traffic.src : traffic.dst;
    if (end.kind !== 'pod') return undefined;
    const status = gateStatus(direction, traffic);
    if (status === 'self') return `${describeEndpoint(end)} to itself: ${exemptionReason(status, direction)}`;
    if (status === 'own-node') {
      const node = end.pod.spec?.nodeName;
      if (direction === 'ingress') return `ingress to ${describeEndpoint(end)} from its own node ${node}: NetworkPolicy cannot block it`;
      return `egress from ${describeEndpoint(end)} to its own node ${node}: ${exemptionReason(status, direction)}`;
    }
    return `${describeEndpoint(end)} uses the host network: no ${direction} gate`;
  }
  const side = direction === 'egress' ? `egress from ${describeEndpoint(traffic.src)}` : `ingress to ${describeEndpoint(traffic.dst)}`;
  if (!g.isolated) return `${side} not isolated`;
  if (g.allowed) return `${side} allowed by ${g.allowedBy.map(formatRule).join(', ')}`;
  const what =
    direction === 'egress'
      ? `${hostPort(traffic.dst, traffic.port)}/${traffic.proto}`
      : `${describeEndpoint(traffic.src)} on port ${traffic.port}/${traffic.proto}`;
  return `${side} isolated by ${g.isolatedBy.join(', ')}: no rule allows ${what}`;
}

/** The sentence for one Traffic: failing gates only when denied, every gate that applies when allowed. */
export function explainVerdict(traffic: Traffic, verdict: Verdict): string {
  const clauses: string[] = [];
  for (const [direction, g] of [['egress', verdict.egress], ['ingress', verdict.ingress]] as const) {
    if (verdict.verdict === 'denied' && g.allowed) continue;
    const c = gateClause(direction, g, traffic);
    if (c && !clauses.includes(c)) clauses.push(c);
  }
  if (clauses.length === 0) return 'neither end is a pod: NetworkPolicy does not apply';
  return clauses.join('; ');
}

function viaPrefix(t: Traffic): string {
  if (!t.via) return '';
  return `via service ${t.via.namespace}/${t.via.name}:${t.via.port} to backend ${hostPort(t.dst, t.port)}: `;
}

/**
 * Judges a resolved flow. A flow through a Service is denied when the traffic to ANY of its backends
 * is denied (the connection may land on that one); a flow that could not be resolved to any
 * backend is denied with the resolver's reason.
 */
export function judge(set: PolicySet, resolved: ResolvedFlow): FlowJudgement {
  if (resolved.problem !== undefined || resolved.targets.length === 0) {
    return { verdict: 'denied', targets: [], reason: resolved.problem ?? 'nothing to judge: the flow resolved to no destination' };
  }
  const targets: TargetJudgement[] = resolved.targets.map((traffic) => ({ traffic, verdict: evaluate(set, traffic) }));
  const denied = targets.filter((t) => t.verdict.verdict === 'denied');
  const shown = denied[0] ?? targets[0]!;
  let reason = viaPrefix(shown.traffic) + explainVerdict(shown.traffic, shown.verdict);
  if (targets.length > 1) {
    reason +=
      denied.length > 0
        ? ` (${denied.length} of ${targets.length} backends denied)`
        : ` (all ${targets.length} backends allowed)`;
  }
  return { verdict: denied.length > 0 ? 'denied' : 'allowed', targets, reason };
}

/** The verdict alone, for callers that need no evidence (property tests, the synthesizer's self-check). */
export function isAllowed(set: PolicySet, traffic: Traffic): boolean {
  return evaluate(set, traffic).verdict === 'allowed';
}
