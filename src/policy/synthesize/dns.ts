/**
 * The cluster DNS: where its pods are, whether a learned workload is it, and each policy's DNS rule.
 * Name resolution is mostly UDP. A workload whose flows were all recorded while UDP was observed
 * (FlowRecord.observed) gets the DNS rule it earned: the lookups it was seen making are already
 * rules of their own, nothing is added, and its policy says which (DNS_ANNOTATION). A workload
 * recorded without UDP (TCP-only tracing, older recordings) could not have been seen resolving,
 * so egress to the DNS pods on UDP and TCP 53 is assumed for it, as it always was.
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import type { LabelSelector, V1Pod } from '../../cluster/objects.js';
import { isEmptySelector, selectorMatches } from '../selector.js';
import { cmp } from './compare.js';
import { intern } from './endpoint-peers.js';
import { DEFAULT_DNS_NAMESPACE, DEFAULT_DNS_SELECTOR } from './options.js';
import { addObserved } from './peer-ports.js';
import { portKey } from './ports.js';
import { canonicalSelector, podsPeer, type Peer } from './peers.js';
import { isIngressIsolated, type LearnedWorkload, type SynthesisState } from './state.js';
import type { SynthesisOptions } from './types.js';

export interface DnsTarget {
  namespace: string;
  selector: LabelSelector;
}

/**
 * Where the cluster DNS pods are: the explicit option, else the workload selector of the pods the
 * `kube-dns` Service of the DNS namespace selects (a CoreDNS Deployment labelled differently is
 * found that way), else its pods labelled like the default, else the default `k8s-app: kube-dns`.
 */
export function resolveDnsTarget(index: ClusterIndex, options: Pick<SynthesisOptions, 'dnsNamespace' | 'dnsSelector'>): DnsTarget {
  const namespace = options.dnsNamespace ?? DEFAULT_DNS_NAMESPACE;
  if (options.dnsSelector) return { namespace, selector: canonicalSelector(options.dnsSelector) };
  const podsInNs = index.objects.pods
    .filter((p) => (p.metadata?.namespace ?? 'default') === namespace)
    .sort((a, b) => cmp(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  const svcSelector = index.service(namespace, 'kube-dns')?.spec?.selector;
  const candidates: V1Pod[] = [];
  if (svcSelector && Object.keys(svcSelector).length > 0) {
    candidates.push(...podsInNs.filter((p) => selectorMatches({ matchLabels: svcSelector }, p.metadata?.labels ?? {})));
  }
  if (candidates.length === 0) {
    candidates.push(...podsInNs.filter((p) => selectorMatches(DEFAULT_DNS_SELECTOR, p.metadata?.labels ?? {})));
  }
  for (const pod of candidates) {
    const selector = index.workloadOf(pod).selector;
    if (!isEmptySelector(selector)) return { namespace, selector: canonicalSelector(selector) };
  }
  return { namespace, selector: canonicalSelector(DEFAULT_DNS_SELECTOR) };
}

/** Whether some pod of the learned workload is a cluster DNS pod. */
export function isDnsWorkload(index: ClusterIndex, dns: DnsTarget, l: LearnedWorkload): boolean {
  return l.workload.namespace === dns.namespace && index.podsOfWorkload(l.workload).some((p) => selectorMatches(dns.selector, p.metadata?.labels ?? {}));
}

/**
 * How a policy's DNS egress came about:
 * - `observed`: UDP was observed and lookups to the cluster DNS were seen; the rule is learned from them;
 * - `not-observed`: UDP was observed and no lookup to the cluster DNS was seen: no DNS rule;
 * - `assumed`: UDP was not observed (or nothing outbound was): egress to the DNS pods on UDP and
 *   TCP 53 is added;
 * - `off`: UDP was not observed and the assumed rule was not asked for (--no-dns).
 */
export type DnsOrigin = 'observed' | 'not-observed' | 'assumed' | 'off';

/** Annotation on a learned policy whose DNS rule was judged from observed UDP: `observed` or `not-observed`. */
export const DNS_ANNOTATION = 'netpol.io/dns';

const DNS_PORTS = [portKey('UDP', 53), portKey('TCP', 53)];

/** Where a workload's DNS egress comes from (see DnsOrigin); `dnsPeer` is the interned DNS pods peer. */
export function dnsOriginOf(state: SynthesisState, l: LearnedWorkload, dnsPeer: Peer): DnsOrigin {
  if (l.udpObserved === true) {
    const slot = l.egress.get(dnsPeer);
    return slot && DNS_PORTS.some((k) => slot.ports.includes(k)) ? 'observed' : 'not-observed';
  }
  return state.options.dns ? 'assumed' : 'off';
}

/**
 * Each workload's DNS origin; egress to the DNS pods on UDP and TCP 53 for those it is assumed for;
 * and, when the DNS workload itself is learned and ingress-isolated, ingress on 53 from each of
 * them (their lookups were not observed, so nothing else would allow them on the DNS side; the
 * observed ones are rules already).
 */
export function addDnsRules(state: SynthesisState, selectable: LearnedWorkload[], dns: DnsTarget): Map<LearnedWorkload, DnsOrigin> {
  const dnsPeer = intern(state, podsPeer(dns.namespace, dns.selector));
  const origins = new Map<LearnedWorkload, DnsOrigin>();
  for (const l of selectable) origins.set(l, dnsOriginOf(state, l, dnsPeer));
  const assumed = selectable.filter((l) => origins.get(l) === 'assumed');
  for (const l of assumed) {
    addObserved(l.egress, dnsPeer, 'UDP', 53);
    addObserved(l.egress, dnsPeer, 'TCP', 53);
  }
  for (const target of selectable) {
    if (assumed.length === 0) break;
    if (target.workload.namespace !== dns.namespace || !isIngressIsolated(state.options, target)) continue;
    const pods = state.index.podsOfWorkload(target.workload);
    if (!pods.some((p) => selectorMatches(dns.selector, p.metadata?.labels ?? {}))) continue;
    for (const l of assumed) {
      const peer = intern(state, podsPeer(l.workload.namespace, l.workload.selector));
      addObserved(target.ingress, peer, 'UDP', 53);
      addObserved(target.ingress, peer, 'TCP', 53);
    }
  }
  return origins;
}
