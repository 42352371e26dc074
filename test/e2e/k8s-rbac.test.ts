// deploy/rbac.yaml against the real API server: an identity bound to netpol-reader can run the live
// view (every kind it watches), one also bound to netpol-applier can apply policies, and neither can
// do anything else (least privilege), checked with SelfSubjectAccessReviews as that identity.
import { readFileSync } from 'node:fs';
import { AuthorizationV1Api, KubeConfig, type V1ClusterRole } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { LiveClusterView, WATCHED_KINDS } from '../../src/cluster/live.js';
import { applyPolicies } from '../../src/policy/live-diff.js';
import { EnvironmentError } from '../../src/errors.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';

const roles = parseAllDocuments(readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as V1ClusterRole);
const USER = 'netpol-rbac';
const bindings = ['netpol-rbac-reader', 'netpol-rbac-applier'];

describe('deploy/rbac.yaml', () => {
  let c: TestCluster;
  let asUser: KubeConfig;
  let ns: string;

  async function can(verb: string, resource: string, group = '', namespace?: string, subresource?: string): Promise<boolean> {
    const review = await asUser.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb, resource, group, namespace, subresource } } },
    });
    return review.status?.allowed === true;
  }

  async function bind(name: string, role: string): Promise<void> {
    await c.rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }],
      },
    });
  }

  async function eventually(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 50 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
  }

  beforeAll(async () => {
    c = await ensureCluster();
    ns = await createNamespace(c, 'rbac');
    asUser = new KubeConfig();
    asUser.loadFromFile(c.rbacKubeconfig);
    for (const role of roles) {
      await c.rbac.deleteClusterRole({ name: role.metadata!.name! }).catch(() => undefined);
      await c.rbac.createClusterRole({ body: role });
    }
  });

  afterAll(async () => {
    // Other suites expect the second identity to have no rights.
    for (const name of bindings) await c?.rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
  });

  it('ships two ClusterRoles: read-only, and write only networkpolicies', () => {
    expect(roles.map((r) => r.metadata?.name)).toEqual(['netpol-reader', 'netpol-applier']);
    const [reader, applier] = roles;
    for (const rule of reader!.rules ?? []) expect(rule.verbs.sort()).toEqual(['get', 'list', 'watch']);
    expect(applier!.rules).toEqual([{ apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'patch'] }]);
  });

  it('netpol-reader is enough for the live view, and nothing more', async () => {
    await bind(bindings[0]!, 'netpol-reader');
    await eventually(() => can('watch', 'pods'));
    for (const kind of WATCHED_KINDS) {
      const [resource, ...group] = kind.resource.split('.');
      expect({ kind: kind.kind, list: await can('list', resource!, group.join('.')), watch: await can('watch', resource!, group.join('.')) }).toEqual({
        kind: kind.kind,
        list: true,
        watch: true,
      });
    }
    const view = await LiveClusterView.connect({ kubeconfig: c.rbacKubeconfig });
    try {
      expect(view.objects().namespaces.length).toBeGreaterThan(0);
    } finally {
      await view.close();
    }
    const denied: Array<[string, string, string?, string?]> = [
      ['create', 'pods'],
      ['delete', 'pods'],
      ['create', 'pods', '', 'exec'],
      ['get', 'secrets'],
      ['list', 'configmaps'],
      ['create', 'networkpolicies', 'networking.k8s.io'],
      ['patch', 'networkpolicies', 'networking.k8s.io'],
      ['delete', 'networkpolicies', 'networking.k8s.io'],
      ['update', 'deployments', 'apps'],
      ['create', 'clusterrolebindings', 'rbac.authorization.k8s.io'],
    ];
    for (const [verb, resource, group, sub] of denied) {
      expect({ verb, resource, sub, allowed: await can(verb, resource, group ?? '', ns, sub) }).toEqual({ verb, resource, sub, allowed: false });
    }
    // Without the applier role, --apply fails with a message that says which role is missing.
    const asUserKc = new KubeConfig();
    asUserKc.loadFromFile(c.rbacKubeconfig);
    const err = await applyPolicies(asUserKc, [{ metadata: { name: 'x', namespace: ns }, spec: { podSelector: {} } }], { dryRun: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toMatch(/netpol-applier ClusterRole \(deploy\/rbac\.yaml\)/);
  });

  it('netpol-applier adds exactly what --apply needs: create and patch networkpolicies', async () => {
    await bind(bindings[1]!, 'netpol-applier');
    await eventually(() => can('patch', 'networkpolicies', 'networking.k8s.io', ns));
    const policy = { metadata: { name: 'allow-dns', namespace: ns }, spec: { podSelector: { matchLabels: { run: 'mypod' } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }] }] } };
    const dry = await applyPolicies(asUser, [policy], { dryRun: true });
    expect(dry.map((o) => o.action)).toEqual(['created']);
    await expect(c.networking.readNamespacedNetworkPolicy({ name: 'allow-dns', namespace: ns })).rejects.toMatchObject({ code: 404 });
    expect((await applyPolicies(asUser, [policy])).map((o) => o.action)).toEqual(['created']);
    expect((await applyPolicies(asUser, [policy])).map((o) => o.action)).toEqual(['unchanged']);
    const changed = { ...policy, spec: { ...policy.spec, egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] } };
    const [outcome] = await applyPolicies(asUser, [changed]);
    expect(outcome).toMatchObject({ action: 'configured', changes: ['egress: + allows any peer on TCP/53'] });
    expect(outcome!.diff).toMatch(/\+\s+- port: 53\n\+\s+protocol: TCP/);
    for (const [verb, resource, group] of [
      ['delete', 'networkpolicies', 'networking.k8s.io'],
      ['update', 'networkpolicies', 'networking.k8s.io'],
      ['create', 'pods', ''],
      ['patch', 'services', ''],
    ] as const) {
      expect({ verb, resource, allowed: await can(verb, resource, group, ns) }).toEqual({ verb, resource, allowed: false });
    }
  });
});
