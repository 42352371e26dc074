// `netpol deploy`'s server-side apply (applyManifests, through client-node's KubernetesObjectApi)
// against a real API server: the packaged base's objects reach the cluster as written — a CRD's
// schema keeps the fields client-node's model names otherwise (`enum`, `x-kubernetes-*`) — every
// kind passes the API server's strict field validation, and a misspelt field is refused, naming
// the object and the field. Namespaced objects go to this suite's own namespace and the cluster-wide
// ones are applied as a server dry run, so the suites sharing this API server see no agent deployed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyManifests, loadKustomization, packagedBaseDir, type Manifest } from '../../src/cluster/deploy.js';
import { rawRequest } from '../../src/cluster/live.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';

const base = loadKustomization(packagedBaseDir());
const crds = base.filter((m) => m.kind === 'CustomResourceDefinition');
/** The base with every namespaced object in namespace `ns`, and no Namespace object. */
const movedTo = (ns: string): Manifest[] =>
  base.filter((m) => m.kind !== 'Namespace').map((m) => (m.metadata.namespace ? { ...m, metadata: { ...m.metadata, namespace: ns } } : m));

describe('applyManifests (server-side apply of the deploy base)', () => {
  let c: TestCluster;
  let ns: string;
  beforeAll(async () => {
    c = await ensureCluster();
    ns = await createNamespace(c, 'deploy-apply');
  });
  afterAll(async () => {
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("stores netpol's CRDs as written, every field of their schemas included", async () => {
    expect(crds.length).toBeGreaterThanOrEqual(2);
    const lines: string[] = [];
    await applyManifests(c.kc, crds, (l) => lines.push(l));
    expect(lines).toEqual(crds.map((m) => `customresourcedefinition.apiextensions.k8s.io/${m.metadata.name} serverside-applied`));
    for (const m of crds) {
      // Read back as the API server stores it (plain JSON, no client model in between).
      const stored = (await rawRequest(c.kc, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${m.metadata.name}`)) as Manifest;
      // The server adds defaults (conversion, status); everything the file says must be there as said.
      expect(stored.spec).toMatchObject(m.spec as object);
      expect(JSON.stringify(stored.spec)).toContain('"x-kubernetes-list-type":"atomic"');
    }
  });

  it('passes every object of the base through strict validation (server dry run)', async () => {
    const lines: string[] = [];
    const moved = movedTo(ns);
    await applyManifests(c.kc, moved, (l) => lines.push(l), { dryRun: true });
    expect(lines).toHaveLength(moved.length);
    expect(lines).toContain(`daemonset.apps/netpol-agent -n ${ns} serverside-applied (server dry run)`);
    // A dry run writes nothing.
    await expect(c.apps.readNamespacedDaemonSet({ name: 'netpol-agent', namespace: ns })).rejects.toMatchObject({ code: 404 });
  });

  it('refuses a misspelt field, naming the object and the field, and writes nothing', async () => {
    const typo: Manifest = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'typo', namespace: ns },
      automountServiceAcountToken: false,
    };
    const err = await applyManifests(c.kc, [typo], () => undefined).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`^applying serviceaccount/typo -n ${ns}: HTTP \\d+: .*\\.automountServiceAcountToken: field not declared in schema`));
    await expect(c.core.readNamespacedServiceAccount({ name: 'typo', namespace: ns })).rejects.toMatchObject({ code: 404 });
  });
});
