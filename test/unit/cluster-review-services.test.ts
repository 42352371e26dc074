import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { canonicalIp, cidrContains, formatCidr, parseCidr } from '../../src/flows/ip.js';
import { emptyClusterObjects, type ClusterObjects } from '../../src/cluster/objects.js';
import { resolveFlow } from '../../src/policy/traffic.js';
import type { LocatedFlow } from '../../src/flows/record.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function pod(ns: string, name: string, labels: Record<string, string>, ips: string[]): Any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [] }] },
    status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

function cluster(parts: Partial<Record<keyof ClusterObjects, Any[]>>) {
  const c = emptyClusterObjects() as Any;
  for (const [k, v] of Object.entries(parts)) c[k] = v;
  return buildIndex(c as ClusterObjects);
}

function flow(dstIp: string, port: number, proto: 'TCP' | 'UDP' = 'TCP'): LocatedFlow {
  return { v: 1, proto, src: { namespace: 'a', pod: 'c', ip: '10.0.0.1' }, dst: { ip: dstIp, port } } as Any;
}

function targetsOf(r: ReturnType<typeof resolveFlow>): string[] | string {
  if (r.problem) return r.problem;
  return r.targets.map((t) => `${r.service ? `${r.service.name}>` : ''}${t.dst.kind === 'pod' ? `pod:${t.dst.name}` : `ext:${t.dst.ip}${t.dst.node ? `@${t.dst.node}` : ''}`}@${t.dst.ip}:${t.port}`);
}

describe('Service lookup by address and port (shared load-balancer / node IPs)', () => {
  const lb = (name: string, port: number, clusterIP: string, ingress = '172.18.0.2'): Any => ({
    kind: 'Service',
    metadata: { name, namespace: 'a' },
    spec: { type: 'LoadBalancer', clusterIP, selector: { app: name }, ports: [{ port, targetPort: port + 1 }] },
    status: { loadBalancer: { ingress: [{ ip: ingress }] } },
  });
  const node: Any = { kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '172.18.0.2' }] } };
  const pods = [pod('a', 'c', { app: 'c' }, ['10.0.0.1']), pod('a', 'web', { app: 'web' }, ['10.0.0.5']), pod('a', 'api', { app: 'api' }, ['10.0.0.6'])];
  const withNode = cluster({ nodes: [node], pods, services: [lb('web', 80, '10.96.0.80'), lb('api', 8443, '10.96.0.84')] });
  // The other order: before the fix the last Service on an address won.
  const noNode = cluster({ pods, services: [lb('api', 8443, '10.96.0.84', '192.0.2.9'), lb('web', 80, '10.96.0.80', '192.0.2.9')] });

  it.each([
    ['first Service on a shared LB IP that is a node IP', withNode, '172.18.0.2', 80, ['web>pod:web@10.0.0.5:81']],
    ['node port no Service has (apiserver 6443) is the node', withNode, '172.18.0.2', 6443, ['ext:172.18.0.2@n1@172.18.0.2:6443']],
    ['second Service on a shared LB IP (no node)', noNode, '192.0.2.9', 8443, ['api>pod:api@10.0.0.6:8444']],
  ])('%s', (_name, index, ip, port, want) => {
    expect(targetsOf(resolveFlow(flow(ip, port), index))).toEqual(want);
  });

  it('the other Service on each shared address still resolves (guard)', () => {
    expect(targetsOf(resolveFlow(flow('172.18.0.2', 8443), withNode))).toEqual(['api>pod:api@10.0.0.6:8444']);
    expect(targetsOf(resolveFlow(flow('192.0.2.9', 80), noNode))).toEqual(['web>pod:web@10.0.0.5:81']);
  });

  it.each([
    ['web', '172.18.0.2', 80, 'TCP'],
    ['api', '172.18.0.2', 8443, 'TCP'],
    [undefined, '172.18.0.2', 6443, 'TCP'],
    [undefined, '172.18.0.2', 80, 'UDP'],
  ])('serviceByAddress → %s for %s:%s/%s', (want, ip, port, proto) => {
    expect(withNode.serviceByAddress(ip, port, proto)?.metadata?.name).toBe(want);
  });
});

describe('Service backends: address family and readiness', () => {
  const dual: Any = {
    kind: 'Service',
    metadata: { name: 'db', namespace: 'b' },
    spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5', 'fd00:96::5'], selector: { app: 'db' }, ports: [{ port: 5432, targetPort: 5432 }] },
  };
  const slice = (name: string, addressType: string, endpoints: Any[]): Any => ({
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'b', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType,
    endpoints,
    ports: [{ port: 5432, protocol: 'TCP', name: '' }],
  });
  const ep = (addr: string, podName: string, ready?: boolean): Any => ({
    addresses: [addr],
    targetRef: { kind: 'Pod', name: podName, namespace: 'b' },
    ...(ready === undefined ? {} : { conditions: { ready } }),
  });
  const pods = [pod('a', 'c', { app: 'c' }, ['10.0.0.1']), pod('b', 'db', { app: 'db' }, ['10.0.0.2', 'fd00::2']), pod('b', 'db2', { app: 'db' }, ['fd00::3', '10.0.0.3'])];
  const slices = cluster({ pods, services: [dual], endpointSlices: [slice('db-v4', 'IPv4', [ep('10.0.0.2', 'db')]), slice('db-v6', 'IPv6', [ep('fd00::2', 'db')])] });
  const selector = cluster({ pods, services: [dual] });
  const readiness = cluster({ pods, services: [dual], endpointSlices: [slice('db-v4', 'IPv4', [ep('10.0.0.2', 'db', true), ep('10.0.0.3', 'db2', false)])] });
  const noneReady = cluster({ pods, services: [dual], endpointSlices: [slice('db-v4', 'IPv4', [ep('10.0.0.2', 'db', false), ep('10.0.0.3', 'db2', false)])] });

  it.each([
    ['slices: IPv4 connect reaches IPv4 backends only', slices, '10.96.0.5', ['db>pod:db@10.0.0.2:5432']],
    ['slices: IPv6 connect reaches IPv6 backends only', slices, 'fd00:96::5', ['db>pod:db@fd00::2:5432']],
    ['selector: IPv4 connect uses the pods\' IPv4 address', selector, '10.96.0.5', ['db>pod:db@10.0.0.2:5432', 'db>pod:db2@10.0.0.3:5432']],
    ['selector: IPv6 connect uses the pods\' IPv6 address', selector, 'fd00:96::5', ['db>pod:db@fd00::2:5432', 'db>pod:db2@fd00::3:5432']],
    ['not-ready endpoints are skipped', readiness, '10.96.0.5', ['db>pod:db@10.0.0.2:5432']],
  ])('%s', (_name, index, ip, want) => {
    expect(targetsOf(resolveFlow(flow(ip, 5432), index))).toEqual(want);
  });

  it('none ready: all endpoints, as kube-proxy falls back (guard)', () => {
    expect(targetsOf(resolveFlow(flow('10.96.0.5', 5432), noneReady))).toEqual(['db>pod:db@10.0.0.2:5432', 'db>pod:db2@10.0.0.3:5432']);
  });
});

describe('canonicalIp folds every IPv4-mapped spelling', () => {
  it.each([
    ['::ffff:a00:2', '10.0.0.2'],
    ['::FFFF:A00:2', '10.0.0.2'],
    ['0:0:0:0:0:ffff:10.0.0.2', '10.0.0.2'],
    ['0:0:0:0:0:ffff:0a00:0002', '10.0.0.2'],
    ['::ffff:ffff:ffff', '255.255.255.255'],
  ])('%s → %s', (ip, want) => {
    expect(canonicalIp(ip)).toBe(want);
  });

  it('other spellings are unchanged (guard)', () => {
    expect(['::ffff:10.0.0.2', '::a00:2', '2001:DB8::1'].map(canonicalIp)).toEqual(['10.0.0.2', '::a00:2', '2001:db8::1']);
  });

  it('a pod is found by any mapped spelling of its address', () => {
    const index = cluster({ pods: [pod('b', 'db', { app: 'db' }, ['10.0.0.2'])] });
    expect(index.podByIP('::ffff:a00:2')?.metadata?.name).toBe('db');
    expect(index.podByIP('0:0:0:0:0:ffff:10.0.0.2')?.metadata?.name).toBe('db');
  });

  it('IPv4-mapped CIDRs stay IPv6; mapped addresses fall in IPv4 blocks', () => {
    expect(formatCidr(parseCidr('::ffff:0:0/96')!)).toBe('::ffff:0:0/96');
    expect(cidrContains(parseCidr('10.0.0.0/8')!, '::ffff:a00:2')).toBe(true);
    expect(cidrContains(parseCidr('::ffff:0:0/96')!, '::ffff:a00:2')).toBe(false);
  });
});
