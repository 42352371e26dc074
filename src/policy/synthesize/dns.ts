/**
 * The cluster DNS: where its pods are, whether a learned workload is it, and the DNS rules every
 * policy gets. Connect tracing sees TCP only, so name resolution (mostly UDP) is never observed and
 * would be cut off without these rules.
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import type { LabelSelector, V1Pod } from '../../cluster/objects.js';
import { isEmptySelector, selectorMatches } from '../selector.js';
import { cmp } from './compare.js';
import { intern } from './endpoint-peers.js';
import { DEFAULT_DNS_NAMESPACE, DEFAULT_DNS_SELECTOR } from './options.js';
import { addObserved } from './peer-ports.js';
import { canonicalSelector, podsPeer } from './peers.js';
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
 * Egress to the DNS pods on UDP and TCP 53 for every policy; and, when the DNS workload itself is
 * learned and ingress-isolated, ingress on 53 from every learned workload (that egress was not
 * observed, so nothing else would allow it on the DNS side).
 */
export function addDnsRules(state: SynthesisState, selectable: LearnedWorkload[], dns: DnsTarget): void {
  const dnsPeer = intern(state, podsPeer(dns.namespace, dns.selector));
  for (const l of selectable) {
    addObserved(l.egress, dnsPeer, 'UDP', 53);
    addObserved(l.egress, dnsPeer, 'TCP', 53);
  }
  for (const target of selectable) {
    if (target.workload.namespace !== dns.namespace || !isIngressIsolated(state.options, target)) continue;
    const pods = state.index.podsOfWorkload(target.workload);
    if (!pods.some((p) => selectorMatches(dns.selector, p.metadata?.labels ?? {}))) continue;
    for (const l of selectable) {
      const peer = intern(state, podsPeer(l.workload.namespace, l.workload.selector));
      addObserved(target.ingress, peer, 'UDP', 53);
      addObserved(target.ingress, peer, 'TCP', 53);
    }
  }
}
