/**
 * Which cluster, identity and default namespace a live command talks to: the kubeconfig rules
 * kubectl follows. `--kubeconfig` wins over $KUBECONFIG (a colon-separated list, merged) over
 * ~/.kube/config over the in-cluster service account; `--context` picks a context other than the
 * current one; the namespace is `-n`, else the context's namespace, else "default".
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.js';

export interface KubeconfigOptions {
  /** --kubeconfig: one file; overrides $KUBECONFIG. */
  kubeconfig?: string;
  /** --context: a context name present in the kubeconfig. */
  context?: string;
  /** -n/--namespace given on the command line; overrides the context's namespace. */
  namespace?: string;
}

export interface ResolvedKubeconfig {
  kc: KubeConfig;
  context: string;
  /** The namespace commands default to. */
  namespace: string;
  server: string;
  /** For messages: "context netpol-admin (https://127.0.0.1:6443)". */
  description: string;
}

export function loadKubeconfig(opts: KubeconfigOptions = {}): ResolvedKubeconfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) {
      if (!existsSync(opts.kubeconfig)) {
        throw new EnvironmentError(`kubeconfig ${opts.kubeconfig} does not exist`, 'pass an existing file to --kubeconfig');
      }
      kc.loadFromFile(opts.kubeconfig);
    } else {
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof EnvironmentError) throw err;
    throw new EnvironmentError(
      `cannot read the kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${(err as Error).message}`,
      'check --kubeconfig / $KUBECONFIG',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new EnvironmentError(
        `context "${opts.context}" is not in the kubeconfig`,
        known.length > 0 ? `known contexts: ${known.join(', ')}` : 'the kubeconfig has no contexts',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  // With nothing to load, client-node falls back to a made-up http://localhost:8080 context.
  if (!cluster || (context === 'loaded-context' && cluster.server === 'http://localhost:8080')) {
    throw new EnvironmentError(
      'no cluster to talk to: no kubeconfig found, or it has no current context with a cluster',
      'set a current context (kubectl config use-context NAME), or pass --context / --kubeconfig',
    );
  }
  const namespace = opts.namespace ?? kc.getContextObject(context)?.namespace ?? 'default';
  return { kc, context, namespace, server: cluster.server, description: `context ${context} (${cluster.server})` };
}
