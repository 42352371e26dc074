/** The -n/-A/--podname/-l/-c/--node pod filters of the cluster-mode commands (trace and learn -l). */
import type { V1Pod } from '../../cluster/objects.js';
import { InputError } from '../../errors.js';
import { compileSelector, parseSelector } from '../../policy/selector.js';

/** Which pods a cluster-mode command is about. */
export interface PodFilterOptions {
  /** -n: this namespace (default: the kubeconfig context's). */
  namespace?: string;
  /** -A: every namespace. */
  allNamespaces?: boolean;
  /** --podname */
  podname?: string;
  /** -l/--selector: full label selector syntax (`a=b,c in (x,y),!d`). */
  selector?: string;
  /** -c/--containername: the container's name in the pod spec. */
  containername?: string;
  /** --node: only pods scheduled to this node. */
  node?: string;
}

/** Compiles the filters; `defaultNamespace` is the context's namespace (used unless -n or -A). */
export function podFilter(opts: PodFilterOptions, defaultNamespace: string): (pod: V1Pod, container: string | undefined) => boolean {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? defaultNamespace);
  const selector = opts.selector !== undefined ? compileSelector(parseSelector(opts.selector, '--selector')) : undefined;
  return (pod, container) =>
    (namespace === undefined || (pod.metadata?.namespace ?? 'default') === namespace) &&
    (opts.podname === undefined || pod.metadata?.name === opts.podname) &&
    (selector === undefined || selector(pod.metadata?.labels ?? {})) &&
    (opts.containername === undefined || container === opts.containername) &&
    (opts.node === undefined || pod.spec?.nodeName === opts.node);
}
