/**
 * Workload resolution: which controller a pod belongs to, and the selector that controller uses.
 * Policies select workloads by their controller's selector, never by per-revision labels, so a
 * rollout does not silently fall out of its policy.
 */
import type { ClusterObjects, LabelSelector, OwnerObject, V1Pod } from './objects.js';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'ReplicaSet' | 'Pod';

export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** The selector that picks this workload's pods, free of per-revision labels. */
  selector: LabelSelector;
}

/** Labels a controller stamps per revision or per instance; never part of a learned selector. */
export const PER_REVISION_LABELS: readonly string[] = [
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'controller-uid',
  'batch.kubernetes.io/controller-uid',
  'job-name',
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
];

export function stableLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (!PER_REVISION_LABELS.includes(k)) out[k] = v;
  return out;
}

/** Drops per-revision keys from a selector (a Job's own selector is its controller-uid, for example). */
export function stableSelector(selector: LabelSelector | undefined): LabelSelector {
  const matchLabels = stableLabels(selector?.matchLabels);
  const matchExpressions = (selector?.matchExpressions ?? []).filter((e) => !PER_REVISION_LABELS.includes(e.key));
  const out: LabelSelector = {};
  if (Object.keys(matchLabels).length > 0) out.matchLabels = matchLabels;
  if (matchExpressions.length > 0) out.matchExpressions = matchExpressions;
  return out;
}

function ownerKey(namespace: string, kind: string, name: string): string {
  return `${namespace}/${kind}/${name}`;
}

export type OwnerLookup = (namespace: string, kind: string, name: string) => OwnerObject | undefined;

export function ownerLookup(objects: ClusterObjects): OwnerLookup {
  const byKey = new Map<string, OwnerObject>();
  for (const o of objects.owners) {
    byKey.set(ownerKey(o.metadata?.namespace ?? 'default', o.kind, o.metadata?.name ?? ''), o);
  }
  return (namespace, kind, name) => byKey.get(ownerKey(namespace, kind, name));
}

function controllerRef(meta: { ownerReferences?: { kind: string; name: string; controller?: boolean }[] } | undefined) {
  const refs = meta?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

/**
 * Walks pod → ReplicaSet → Deployment and pod → Job → CronJob up to the top owner. When an owner
 * object is not in the view (a snapshot without ReplicaSets), the owner is inferred from naming
 * conventions (`<deployment>-<pod-template-hash>`) and the pod's own stable labels are the selector.
 */
export function resolveWorkload(pod: V1Pod, lookup: OwnerLookup): Workload {
  const namespace = pod.metadata?.namespace ?? 'default';
  const podName = pod.metadata?.name ?? '';
  const podSelector: LabelSelector = { matchLabels: stableLabels(pod.metadata?.labels) };
  const ref = controllerRef(pod.metadata);
  if (!ref) return { kind: 'Pod', namespace, name: podName, selector: podSelector };

  let kind = ref.kind;
  let name = ref.name;
  let owner = lookup(namespace, kind, name);
  // Climb while the owner is itself controlled (ReplicaSet → Deployment, Job → CronJob).
  for (let depth = 0; owner && depth < 4; depth++) {
    const up = controllerRef(owner.metadata);
    if (!up) break;
    const next = lookup(namespace, up.kind, up.name);
    kind = up.kind;
    name = up.name;
    if (!next) {
      owner = undefined;
      break;
    }
    owner = next;
  }
  if (!owner && ref.kind === 'ReplicaSet' && kind === 'ReplicaSet') {
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    if (hash && name.endsWith(`-${hash}`)) {
      kind = 'Deployment';
      name = name.slice(0, -hash.length - 1);
    }
  }
  const knownKinds: WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet'];
  const workloadKind = (knownKinds as string[]).includes(kind) ? (kind as WorkloadKind) : 'Pod';
  if (workloadKind === 'Pod') return { kind: 'Pod', namespace, name: podName, selector: podSelector };
  return { kind: workloadKind, namespace, name, selector: ownerSelector(owner) ?? podSelector };
}

/** The selector a controller uses for its pods (a CronJob has none of its own: its job template's labels). */
function ownerSelector(owner: OwnerObject | undefined): LabelSelector | undefined {
  if (!owner) return undefined;
  let selector: LabelSelector | undefined;
  if (owner.kind === 'CronJob') {
    const labels = stableLabels(owner.spec?.jobTemplate?.spec?.template?.metadata?.labels);
    selector = Object.keys(labels).length > 0 ? { matchLabels: labels } : undefined;
  } else if (owner.kind === 'Job') {
    const labels = stableLabels(owner.spec?.template?.metadata?.labels);
    selector = Object.keys(labels).length > 0 ? { matchLabels: labels } : stableSelector(owner.spec?.selector);
  } else {
    selector = stableSelector(owner.spec?.selector);
  }
  const empty = !selector || (!selector.matchLabels && !selector.matchExpressions);
  return empty ? undefined : selector;
}

export function workloadKey(w: Pick<Workload, 'namespace' | 'kind' | 'name'>): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}
