/**
 * The synthesizer: resolved, deduplicated flows (edges) in, one least-privilege NetworkPolicy per
 * workload out. Pure: no I/O, no clock, and the output depends only on the set of edges, never on
 * their order, so the same recording always renders to the same bytes.
 *
 * Rules (DESIGN.md "Semantics the code must get exactly right"):
 * - One policy per workload (top owner: Deployment, StatefulSet, DaemonSet, CronJob/Job, ReplicaSet,
 *   else the bare pod), named after it (naming.ts), selecting its pods by the controller's selector,
 *   which the cluster index has already stripped of per-revision labels (pod-template-hash, …).
 * - Egress is judged after Service DNAT: a connect to a ClusterIP is allowed as the backing pods on
 *   the targetPort (ResolvedFlow.targets already carry them), never as the ClusterIP. A selectorless
 *   Service (the API server's `default/kubernetes`) leads to plain addresses: ipBlocks of its
 *   endpoints on the endpoint port. Anything outside the cluster is an ipBlock /32 or /128.
 * - In-cluster peers are podSelectors of the peer workload, plus a namespaceSelector on
 *   `kubernetes.io/metadata.name` when the namespace differs (endpoint-peers.ts, render.ts).
 * - Ingress on the destination workloads for what they received (see IngressMode for the default).
 * - DNS egress (UDP and TCP 53) to the cluster DNS pods unless `dns: false` (dns.ts): connect
 *   tracing sees TCP only, so name resolution would otherwise be cut off.
 * - Widening (CIDR aggregation, port ranges) only when asked for, and every widening is reported
 *   (widen.ts).
 *
 * Rules are grouped per port set (rules.ts). The steps below share one SynthesisState (state.ts).
 * This file is the package's public API: import the synthesizer from here only.
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import { collectEdges } from './collect.js';
import { cmp } from './compare.js';
import { addDnsRules, resolveDnsTarget } from './dns.js';
import { selectableWorkloads, warnEgressUnobserved } from './exclusions.js';
import { assignNames } from './naming.js';
import { normalizeOptions } from './options.js';
import { warnOverlaps } from './overlaps.js';
import { renderPolicy } from './render.js';
import { buildRules } from './rules.js';
import { checkAccepted, checkAllowed } from './self-check.js';
import { createState, isIngressIsolated, type LearnedWorkload, type SynthesisState } from './state.js';
import type { GeneratedPolicy, LearnEdge, SynthesisOptions, SynthesisResult, Widening } from './types.js';

export { INGRESS_MODES, type GeneratedPolicy, type IngressMode, type LearnEdge, type SynthesisOptions, type SynthesisResult, type Widening } from './types.js';
export { resolveDnsTarget } from './dns.js';
export { DEFAULT_DNS_NAMESPACE, DEFAULT_DNS_SELECTOR } from './options.js';
export { MANAGED_BY_LABEL, MANAGED_BY_VALUE, WORKLOAD_ANNOTATION } from './render.js';
export { canonicalSelector } from './peers.js';
export { policyNameFor } from './naming.js';

/** Learns one NetworkPolicy per in-scope workload from the edges; see the module comment. */
export function synthesize(edges: LearnEdge[], index: ClusterIndex, options: SynthesisOptions = {}): SynthesisResult {
  const state = createState(normalizeOptions(options), index);
  collectEdges(state, edges);
  const dns = resolveDnsTarget(index, state.options);
  const selectable = selectableWorkloads(state, dns);
  warnOverlaps(selectable, index, state.warnings);
  warnEgressUnobserved(state, selectable);
  if (state.options.dns) addDnsRules(state, selectable, dns);

  const names = assignNames(selectable.map((l) => l.workload));
  const policies = selectable.map((l) => learnPolicy(state, l, names.get(l.key)!));
  policies.sort((a, b) => cmp(a.path, b.path));
  checkAllowed(state, policies);
  const widenedKey = (w: Widening) => [w.policy, w.direction, w.kind, w.scope, w.to, w.from.join(',')].join('\u0000');
  const widened = state.widened.sort((a, b) => cmp(widenedKey(a), widenedKey(b)));
  return { policies, widened, warnings: state.warnings.list() };
}

/** The policy of one selectable workload: its rules (ingress before egress), rendered and checked. */
function learnPolicy(state: SynthesisState, l: LearnedWorkload, name: string): GeneratedPolicy {
  const ns = l.workload.namespace;
  const policyRef = `${ns}/${name}`;
  const ingress = isIngressIsolated(state.options, l)
    ? buildRules(l.ingress, ns, state.options, (w) => state.widened.push({ policy: policyRef, direction: 'ingress', ...w }))
    : undefined;
  const egress = buildRules(l.egress, ns, state.options, (w) => state.widened.push({ policy: policyRef, direction: 'egress', ...w }));
  const policy = renderPolicy(l.workload, name, ingress, egress);
  checkAccepted(state, l.workload, policy, ingress ?? [], egress);
  return { workload: l.workload, policy, path: `${ns}/${name}.yaml` };
}
