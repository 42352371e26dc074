// The live ClusterView against the real API server: what it lists and watches, kubeconfig
// handling (--kubeconfig, --context, the context's namespace), and watches that survive the API
// server going away and coming back.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveClusterView } from '../../src/cluster/live.js';
import { loadKubeconfig } from '../../src/cluster/kubeconfig.js';
import { EnvironmentError } from '../../src/errors.js';
import {
  createNamespace,
  createNode,
  createRunningPod,
  ensureCluster,
  startApiserver,
  stopApiserver,
  writeEndpointSlice,
  type TestCluster,
} from './support/cluster.js';

describe('live cluster view', () => {
  let c: TestCluster;
  let view: LiveClusterView;
  let ns: string;

  beforeAll(async () => {
    c = await ensureCluster();
    ns = await createNamespace(c, 'live', { team: 'blue' });
    view = await LiveClusterView.connect({ kubeconfig: c.kubeconfig });
  });
  afterAll(async () => {
    await view?.close();
  });

  it('honours the kubeconfig: current context, its namespace, --context and -n', () => {
    expect(view.description).toBe(`context netpol-admin (${c.server})`);
    expect(view.namespace).toBe('default');
    const other = join(c.dir, 'other-ns.kubeconfig');
    writeFileSync(other, (readKubeconfig(c.kubeconfig)).replace(/namespace: default/g, `namespace: ${ns}`));
    expect(loadKubeconfig({ kubeconfig: other }).namespace).toBe(ns);
    expect(loadKubeconfig({ kubeconfig: other, namespace: 'x' }).namespace).toBe('x');
    expect(loadKubeconfig({ kubeconfig: c.kubeconfig, context: 'netpol-rbac' }).context).toBe('netpol-rbac');
    expect(() => loadKubeconfig({ kubeconfig: c.kubeconfig, context: 'nope' })).toThrow(/context "nope" is not in the kubeconfig[\s\S]*netpol-admin, netpol-rbac/);
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = `${join(c.dir, 'does-not-exist')}:${c.kubeconfig}`;
    try {
      expect(() => loadKubeconfig()).toThrow(EnvironmentError);
    } finally {
      process.env.KUBECONFIG = saved;
    }
    process.env.KUBECONFIG = c.adminKubeconfig;
    try {
      expect(loadKubeconfig().context).toBe('netpol-admin');
    } finally {
      process.env.KUBECONFIG = saved;
    }
  });

  it('lists and watches every kind into the same ClusterObjects a snapshot gives', async () => {
    const objects = view.objects();
    expect(objects.namespaces.map((n) => n.metadata?.name)).toContain(ns);
    expect(objects.namespaces.every((n) => n.kind === 'Namespace' && n.apiVersion === 'v1')).toBe(true);
    expect(objects.services.find((s) => s.metadata?.name === 'kubernetes')?.kind).toBe('Service');

    await createNode(c, `node-${ns}`.slice(0, 60), '198.51.100.77');
    const rs = await c.apps.createNamespacedReplicaSet({
      namespace: ns,
      body: {
        metadata: { name: 'web-6d4f', labels: { app: 'web', 'pod-template-hash': '6d4f' } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web', 'pod-template-hash': '6d4f' } },
          template: { metadata: { labels: { app: 'web', 'pod-template-hash': '6d4f' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
        },
      },
    });
    const pod = await createRunningPod(
      c,
      ns,
      {
        name: 'web-6d4f-abcde',
        labels: { app: 'web', 'pod-template-hash': '6d4f' },
        containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 8080 }] }],
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6d4f', uid: rs.metadata!.uid!, controller: true }],
      },
      { ips: ['10.244.1.5', 'fd00:10:244:1::5'], containerIds: { web: `containerd://${'e'.repeat(64)}` } },
    );
    const svc = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    });
    await writeEndpointSlice(c, svc, [pod], [{ name: 'http', port: 8080 }]);
    await c.networking.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } } });

    const index = await view.waitFor((i) => (i.networkPolicies(ns).length > 0 && i.objects.endpointSlices.some((s) => s.metadata?.namespace === ns) && i.nodeByIP('198.51.100.77') ? i : undefined), 10_000);
    expect(index).toBeDefined();
    const i = index!;
    expect(i.podByIP('10.244.1.5')?.metadata?.name).toBe('web-6d4f-abcde');
    expect(i.podByIP('fd00:10:244:1::5')?.metadata?.name).toBe('web-6d4f-abcde');
    expect(i.podByContainerId('e'.repeat(64))?.container).toBe('web');
    expect(i.serviceByIP(svc.spec!.clusterIP!)?.metadata?.name).toBe('web');
    const backends = i.serviceBackends(i.service(ns, 'web')!, i.service(ns, 'web')!.spec!.ports![0]!);
    expect(backends).toMatchObject([{ ip: '10.244.1.5', port: 8080 }]);
    expect(i.workloadOf(i.pod(ns, 'web-6d4f-abcde')!)).toMatchObject({ kind: 'ReplicaSet', name: 'web-6d4f' });
    expect(i.nodeByIP('198.51.100.77')?.metadata?.name).toBe(`node-${ns}`.slice(0, 60));
    expect(i.objects.owners.find((o) => o.metadata?.name === 'web-6d4f')?.kind).toBe('ReplicaSet');

    // Deletes are seen too.
    await c.networking.deleteNamespacedNetworkPolicy({ name: 'deny-all', namespace: ns });
    expect(await view.waitFor((x) => (x.networkPolicies(ns).length === 0 ? true : undefined), 10_000)).toBe(true);
  });

  it('caches objects without managedFields and the last-applied annotation (listed and watched alike)', async () => {
    const annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Pod"}', team: 'blue' };
    const listed = view.objects().namespaces.find((n) => n.metadata?.name === ns);
    // The API server keeps managedFields on every object it created; the view drops them.
    expect(listed).toBeDefined();
    expect(listed!.metadata!.managedFields).toBeUndefined();
    const watched = await c.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'slim', labels: { app: 'slim' }, annotations }, spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 80 }] }] } },
    });
    expect(watched.metadata!.managedFields!.length).toBeGreaterThan(0);
    const pod = await view.waitFor((i) => i.pod(ns, 'slim'), 10_000);
    expect(pod!.metadata!.managedFields).toBeUndefined();
    expect(pod!.metadata!.annotations).toEqual({ team: 'blue' });
    expect(pod!.spec!.containers[0]!.ports).toEqual([{ name: 'http', containerPort: 80, protocol: 'TCP' }]);
  });

  it('keeps watching across an API server restart', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'before' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } });
    expect(await view.waitFor((i) => i.pod(ns, 'before'), 10_000)).toBeDefined();
    await stopApiserver();
    await new Promise((r) => setTimeout(r, 1500));
    expect(view.health().connected).toBe(false);
    await startApiserver();
    await c.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'after' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } });
    expect(await view.waitFor((i) => i.pod(ns, 'after'), 20_000)).toBeDefined();
    expect(view.health()).toMatchObject({ connected: true });
    expect(view.health().restarts).toBeGreaterThan(0);
    // The view kept what it had: the objects from before the outage are still there.
    expect(view.index().pod(ns, 'before')).toBeDefined();
  });

  it('says what is wrong when the identity may not list what netpol reads', async () => {
    const err = await LiveClusterView.connect({ kubeconfig: c.rbacKubeconfig }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(String((err as Error).message)).toMatch(/forbidden \(see deploy\/rbac\.yaml/);
  });

  it('says so when nothing listens', async () => {
    const dead = join(c.dir, 'dead.kubeconfig');
    writeFileSync(dead, readKubeconfig(c.adminKubeconfig).replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1'));
    await expect(LiveClusterView.connect({ kubeconfig: dead, syncTimeoutMs: 5000 })).rejects.toThrow(/connection refused/);
  });
});

function readKubeconfig(path: string): string {
  return readFileSync(path, 'utf8');
}
