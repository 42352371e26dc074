/**
 * A small cluster, recording and policy set for the screens' tests (graph, explain, learn view):
 * the seed pod, a Deployment calling a Service with a named targetPort, a cross-namespace
 * StatefulSet, and outside addresses. Built in code; `writeScreensFixture(dir)` writes the files
 * the CLI and the browser/terminal tests read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildIndex, type ClusterIndex } from '../../../src/cluster/lookup.js';
import type { V1NetworkPolicy } from '../../../src/cluster/objects.js';
import { collectObjects } from '../../../src/cluster/snapshot.js';
import { parseKubeYaml } from '../../../src/cluster/yaml-documents.js';
import type { FlowEdge } from '../../../src/flows/edges.js';
import { EdgeAggregator } from '../../../src/flows/edges.js';
import type { FlowRecord, LocatedFlow } from '../../../src/flows/record.js';

export const CLUSTER_YAML = `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: default, labels: {kubernetes.io/metadata.name: default}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {kubernetes.io/metadata.name: shop}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: payments, labels: {kubernetes.io/metadata.name: payments}}}
- apiVersion: v1
  kind: Pod
  metadata: {name: mypod, namespace: default, labels: {run: mypod}}
  spec: {containers: [{name: mypod, image: busybox}]}
  status: {phase: Running, podIP: 10.244.0.12, podIPs: [{ip: 10.244.0.12}]}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
  spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: web-7c9d8f6b5
    namespace: shop
    labels: {app: web, pod-template-hash: 7c9d8f6b5}
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]
  spec: {selector: {matchLabels: {app: web, pod-template-hash: 7c9d8f6b5}}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-7c9d8f6b5-abcde
    namespace: shop
    labels: {app: web, pod-template-hash: 7c9d8f6b5}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7c9d8f6b5, uid: u2, controller: true}]
  spec: {containers: [{name: web, image: nginx}]}
  status: {phase: Running, podIP: 10.244.1.10}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-7c9d8f6b5-fghij
    namespace: shop
    labels: {app: web, pod-template-hash: 7c9d8f6b5}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7c9d8f6b5, uid: u2, controller: true}]
  spec: {containers: [{name: web, image: nginx}]}
  status: {phase: Running, podIP: 10.244.2.11}
- apiVersion: v1
  kind: Pod
  metadata: {name: api-0, namespace: shop, labels: {app: api}}
  spec: {containers: [{name: api, image: api, ports: [{name: http, containerPort: 8080}]}]}
  status: {phase: Running, podIP: 10.244.1.20}
- apiVersion: v1
  kind: Service
  metadata: {name: api, namespace: shop}
  spec: {selector: {app: api}, clusterIP: 10.96.12.34, ports: [{port: 80, targetPort: http, protocol: TCP}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: ledger-0, namespace: payments, labels: {app: ledger}}
  spec: {containers: [{name: ledger, image: pg, ports: [{containerPort: 15432}]}]}
  status: {phase: Running, podIP: 10.244.3.30}
- apiVersion: v1
  kind: Service
  metadata: {name: ledger, namespace: payments}
  spec: {selector: {app: ledger}, clusterIP: 10.96.40.5, ports: [{port: 5432, targetPort: 15432, protocol: TCP}]}
`;

/** The seed's flows plus the shop's; `seed-3` (mypod → 1.0.0.1:80) is what the policies deny. */
export const FLOWS: FlowRecord[] = [
  { v: 1, id: 'seed-1', ts: '2026-11-24T10:00:00.123Z', proto: 'TCP', src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod', port: 46779 }, dst: { ip: '1.1.1.1', port: 80 } },
  { v: 1, id: 'seed-2', ts: '2026-11-24T10:00:00.201Z', proto: 'TCP', src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod', port: 21731 }, dst: { ip: '1.1.1.1', port: 443 } },
  { v: 1, id: 'seed-3', ts: '2026-11-24T10:00:05.000Z', proto: 'TCP', src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod', port: 40000 }, dst: { ip: '1.0.0.1', port: 80 } },
  { v: 1, id: 'web-1', ts: '2026-11-24T10:01:00.000Z', proto: 'TCP', src: { ip: '10.244.1.10', namespace: 'shop', pod: 'web-7c9d8f6b5-abcde', port: 50001 }, dst: { ip: '10.96.12.34', port: 80, namespace: 'shop', service: 'api' } },
  { v: 1, id: 'web-2', ts: '2026-11-24T10:01:00.500Z', proto: 'TCP', src: { ip: '10.244.2.11', namespace: 'shop', pod: 'web-7c9d8f6b5-fghij', port: 50002 }, dst: { ip: '10.96.12.34', port: 80, namespace: 'shop', service: 'api' } },
  { v: 1, id: 'web-3', ts: '2026-11-24T10:01:01.000Z', proto: 'TCP', src: { ip: '10.244.1.10', namespace: 'shop', pod: 'web-7c9d8f6b5-abcde', port: 50003 }, dst: { ip: '10.96.12.34', port: 80, namespace: 'shop', service: 'api' } },
  { v: 1, id: 'api-1', ts: '2026-11-24T10:01:02.000Z', proto: 'TCP', src: { ip: '10.244.1.20', namespace: 'shop', pod: 'api-0', port: 50010 }, dst: { ip: '10.96.40.5', port: 5432, namespace: 'payments', service: 'ledger' } },
  { v: 1, id: 'api-2', ts: '2026-11-24T10:01:03.000Z', proto: 'TCP', src: { ip: '10.244.1.20', namespace: 'shop', pod: 'api-0', port: 50011 }, dst: { ip: '203.0.113.10', port: 443 } },
];

/**
 * default/mypod may reach 1.1.1.1 on 80 and 443 (so seed-3 is denied); shop/api takes ingress from
 * web on `http`; payments/ledger takes ingress only from its own namespace (so api-1 is denied).
 */
export const POLICIES_YAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: mypod, namespace: default}
spec:
  podSelector: {matchLabels: {run: mypod}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 1.1.1.1/32}}]
    ports: [{port: 80, protocol: TCP}, {port: 443, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ledger, namespace: payments}
spec:
  podSelector: {matchLabels: {app: ledger}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
`;

export function screensIndex(): ClusterIndex {
  return buildIndex(collectObjects(parseKubeYaml(CLUSTER_YAML, 'cluster.yaml')));
}

export function screensPolicies(): V1NetworkPolicy[] {
  return POLICIES_YAML.split(/^---$/m).map((doc) => parse(doc) as V1NetworkPolicy);
}

export function locatedFlows(file = 'flows.jsonl', flows: FlowRecord[] = FLOWS): LocatedFlow[] {
  return flows.map((f, i) => ({ ...f, origin: { file, line: i + 1 } }));
}

export function screensEdges(): FlowEdge[] {
  const agg = new EdgeAggregator();
  for (const f of locatedFlows()) agg.add(f);
  return agg.result();
}

/** Writes cluster.yaml, flows.jsonl and policies/all.yaml into dir; returns their paths. */
export function writeScreensFixture(dir: string): { cluster: string; flows: string; policies: string } {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const cluster = join(dir, 'cluster.yaml');
  const flows = join(dir, 'flows.jsonl');
  const policies = join(dir, 'policies', 'all.yaml');
  writeFileSync(cluster, CLUSTER_YAML);
  writeFileSync(flows, FLOWS.map((f) => JSON.stringify(f)).join('\n') + '\n');
  writeFileSync(policies, POLICIES_YAML);
  return { cluster, flows, policies };
}

/**
 * A larger generated cluster for "readable at a few hundred workloads": `namespaces` namespaces of
 * `perNamespace` workloads each in four tiers, with calls across namespaces and out (deterministic).
 */
export function bigFixture(namespaces: number, perNamespace: number): { clusterYaml: string; flows: FlowRecord[] } {
  const items: string[] = [];
  const pods: { ns: string; name: string; ip: string }[] = [];
  let ipn = 0;
  for (let n = 0; n < namespaces; n++) {
    const ns = `team-${String(n).padStart(2, '0')}`;
    items.push(`- {apiVersion: v1, kind: Namespace, metadata: {name: ${ns}, labels: {kubernetes.io/metadata.name: ${ns}}}}`);
    for (let w = 0; w < perNamespace; w++) {
      const name = `svc-${n}-${w}`;
      ipn++;
      const ip = `10.${100 + Math.floor(ipn / 250)}.${ipn % 250}.7`;
      items.push(`- apiVersion: v1
  kind: Pod
  metadata: {name: ${name}-0, namespace: ${ns}, labels: {app: ${name}}}
  spec: {containers: [{name: c, image: x}]}
  status: {phase: Running, podIP: ${ip}}`);
      pods.push({ ns, name: `${name}-0`, ip });
    }
  }
  // Tiers like a real system: in each namespace workload w is in tier w % 4 and calls two or three
  // workloads of the next tier; every fifth calls into another namespace; some call out.
  const flows: FlowRecord[] = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  pods.forEach((p, i) => {
    const n = Math.floor(i / perNamespace);
    const w = i % perNamespace;
    const tier = w % 4;
    const next = Array.from({ length: perNamespace }, (_, k) => k).filter((k) => k % 4 === tier + 1);
    const fanout = next.length === 0 ? 0 : 2 + Math.floor(rnd() * 2);
    for (let k = 0; k < fanout; k++) {
      const d = pods[n * perNamespace + next[Math.floor(rnd() * next.length)]!]!;
      flows.push({ v: 1, proto: 'TCP', src: { ip: p.ip, namespace: p.ns, pod: p.name, port: 40000 + k }, dst: { ip: d.ip, port: 8080 } });
    }
    if (w % 5 === 1 && namespaces > 1) {
      const other = (n + 1 + Math.floor(rnd() * (namespaces - 1))) % namespaces;
      const d = pods[other * perNamespace + Math.floor(rnd() * 4)]!;
      flows.push({ v: 1, proto: 'TCP', src: { ip: p.ip, namespace: p.ns, pod: p.name, port: 41000 }, dst: { ip: d.ip, port: 8443 } });
    }
    if (tier === 3 && w % 3 === 0) flows.push({ v: 1, proto: 'TCP', src: { ip: p.ip, namespace: p.ns, pod: p.name, port: 42000 }, dst: { ip: `203.0.113.${1 + (i % 200)}`, port: 443 } });
  });
  return { clusterYaml: `apiVersion: v1\nkind: List\nitems:\n${items.join('\n')}\n`, flows };
}
