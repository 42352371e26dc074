#!/usr/bin/env node
/**
 * What the live judge costs per connect (JudgeSink.accept), against a real API server:
 *   node scripts/bench-judge.mjs KUBECONFIG        (needs `npm run build`, the StagedNetworkPolicy CRD)
 * Creates namespace netpol-bench-<pid> with one pod and one staged policy, then times 200,000
 * accepts of a connect the policies allow and of one the staged policy would deny.
 */
import { KubeConfig } from '@kubernetes/client-node';
const dist = new URL('../dist/', import.meta.url).href;
const { LiveClusterView, rawRequest } = await import(dist + 'cluster/live.js');
const { applyStaged } = await import(dist + 'cluster/staged/client.js');
const { JudgeSink } = await import(dist + 'daemon/judge-sink.js');

const kubeconfig = process.argv[2];
if (!kubeconfig) {
  process.stderr.write('usage: node scripts/bench-judge.mjs KUBECONFIG\n');
  process.exit(2);
}
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const ns = `netpol-bench-${process.pid}`;
await rawRequest(kc, '/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
const pod = await rawRequest(kc, `/api/v1/namespaces/${ns}/pods`, { method: 'POST', body: { metadata: { name: 'w', labels: { app: 'w' } }, spec: { nodeName: 'bench', containers: [{ name: 'w', image: 'busybox' }] } } });
await rawRequest(kc, `/api/v1/namespaces/${ns}/pods/w/status`, { method: 'PUT', body: { ...pod, status: { phase: 'Running', podIP: '10.250.0.5', podIPs: [{ ip: '10.250.0.5' }] } } });
await applyStaged(kc, { metadata: { name: 'w', namespace: ns }, spec: { podSelector: { matchLabels: { app: 'w' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.10/32' } }] }] } });

const view = await LiveClusterView.connect({ kubeconfig });
const sink = await JudgeSink.start({ node: 'bench', view }, { statusFlushMs: 10_000 });
const podObj = await view.waitFor(() => view.objects().pods.find((p) => p.metadata.namespace === ns && p.status?.podIP), 10_000);
const connect = (ip, i) => ({
  event: {},
  time: new Date(),
  node: 'bench',
  source: { pod: podObj, namespace: ns, name: 'w' },
  record: { v: 1, proto: 'TCP', node: 'bench', src: { ip: '10.250.0.5', port: 30000 + (i % 30000), namespace: ns, pod: 'w' }, dst: { ip, port: 80 }, outcome: 'established' },
});
for (const [label, ip] of [['allowed by the staged policy', '203.0.113.10'], ['would be denied (every connect)', '198.51.100.9']]) {
  const n = 200_000;
  const conns = Array.from({ length: n }, (_, i) => connect(ip, i));
  for (let i = 0; i < 5000; i++) sink.accept(conns[i]);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink.accept(conns[i]);
  console.log(`${label}: ${(Number(process.hrtime.bigint() - t0) / n).toFixed(0)} ns per accept()`);
}
await sink.close(new Date(Date.now() + 3000));
await view.close();
await rawRequest(kc, `/api/v1/namespaces/${ns}`, { method: 'DELETE' });
process.exit(0);
