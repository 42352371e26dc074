// The real-node suites' choice of the node's agent pod (test/e2e/support/agent-pods.ts): a
// replacement the kubelet refused at admission (phase Failed, reason NodeAffinity, never started)
// is not the agent; node-durability window (d) once waited 120 s on such a pod's empty log.
import { describe, expect, it } from 'vitest';
import { currentAgentPod, endedAgentPods, type AgentPodItem } from '../e2e/support/agent-pods.js';

const pod = (name: string, created: string, extra: Partial<AgentPodItem> = {}): AgentPodItem => ({
  metadata: { name, uid: `uid-${name}`, creationTimestamp: created, ...(extra.metadata ?? {}) },
  ...(extra.status ? { status: extra.status } : {}),
});

// What the API server lists when the kubelet's node cache had not seen the label that let the pod in
// (kubernetes/kubernetes#133997): the refused pod, not yet deleted, and the DaemonSet's next pod.
const refused = pod('netpol-agent-aaaaa', '2026-12-06T20:30:00Z', {
  status: { phase: 'Failed', reason: 'NodeAffinity', message: "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" },
});
const replacement = pod('netpol-agent-bbbbb', '2026-12-06T20:30:02Z', { status: { phase: 'Pending' } });

describe('the agent pod a real-node suite waits on', () => {
  it('is not a pod the kubelet refused at admission, whichever order the API lists them in', () => {
    expect(currentAgentPod([refused, replacement])?.metadata.name).toBe('netpol-agent-bbbbb');
    expect(currentAgentPod([replacement, refused])?.metadata.name).toBe('netpol-agent-bbbbb');
  });

  it('is none while the only pod is a refused one (wait for the next, do not follow it)', () => {
    expect(currentAgentPod([refused])).toBeUndefined();
  });

  it('names the refused pod and why it ended', () => {
    expect(endedAgentPods([refused, replacement])).toEqual([
      "netpol-agent-aaaaa: Failed NodeAffinity: Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
    ]);
  });

  it('is not a pod being deleted, and the newest of those that run', () => {
    const stopping = pod('netpol-agent-old', '2026-12-06T20:00:00Z', { metadata: { name: 'netpol-agent-old', uid: 'u', deletionTimestamp: '2026-12-06T20:31:00Z' }, status: { phase: 'Running' } });
    const older = pod('netpol-agent-ccccc', '2026-12-06T20:10:00Z', { status: { phase: 'Running' } });
    const newer = pod('netpol-agent-ddddd', '2026-12-06T20:20:00Z', { status: { phase: 'Running' } });
    expect(currentAgentPod([stopping])).toBeUndefined();
    expect(currentAgentPod([older, stopping, newer])?.metadata.name).toBe('netpol-agent-ddddd');
  });
});
