import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { emptyClusterObjects, type ClusterObjects } from '../../src/cluster/objects.js';
import { resolveWorkload } from '../../src/cluster/workload.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function pod(name: string, labels: Record<string, string>, owner?: { kind: string; name: string }): Any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 's', labels, ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}) },
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: '10.0.0.1' },
  };
}

function index(pods: Any[], owners: Any[] = []) {
  const c = emptyClusterObjects() as Any;
  c.pods = pods;
  c.owners = owners;
  return buildIndex(c as ClusterObjects);
}

const rsPod = (name: string, hash: string, extra: Record<string, string>) =>
  pod(`web-${hash}-${name}`, { app: 'web', 'pod-template-hash': hash, ...extra }, { kind: 'ReplicaSet', name: `web-${hash}` });

describe('selector from pod labels (owner objects missing) is the same for every pod of the workload', () => {
  const cases: [string, Any[], Record<string, string>][] = [
    ['differing template label (version)', [rsPod('1', 'aaa', { version: 'v1' }), rsPod('2', 'bbb', { version: 'v2' })], { app: 'web' }],
    [
      'Helm churn labels dropped even on one pod',
      [rsPod('1', 'aaa', { 'app.kubernetes.io/version': '1.2.0', 'helm.sh/chart': 'web-0.1.0', tier: 'fe' })],
      { app: 'web', tier: 'fe' },
    ],
    [
      'labels all pods share are kept, churn labels are not',
      [rsPod('1', 'aaa', { tier: 'fe', 'helm.sh/chart': 'web-1' }), rsPod('2', 'bbb', { tier: 'fe', 'helm.sh/chart': 'web-2' })],
      { app: 'web', tier: 'fe' },
    ],
  ];
  it.each(cases)('%s', (_name, pods, want) => {
    for (const order of [pods, [...pods].reverse()]) {
      const idx = index(order);
      for (const p of order) {
        const w = idx.workloadOf(p);
        expect(`${w.kind}/${w.name}`).toBe('Deployment/web');
        expect(w.selector).toEqual({ matchLabels: want });
      }
      // Every pod of the workload is selected by its selector.
      expect(idx.podsOfWorkload(idx.workloadOf(order[0])).length).toBe(pods.length);
    }
  });

  it('order does not matter even when one pod is asked first', () => {
    const a = rsPod('1', 'aaa', { version: 'v1' });
    const b = rsPod('2', 'bbb', { version: 'v2' });
    expect(index([a, b]).workloadOf(b).selector).toEqual(index([b, a]).workloadOf(a).selector);
    expect(index([a, b]).workloadOf(b).selector).toEqual({ matchLabels: { app: 'web' } });
  });
});

describe('unknown top owners and missing Jobs', () => {
  const rolloutPod = pod('web-abc-x1', { app: 'web', 'pod-template-hash': 'abc' }, { kind: 'ReplicaSet', name: 'web-abc' });
  const rsOfRollout: Any = {
    kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 's', ownerReferences: [{ kind: 'Rollout', name: 'web', controller: true }] },
    spec: { selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } } },
  };
  const plainRs: Any = {
    kind: 'ReplicaSet',
    metadata: { name: 'cache', namespace: 's', ownerReferences: [{ kind: 'Thing', name: 'cache-owner', controller: true }] },
    spec: { selector: { matchLabels: { app: 'cache' } } },
  };
  const cachePod = pod('cache-x1', { app: 'cache', extra: 'x' }, { kind: 'ReplicaSet', name: 'cache' });
  const jobPod = pod('backup-28910000-abcd', { app: 'backup', 'job-name': 'backup-28910000', 'controller-uid': 'u' }, { kind: 'Job', name: 'backup-28910000' });
  const byName = (objs: Any[]) => (ns: string, kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === ns);

  it.each([
    ['Pod → RS (hash) → Rollout (unknown, missing): named after the Rollout, RS selector', rolloutPod, [rsOfRollout], { kind: 'Rollout', name: 'web', selector: { matchLabels: { app: 'web' } } }],
    ['Pod → RS (no hash) → unknown missing owner: the RS', cachePod, [plainRs], { kind: 'ReplicaSet', name: 'cache', selector: { matchLabels: { app: 'cache' } } }],
    ['Pod → Job (missing) named <cronjob>-<digits>: the CronJob', jobPod, [], { kind: 'CronJob', name: 'backup', selector: { matchLabels: { app: 'backup' } } }],
  ])('%s', (_name, p, owners, want) => {
    expect(resolveWorkload(p, byName(owners))).toEqual({ namespace: 's', ...want });
    expect(index([p], owners).workloadOf(p)).toEqual({ namespace: 's', ...want });
  });
});
