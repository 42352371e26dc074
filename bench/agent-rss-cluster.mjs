#!/usr/bin/env node
// Objects of a cluster with a realistic pod count, for measuring the node agent's memory with
// `--pods cluster` (what an informer of the whole cluster holds): NODES Node objects and PODS pods
// spread over them in NAMESPACES namespaces, with a Service per app, each pod shaped like a
// Deployment's (two containers with ports, env, resources, probes, mounts; a status as a kubelet
// writes it; managedFields from server-side apply). The pods never run (their nodes are names), so
// nothing but the objects differs from a real cluster of that size.
//
//   node bench/agent-rss-cluster.mjs KUBECONFIG [--pods 400] [--nodes 20] [--namespaces 8]
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from '../dist/cluster/live.js';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { pods: { type: 'string', default: '400' }, nodes: { type: 'string', default: '20' }, namespaces: { type: 'string', default: '8' } } });
const kc = new KubeConfig();
kc.loadFromFile(positionals[0]);
const PODS = Number(a.pods), NODES = Number(a.nodes), NS = Number(a.namespaces);
const apply = (path, body) => rawRequest(kc, `${path}?fieldManager=bench&force=true`, { method: 'PATCH', contentType: 'application/apply-patch+yaml', body });
for (let n = 0; n < NODES; n++) {
  await apply(`/api/v1/nodes/bench-node-${n}`, { apiVersion: 'v1', kind: 'Node', metadata: { name: `bench-node-${n}`, labels: { 'kubernetes.io/hostname': `bench-node-${n}`, 'kubernetes.io/os': 'linux' } } });
}
for (let s = 0; s < NS; s++) await apply(`/api/v1/namespaces/bench-${s}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-${s}` } });
const apps = Math.ceil(PODS / 4);
for (let app = 0; app < apps; app++) {
  const ns = `bench-${app % NS}`;
  await apply(`/api/v1/namespaces/${ns}/services/app-${app}`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name: `app-${app}`, namespace: ns },
    spec: { selector: { app: `app-${app}` }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 9090 }] },
  });
}
let next = 0;
const lane = async () => {
  while (next < PODS) {
    const p = next++;
    const app = p % apps;
    const ns = `bench-${app % NS}`;
    const name = `app-${app}-7d9f8c6b5-${p.toString(36).padStart(5, 'x')}`;
    const container = (c) => ({
      name: c, image: `registry.example/team/${c}:1.${p % 10}.3`,
      ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }],
      env: Array.from({ length: 10 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${app}` })),
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 10 },
      livenessProbe: { httpGet: { path: '/live', port: 'http' }, periodSeconds: 10 },
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    });
    const path = `/api/v1/namespaces/${ns}/pods/${name}`;
    await apply(path, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace: ns, labels: { app: `app-${app}`, 'pod-template-hash': '7d9f8c6b5', version: `v${p % 3}` }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } },
      spec: {
        nodeName: `bench-node-${p % NODES}`, containers: [container('app'), container('sidecar')],
        volumes: [{ name: 'config', configMap: { name: `app-${app}` } }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
      },
    });
    const ip = `10.${64 + (p >> 16)}.${(p >> 8) & 255}.${p & 255}`;
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await apply(`${path}/status`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `172.18.0.${p % NODES}`, startTime: t, qosClass: 'Burstable',
        conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: t })),
        containerStatuses: ['app', 'sidecar'].map((c) => ({ name: c, ready: true, started: true, restartCount: 0, image: `registry.example/team/${c}:1.${p % 10}.3`, imageID: `registry.example/team/${c}@sha256:${'ab'.repeat(32)}`, containerID: `containerd://${(p * 7919).toString(16).padStart(64, '0')}`, state: { running: { startedAt: t } } })),
      },
    });
  }
};
const t0 = Date.now();
await Promise.all(Array.from({ length: 8 }, lane));
process.stderr.write(`${NODES} nodes, ${NS} namespaces, ${apps} Services, ${PODS} pods in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
