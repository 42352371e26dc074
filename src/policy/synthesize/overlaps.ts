/**
 * Selector overlaps: a policy selects every pod its selector matches, not only its workload's.
 * When another workload's pods match too (two Deployments sharing a selector, or one selector a
 * subset of another's), those pods get the union of both policies: said, not hidden.
 */
import type { ClusterIndex } from '../../cluster/lookup.js';
import type { V1Pod } from '../../cluster/objects.js';
import { workloadKey } from '../../cluster/workload.js';
import { selectorMatches } from '../selector.js';
import type { LearnedWorkload } from './state.js';
import { workloadLabel, type WarningLog } from './warnings.js';

/**
 * Warns for each learned workload whose selector matches other workloads' pods. Pods are indexed
 * by namespace and label so this stays cheap on large clusters.
 */
export function warnOverlaps(learned: LearnedWorkload[], index: ClusterIndex, warnings: WarningLog): void {
  if (learned.length === 0) return;
  const byLabel = new Map<string, V1Pod[]>();
  const byNamespace = new Map<string, V1Pod[]>();
  const push = (map: Map<string, V1Pod[]>, key: string, pod: V1Pod) => {
    const list = map.get(key);
    if (list) list.push(pod);
    else map.set(key, [pod]);
  };
  // Only the (namespace, label key) pairs some learned selector asks about are indexed: the lists
  // below are the same as indexing every label of every pod, for every key that is looked up.
  const wantedKeys = new Map<string, string[]>();
  for (const l of learned) {
    const keys = Object.keys(l.workload.selector.matchLabels ?? {});
    if (keys.length === 0) continue;
    const list = wantedKeys.get(l.workload.namespace);
    if (!list) wantedKeys.set(l.workload.namespace, [...new Set(keys)]);
    else for (const k of keys) if (!list.includes(k)) list.push(k);
  }
  const hasOwn = Object.prototype.hasOwnProperty;
  for (const pod of index.objects.pods) {
    if (pod.spec?.hostNetwork) continue;
    const ns = pod.metadata?.namespace ?? 'default';
    push(byNamespace, ns, pod);
    const keys = wantedKeys.get(ns);
    if (!keys) continue;
    const labels = pod.metadata?.labels ?? {};
    for (const k of keys) {
      if (!hasOwn.call(labels, k) || !Object.prototype.propertyIsEnumerable.call(labels, k)) continue;
      push(byLabel, `${ns}\u0000${k}\u0000${labels[k]}`, pod);
    }
  }
  for (const l of learned) {
    const { namespace, selector } = l.workload;
    let candidates = byNamespace.get(namespace) ?? [];
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
      const list = byLabel.get(`${namespace}\u0000${k}\u0000${v}`) ?? [];
      if (list.length < candidates.length) candidates = list;
    }
    const others = new Set<string>();
    for (const pod of candidates) {
      if (!selectorMatches(selector, pod.metadata?.labels ?? {})) continue;
      const w = index.workloadOf(pod);
      if (workloadKey(w) !== l.key) others.add(`${w.kind} ${w.namespace}/${w.name}`);
    }
    if (others.size > 0) {
      warnings.add(
        `the selector of ${workloadLabel(l.workload)} also matches pods of ${[...others].sort().join(', ')}: its policy applies to them too (each such pod gets the union of the policies selecting it)`,
      );
    }
  }
}
