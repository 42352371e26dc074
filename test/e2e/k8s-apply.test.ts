// `learn --apply`'s server-side apply (applyPolicies) against a real API server: what reaches the
// cluster is the policy asked for, field by field — an ingress rule keeps its peers (`from`), and a
// field the API does not know is refused with the policy and field named, nothing written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import { rawRequest } from '../../src/cluster/live.js';
import { applyPolicies, PolicyRejectedError } from '../../src/policy/live-diff.js';
import { ensureCluster, type TestCluster } from './support/cluster.js';

const ns = `apply-${process.pid}`;

describe('applyPolicies (server-side apply)', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await ensureCluster();
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
  });
  afterAll(async () => {
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('applies every field of the policy: ingress peers (`from`), ports, ipBlock except, egress', async () => {
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web', namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'netpol' } },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { app: 'client' } } },
              { namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: {} },
              { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.7/32'] } },
            ],
            ports: [{ protocol: 'TCP', port: 'http' }, { protocol: 'TCP', port: 8000, endPort: 8080 }],
          },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ protocol: 'UDP', port: 53 }] }],
      },
    } as unknown as V1NetworkPolicy;
    const [created] = await applyPolicies(c.kc, [policy]);
    expect(created!.action).toBe('created');
    // Read back as the API server stores it (plain JSON, no client model in between).
    const stored = (await rawRequest(c.kc, `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/web`)) as { spec: unknown };
    expect(stored.spec).toEqual((policy as { spec: unknown }).spec);
    // The outcome's diff and change list speak of the peers too.
    expect(created!.diff).toContain('+  ingress:\n+    - from:\n+        - podSelector:\n+            matchLabels:\n+              app: client\n');
    expect(created!.changes).toContain(`ingress: + allows namespace ${ns} pods {app=client} on TCP/http`);
    expect((await applyPolicies(c.kc, [policy])).map((o) => o.action)).toEqual(['unchanged']);
  });

  it('refuses a field the API does not know, naming policy and field, and writes nothing', async () => {
    const good = { metadata: { name: 'good', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Egress'] } } as V1NetworkPolicy;
    const bad = {
      metadata: { name: 'typo', namespace: ns },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ form: [{ podSelector: {} }] }] },
    } as unknown as V1NetworkPolicy;
    const err = await applyPolicies(c.kc, [good, bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyRejectedError);
    expect((err as Error).message).toMatch(new RegExp(`^the API server rejected NetworkPolicy ${ns}/typo: .*\\.spec\\.ingress\\[0\\]\\.form: field not declared in schema`));
    await expect(c.networking.readNamespacedNetworkPolicy({ name: 'good', namespace: ns })).rejects.toMatchObject({ code: 404 });
    await expect(c.networking.readNamespacedNetworkPolicy({ name: 'typo', namespace: ns })).rejects.toMatchObject({ code: 404 });
  });
});
