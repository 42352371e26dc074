// Synthetic clusters and recordings for the benchmarks: deterministic (seeded), sized by arguments.
// Namespaces hold Deployments of N pods each (pods carry pod-template-hash), a Service per
// Deployment with a differing targetPort, CoreDNS, and outside addresses in documentation ranges.

/** Small seeded PRNG (mulberry32): the same inputs on every run and machine. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ip4 = (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

/** A cluster of `pods` pods in deployments of `perDeployment`, spread over `namespaces`. */
export function makeCluster({ pods = 10_000, perDeployment = 10, namespaces = 50 } = {}) {
  const items = [];
  const deployments = [];
  items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } });
  items.push({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'coredns-0', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: { containers: [{ name: 'coredns' }] }, status: { phase: 'Running', podIP: '10.255.0.2' },
  });
  for (let n = 0; n < namespaces; n++) items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}` } });
  let podNo = 0;
  for (let d = 0; podNo < pods; d++) {
    const ns = `ns${d % namespaces}`;
    const name = `app${d}`;
    const hash = `h${d.toString(16).padStart(8, '0')}`;
    const dep = { ns, name, pods: [], svcIp: `10.96.${(d >> 8) & 255}.${d & 255}`, port: 80, targetPort: 8080 };
    items.push({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns }, spec: { selector: { matchLabels: { app: name } } } });
    items.push({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `${name}-${hash}`, namespace: ns, ownerReferences: [{ kind: 'Deployment', name, controller: true, apiVersion: 'apps/v1', uid: `u${d}` }] },
      spec: { selector: { matchLabels: { app: name, 'pod-template-hash': hash } } },
    });
    items.push({
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
      spec: { clusterIP: dep.svcIp, selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    for (let i = 0; i < perDeployment && podNo < pods; i++, podNo++) {
      const pod = { ns, name: `${name}-${hash}-${i}`, ip: ip4(podNo + 65536) };
      dep.pods.push(pod);
      items.push({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: pod.name, namespace: ns, labels: { app: name, tier: `t${d % 7}`, 'pod-template-hash': hash },
          ownerReferences: [{ kind: 'ReplicaSet', name: `${name}-${hash}`, controller: true, apiVersion: 'apps/v1', uid: `r${d}` }] },
        spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
      });
    }
    deployments.push(dep);
  }
  return { list: { apiVersion: 'v1', kind: 'List', items }, deployments };
}

/**
 * `count` flows: each deployment talks to a few fixed peers (services, pods, outside addresses),
 * so the recording has realistic repetition (many flows per edge) and many distinct edges.
 */
export function* makeFlows(deployments, count, seed = 1) {
  const r = rng(seed);
  const peersOf = deployments.map((_, d) => {
    const peers = [];
    for (let k = 0; k < 4; k++) {
      const other = deployments[Math.floor(r() * deployments.length)];
      peers.push(k === 3 ? { ip: `203.0.113.${1 + Math.floor(r() * 250)}`, port: 443 } : k === 2 ? { ip: other.pods[0].ip, port: 8080 } : { ip: other.svcIp, port: 80 });
    }
    return peers;
  });
  const t0 = Date.parse('2026-11-24T10:00:00Z');
  for (let i = 0; i < count; i++) {
    const d = Math.floor(r() * deployments.length);
    const dep = deployments[d];
    const pod = dep.pods[Math.floor(r() * dep.pods.length)];
    const peer = peersOf[d][Math.floor(r() * 4)];
    yield {
      v: 1, ts: new Date(t0 + i).toISOString(), proto: 'TCP',
      src: { ip: pod.ip, port: 30000 + (i % 30000), namespace: pod.ns, pod: pod.name },
      dst: { ip: peer.ip, port: peer.port },
    };
  }
}

export function machine() {
  return import('node:os').then((os) => ({
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
  }));
}
