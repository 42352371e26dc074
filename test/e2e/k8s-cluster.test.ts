// The test cluster itself: a real kube-apiserver (built from the Go module proxy) answering with
// TLS on loopback, two identities, and an apiserver that can be stopped and started again.
import { describe, expect, it, beforeAll } from 'vitest';
import { ensureCluster, startApiserver, stopApiserver, type TestCluster } from './support/cluster.js';

describe('test cluster', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await ensureCluster();
  });

  it('is a real kube-apiserver v1.34 on loopback', async () => {
    expect(c.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const namespaces = await c.core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const kubernetes = await c.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    expect(kubernetes.spec?.clusterIP).toBe('10.96.0.1');
  });

  it('rejects what a real API server rejects (validation runs)', async () => {
    await expect(
      c.networking.createNamespacedNetworkPolicy({
        namespace: 'default',
        dryRun: 'All',
        body: { metadata: { name: 'Bad_Name' }, spec: { podSelector: {} } },
      }),
    ).rejects.toMatchObject({ code: 422 });
  });

  it('survives an apiserver restart (etcd keeps the data)', async () => {
    await c.core.createNamespace({ body: { metadata: { name: `restart-${Date.now()}` } } });
    const before = (await c.core.listNamespace()).items.length;
    await stopApiserver();
    await expect(c.core.listNamespace()).rejects.toThrow();
    await startApiserver();
    expect((await c.core.listNamespace()).items.length).toBe(before);
  });
});
