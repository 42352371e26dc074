// `netpol probe --via pods` against the real API server (no kubelet: a pod never starts here):
// without RBAC to create pods the error says which verbs probe pods need; a probe pod that does not
// start in time is an error naming it and its phase, and it is deleted all the same.
import { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '../../src/cluster/objects.js';
import { PROBE_POD_LABEL, probeFromProbePod } from '../../src/cluster/probe.js';
import { EnvironmentError } from '../../src/errors.js';
import { createNamespace, createRunningPod, ensureCluster, type TestCluster } from './support/cluster.js';

describe('probe pods against the API server', () => {
  let c: TestCluster;
  let ns: string;
  let source: V1Pod;
  const targets = [{ ip: '10.244.0.9', port: 80 }];

  beforeAll(async () => {
    c = await ensureCluster();
    ns = await createNamespace(c, 'probe-pods');
    source = await createRunningPod(c, ns, { name: 'web', labels: { app: 'web' }, nodeName: 'no-kubelet-here' }, { ips: ['10.244.0.8'] });
  });

  const probePods = async (): Promise<string[]> =>
    (await c.core.listNamespacedPod({ namespace: ns, labelSelector: PROBE_POD_LABEL })).items.map((p) => p.metadata?.name ?? '');

  it('without RBAC to create pods: an EnvironmentError naming the verbs probe pods need, and --via exec as the alternative', async () => {
    const asUser = new KubeConfig();
    asUser.loadFromFile(c.rbacKubeconfig);
    const err = await probeFromProbePod(asUser, source, targets, 1, { image: 'busybox', startTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toMatch(new RegExp(`cannot create pods in namespace ${ns}: .*forbidden`));
    expect((err as Error).message).toMatch(/hint: probe pods need create, get and delete on pods and get on pods\/log .*or use --via exec/);
    expect(await probePods()).toEqual([]);
  });

  it('a probe pod that does not start in time: an error naming it, its source and its phase; the pod is deleted', async () => {
    const t0 = Date.now();
    const err = await probeFromProbePod(c.kc, source, targets, 1, { image: 'busybox', startTimeoutMs: 1500, pollMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toMatch(new RegExp(`probe pod ${ns}/netpol-probe-web-\\S+ \\(for ${ns}/web, image busybox\\): not running after 2 s \\(phase Pending`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(await probePods()).toEqual([]);
  });

  it('the probe pod the API server accepted is the source\'s stand-in: same labels and node, controlled by the source', async () => {
    // Read it back while it exists: a long start timeout, and look from the side.
    const run = probeFromProbePod(c.kc, source, targets, 1, { image: 'busybox', startTimeoutMs: 3000, pollMs: 100 }).catch((e: unknown) => e);
    let seen: V1Pod | undefined;
    for (let i = 0; i < 40 && !seen; i++) {
      seen = (await c.core.listNamespacedPod({ namespace: ns, labelSelector: PROBE_POD_LABEL })).items[0];
      if (!seen) await new Promise((r) => setTimeout(r, 50));
    }
    await run;
    expect(seen?.metadata?.labels).toEqual({ app: 'web', [PROBE_POD_LABEL]: 'true' });
    expect(seen?.spec?.nodeName).toBe('no-kubelet-here');
    expect(seen?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Pod', name: 'web', uid: source.metadata?.uid, controller: true });
    expect(await probePods()).toEqual([]);
  });
});
