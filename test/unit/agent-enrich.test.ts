/** Pure parts of local enrichment, errors and the local learn model. */
import { describe, expect, it } from 'vitest';
import { parseCgroupPath } from '../../src/agent/cgroup-path.js';
import { errnoName, hintFor } from '../../src/agent/diagnose.js';
import type { ContainerInfo } from '../../src/agent/containers.js';
import { containerAsPod, flowFromEvent, localClusterObjects } from '../../src/cli/commands/learn/local.js';
import { parseFlowRecord } from '../../src/flows/record.js';

const ID = '0123456789abcdef'.repeat(4);

describe('cgroup path → container', () => {
  it.each([
    [`/sys/fs/cgroup/unified/docker/${ID}`, 'docker', undefined],
    [`/sys/fs/cgroup/docker/${ID}`, 'docker', undefined],
    [`/sys/fs/cgroup/system.slice/docker-${ID}.scope`, 'docker', undefined],
    [
      `/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-${ID}.scope`,
      'containerd',
      '1b2c3d4e-0000-1111-2222-333344445555',
    ],
    [`/sys/fs/cgroup/kubepods/besteffort/pod1b2c3d4e-0000-1111-2222-333344445555/${ID}`, 'unknown', '1b2c3d4e-0000-1111-2222-333344445555'],
    [`/sys/fs/cgroup/kubepods.slice/kubepods-pod1b2c3d4e_0000_1111_2222_333344445555.slice/crio-${ID}.scope`, 'cri-o', '1b2c3d4e-0000-1111-2222-333344445555'],
    [ID, 'unknown', undefined],
  ])('%s', (path, runtime, podUid) => {
    const parsed = parseCgroupPath(path);
    expect(parsed?.containerId).toBe(ID);
    expect(parsed?.runtime).toBe(runtime);
    expect(parsed?.podUid).toBe(podUid);
  });

  it('ignores cgroups that are not containers', () => {
    expect(parseCgroupPath('/sys/fs/cgroup/system.slice/ssh.service')).toBeUndefined();
    expect(parseCgroupPath('/sys/fs/cgroup/unified/docker')).toBeUndefined();
    expect(parseCgroupPath('/sys/fs/cgroup/kubepods.slice')).toBeUndefined();
  });
});

describe('errors a user can act on', () => {
  it('names the errno and says what to do', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(9999)).toBe('errno 9999');
    expect(hintFor('loading BPF object x', 12)).toEqual({ message: 'loading BPF object x failed: ENOMEM', hint: expect.stringMatching(/memory/) });
    expect(hintFor('attaching', 3).hint).toMatch(/CO-RE/);
    expect(hintFor('x', 22).hint).toMatch(/5\.8/);
  });
});

describe('learn --local model', () => {
  const web: ContainerInfo = { id: ID, name: 'web_1', image: 'nginx', labels: { 'com.docker.compose.service': 'web', 'com.docker.compose.config-hash': 'x'.repeat(80) }, runtime: 'docker', ips: ['172.17.0.3'] };
  it('models a docker container as a pod of namespace local', () => {
    expect(containerAsPod(web)).toMatchObject({
      metadata: { name: 'web_1', namespace: 'local', labels: { run: 'web_1', app: 'web' } },
      status: { podIP: '172.17.0.3', podIPs: [{ ip: '172.17.0.3' }] },
    });
    const objects = localClusterObjects([web, web]);
    expect(objects.pods).toHaveLength(1);
    expect(objects.namespaces[0]?.metadata?.name).toBe('local');
  });

  it('writes valid v1 flow records', () => {
    const rec = flowFromEvent(
      {
        event: { tsNs: 1n, latencyNs: 5, cgroupId: 9n, pid: 7, tid: 7, uid: 0, gid: 0, mntns: 1, netns: 2, family: 4, saddr: '172.17.0.2', daddr: '172.17.0.3', sport: 4784, dport: 80, outcome: 'error', source: 'syscall', proto: 'TCP', errno: 101, comm: 'nc' },
        container: { ...web, name: 'client', ips: ['172.17.0.2'] },
        time: new Date('2026-11-25T10:00:00Z'),
      },
      'node1',
      new Map([['172.17.0.3', web]]),
    );
    expect(parseFlowRecord(JSON.parse(JSON.stringify(rec)), 'x', 1)).toEqual({
      v: 1,
      ts: '2026-11-25T10:00:00.000Z',
      node: 'node1',
      proto: 'TCP',
      src: { ip: '172.17.0.2', port: 4784, namespace: 'local', pod: 'client', container: 'client', pid: 7, comm: 'nc' },
      dst: { ip: '172.17.0.3', port: 80, namespace: 'local', pod: 'web_1' },
      outcome: 'error',
      errno: 101,
      latencyNs: 5,
    });
  });
});

describe('containerd bundles', () => {
  it('names a CRI container, its image and pod from the OCI annotations', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { ContainerdBundles } = await import('../../src/agent/containers.js');
    const root = mkdtempSync(join(tmpdir(), 'netpol-ctrd-'));
    try {
      mkdirSync(join(root, 'k8s.io', ID), { recursive: true });
      writeFileSync(
        join(root, 'k8s.io', ID, 'config.json'),
        JSON.stringify({
          annotations: {
            'io.kubernetes.cri.container-type': 'container',
            'io.kubernetes.cri.container-name': 'mypod',
            'io.kubernetes.cri.sandbox-name': 'mypod',
            'io.kubernetes.cri.sandbox-namespace': 'default',
            'io.kubernetes.cri.sandbox-uid': '1b2c3d4e-0000-1111-2222-333344445555',
            'io.kubernetes.cri.image-name': 'docker.io/library/busybox:latest',
          },
        }),
      );
      const bundles = new ContainerdBundles([join(root, 'missing'), root]);
      expect(bundles.inspect(ID)).toEqual({
        id: ID,
        name: 'mypod',
        image: 'docker.io/library/busybox:latest',
        labels: {},
        runtime: 'containerd',
        ips: [],
        pod: { namespace: 'default', name: 'mypod' },
        podUid: '1b2c3d4e-0000-1111-2222-333344445555',
      });
      expect(bundles.inspect('f'.repeat(64))).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
