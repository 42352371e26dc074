// StagedNetworkPolicy's server-side applies (applyStaged, applyNodeEvidence: client-node's
// CustomObjectsApi) against a real API server: the custom resource reaches the cluster as given,
// ingress peers (`from`) included; a misspelt field is refused by the API server's strict field
// validation, naming the policy and the field, and nothing is written; a node's evidence goes to the
// status subresource under that node's own field manager.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyManifests, loadKustomization, packagedBaseDir } from '../../src/cluster/deploy.js';
import { rawRequest } from '../../src/cluster/live.js';
import { agentFieldManager, applyNodeEvidence, applyStaged, getStaged, listStaged, StagedRejectedError, stagedPath } from '../../src/cluster/staged/client.js';
import type { StagedNetworkPolicy } from '../../src/cluster/staged/types.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';

describe('staged policies: server-side apply through CustomObjectsApi', () => {
  let c: TestCluster;
  let ns: string;
  beforeAll(async () => {
    c = await ensureCluster();
    ns = await createNamespace(c, 'staged-apply');
    const crd = loadKustomization(packagedBaseDir()).filter((m) => m.metadata.name === 'stagednetworkpolicies.netpol.io');
    await applyManifests(c.kc, crd, () => undefined);
    for (let i = 0; ; i++) {
      if (await listStaged(c.kc, ns).then(() => true, () => false)) break;
      if (i === 100) throw new Error('the StagedNetworkPolicy CRD did not become established');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('stores the spec as given (ingress from, ports, ipBlock except) and a node entry in status under its manager', async () => {
    const spec = {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }, { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.7/32'] } }], ports: [{ protocol: 'TCP', port: 'http' }] }],
      egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ protocol: 'UDP', port: 53 }] }],
    };
    const applied = await applyStaged(c.kc, { metadata: { name: 'web', namespace: ns }, spec } as StagedNetworkPolicy);
    expect(applied.spec).toEqual(spec);
    // Read back as the API server stores it (plain JSON, no client model in between).
    const stored = (await rawRequest(c.kc, stagedPath(ns, 'web'))) as StagedNetworkPolicy;
    expect(stored.spec).toEqual(spec);

    const entry = { node: 'node-a', observedGeneration: 1, judgingSince: '2026-01-01T00:00:00Z', wouldDeny: 2, lastSeen: '2026-01-01T00:01:00Z' };
    const withStatus = await applyNodeEvidence(c.kc, { namespace: ns, name: 'web' }, entry, { wouldDeny: 2, lastSeen: entry.lastSeen });
    expect(withStatus.status?.nodes).toEqual([entry]);
    const read = (await rawRequest(c.kc, stagedPath(ns, 'web'))) as StagedNetworkPolicy & { metadata: { managedFields?: { manager: string; subresource?: string }[] } };
    expect(read.status?.wouldDeny).toBe(2);
    expect(read.metadata.managedFields?.find((f) => f.manager === agentFieldManager('node-a'))?.subresource).toBe('status');
    // A status apply leaves the spec alone.
    expect(read.spec).toEqual(spec);
  });

  it('refuses a misspelt field, naming the policy and the field, and writes nothing', async () => {
    const bad = { metadata: { name: 'typo', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ form: [{ podSelector: {} }] }] } } as unknown as StagedNetworkPolicy;
    const err = await applyStaged(c.kc, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StagedRejectedError);
    expect((err as Error).message).toMatch(new RegExp(`^the API server rejected StagedNetworkPolicy ${ns}/typo: .*\\.spec\\.ingress\\[0\\]\\.form`));
    expect(await getStaged(c.kc, ns, 'typo')).toBeUndefined();
  });
});
