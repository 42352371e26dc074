// Verdict benchmark: 1,000,000 flows judged against 1,000 NetworkPolicies over 10,000 pods, with
// the evaluator in dist/. Reports evaluate() alone on pre-resolved traffic (the policy engine), and
// resolve+judge per flow without any caching (what `diff` would cost if every flow were distinct).
// Usage: node bench/verdicts-bench.mjs [flows] [policies]
import { buildIndex } from '../dist/cluster/lookup.js';
import { collectObjects } from '../dist/cluster/snapshot.js';
import { compilePolicies, evaluate, judge } from '../dist/policy/evaluate.js';
import { resolveFlow } from '../dist/policy/traffic.js';
import { Auditor } from '../dist/policy/auditor.js';
import { machine, makeCluster, makeFlows, rng } from './synthetic.mjs';

const flowCount = Number(process.argv[2] ?? 1_000_000);
const policyCount = Number(process.argv[3] ?? 1_000);
const { list, deployments } = makeCluster({ pods: 10_000 });
const objects = collectObjects(list.items.map((object) => ({ object, file: 'synthetic', line: 1 })));
const index = buildIndex(objects);

// Policies: one per deployment (up to policyCount), egress to a few peers by selector, namespace
// selector and ipBlock with except, ingress from its namespace; mixes every matcher kind.
const r = rng(7);
const policies = deployments.slice(0, policyCount).map((d, i) => {
  const other = deployments[Math.floor(r() * deployments.length)];
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: { name: d.name, namespace: d.ns },
    spec: {
      podSelector: { matchLabels: { app: d.name } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': other.ns } } }], ports: [{ port: 'http' }] }],
      egress: [
        { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': other.ns } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [other.name, `x${i}`] }] } }], ports: [{ port: 8080, protocol: 'TCP' }] },
        { to: [{ ipBlock: { cidr: '203.0.113.0/24', except: [`203.0.113.${i % 250}/32`] } }], ports: [{ port: 443, endPort: 450 }] },
        { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
      ],
    },
  };
});
const set = compilePolicies(policies);

const flows = [...makeFlows(deployments, flowCount, 3)];
let t = process.hrtime.bigint();
const traffic = [];
for (const f of flows) for (const tr of resolveFlow(f, index).targets) traffic.push(tr);
const resolveSecs = Number(process.hrtime.bigint() - t) / 1e9;

const runs = [];
let allowed = 0;
for (let run = 0; run < 3; run++) {
  allowed = 0;
  t = process.hrtime.bigint();
  for (let i = 0; i < traffic.length; i++) if (evaluate(set, traffic[i]).verdict === 'allowed') allowed++;
  runs.push(Number(process.hrtime.bigint() - t) / 1e9);
}
const best = Math.min(...runs);

t = process.hrtime.bigint();
let denied = 0;
for (const f of flows) if (judge(set, resolveFlow(f, index)).verdict === 'denied') denied++;
const e2eSecs = Number(process.hrtime.bigint() - t) / 1e9;

// What `netpol diff` does per flow: the Auditor judges each distinct connection once and reuses it.
t = process.hrtime.bigint();
const auditor = new Auditor(set, index);
for (const f of flows) auditor.add(f);
const auditSecs = Number(process.hrtime.bigint() - t) / 1e9;

console.log(JSON.stringify({
  bench: 'verdicts', flows: flowCount, traffic: traffic.length, policies: policies.length, pods: objects.pods.length,
  evaluateSeconds: runs.map((s) => +s.toFixed(3)), verdictsPerSecond: Math.round(traffic.length / best), allowed, denied: traffic.length - allowed,
  resolveSeconds: +resolveSecs.toFixed(3),
  resolveAndJudgePerSecond: Math.round(flowCount / e2eSecs), judgedDenied: denied,
  auditorFlowsPerSecond: Math.round(flowCount / auditSecs), auditorDenied: auditor.summary.denied,
  machine: await machine(),
}, null, 2));
