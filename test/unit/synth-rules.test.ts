import { describe, expect, it } from 'vitest';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import { compilePolicies, judge } from '../../src/policy/evaluate.js';
import { renderPolicies } from '../../src/policy/render.js';
import { synthesize, type GeneratedPolicy, type SynthesisResult } from '../../src/policy/synthesize/index.js';
import * as f from './support/synth-factory.js';

type Rule = { to?: Record<string, unknown>[]; from?: Record<string, unknown>[]; ports?: { protocol: string; port: number; endPort?: number }[] };

function policyOf(result: SynthesisResult, path: string): V1NetworkPolicy {
  const g = result.policies.find((p) => p.path === path);
  if (!g) throw new Error(`no policy ${path}; have ${result.policies.map((p) => p.path).join(', ')}`);
  return g.policy;
}

function egress(p: V1NetworkPolicy): Rule[] {
  return (p.spec?.egress ?? []) as Rule[];
}

function ingress(p: V1NetworkPolicy): Rule[] {
  return (p.spec?.ingress ?? []) as Rule[];
}

const DNS_PEER = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
};
const DNS_PORTS = [
  { protocol: 'TCP', port: 53 },
  { protocol: 'UDP', port: 53 },
];

/** Egress rules other than the default DNS one. */
function observedEgress(p: V1NetworkPolicy): Rule[] {
  return egress(p).filter((r) => JSON.stringify(r.to) !== JSON.stringify([DNS_PEER]));
}

describe('seed scenario: a bare pod connecting out', () => {
  const index = f.cluster({ pods: [f.pod('mypod', { labels: { run: 'mypod' }, ip: '10.0.1.1' })] });
  const result = synthesize(
    f.edges(index, [f.flow('default/mypod', '1.1.1.1', 80), f.flow('default/mypod', '1.1.1.1', 443)]),
    index,
    {},
  );

  it('makes one policy named after the pod, selecting it by its labels', () => {
    expect(result.policies.map((p) => p.path)).toEqual(['default/mypod.yaml']);
    const p = policyOf(result, 'default/mypod.yaml');
    expect(p.apiVersion).toBe('networking.k8s.io/v1');
    expect(p.kind).toBe('NetworkPolicy');
    expect(p.metadata).toEqual({
      name: 'mypod',
      namespace: 'default',
      labels: { 'app.kubernetes.io/managed-by': 'netpol' },
      annotations: { 'netpol.io/workload': 'Pod/mypod' },
    });
    expect(p.spec?.podSelector).toEqual({ matchLabels: { run: 'mypod' } });
  });

  it('allows 1.1.1.1/32 on exactly the observed ports, plus DNS, and isolates egress only', () => {
    const p = policyOf(result, 'default/mypod.yaml');
    expect(p.spec?.policyTypes).toEqual(['Egress']);
    expect(p.spec?.ingress).toBeUndefined();
    expect(egress(p)).toEqual([
      { to: [DNS_PEER], ports: DNS_PORTS },
      { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 443 }] },
    ]);
    expect(result.warnings).toEqual([]);
    expect(result.widened).toEqual([]);
  });

  it('renders without timestamps or status', () => {
    const yaml = renderPolicies(result.policies.map((p) => p.policy));
    expect(yaml).not.toMatch(/creationTimestamp|status:|resourceVersion|uid:/);
  });
});

describe('workload grouping and selectors', () => {
  it('selects a Deployment by its selector, never by pod-template-hash, one policy for all replicas', () => {
    const web = f.deployment('web', { labels: { app: 'web', tier: 'front' }, pods: [{ ip: '10.0.1.1' }, { ip: '10.0.1.2' }] });
    const index = f.cluster(web);
    const [a, b] = web.pods.map((p) => `default/${p.metadata!.name}`);
    const result = synthesize(f.edges(index, [f.flow(a!, '192.0.2.1', 443), f.flow(b!, '192.0.2.2', 443)]), index, {});
    expect(result.policies).toHaveLength(1);
    const p = policyOf(result, 'default/web.yaml');
    expect(p.spec?.podSelector).toEqual({ matchLabels: { app: 'web', tier: 'front' } });
    expect(JSON.stringify(p)).not.toContain('pod-template-hash');
    expect(p.metadata?.annotations).toEqual({ 'netpol.io/workload': 'Deployment/web' });
    expect(observedEgress(p)).toEqual([
      { to: [{ ipBlock: { cidr: '192.0.2.1/32' } }, { ipBlock: { cidr: '192.0.2.2/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('infers the Deployment from the ReplicaSet name when the snapshot has no owner objects', () => {
    const web = f.deployment('web', { labels: { app: 'web' }, hash: '7c9d', pods: [{ ip: '10.0.1.1' }] });
    const index = f.cluster({ pods: web.pods });
    const result = synthesize(f.edges(index, [f.flow(`default/${web.pods[0]!.metadata!.name}`, '192.0.2.1', 443)]), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['default/web.yaml']);
    expect(result.policies[0]!.policy.spec?.podSelector).toEqual({ matchLabels: { app: 'web' } });
  });

  it('groups StatefulSet, DaemonSet and CronJob pods under their top owner with its stable selector', () => {
    const db = f.statefulSet('db', { namespace: 'data', labels: { app: 'db' }, ips: ['10.0.2.1', '10.0.2.2'] });
    const agent = f.daemonSet('agent', { namespace: 'ops', labels: { app: 'agent' }, ips: ['10.0.3.1', '10.0.3.2'] });
    const backup = f.cronJob('backup', { namespace: 'data', labels: { app: 'backup' }, job: 'backup-28911', ips: ['10.0.4.1', '10.0.4.2'] });
    const index = f.cluster(db, agent, backup);
    const flows = [
      ...db.pods.map((p) => f.flow(`data/${p.metadata!.name}`, '192.0.2.10', 5432)),
      ...agent.pods.map((p) => f.flow(`ops/${p.metadata!.name}`, '192.0.2.11', 9000)),
      ...backup.pods.map((p) => f.flow(`data/${p.metadata!.name}`, '192.0.2.12', 443)),
    ];
    const result = synthesize(f.edges(index, flows), index, {});
    expect(result.policies.map((p) => [p.path, p.workload.kind, p.policy.spec?.podSelector])).toEqual([
      ['data/backup.yaml', 'CronJob', { matchLabels: { app: 'backup' } }],
      ['data/db.yaml', 'StatefulSet', { matchLabels: { app: 'db' } }],
      ['ops/agent.yaml', 'DaemonSet', { matchLabels: { app: 'agent' } }],
    ]);
    const text = JSON.stringify(result.policies.map((p) => p.policy));
    for (const perRevision of ['controller-revision-hash', 'pod-template-generation', 'statefulset.kubernetes.io/pod-name', 'controller-uid', 'job-name', 'pod-index']) {
      expect(text).not.toContain(perRevision);
    }
  });

  it('groups the pods of a Job without a CronJob under the Job, by its template labels', () => {
    const uid = 'uid-migrate';
    const index = f.cluster({
      owners: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'migrate', namespace: 'default' },
          spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } }, template: { metadata: { labels: { app: 'migrate', 'batch.kubernetes.io/controller-uid': uid, 'job-name': 'migrate' } }, spec: { containers: [] } } },
        } as never,
      ],
      pods: [f.pod('migrate-x1', { ip: '10.0.1.3', labels: { app: 'migrate', 'batch.kubernetes.io/controller-uid': uid, 'job-name': 'migrate' }, owner: { kind: 'Job', name: 'migrate' } })],
    });
    const result = synthesize(f.edges(index, [f.flow('default/migrate-x1', '192.0.2.5', 5432)]), index, {});
    expect(result.policies.map((p) => [p.path, p.workload.kind, p.policy.spec?.podSelector])).toEqual([
      ['default/migrate.yaml', 'Job', { matchLabels: { app: 'migrate' } }],
    ]);
  });

  it('gives workloads of different kinds sharing a name distinct policy names', () => {
    const dep = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
    const sts = f.statefulSet('web', { labels: { app: 'web-db' }, ips: ['10.0.1.9'] });
    const index = f.cluster(dep, sts);
    const flows = [f.flow(`default/${dep.pods[0]!.metadata!.name}`, '192.0.2.1', 80), f.flow('default/web-0', '192.0.2.2', 80)];
    const result = synthesize(f.edges(index, flows), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['default/web-deployment.yaml', 'default/web-statefulset.yaml']);
  });

  it('refuses to select a workload whose stable selector would be empty, naming it', () => {
    const index = f.cluster({
      pods: [f.pod('naked', { ip: '10.0.1.5', labels: { 'pod-template-hash': 'x' } }), f.pod('client', { labels: { app: 'client' }, ip: '10.0.1.6' })],
    });
    const result = synthesize(f.edges(index, [f.flow('default/naked', '192.0.2.1', 80), f.flow('default/client', '10.0.1.5', 8080)]), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['default/client.yaml']);
    for (const p of result.policies) expect(p.policy.spec?.podSelector).not.toEqual({});
    expect(result.warnings.join('\n')).toContain('no policy for Pod default/naked');
    // As a peer it is named by its address instead of a podSelector {} that would match every pod.
    expect(observedEgress(policyOf(result, 'default/client.yaml'))).toEqual([
      { to: [{ ipBlock: { cidr: '10.0.1.5/32' } }], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
    expect(result.warnings.join('\n')).toContain('Pod default/naked has no stable labels');
    const set = compilePolicies(result.policies.map((g) => g.policy));
    expect(judge(set, f.edges(index, [f.flow('default/client', '10.0.1.5', 8080)])[0]!).verdict).toBe('allowed');
    expect(judge(set, f.edges(index, [f.flow('default/client', '10.0.1.5', 8081)])[0]!).verdict).toBe('denied');
  });

  it('generates no policy for a host-network workload and names it by address as a peer', () => {
    const index = f.cluster({
      pods: [
        f.pod('node-exporter', { namespace: 'ops', labels: { app: 'ne' }, ip: '192.168.0.10', hostNetwork: true }),
        f.pod('prom', { namespace: 'ops', labels: { app: 'prom' }, ip: '10.0.9.1' }),
      ],
    });
    const result = synthesize(
      f.edges(index, [f.flow('ops/node-exporter', '10.0.9.1', 9090), f.flow('ops/prom', '192.168.0.10', 9100)]),
      index,
      {},
    );
    expect(result.policies.map((p) => p.path)).toEqual(['ops/prom.yaml']);
    const p = policyOf(result, 'ops/prom.yaml');
    expect(ingress(p)).toEqual([{ from: [{ ipBlock: { cidr: '192.168.0.10/32' } }], ports: [{ protocol: 'TCP', port: 9090 }] }]);
    expect(result.warnings.join('\n')).toContain('host network');
    // The evaluator agrees: the observed flows pass, the host-network pod is no pod to the policy.
    const set = compilePolicies(result.policies.map((g) => g.policy));
    for (const e of f.edges(index, [f.flow('ops/node-exporter', '10.0.9.1', 9090), f.flow('ops/prom', '192.168.0.10', 9100)])) {
      expect(judge(set, e).verdict).toBe('allowed');
    }
    expect(judge(set, f.edges(index, [f.flow('ops/node-exporter', '10.0.9.1', 9091)])[0]!).verdict).toBe('denied');
  });
});

describe('egress peers', () => {
  const client = f.deployment('client', { namespace: 'front', labels: { app: 'client' }, pods: [{ ip: '10.0.1.1' }] });
  const local = f.deployment('cache', { namespace: 'front', labels: { app: 'cache' }, pods: [{ ip: '10.0.1.7' }] });
  const server = f.deployment('server', {
    namespace: 'back',
    labels: { app: 'server' },
    pods: [{ ip: '10.0.2.1', ports: [{ name: 'http', containerPort: 8080 }] }, { ip: '10.0.2.2', ports: [{ name: 'http', containerPort: 8080 }] }],
  });
  const numeric = f.service('server', { namespace: 'back', selector: { app: 'server' }, clusterIP: '10.96.0.20', ports: [{ port: 80, targetPort: 8080 }] });
  const slice = f.endpointSlice('server', {
    namespace: 'back',
    addresses: server.pods.map((p) => ({ ip: p.status!.podIP!, pod: p.metadata!.name! })),
    ports: [{ port: 8080 }],
  });
  const named = f.service('server-named', { namespace: 'back', selector: { app: 'server' }, clusterIP: '10.96.0.21', ports: [{ name: 'web', port: 443, targetPort: 'http' }] });
  const api = f.apiServer(['192.168.0.2', '192.168.0.3']);
  const index = f.cluster(client, local, server, { services: [numeric, named], endpointSlices: [slice] }, api);
  const src = `front/${client.pods[0]!.metadata!.name}`;

  it('allows a same-namespace pod peer by podSelector alone', () => {
    const result = synthesize(f.edges(index, [f.flow(src, '10.0.1.7', 6379)]), index, {});
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([
      { to: [{ podSelector: { matchLabels: { app: 'cache' } } }], ports: [{ protocol: 'TCP', port: 6379 }] },
    ]);
  });

  it('adds a namespaceSelector on kubernetes.io/metadata.name for a peer in another namespace', () => {
    const result = synthesize(f.edges(index, [f.flow(src, '10.0.2.1', 8080)]), index, {});
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'back' } }, podSelector: { matchLabels: { app: 'server' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ]);
  });

  it('allows a Service as its backing pods on the targetPort, never the ClusterIP', () => {
    const result = synthesize(f.edges(index, [f.flow(src, '10.96.0.20', 80)]), index, {});
    const p = policyOf(result, 'front/client.yaml');
    expect(observedEgress(p)).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'back' } }, podSelector: { matchLabels: { app: 'server' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ]);
    const yaml = renderPolicies(result.policies.map((g) => g.policy));
    expect(yaml).not.toContain('10.96.0.20');
    expect(yaml).not.toMatch(/port: 80\n/);
  });

  it('resolves a named targetPort on the backend pods', () => {
    const result = synthesize(f.edges(index, [f.flow(src, '10.96.0.21', 443)]), index, {});
    expect(observedEgress(policyOf(result, 'front/client.yaml'))[0]!.ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    expect(JSON.stringify(result.policies)).not.toContain('10.96.0.21');
  });

  it('allows the API server Service as ipBlocks of its endpoints on the endpoint port', () => {
    const result = synthesize(f.edges(index, [f.flow(src, '10.96.0.1', 443)]), index, {});
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([
      { to: [{ ipBlock: { cidr: '192.168.0.2/32' } }, { ipBlock: { cidr: '192.168.0.3/32' } }], ports: [{ protocol: 'TCP', port: 6443 }] },
    ]);
    expect(JSON.stringify(result.policies)).not.toContain('10.96.0.1/');
  });

  it('allows outside addresses as /32 and /128 ipBlocks in canonical spelling', () => {
    const result = synthesize(
      f.edges(index, [f.flow(src, '192.0.2.44', 443), f.flow(src, '2001:DB8:0:0::1', 443), f.flow(src, '::ffff:198.51.100.7', 443)]),
      index,
      {},
    );
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([
      {
        to: [{ ipBlock: { cidr: '192.0.2.44/32' } }, { ipBlock: { cidr: '198.51.100.7/32' } }, { ipBlock: { cidr: '2001:db8::1/128' } }],
        ports: [{ protocol: 'TCP', port: 443 }],
      },
    ]);
  });

  it('keeps the observed protocols (TCP, UDP, SCTP) and groups peers per port set', () => {
    const result = synthesize(
      f.edges(index, [
        f.flow(src, '192.0.2.1', 514, 'UDP'),
        f.flow(src, '192.0.2.1', 3868, 'SCTP'),
        f.flow(src, '192.0.2.2', 443),
        f.flow(src, '192.0.2.3', 443),
      ]),
      index,
      {},
    );
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([
      { to: [{ ipBlock: { cidr: '192.0.2.1/32' } }], ports: [{ protocol: 'UDP', port: 514 }, { protocol: 'SCTP', port: 3868 }] },
      { to: [{ ipBlock: { cidr: '192.0.2.2/32' } }, { ipBlock: { cidr: '192.0.2.3/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('warns about a Service without backends instead of dropping the flows silently', () => {
    const lonely = f.service('lonely', { namespace: 'back', selector: { app: 'nobody' }, clusterIP: '10.96.0.30', ports: [{ port: 80, targetPort: 8080 }] });
    const idx = f.cluster(client, { services: [lonely] });
    const e = f.edges(idx, [f.flow(src, '10.96.0.30', 80)]).map((x) => ({ ...x, count: 7 }));
    const result = synthesize(e, idx, {});
    expect(result.warnings).toEqual(['skipped: service back/lonely port 80 has no backends (7 flows)']);
    expect(observedEgress(policyOf(result, 'front/client.yaml'))).toEqual([]);
  });

  it('warns about flows with no pod on either side', () => {
    const result = synthesize(f.edges(index, [f.flow('192.0.2.1', '198.51.100.1', 80)]), index, {});
    expect(result.policies).toEqual([]);
    expect(result.warnings).toEqual(['skipped: flows with no pod on either side (nothing a NetworkPolicy selects) (1 flow)']);
  });
});

describe('ingress', () => {
  const web = f.deployment('web', { namespace: 'shop', labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
  const api = f.deployment('api', { namespace: 'shop', labels: { app: 'api' }, pods: [{ ip: '10.0.1.2', ports: [{ name: 'http', containerPort: 8080 }] }] });
  const mon = f.deployment('prom', { namespace: 'monitoring', labels: { app: 'prom' }, pods: [{ ip: '10.0.9.1' }] });
  const svc = f.service('api', { namespace: 'shop', selector: { app: 'api' }, clusterIP: '10.96.1.1', ports: [{ port: 80, targetPort: 'http' }] });
  const index = f.cluster(web, api, mon, { services: [svc] });
  const webPod = `shop/${web.pods[0]!.metadata!.name}`;
  const promPod = `monitoring/${mon.pods[0]!.metadata!.name}`;
  const flows = [f.flow(webPod, '10.96.1.1', 80), f.flow(promPod, '10.0.1.2', 9102), f.flow('203.0.113.5', '10.0.1.1', 8443)];

  it('observed (default): inbound sources on the target port, Ingress only where inbound was seen', () => {
    const result = synthesize(f.edges(index, flows), index, {});
    const apiPolicy = policyOf(result, 'shop/api.yaml');
    expect(apiPolicy.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(ingress(apiPolicy)).toEqual([
      { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { app: 'prom' } } }],
        ports: [{ protocol: 'TCP', port: 9102 }],
      },
    ]);
    expect(ingress(policyOf(result, 'shop/web.yaml'))).toEqual([
      { from: [{ ipBlock: { cidr: '203.0.113.5/32' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
    ]);
    // Nobody was seen connecting to prom: it is not ingress-isolated, so it is not cut off.
    const prom = policyOf(result, 'monitoring/prom.yaml');
    expect(prom.spec?.policyTypes).toEqual(['Egress']);
    expect(prom.spec?.ingress).toBeUndefined();
  });

  it('strict: every learned workload is ingress-isolated, deny all inbound when none was seen', () => {
    const result = synthesize(f.edges(index, flows), index, { ingress: 'strict' });
    const prom = policyOf(result, 'monitoring/prom.yaml');
    expect(prom.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(prom.spec?.ingress).toBeUndefined();
    expect(ingress(policyOf(result, 'shop/api.yaml'))).toHaveLength(2);
  });

  it('none: egress policies only', () => {
    const result = synthesize(f.edges(index, flows), index, { ingress: 'none' });
    for (const g of result.policies) {
      expect(g.policy.spec?.policyTypes).toEqual(['Egress']);
      expect(g.policy.spec?.ingress).toBeUndefined();
    }
    // web only received traffic; its egress is still learned (nothing but DNS).
    expect(egress(policyOf(result, 'shop/web.yaml'))).toEqual([
      { to: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
      { to: [DNS_PEER], ports: DNS_PORTS },
    ]);
  });

  it('rejects an unknown mode', () => {
    expect(() => synthesize([], index, { ingress: 'sometimes' as never })).toThrow(/--ingress must be one of observed, strict, none/);
  });
});

describe('DNS', () => {
  const app = f.deployment('app', { labels: { app: 'app' }, pods: [{ ip: '10.0.1.1' }] });
  const flows = (index: ReturnType<typeof f.cluster>) => f.edges(index, [f.flow(`default/${app.pods[0]!.metadata!.name}`, '192.0.2.1', 443)]);

  it('allows UDP and TCP 53 to k8s-app=kube-dns in kube-system by default', () => {
    const index = f.cluster(app);
    const p = policyOf(synthesize(flows(index), index, {}), 'default/app.yaml');
    expect(egress(p)).toContainEqual({ to: [DNS_PEER], ports: DNS_PORTS });
  });

  it('is absent with dns: false', () => {
    const index = f.cluster(app);
    const p = policyOf(synthesize(flows(index), index, { dns: false }), 'default/app.yaml');
    expect(JSON.stringify(p)).not.toContain('53');
    expect(egress(p)).toEqual([{ to: [{ ipBlock: { cidr: '192.0.2.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] }]);
  });

  it('takes the namespace and selector from the options', () => {
    const index = f.cluster(app);
    const p = policyOf(
      synthesize(flows(index), index, { dnsNamespace: 'dns', dnsSelector: { matchLabels: { app: 'unbound' } } }),
      'default/app.yaml',
    );
    expect(egress(p)).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } }, podSelector: { matchLabels: { app: 'unbound' } } }],
      ports: DNS_PORTS,
    });
  });

  it('prefers the selector of the DNS workload the cluster view has (CoreDNS labelled differently)', () => {
    const coredns = f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'coredns' }, pods: [{ ip: '10.0.0.10' }] });
    const kubeDns = f.service('kube-dns', { namespace: 'kube-system', selector: { 'k8s-app': 'coredns' }, clusterIP: '10.96.0.10', ports: [{ port: 53, protocol: 'UDP' }] });
    const index = f.cluster(app, coredns, { services: [kubeDns] });
    const p = policyOf(synthesize(flows(index), index, {}), 'default/app.yaml');
    expect(egress(p)).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'coredns' } } }],
      ports: DNS_PORTS,
    });
  });

  it('merges observed DNS over TCP with the default rule instead of repeating it', () => {
    const coredns = f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, pods: [{ ip: '10.0.0.10' }] });
    const kubeDns = f.service('kube-dns', {
      namespace: 'kube-system',
      selector: { 'k8s-app': 'kube-dns' },
      clusterIP: '10.96.0.10',
      ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }],
    });
    const index = f.cluster(app, coredns, { services: [kubeDns] });
    const p = policyOf(
      synthesize(f.edges(index, [f.flow(`default/${app.pods[0]!.metadata!.name}`, '10.96.0.10', 53)]), index, {}),
      'default/app.yaml',
    );
    expect(egress(p)).toEqual([{ to: [DNS_PEER], ports: DNS_PORTS }]);
  });

  it('learns no policy for the DNS workload by default, and says why', () => {
    const coredns = f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, pods: [{ ip: '10.0.0.10' }] });
    const index = f.cluster(app, coredns);
    const result = synthesize(f.edges(index, [f.flow(`default/${app.pods[0]!.metadata!.name}`, '10.0.0.10', 53)]), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['default/app.yaml']);
    expect(result.warnings).toEqual([
      'no policy for Deployment kube-system/coredns: it is the cluster DNS, whose clients (mostly UDP) connect tracing does not see; a learned policy would cut them off. --learn-dns-workload learns it anyway',
    ]);
  });

  it('with learnDnsWorkload, lets an ingress-isolated DNS workload accept the DNS egress it implies for every learned workload', () => {
    const coredns = f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, pods: [{ ip: '10.0.0.10' }] });
    const other = f.deployment('other', { namespace: 'team', labels: { app: 'other' }, pods: [{ ip: '10.0.5.1' }] });
    const index = f.cluster(app, other, coredns);
    const result = synthesize(
      f.edges(index, [f.flow(`default/${app.pods[0]!.metadata!.name}`, '10.0.0.10', 53), f.flow(`team/${other.pods[0]!.metadata!.name}`, '192.0.2.9', 443)]),
      index,
      { learnDnsWorkload: true },
    );
    const dns = policyOf(result, 'kube-system/coredns.yaml');
    expect(dns.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    const peersOn53 = ingress(dns).filter((r) => r.ports?.some((p) => p.port === 53 && p.protocol === 'UDP')).flatMap((r) => r.from);
    expect(peersOn53).toEqual([
      { podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } }, podSelector: { matchLabels: { app: 'app' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team' } }, podSelector: { matchLabels: { app: 'other' } } },
    ]);
  });
});

describe('scope', () => {
  const a = f.deployment('a', { namespace: 'one', labels: { app: 'a' }, pods: [{ ip: '10.0.1.1' }] });
  const b = f.deployment('b', { namespace: 'two', labels: { app: 'b' }, pods: [{ ip: '10.0.2.1' }] });
  const index = f.cluster(a, b);
  const flows = [f.flow(`one/${a.pods[0]!.metadata!.name}`, '10.0.2.1', 80)];

  it('learns every pod workload seen by default', () => {
    expect(synthesize(f.edges(index, flows), index, {}).policies.map((p) => p.path)).toEqual(['one/a.yaml', 'two/b.yaml']);
  });

  it('learns only in-scope workloads, still naming out-of-scope peers', () => {
    const result = synthesize(f.edges(index, flows), index, { scope: (pod) => pod.metadata?.namespace === 'one' });
    expect(result.policies.map((p) => p.path)).toEqual(['one/a.yaml']);
    expect(observedEgress(policyOf(result, 'one/a.yaml'))[0]!.to).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'two' } }, podSelector: { matchLabels: { app: 'b' } } },
    ]);
  });

  it('passes the workload to the scope predicate', () => {
    const seen: string[] = [];
    synthesize(f.edges(index, flows), index, { scope: (_pod, w) => (seen.push(`${w.kind}/${w.name}`), w.name === 'b') });
    expect([...new Set(seen)].sort()).toEqual(['Deployment/a', 'Deployment/b']);
  });
});

describe('determinism', () => {
  const web = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }, { ip: '10.0.1.2' }] });
  const db = f.statefulSet('db', { namespace: 'data', labels: { app: 'db' }, ips: ['10.0.2.1'] });
  const index = f.cluster(web, db, f.apiServer(['192.168.0.2']));
  const [w1, w2] = web.pods.map((p) => `default/${p.metadata!.name}`);
  const flows = [
    f.flow(w1!, '10.0.2.1', 5432),
    f.flow(w2!, '10.0.2.1', 5432),
    f.flow(w1!, '192.0.2.9', 443),
    f.flow(w2!, '198.51.100.3', 443),
    f.flow(w1!, '2001:db8::5', 80),
    f.flow(w1!, '10.96.0.1', 443),
    f.flow(w2!, '192.0.2.9', 80, 'UDP'),
    f.flow('203.0.113.1', '10.0.1.2', 8080),
    f.flow('data/db-0', '192.0.2.200', 443),
  ];

  function render(result: SynthesisResult): string {
    return renderPolicies(result.policies.map((p: GeneratedPolicy) => p.policy));
  }

  it('renders byte-identical YAML for the same edges in any order', () => {
    const edges = f.edges(index, flows);
    const expected = render(synthesize(edges, index, {}));
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20; i++) {
      const shuffled = [...edges].sort(() => rand() - 0.5);
      const doubled = [...shuffled, ...shuffled.slice(0, 3)];
      expect(render(synthesize(doubled, index, {}))).toBe(expected);
    }
  });

  it('sorts policies by path', () => {
    const result = synthesize(f.edges(index, flows), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['data/db.yaml', 'default/web.yaml']);
  });
});

describe('warnings and the API-server self-check', () => {
  it('says when a learned selector also matches another workload’s pods', () => {
    const web = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
    const canary = f.deployment('web-canary', { labels: { app: 'web', track: 'canary' }, pods: [{ ip: '10.0.1.2' }] });
    const index = f.cluster(web, canary);
    const result = synthesize(f.edges(index, [f.flow(`default/${web.pods[0]!.metadata!.name}`, '192.0.2.1', 443)]), index, {});
    expect(result.warnings).toEqual([
      'the selector of Deployment default/web also matches pods of Deployment default/web-canary: its policy applies to them too (each such pod gets the union of the policies selecting it)',
    ]);
  });

  it('every generated policy passes validateNetworkPolicy', async () => {
    const { validateNetworkPolicy } = await import('../../src/policy/validate.js');
    const web = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
    const db = f.statefulSet('db', { namespace: 'data', labels: { app: 'db' }, ips: ['10.0.2.1'] });
    const index = f.cluster(web, db, f.apiServer(['192.168.0.2']));
    const src = `default/${web.pods[0]!.metadata!.name}`;
    const flows = [f.flow(src, '10.0.2.1', 5432), f.flow(src, '10.96.0.1', 443), f.flow(src, '2001:db8::1', 443), f.flow('203.0.113.1', '10.0.1.1', 80)];
    for (const opts of [{}, { ingress: 'strict' as const }, { aggregateCidr: { floorV4: 16 }, portRanges: { gap: 5 } }]) {
      for (const g of synthesize(f.edges(index, flows), index, opts).policies) {
        expect(() => validateNetworkPolicy(g.policy, { file: g.path })).not.toThrow();
      }
    }
  });

  it('fails with the workload named when a snapshot label would make the policy invalid', () => {
    const index = f.cluster({ pods: [f.pod('odd', { labels: { app: 'not valid!' }, ip: '10.0.1.1' })] });
    expect(() => synthesize(f.edges(index, [f.flow('default/odd', '192.0.2.1', 80)]), index, {})).toThrow(
      /the policy learned for Pod default\/odd would be rejected by the API server: spec\.podSelector\.matchLabels/,
    );
  });
});
