// Cluster-mode trace output (the seed's K8S layouts, byte for byte) and pod filters, without a
// kernel or an API server: rows are built from enriched connects as trace-k8s.ts builds them.
import { describe, expect, it } from 'vitest';
import { K8S_TCPCONNECT_COLUMNS, k8sLayout } from '../../src/cli/output/trace-columns.js';
import { compileJson } from '../../src/cli/output/columns/json.js';
import { TableFormatter } from '../../src/cli/output/columns/table.js';
import { wantsClusterMode } from '../../src/cli/commands/trace/cluster.js';
import { k8sRow } from '../../src/cli/output/k8s-trace.js';
import { podFilter } from '../../src/cli/shared/pod-filter.js';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import type { V1NetworkPolicy, V1Pod } from '../../src/cluster/objects.js';
import { normalizePolicy } from '../../src/policy/semantic-diff.js';
import { podConnect } from '../support/pod-connect.js';

const SEED = [
  'K8S.NODE                 K8S.NAMESPACE            K8S.POD                  K8S.CONTAINER            PID        COMM          IP SRC                     DST',
  'minikube-docker          default                  mypod                    mypod                    2011630    wget          4  p/default/mypod:46779   r/1.1.1.1:80',
  'minikube-docker          default                  mypod                    mypod                    2011630    wget          4  p/default/mypod:21731   r/1.1.1.1:443',
];
const SEED_LATENCY = [
  'K8S.NODE              K8S.NAMESPACE  K8S.POD            K8S.CONTAINER      PID        COMM            IP SRC                         DST                               LATENCY',
  'minikube-docker       default        myclientpod        myclientpod        2054329    curl            4  p/default/myclientpod:50306 s/default/nginx:80               47.069µs',
  'minikube-docker       default        myclientpod        myclientpod        2056697    curl            4  p/default/myclientpod:32415 s/default/nginx:80             7.820966ms',
];

const mypod: V1Pod = { metadata: { name: 'mypod', namespace: 'default', labels: { run: 'mypod', tier: 'demo' } }, spec: { nodeName: 'minikube-docker', containers: [{ name: 'mypod' }] } };

function connect(over: { pod: V1Pod; comm: string; pid: number; sport: number; daddr: string; dport: number; latencyNs?: number; dst?: Partial<PodConnect['record']['dst']> }): PodConnect {
  return podConnect({
    ...over,
    node: 'minikube-docker',
    container: over.pod.metadata!.name!,
    time: new Date(0),
    tsNs: 0n,
    cgroupId: 7n,
    latencyNs: over.latencyNs ?? 0,
    outcome: 'established',
  });
}

describe('cluster-mode trace table', () => {
  it('prints the seed lines byte for byte', () => {
    const table = new TableFormatter(k8sLayout(false), K8S_TCPCONNECT_COLUMNS);
    const rows = [46779, 21731].map((sport, i) => table.row(k8sRow(connect({ pod: mypod, comm: 'wget', pid: 2011630, sport, daddr: '1.1.1.1', dport: [80, 443][i]! }))));
    expect([table.header(), ...rows]).toEqual(SEED);
  });

  it('prints the seed --latency lines byte for byte, Services as s/ns/svc:port', () => {
    const client: V1Pod = { ...mypod, metadata: { name: 'myclientpod', namespace: 'default' } };
    const table = new TableFormatter(k8sLayout(true), K8S_TCPCONNECT_COLUMNS);
    const rows = [
      [2054329, 50306, 47069],
      [2056697, 32415, 7820966],
    ].map(([pid, sport, latencyNs]) =>
      table.row(k8sRow(connect({ pod: client, comm: 'curl', pid: pid!, sport: sport!, daddr: '10.96.0.20', dport: 80, latencyNs, dst: { namespace: 'default', service: 'nginx' } }))),
    );
    expect([table.header(), ...rows]).toEqual(SEED_LATENCY);
  });

  it('has a JSON view with the k8s fields and both notations', () => {
    const row = k8sRow(connect({ pod: mypod, comm: 'wget', pid: 1, sport: 2, daddr: '10.244.1.9', dport: 8080, dst: { namespace: 'web', pod: 'nginx-1' } }));
    expect(compileJson(K8S_TCPCONNECT_COLUMNS)(row)).toMatchObject({
      k8s: { node: 'minikube-docker', namespace: 'default', podName: 'mypod', containerName: 'mypod' },
      src: { addr: '10.244.0.5', port: 2, endpoint: 'p/default/mypod:2' },
      dst: { addr: '10.244.1.9', port: 8080, endpoint: 'p/web/nginx-1:8080', kind: 'pod', namespace: 'web', name: 'nginx-1' },
    });
  });
});

describe('podFilter', () => {
  const other: V1Pod = { metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web', tier: 'front' } }, spec: { nodeName: 'n2', containers: [{ name: 'web' }] } };
  it('defaults to the context namespace; -A and -n override it', () => {
    expect(podFilter({}, 'default')(mypod, 'mypod')).toBe(true);
    expect(podFilter({}, 'default')(other, 'web')).toBe(false);
    expect(podFilter({ allNamespaces: true }, 'default')(other, 'web')).toBe(true);
    expect(podFilter({ namespace: 'shop' }, 'default')(other, 'web')).toBe(true);
    expect(() => podFilter({ namespace: 'shop', allNamespaces: true }, 'default')).toThrow(/either --namespace or --all-namespaces/);
  });
  it('takes the full selector syntax, --podname, -c and --node', () => {
    const all = (o: Parameters<typeof podFilter>[0]) => [mypod, other].filter((p) => podFilter({ allNamespaces: true, ...o }, 'default')(p, p.spec!.containers[0]!.name));
    expect(all({ selector: 'app in (web,api),tier!=back' }).map((p) => p.metadata!.name)).toEqual(['web-1']);
    expect(all({ selector: '!app' }).map((p) => p.metadata!.name)).toEqual(['mypod']);
    expect(all({ selector: 'run' }).map((p) => p.metadata!.name)).toEqual(['mypod']);
    expect(all({ podname: 'web-1' }).map((p) => p.metadata!.name)).toEqual(['web-1']);
    expect(all({ containername: 'mypod' }).map((p) => p.metadata!.name)).toEqual(['mypod']);
    expect(all({ node: 'n2' }).map((p) => p.metadata!.name)).toEqual(['web-1']);
    expect(() => podFilter({ selector: 'app in (' }, 'default')).toThrow();
  });
  it('knows when trace flags mean cluster mode', () => {
    expect(wantsClusterMode({})).toBe(false);
    expect(wantsClusterMode({ podname: 'mypod' })).toBe(true);
    expect(wantsClusterMode({ allNamespaces: true })).toBe(true);
  });
});

describe('semantic equivalence of namespace peers', () => {
  it('treats namespaceSelector kubernetes.io/metadata.name=X as naming namespace X', () => {
    const np = (peer: object): V1NetworkPolicy => ({ metadata: { name: 'p', namespace: 'default' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [peer] }] } });
    const byLabel = normalizePolicy(np({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } }, podSelector: { matchLabels: { app: 'x' } } }));
    const implicit = normalizePolicy(np({ podSelector: { matchLabels: { app: 'x' } } }));
    expect(byLabel.allows).toEqual(implicit.allows);
  });
});
