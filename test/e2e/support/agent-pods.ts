/**
 * Which of the netpol-agent DaemonSet's pods on a node is its agent, for real-node suites that
 * replace the agent pod and wait for the next one.
 *
 * A replacement pod is not always the pod that runs: the kubelet can refuse it at admission. When
 * a node is labelled so that a DaemonSet's nodeSelector matches it again, the DaemonSet controller
 * and the scheduler see the new label at once, but the kubelet checks the pod against its own cached
 * copy of the node; when that copy has not seen the label yet the pod ends in phase Failed, reason
 * NodeAffinity, without a container ever starting (kubernetes/kubernetes#133997, fixed in 1.35 by
 * kubernetes/kubernetes#134445: the kubelet fetches the node again before refusing). The DaemonSet
 * controller then deletes the failed pod and makes another. A suite that keeps waiting on the first
 * pod's log waits on a pod that never runs and is soon deleted: its log reads empty.
 *
 * The kubelet's copy of the node is most likely stale just after an API server restart (window (b)
 * of node-durability, which window (d) follows): every client reconnects its watches with client-go's
 * backoff, 0.8 s doubling to 30 s and jittered up to twice that, each watch on its own schedule. On
 * this machine a DaemonSet pod created 20 s after a restarted API server answered waited 35 s to be
 * scheduled (the scheduler's watch); a kubelet whose pod watch is back before its node watch refuses.
 */

export interface AgentPodItem {
  metadata: { name: string; uid: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; reason?: string; message?: string; podIP?: string };
}

/** A pod that has ended (Failed: refused at admission or evicted; Succeeded): it never runs again. */
export function ended(p: AgentPodItem): boolean {
  return p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';
}

/**
 * The pod that is, or is to become, the agent: not being deleted, not ended; the newest when there
 * are several (a rollout's new pod next to the old one).
 */
export function currentAgentPod(items: readonly AgentPodItem[]): AgentPodItem | undefined {
  return items
    .filter((p) => !p.metadata.deletionTimestamp && !ended(p))
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0];
}

/** One line per ended pod: its name and why it ended, e.g. `netpol-agent-x: Failed NodeAffinity: …`. */
export function endedAgentPods(items: readonly AgentPodItem[]): string[] {
  return items.filter(ended).map((p) => `${p.metadata.name}: ${p.status?.phase}${p.status?.reason ? ` ${p.status.reason}` : ''}${p.status?.message ? `: ${p.status.message}` : ''}`);
}
