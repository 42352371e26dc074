/**
 * Loading what commands read — cluster views, policies, flows — in one place, so every command
 * says the same thing about a missing file or an unusable flag combination.
 */
import { SnapshotView } from '../../cluster/snapshot.js';
import type { ClusterView } from '../../cluster/view.js';
import { InputError } from '../../errors.js';
import type { V1Pod } from '../../cluster/objects.js';
import { checkSnapshotPolicy } from '../../policy/load.js';
import { parseSelector, selectorMatches } from '../../policy/selector.js';

export interface ClusterInputOptions {
  cluster?: string[];
  live?: boolean;
  kubeconfig?: string;
  context?: string;
}

/** A snapshot when files are given, else the live cluster when asked for (or required). */
export async function openClusterView(opts: ClusterInputOptions, required: 'snapshot' | 'snapshot-or-live' | 'optional'): Promise<ClusterView> {
  if (opts.cluster && opts.cluster.length > 0) return new SnapshotView(opts.cluster, undefined, { checkNetworkPolicy: checkSnapshotPolicy });
  if (opts.live || required === 'snapshot-or-live') {
    const { LiveClusterView } = await import('../../cluster/live.js');
    return LiveClusterView.connect({ kubeconfig: opts.kubeconfig, context: opts.context });
  }
  if (required === 'snapshot') {
    throw new InputError('--cluster', 'a cluster snapshot is required: save one with `kubectl get namespaces,nodes,pods,services,endpointslices,networkpolicies,replicasets,deployments,statefulsets,daemonsets,jobs,cronjobs -A -o yaml > cluster.yaml`');
  }
  return new SnapshotView([]);
}

export interface ScopeOptions {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
}

/** The pods a command is about: `-n NS` (default all namespaces offline), `-l SELECTOR`. */
export function podScope(opts: ScopeOptions): (pod: V1Pod) => boolean {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const selector = opts.selector ? parseSelector(opts.selector, '--selector') : undefined;
  const namespace = opts.allNamespaces ? undefined : opts.namespace;
  return (pod) =>
    (namespace === undefined || (pod.metadata?.namespace ?? 'default') === namespace) &&
    (selector === undefined || selectorMatches(selector, pod.metadata?.labels ?? {}));
}
