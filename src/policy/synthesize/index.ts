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
 * - DNS (dns.ts): a workload whose flows were recorded while UDP was observed gets the DNS egress
 *   it was seen using, nothing more, and its policy's `netpol.io/dns` annotation says `observed`
 *   or `not-observed`; one recorded without UDP gets egress to the cluster DNS pods on UDP and
 *   TCP 53 assumed unless `dns: false`, since its name resolution could not have been seen.
 * - Widening (CIDR aggregation, port ranges) only when asked for, and every widening is reported
 *   (widen.ts).
 *
 * Rules are grouped per port set (rules.ts). The steps below share one SynthesisState (state.ts).
 * This file is the package's public API: import the synthesizer from here only.
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import { collectEdges } from './collect.js';
import { cmp } from './compare.js';
import { addDnsRules, DNS_ANNOTATION, resolveDnsTarget, type DnsOrigin } from './dns.js';
import { selectableWorkloads, warnEgressUnobserved } from './exclusions.js';
import { assignNames } from './naming.js';
import { normalizeOptions } from './options.js';
import { warnOverlaps } from './overlaps.js';
import { renderPolicy } from './render.js';
import { buildRules } from './rules.js';
import { checkAccepted, checkAllowed } from './self-check.js';
import { formatSelector } from '../selector.js';
import { createState, isIngressIsolated, type LearnedWorkload, type SynthesisState } from './state.js';
import type { GeneratedPolicy, LearnEdge, SynthesisOptions, SynthesisResult, Widening } from './types.js';

export { INGRESS_MODES, type GeneratedPolicy, type IngressMode, type LearnEdge, type SynthesisOptions, type SynthesisResult, type Widening } from './types.js';
export { resolveDnsTarget, DNS_ANNOTATION, type DnsOrigin } from './dns.js';
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
  const dnsOrigins = addDnsRules(state, selectable, dns);

  const names = assignNames(selectable.map((l) => l.workload));
  const policies = selectable.map((l) => learnPolicy(state, l, names.get(l.key)!, dnsOrigins.get(l)!));
  policies.sort((a, b) => cmp(a.path, b.path));
  checkAllowed(state, policies);
  const widenedKey = (w: Widening) => [w.policy, w.direction, w.kind, w.scope, w.to, w.from.join(',')].join('\u0000');
  const widened = state.widened.sort((a, b) => cmp(widenedKey(a), widenedKey(b)));
  const result: SynthesisResult = { policies, widened, warnings: state.warnings.list() };
  const byOrigin = dnsSummary(policies, selectable, dnsOrigins, names);
  if (byOrigin) result.dns = { ...byOrigin, target: `${dns.namespace}/${formatSelector(dns.selector)}` };
  return result;
}

/** Policy refs (`ns/name`) by DNS origin, sorted; undefined when there is no policy. */
function dnsSummary(
  policies: GeneratedPolicy[],
  selectable: LearnedWorkload[],
  origins: Map<LearnedWorkload, DnsOrigin>,
  names: Map<string, string>,
): Omit<NonNullable<SynthesisResult['dns']>, 'target'> | undefined {
  if (policies.length === 0) return undefined;
  const out = { observed: [] as string[], notObserved: [] as string[], assumed: [] as string[] };
  for (const l of selectable) {
    const ref = `${l.workload.namespace}/${names.get(l.key)!}`;
    const origin = origins.get(l);
    if (origin === 'observed') out.observed.push(ref);
    else if (origin === 'not-observed') out.notObserved.push(ref);
    else if (origin === 'assumed') out.assumed.push(ref);
  }
  for (const list of Object.values(out)) list.sort(cmp);
  return out;
}

/** The policy of one selectable workload: its rules (ingress before egress), rendered and checked. */
function learnPolicy(state: SynthesisState, l: LearnedWorkload, name: string, dnsOrigin: DnsOrigin): GeneratedPolicy {
  const ns = l.workload.namespace;
  const policyRef = `${ns}/${name}`;
  const ingress = isIngressIsolated(state.options, l)
    ? buildRules(l.ingress, ns, state.options, (w) => state.widened.push({ policy: policyRef, direction: 'ingress', ...w }))
    : undefined;
  const egress = buildRules(l.egress, ns, state.options, (w) => state.widened.push({ policy: policyRef, direction: 'egress', ...w }));
  // Only a DNS rule judged from observed UDP is annotated: policies learned as before stay byte for byte.
  const annotations: Record<string, string> = dnsOrigin === 'observed' || dnsOrigin === 'not-observed' ? { [DNS_ANNOTATION]: dnsOrigin } : {};
  const policy = renderPolicy(l.workload, name, ingress, egress, annotations);
  checkAccepted(state, l.workload, policy, ingress ?? [], egress);
  return { workload: l.workload, policy, path: `${ns}/${name}.yaml` };
}
