/**
 * Workload resolution: which controller a pod belongs to, and the selector that controller uses.
 * Policies select workloads by their controller's selector, never by per-revision labels, so a
 * rollout does not silently fall out of its policy.
 */
import type { ClusterObjects, LabelSelector, OwnerObject, V1Pod } from './objects.js';

/** A known controller kind, or the kind of an unknown top owner (e.g. `Rollout`). */
// eslint-disable-next-line @typescript-eslint/ban-types
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'ReplicaSet' | 'Pod' | (string & {});

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

/** Labels that change with every chart or app release; dropped from selectors learned from pod labels. */
export const CHURN_LABELS: readonly string[] = ['app.kubernetes.io/version', 'helm.sh/chart'];

/** Stable labels of a pod without release-churn labels, unless that would leave nothing. */
export function fallbackLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const stable = stableLabels(labels);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(stable)) if (!CHURN_LABELS.includes(k)) out[k] = v;
  return Object.keys(out).length > 0 ? out : stable;
}

const KNOWN_KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet'];

/** A resolved workload and whether its selector is only the pod's own labels (no owner object had one). */
export interface WorkloadResolution {
  workload: Workload;
  fromPodLabels: boolean;
}

/**
 * Walks pod → ReplicaSet → Deployment and pod → Job → CronJob up to the top owner. When an owner
 * object is not in the view (a snapshot without ReplicaSets), the owner is inferred from naming
 * conventions (`<deployment>-<pod-template-hash>`, `<cronjob>-<digits>`) and the pod's own stable
 * labels are the selector. A top owner of a kind netpol does not know (an Argo Rollout) still names
 * the workload, with the selector of the last owner object that is known.
 */
export function resolveWorkload(pod: V1Pod, lookup: OwnerLookup): Workload {
  return resolveWorkloadDetailed(pod, lookup).workload;
}

export function resolveWorkloadDetailed(pod: V1Pod, lookup: OwnerLookup): WorkloadResolution {
  const namespace = pod.metadata?.namespace ?? 'default';
  const podName = pod.metadata?.name ?? '';
  const podSelector: LabelSelector = { matchLabels: fallbackLabels(pod.metadata?.labels) };
  const fromPod = (kind: WorkloadKind, name: string): WorkloadResolution => ({
    workload: { kind, namespace, name, selector: podSelector },
    fromPodLabels: true,
  });
  const ref = controllerRef(pod.metadata);
  if (!ref) return fromPod('Pod', podName);

  let kind = ref.kind;
  let name = ref.name;
  let owner = lookup(namespace, kind, name);
  // The highest owner object present in the view.
  let lastKnown = owner;
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
    lastKnown = next;
  }
  if (!owner && !lastKnown && ref.kind === 'ReplicaSet' && kind === 'ReplicaSet') {
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    if (hash && name.endsWith(`-${hash}`)) {
      kind = 'Deployment';
      name = name.slice(0, -hash.length - 1);
    }
  }
  if (!owner && !lastKnown && ref.kind === 'Job' && kind === 'Job') {
    // A CronJob names its Jobs `<cronjob>-<scheduled time in minutes>`.
    const m = /^(.+)-\d+$/.exec(name);
    if (m) {
      kind = 'CronJob';
      name = m[1]!;
    }
  }
  const selected = (k: WorkloadKind, n: string, ...objects: (OwnerObject | undefined)[]): WorkloadResolution => {
    for (const o of objects) {
      const selector = ownerSelector(o);
      if (selector) return { workload: { kind: k, namespace, name: n, selector }, fromPodLabels: false };
    }
    return fromPod(k, n);
  };
  if (KNOWN_KINDS.includes(kind)) return selected(kind as WorkloadKind, name, owner, lastKnown);
  // An unknown top owner (Rollout, CloneSet, ...).
  if (owner) return selected(kind, name, owner);
  if (lastKnown) {
    const lastName = lastKnown.metadata?.name ?? '';
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    const revisioned = lastKnown.kind === 'ReplicaSet' && hash !== undefined && lastName.endsWith(`-${hash}`);
    // A per-revision ReplicaSet is no name for a workload: the controller above it is.
    return revisioned ? selected(kind, name, lastKnown) : selected(lastKnown.kind, lastName, lastKnown);
  }
  return fromPod('Pod', podName);
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
