import { describe, expect, it } from 'vitest';
import {
  enrichWithIndex,
  podOfCgroup,
  flowDestinationNotation as formatDestination,
  flowSourceNotation as formatSource,
  type ConnectFacts,
} from '../../src/cluster/enrich.js';
import { parseKubeletCgroupPath } from '../../src/agent/cgroup-path.js';
import { buildIndex } from '../../src/cluster/lookup.js';
import { emptyClusterObjects, type ClusterObjects } from '../../src/cluster/objects.js';

const ID = 'a'.repeat(56) + '0123abcd';
const UID = '0f8d5a7e-1c2b-4d3e-9f10-112233445566';
const UIDU = UID.replaceAll('-', '_');

describe('parseKubeletCgroupPath', () => {
  it.each([
    [
      'systemd + containerd, burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UIDU}.slice/cri-containerd-${ID}.scope`,
      { driver: 'systemd', podUid: UID, qos: 'burstable', containerId: ID, runtime: 'containerd' },
    ],
    [
      'systemd + CRI-O, besteffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UIDU}.slice/crio-${ID}.scope`,
      { driver: 'systemd', podUid: UID, qos: 'besteffort', containerId: ID, runtime: 'cri-o' },
    ],
    [
      'systemd + CRI-O conmon is the pod, not a container',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UIDU}.slice/crio-conmon-${ID}.scope`,
      { driver: 'systemd', podUid: UID, qos: 'besteffort', runtime: 'cri-o', conmon: true },
    ],
    [
      'systemd + cri-dockerd, guaranteed',
      `/kubepods.slice/kubepods-pod${UIDU}.slice/docker-${ID}.scope`,
      { driver: 'systemd', podUid: UID, qos: 'guaranteed', containerId: ID, runtime: 'docker' },
    ],
    [
      'cgroupfs (containerd or docker), burstable',
      `/kubepods/burstable/pod${UID}/${ID}`,
      { driver: 'cgroupfs', podUid: UID, qos: 'burstable', containerId: ID },
    ],
    ['cgroupfs, guaranteed', `/kubepods/pod${UID}/${ID}`, { driver: 'cgroupfs', podUid: UID, qos: 'guaranteed', containerId: ID }],
    ['cgroupfs pod sandbox level', `/kubepods/besteffort/pod${UID}`, { driver: 'cgroupfs', podUid: UID, qos: 'besteffort' }],
    [
      'kind: nested under kubelet.slice',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UIDU}.slice/cri-containerd-${ID}.scope`,
      { driver: 'systemd', podUid: UID, qos: 'besteffort', containerId: ID, runtime: 'containerd' },
    ],
    [
      'a process in a sub-cgroup of the container',
      `/kubepods/besteffort/pod${UID}/${ID}/worker`,
      { driver: 'cgroupfs', podUid: UID, qos: 'besteffort', containerId: ID },
    ],
  ])('%s', (_name, path, expected) => {
    expect(parseKubeletCgroupPath(path)).toEqual(expected);
  });

  it.each(['/', '/system.slice/docker.service', `/docker/${ID}`, '/user.slice/user-0.slice/session-1.scope'])(
    'is undefined outside kubepods: %s',
    (path) => {
      expect(parseKubeletCgroupPath(path)).toBeUndefined();
    },
  );
});

function cluster(): ClusterObjects {
  const objects = emptyClusterObjects();
  objects.pods.push(
    {
      kind: 'Pod',
      metadata: { name: 'mypod', namespace: 'default', uid: UID, labels: { run: 'mypod' } },
      spec: { containers: [{ name: 'mypod', image: 'busybox' }, { name: 'sidecar', image: 'busybox' }] },
      status: {
        podIP: '10.0.1.1',
        podIPs: [{ ip: '10.0.1.1' }, { ip: 'fd00::1:1' }],
        containerStatuses: [
          { name: 'mypod', containerID: `containerd://${ID}`, image: 'busybox', imageID: '', ready: true, restartCount: 0 },
          { name: 'sidecar', containerID: `containerd://${'b'.repeat(64)}`, image: 'busybox', imageID: '', ready: true, restartCount: 0 },
        ],
      },
    },
    {
      kind: 'Pod',
      metadata: { name: 'nginx-1', namespace: 'web', uid: 'u2', labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx' }] },
      status: { podIP: '10.0.2.7', podIPs: [{ ip: '10.0.2.7' }] },
    },
  );
  objects.services.push({
    kind: 'Service',
    metadata: { name: 'nginx', namespace: 'web' },
    spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], externalIPs: ['198.51.100.9'], ports: [{ port: 80, targetPort: 8080 }] },
  });
  objects.nodes.push({ kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] } });
  return objects;
}

const base: ConnectFacts = {
  cgroupId: 1n,
  pid: 2011630,
  comm: 'wget',
  family: 4,
  saddr: '10.0.1.1',
  sport: 46779,
  daddr: '1.1.1.1',
  dport: 80,
  latencyNs: 14149828,
  outcome: 'established',
};

describe('podOfCgroup', () => {
  const index = buildIndex(cluster());
  it('finds the pod and container by container id', () => {
    const r = podOfCgroup(index, `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UIDU}.slice/cri-containerd-${'b'.repeat(64)}.scope`);
    expect(r.match).toBe('container-id');
    expect(r.identity).toMatchObject({ namespace: 'default', name: 'mypod', container: 'sidecar' });
  });
  it('falls back to the pod UID (pause container, or status not yet written)', () => {
    const r = podOfCgroup(index, `/kubepods/besteffort/pod${UID}/${'c'.repeat(64)}`);
    expect(r.match).toBe('pod-uid');
    expect(r.identity).toMatchObject({ name: 'mypod', container: undefined });
  });
  it('knows nothing of other cgroups', () => {
    expect(podOfCgroup(index, `/docker/${ID}`)).toEqual({ match: 'none' });
  });
});

describe('enrichWithIndex and the seed notation', () => {
  const index = buildIndex(cluster());
  const byTable = (paths: Record<string, string>) => (ev: ConnectFacts, i: typeof index) => {
    const path = paths[String(ev.cgroupId)];
    const r = path ? podOfCgroup(i, path) : { match: 'none' as const };
    if (r.identity) return { ...r, cgroupPath: path };
    const pod = i.podByIP(ev.saddr);
    return pod ? { identity: { pod, namespace: pod.metadata!.namespace!, name: pod.metadata!.name! }, match: 'pod-ip' as const } : { match: 'none' as const };
  };
  const sourceOf = byTable({ '1': `/kubepods/besteffort/pod${UID}/${ID}` });

  it('prints the seed line for an outside address', () => {
    const { record, sourceMatch } = enrichWithIndex(base, index, 'n1', '2026-11-24T10:00:00.123Z', sourceOf);
    expect(sourceMatch).toBe('container-id');
    expect(record).toEqual({
      v: 1,
      ts: '2026-11-24T10:00:00.123Z',
      node: 'n1',
      proto: 'TCP',
      src: { ip: '10.0.1.1', port: 46779, namespace: 'default', pod: 'mypod', container: 'mypod', pid: 2011630, comm: 'wget' },
      dst: { ip: '1.1.1.1', port: 80, namespace: null, pod: null, service: null },
      latencyNs: 14149828,
      outcome: 'established',
    });
    expect(formatSource(record.src)).toBe('p/default/mypod:46779');
    expect(formatDestination(record.dst)).toBe('r/1.1.1.1:80');
  });

  it('names a Service by ClusterIP and by externalIP', () => {
    for (const ip of ['10.96.0.20', '198.51.100.9']) {
      const { record } = enrichWithIndex({ ...base, daddr: ip }, index, 'n1', 't', sourceOf);
      expect(formatDestination(record.dst)).toBe('s/web/nginx:80');
    }
  });

  it('names a destination pod by any of its IPs, and the source by IP when the cgroup is unknown', () => {
    const { record, sourceMatch } = enrichWithIndex({ ...base, cgroupId: 99n, daddr: '10.0.2.7', dport: 8080 }, index, 'n1', 't', sourceOf);
    expect(sourceMatch).toBe('pod-ip');
    expect(formatSource(record.src)).toBe('p/default/mypod:46779');
    expect(formatDestination(record.dst)).toBe('p/web/nginx-1:8080');
    const v6 = enrichWithIndex({ ...base, family: 6, cgroupId: 99n, saddr: 'fd00::1:1', daddr: '2001:db8::5', dport: 443 }, index, 'n1', 't', sourceOf);
    expect(formatSource(v6.record.src)).toBe('p/default/mypod:46779');
    expect(formatDestination(v6.record.dst)).toBe('r/[2001:db8::5]:443');
  });

  it('names a host-network pod by its cgroup, never by the node address it shares', () => {
    const objects = cluster();
    objects.pods.push({
      kind: 'Pod',
      metadata: { name: 'node-exporter-x', namespace: 'monitoring', uid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' },
      spec: { hostNetwork: true, nodeName: 'n1', containers: [{ name: 'exporter', image: 'x' }] },
      status: {
        podIP: '192.0.2.10',
        podIPs: [{ ip: '192.0.2.10' }],
        containerStatuses: [{ name: 'exporter', containerID: `cri-o://${'d'.repeat(64)}`, image: 'x', imageID: '', ready: true, restartCount: 0 }],
      },
    });
    const i = buildIndex(objects);
    const src = byTable({ '5': `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podaaaaaaaa_bbbb_4ccc_8ddd_eeeeeeeeeeee.slice/crio-${'d'.repeat(64)}.scope` });
    const { record, sourceMatch } = enrichWithIndex({ ...base, cgroupId: 5n, saddr: '192.0.2.10', daddr: '10.0.2.7', dport: 8080 }, i, 'n1', 't', src);
    expect(sourceMatch).toBe('container-id');
    expect(formatSource(record.src)).toBe('p/monitoring/node-exporter-x:46779');
    expect(record.src.container).toBe('exporter');
    // Connecting to the node address reaches the node (and its host-network pods): r/ with dst.node.
    const toNode = enrichWithIndex({ ...base, daddr: '192.0.2.10', dport: 9100 }, i, 'n1', 't', sourceOf);
    expect(formatDestination(toNode.record.dst)).toBe('r/192.0.2.10:9100');
    expect(toNode.record.dst.node).toBe('n1');
  });

  it('marks a node address and leaves unknown sources as raw addresses', () => {
    const { record } = enrichWithIndex({ ...base, cgroupId: 99n, saddr: '192.0.2.10', daddr: '192.0.2.10', dport: 10250 }, index, 'n1', 't', sourceOf);
    expect(record.dst.node).toBe('n1');
    expect(formatSource(record.src)).toBe('r/192.0.2.10:46779');
    expect(formatDestination(record.dst)).toBe('r/192.0.2.10:10250');
  });

});
