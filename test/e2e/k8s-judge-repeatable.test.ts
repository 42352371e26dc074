// When the live judge lets the node agent count an edge in the kernel (JudgeSink.repeatable, the
// kernel de-duplication of src/daemon/kernel-dedup.ts), against a real API server: never on a
// judgement made with an index older than the last change that can change a verdict (index() hands
// one out for up to 200 ms), never while the staged-policy watch is not running, and the agent's
// subscription to staged changes (onVerdictInputs) survives the watch's failed starts.
import { randomInt } from 'node:crypto';
import { KubeConfig, PatchStrategy, setHeaderOptions, type V1ClusterRole, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import { LiveClusterView } from '../../src/cluster/live.js';
import { applyStaged, deleteStaged } from '../../src/cluster/staged/client.js';
import type { StagedNetworkPolicy } from '../../src/cluster/staged/types.js';
import { JudgeSink } from '../../src/daemon/judge-sink.js';
import { until } from '../support/until.js';
import { createNamespace, createRunningPod, ensureCluster, type TestCluster } from './support/cluster.js';
import { installCrds, stagedRbacDocs } from './support/crds.js';

/** Sets the pod's label app=value (a merge patch, as kubectl label does). */
async function relabel(c: TestCluster, ns: string, name: string, value: string): Promise<void> {
  await c.core.patchNamespacedPod({ name, namespace: ns, body: { metadata: { labels: { app: value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

function connectOf(pod: V1Pod, dstIp: string, port: number): PodConnect {
  return {
    event: {} as PodConnect['event'],
    time: new Date(),
    node: 'n1',
    source: { pod, namespace: pod.metadata!.namespace!, name: pod.metadata!.name! },
    record: {
      v: 1,
      proto: 'TCP',
      node: 'n1',
      src: { ip: pod.status!.podIP!, port: 40000 + randomInt(20000), namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! },
      dst: { ip: dstIp, port },
      outcome: 'established',
    },
  };
}

describe('the judge offers an edge to the kernel only on a current judgement', () => {
  let c: TestCluster;
  const created: string[] = [];

  beforeAll(async () => {
    c = await ensureCluster();
    await installCrds(c, ['stagednetworkpolicies']);
  });
  afterAll(async () => {
    for (const name of created) {
      await c.rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
      await c.rbac.deleteClusterRole({ name }).catch(() => undefined);
    }
  });

  it('a relabelled source pod: no connect judged on the index from before the change is offered, and the new verdict is a finding', async () => {
    const ns = await createNamespace(c, 'jrep');
    const pod = await createRunningPod(c, ns, { name: 'client', labels: { app: 'old' }, nodeName: 'n1' }, { ips: [`10.247.${randomInt(1, 250)}.${randomInt(1, 250)}`] });
    // Staged: pods labelled app=new may not connect out at all.
    await applyStaged(c.kc, { metadata: { name: 'deny-new', namespace: ns }, spec: { podSelector: { matchLabels: { app: 'new' } }, policyTypes: ['Egress'] } } as StagedNetworkPolicy);
    const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
    // Every index() call in this test may serve the cached index (as it does within 200 ms).
    const staleness = LiveClusterView.maxStalenessMs;
    LiveClusterView.maxStalenessMs = 600_000;
    const sink = await JudgeSink.start({ node: 'n1', view }, { statusFlushMs: 600_000, eventFlushMs: 600_000 });
    let bumps = 0;
    const off = view.onVerdictChange(() => bumps++);
    try {
      await until('the judge knows the staged policy and the pod', () => {
        const cn = connectOf(pod, '198.51.100.9', 443);
        sink.accept(cn);
        return view.index().pod(ns, 'client') !== undefined && sink.status().staged !== 0;
      });
      await until('an allowed, offered connect', () => {
        const cn = connectOf(pod, '198.51.100.9', 443);
        sink.accept(cn);
        return sink.repeatable(cn);
      });
      const judged = view.index();
      const before = bumps;
      await relabel(c, ns, 'client', 'new');
      await until('the relabel seen by the view', () => bumps > before);
      // The cached index (from before the relabel) is what index() serves: the connect is judged
      // allowed on it, and must not be offered.
      expect(view.index()).toBe(judged);
      const stale = connectOf(pod, '198.51.100.9', 443);
      sink.accept(stale);
      expect(sink.status().wouldDeny).toBe(0);
      expect(sink.repeatable(stale)).toBe(false);
      expect(sink.repeatable(connectOf(pod, '198.51.100.9', 443))).toBe(false);
      // On the current index: a finding, never offered.
      view.freshIndex();
      const fresh = connectOf(pod, '198.51.100.9', 443);
      sink.accept(fresh);
      expect(sink.status().wouldDeny).toBe(1);
      expect(sink.repeatable(fresh)).toBe(false);
    } finally {
      off();
      LiveClusterView.maxStalenessMs = staleness;
      await sink.close(new Date(Date.now() + 1000));
      await view.close();
      await deleteStaged(c.kc, ns, 'deny-new');
    }
  });

  it('a pod status change that changes no verdict (conditions) is no verdict change; a label change is', async () => {
    const ns = await createNamespace(c, 'jrep');
    const pod = await createRunningPod(c, ns, { name: 'quiet', labels: { app: 'a' }, nodeName: 'n1' }, { ips: [`10.247.${randomInt(1, 250)}.${randomInt(1, 250)}`] });
    const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
    let changes = 0;
    let verdictChanges = 0;
    const offs = [view.onChange(() => changes++), view.onVerdictChange(() => verdictChanges++)];
    try {
      await until('the pod in the view', () => view.freshIndex().pod(ns, 'quiet') !== undefined);
      const index = view.freshIndex();
      const [c0, v0] = [changes, verdictChanges];
      const now = new Date();
      await c.core.replaceNamespacedPodStatus({
        name: 'quiet',
        namespace: ns,
        body: { ...pod, status: { ...pod.status, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now }] } },
      });
      await until('the status change seen', () => changes > c0);
      expect(verdictChanges).toBe(v0);
      // The index from before still holds every verdict-changing change.
      expect(view.isCurrent(index)).toBe(true);
      await relabel(c, ns, 'quiet', 'b');
      await until('the label change seen', () => verdictChanges > v0);
      expect(view.isCurrent(index)).toBe(false);
      expect(view.isCurrent(view.freshIndex())).toBe(true);
    } finally {
      for (const off of offs) off();
      await view.close();
    }
  });

  it('the staged watch failing at start: nothing offered until it runs, and the agent\'s subscription survives the restarts', async () => {
    const ns = await createNamespace(c, 'jrep');
    const pod = await createRunningPod(c, ns, { name: 'client', labels: { app: 'x' }, nodeName: 'n1' }, { ips: [`10.247.${randomInt(1, 250)}.${randomInt(1, 250)}`] });
    const binding = `netpol-rbac-staged-jrep-${process.pid}`;
    const agent = new KubeConfig();
    agent.loadFromFile(c.rbacKubeconfig);
    const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
    // The admin's cluster view; the agent's identity (without the staged role yet) for the staged watch.
    const asAgent = {
      kc: agent,
      objects: () => view.objects(),
      index: () => view.index(),
      isCurrent: (i: ReturnType<LiveClusterView['index']>) => view.isCurrent(i),
    } as unknown as LiveClusterView;
    const sink = await JudgeSink.start({ node: 'n1', view: asAgent });
    let told = 0;
    const off = sink.onVerdictInputs(() => told++);
    try {
      await until('the pod in the view', () => view.freshIndex().pod(ns, 'client') !== undefined);
      if (sink.readiness().ready) throw new Error('the agent identity can read staged policies already (another suite bound the role to it?)');
      // Enforced policies allow it, the staged ones are unknown: not offered.
      const blind = connectOf(pod, '198.51.100.9', 443);
      sink.accept(blind);
      expect(sink.repeatable(blind)).toBe(false);
      // A retry fails too (the judge retries every 5 s): then the role.
      await new Promise((r) => setTimeout(r, 5_500));
      // The shipped role's rules under a name of this test's own (k8s-staged creates and deletes the shipped one).
      const shipped = stagedRbacDocs.find((d) => d.kind === 'ClusterRole') as V1ClusterRole;
      await c.rbac.createClusterRole({ body: { ...shipped, metadata: { name: binding } } });
      created.push(binding);
      await c.rbac.createClusterRoleBinding({
        body: {
          metadata: { name: binding },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: binding },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'netpol-rbac' }],
        },
      });
      await until('the judge ready', () => sink.readiness().ready, 30_000);
      const seeing = connectOf(pod, '198.51.100.9', 443);
      sink.accept(seeing);
      expect(sink.repeatable(seeing)).toBe(true);
      // A staged policy applied now is told to the subscriber made before the watch ran.
      const before = told;
      await applyStaged(c.kc, { metadata: { name: 'later', namespace: ns }, spec: { podSelector: { matchLabels: { app: 'x' } }, policyTypes: ['Egress'] } } as StagedNetworkPolicy);
      await until('the subscriber told of the staged policy', () => told > before, 10_000);
      await until('a finding', () => {
        const cn = connectOf(pod, '198.51.100.9', 443);
        sink.accept(cn);
        return sink.status().wouldDeny !== 0;
      });
      await deleteStaged(c.kc, ns, 'later');
    } finally {
      off();
      await sink.close(new Date(Date.now() + 1000));
      await view.close();
    }
  }, 60_000);
});
