// The profile shape of bench/profile-scale.mjs as objects: WORKLOADS Deployments in NAMESPACES
// namespaces, workload w on node w % NODES and every fifth also on the next node, EDGES edges each
// (EDGES - 2 to the next workloads on 8080+i, two to 203.0.113.x:443), every edge seen 3 times.
// What the profile writer would have written for them (the same names, labels, spec and status),
// built without running the writers, so `learn -A` can be timed on the same shape in seconds.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../dist/cluster/live.js';
import { profileLabels, profileName } from '../dist/cluster/profile/types.js';

const ROOT = resolve(import.meta.dirname, '..');

export function profileObjects({ nodes = 1000, workloads = 10000, namespaces = 100, edges = 5, time = new Date().toISOString() } = {}) {
  const owners = [];
  for (let w = 0; w < workloads; w++) {
    const name = `w-${w}`;
    owners.push({ namespace: `bench-${w % namespaces}`, kind: 'Deployment', name, selector: { matchLabels: { app: name } }, labels: { app: name } });
  }
  const edgesOf = (w) =>
    Array.from({ length: edges }, (_, i) =>
      i < edges - 2
        ? { peer: { workload: owners[(w + i + 1) % workloads] }, port: 8080 + i, protocol: 'TCP', outcome: 'established' }
        : { peer: { address: `203.0.113.${(w + i) % 250}` }, port: 443, protocol: 'TCP', outcome: 'established' },
    );
  const objects = [];
  for (let w = 0; w < workloads; w++) {
    const onNodes = [w % nodes];
    if (w % 5 === 0) onNodes.push((w + 1) % nodes);
    for (const n of onNodes) {
      const node = `node-${n}`;
      const owner = owners[w];
      objects.push({
        apiVersion: 'netpol.io/v1alpha1',
        kind: 'TrafficProfile',
        metadata: { name: profileName(owner, node), namespace: owner.namespace, labels: profileLabels(owner, node) },
        spec: { workload: owner, node },
        status: {
          edges: edgesOf(w).map((e) => ({ ...e, count: 3, firstSeen: time, lastSeen: time })),
          edgeCount: edges,
          overflow: { edges: 0, connects: 0 },
          expired: { edges: 0, connects: 0 },
          journal: { id: `bench-${node}`, seq: 3 },
          oldestObservation: time,
          lastWrite: time,
        },
      });
    }
  }
  return { objects, namespaceNames: Array.from({ length: namespaces }, (_, n) => `bench-${n}`) };
}

/** Creates the TrafficProfile CRD (deploy/crds) through `kc` and waits until the API server serves it. */
export async function installProfileCrd(kc) {
  const crd = parseAllDocuments(readFileSync(join(ROOT, 'deploy/crds/trafficprofiles.yaml'), 'utf8'))[0].toJS();
  await rawRequest(kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { method: 'POST', body: crd });
  for (let i = 0; i < 100; i++) {
    const r = await rawRequest(kc, '/apis/netpol.io/v1alpha1').catch(() => undefined);
    if (r?.resources?.some((x) => x.name === 'trafficprofiles')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('trafficprofiles.netpol.io not served 20 s after the CRD was created');
}
