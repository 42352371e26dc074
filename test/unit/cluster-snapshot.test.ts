import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotView, loadSnapshot } from '../../src/cluster/snapshot.js';
import { parseKubeYaml, parseKubeYamlFast } from '../../src/cluster/yaml-documents.js';
import { InputError } from '../../src/errors.js';

const demo = new SnapshotView(['fixtures/demo/cluster.yaml']);
const dir = mkdtempSync(join(tmpdir(), 'netpol-snap-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('cluster snapshot', () => {
  it("puts a NetworkPolicy's ingress peers under `from` whichever name the file used (client-node dumps say `_from`)", () => {
    const p = file(
      'client-node-dump.yaml',
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  podSelector: {}\n  ingress:\n    - _from: [{podSelector: {matchLabels: {app: web}}}]\n      ports: [{port: 80}]\n    - from: [{ipBlock: {cidr: 198.51.100.0/24}}]\n',
    );
    const [np] = loadSnapshot([p]).networkPolicies;
    expect(np!.spec!.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 80 }] },
      { from: [{ ipBlock: { cidr: '198.51.100.0/24' } }] },
    ]);
  });

  it('reads a kubectl List with every kind sorted into the view', () => {
    const o = demo.objects();
    expect(o.namespaces.map((n) => n.metadata?.name)).toEqual(['default', 'kube-system', 'shop', 'payments']);
    expect(o.pods).toHaveLength(6);
    expect(o.services.map((s) => s.metadata?.name).sort()).toEqual(['api', 'kube-dns', 'kubernetes', 'ledger']);
    expect(o.endpointSlices).toHaveLength(2);
    expect(o.owners.map((x) => `${x.kind}/${x.metadata?.name}`).sort()).toContain('StatefulSet/ledger');
    expect(o.nodes[0]?.metadata?.name).toBe('minikube-docker');
  });

  it('reads multi-document YAML and defaults the namespace', () => {
    const p = file('multi.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\n');
    const o = loadSnapshot([p]);
    expect(o.pods[0]?.metadata?.namespace).toBe('default');
    expect(o.services[0]?.metadata?.namespace).toBe('x');
  });

  it('names file and line of invalid YAML', () => {
    const p = file('bad.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n');
    expect(() => loadSnapshot([p])).toThrow(new RegExp(`${p}:\\d+: invalid YAML`));
  });

  it('names the line of an unsupported kind inside a List', () => {
    const p = file('kind.yaml', 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Frobnicator\n  metadata: {name: b}\n');
    expect(() => loadSnapshot([p])).toThrow(`${p}:7: kind: unsupported kind Frobnicator`);
  });

  it('rejects an object without a name', () => {
    const p = file('noname.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {}\n');
    expect(() => loadSnapshot([p])).toThrow(`${p}:1: metadata.name: Pod without metadata.name`);
  });

  it('reports an unreadable file as InputError', () => {
    expect(() => loadSnapshot([join(dir, 'missing.yaml')])).toThrow(InputError);
  });
});

describe('cluster index', () => {
  const index = demo.index();

  it('finds pods by IP, container id and name; services by ClusterIP; nodes by address', () => {
    expect(index.podByIP('10.244.0.12')?.metadata?.name).toBe('mypod');
    expect(index.podByContainerId('4d6f1b8a9c0e')?.pod.metadata?.name).toBe('mypod');
    expect(index.podByContainerId('docker://4d6f1b8a9c0e')?.container).toBe('mypod');
    expect(index.serviceByIP('10.96.12.34')?.metadata?.name).toBe('api');
    expect(index.nodeByIP('172.18.0.2')?.metadata?.name).toBe('minikube-docker');
    expect(index.podByIP('10.96.12.34')).toBeUndefined();
  });

  it('resolves workloads to their top owner with the controller selector, never pod-template-hash', () => {
    const web = index.pod('shop', 'web-7c9d8f6b5-abcde')!;
    expect(index.workloadOf(web)).toEqual({ kind: 'Deployment', namespace: 'shop', name: 'web', selector: { matchLabels: { app: 'web', tier: 'frontend' } } });
    const ledger = index.pod('payments', 'ledger-0')!;
    expect(index.workloadOf(ledger)).toEqual({ kind: 'StatefulSet', namespace: 'payments', name: 'ledger', selector: { matchLabels: { app: 'ledger' } } });
    const mypod = index.pod('default', 'mypod')!;
    expect(index.workloadOf(mypod)).toEqual({ kind: 'Pod', namespace: 'default', name: 'mypod', selector: { matchLabels: { run: 'mypod' } } });
    expect(index.podsOfWorkload(index.workloadOf(web)).map((p) => p.metadata?.name)).toEqual(['web-7c9d8f6b5-abcde', 'web-7c9d8f6b5-fghij']);
  });

  it('infers a Deployment from a ReplicaSet missing from the snapshot', () => {
    const p = file(
      'orphan.yaml',
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: w-5d8f-x\n  labels: {app: w, pod-template-hash: 5d8f}\n  ownerReferences: [{kind: ReplicaSet, name: w-5d8f, controller: true, apiVersion: apps/v1, uid: u}]\n',
    );
    const v = new SnapshotView([p]);
    const pod = v.index().pod('default', 'w-5d8f-x')!;
    expect(v.index().workloadOf(pod)).toEqual({ kind: 'Deployment', namespace: 'default', name: 'w', selector: { matchLabels: { app: 'w' } } });
  });

  it('resolves Service backends from EndpointSlices, or from the selector and a named targetPort', () => {
    const ledger = index.service('payments', 'ledger')!;
    const lp = index.servicePort(ledger, 5432, 'TCP')!;
    expect(index.serviceBackends(ledger, lp).map((b) => [b.ip, b.port, b.pod?.metadata?.name])).toEqual([['10.244.2.30', 15432, 'ledger-0']]);
    const api = index.service('shop', 'api')!;
    const ap = index.servicePort(api, 80, 'TCP')!;
    expect(index.serviceBackends(api, ap).map((b) => [b.ip, b.port])).toEqual([['10.244.1.20', 8080]]);
    expect(index.servicePort(api, 80, 'UDP')).toBeUndefined();
    const k8s = index.service('default', 'kubernetes')!;
    expect(index.serviceBackends(k8s, index.servicePort(k8s, 443, 'TCP')!).map((b) => [b.ip, b.port, b.pod])).toEqual([['172.18.0.2', 6443, undefined]]);
  });

  it('always labels namespaces with kubernetes.io/metadata.name', () => {
    expect(index.namespaceLabels('shop')).toEqual({ 'kubernetes.io/metadata.name': 'shop', team: 'storefront' });
    expect(index.namespaceLabels('unknown')).toEqual({ 'kubernetes.io/metadata.name': 'unknown' });
  });
});

describe('snapshot YAML: fast and precise parses agree', () => {
  it('reads scalars by the YAML 1.2 core schema in both, timestamps staying text', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: v1',
      '  kind: Pod',
      '  metadata:',
      '    name: p',
      '    creationTimestamp: 2026-11-24T10:00:00Z',
      '    labels: {a: yes, b: "0x10", c: on, d: 2026-11-24}',
      '    annotations: {n: ~, i: 0x10, f: 1e3, o: 0o17}',
    ].join('\n');
    const fast = parseKubeYamlFast(text, 'f.yaml').map((o) => o.object);
    const precise = parseKubeYaml(text, 'f.yaml').map((o) => o.object);
    expect(fast).toEqual(precise);
    const meta = fast[0]!.metadata as Record<string, Record<string, unknown>>;
    expect(meta.creationTimestamp).toBe('2026-11-24T10:00:00Z');
    expect(meta.labels).toEqual({ a: 'yes', b: '0x10', c: 'on', d: '2026-11-24' });
  });
});
