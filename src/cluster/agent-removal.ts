/**
 * Whether the node agent's pod is going away for good — its DaemonSet deleted or being deleted
 * (`kubectl netpol undeploy` deletes it in the foreground: the DaemonSet carries a deletionTimestamp
 * until its pods are gone) — or only being replaced (a pod deleted or evicted, the node excluded by
 * a selector, a rollout): the agent keeps its pinned kernel state in the second case, so the next
 * agent on the node reads what was recorded meanwhile, and removes it in the first, so nothing of
 * netpol stays attached on the node.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError, rawRequest } from './live.js';

interface Meta {
  metadata: { deletionTimestamp?: string; ownerReferences?: { kind: string; name: string }[] };
}

export type Removal = { forGood: boolean; why: string };

/** Asks the API server; any doubt (unreachable, not a DaemonSet's pod) answers "not for good" with why. */
export async function agentRemoval(kc: KubeConfig, namespace: string, pod: string): Promise<Removal> {
  let owner: string | undefined;
  try {
    const p = (await rawRequest(kc, `/api/v1/namespaces/${namespace}/pods/${pod}`, { timeoutMs: 5000 })) as Meta;
    owner = p.metadata.ownerReferences?.find((o) => o.kind === 'DaemonSet')?.name;
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 404)) return { forGood: false, why: `cannot read pod ${namespace}/${pod}: ${(err as Error).message}` };
  }
  if (!owner) return { forGood: false, why: `pod ${namespace}/${pod} is not (or no longer) known as a DaemonSet's pod` };
  try {
    const ds = (await rawRequest(kc, `/apis/apps/v1/namespaces/${namespace}/daemonsets/${owner}`, { timeoutMs: 5000 })) as Meta;
    if (ds.metadata.deletionTimestamp) return { forGood: true, why: `DaemonSet ${namespace}/${owner} is being deleted` };
    return { forGood: false, why: `DaemonSet ${namespace}/${owner} stays (the pod is replaced)` };
  } catch (err) {
    if (err instanceof ApiStatusError && err.statusCode === 404) return { forGood: true, why: `DaemonSet ${namespace}/${owner} is deleted` };
    return { forGood: false, why: `cannot read DaemonSet ${namespace}/${owner}: ${(err as Error).message}` };
  }
}

/** The DaemonSet owning this pod, if it is one's (the agent pins its kernel state only then, by default). */
export async function daemonSetOf(kc: KubeConfig, namespace: string, pod: string): Promise<string | undefined> {
  const p = (await rawRequest(kc, `/api/v1/namespaces/${namespace}/pods/${pod}`, { timeoutMs: 10_000 })) as Meta;
  return p.metadata.ownerReferences?.find((o) => o.kind === 'DaemonSet')?.name;
}
