#!/usr/bin/env node
// What the agent's pod cache holds per pod: N pods shaped like bench/agent-rss-cluster.mjs's (two
// containers with ports, env, resources, probes, mounts; projected volumes; a kubelet-like status),
// as the API server returns them (defaults filled in, managedFields already dropped as live.ts
// does), parsed from JSON like an informer does, and V8's heap measured before and after.
//   node --expose-gc bench/pod-cache-memory.mjs [N=400]
const mk = (p) => { const app = p % 100; const t = new Date().toISOString(); const container = (c) => ({
      name: c, image: `registry.example/team/${c}:1.${p % 10}.3`,
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
      env: Array.from({ length: 10 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${app}` })),
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
      livenessProbe: { httpGet: { path: '/live', port: 'http', scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' });
  const ip = `10.64.${(p >> 8) & 255}.${p & 255}`;
  return JSON.stringify({ metadata: { name: `app-${app}-7d9f8c6b5-${p}`, namespace: `bench-${app % 8}`, uid: `uid-${p}-aaaa-bbbb-cccc`, resourceVersion: String(1000 + p), creationTimestamp: t, labels: { app: `app-${app}`, 'pod-template-hash': '7d9f8c6b5', version: `v${p % 3}` }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } },
    spec: { nodeName: `bench-node-${p % 20}`, containers: [container('app'), container('sidecar')], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default', serviceAccount: 'default', securityContext: {}, schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      volumes: [{ name: 'config', configMap: { name: `app-${app}`, defaultMode: 420 } }, { name: 'kube-api-access-abcde', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }] } }], enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority', priority: 0 },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `172.18.0.${p % 20}`, startTime: t, qosClass: 'Burstable',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: t })),
      containerStatuses: ['app', 'sidecar'].map((c) => ({ name: c, ready: true, started: true, restartCount: 0, image: `registry.example/team/${c}:1.${p % 10}.3`, imageID: `registry.example/team/${c}@sha256:${'ab'.repeat(32)}`, containerID: `containerd://${(p * 7919).toString(16).padStart(64, '0')}`, state: { running: { startedAt: t } }, lastState: {} })) } }); };
const N = Number(process.argv[2] ?? 400);
const texts = Array.from({ length: N }, (_, p) => mk(p));
gc(); const h0 = process.memoryUsage().heapUsed;
const pods = texts.map((t) => JSON.parse(t));
gc(); const h1 = process.memoryUsage().heapUsed;
console.log(`${N} pods, JSON ${(texts[0].length)} B each; parsed: ${((h1 - h0) / 1048576).toFixed(2)} MiB, ${((h1 - h0) / N) | 0} B/pod`, pods.length);
