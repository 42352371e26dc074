// The probe pod of `netpol probe --via pods` (src/cluster/probe.ts probePodManifest): what makes
// the policies select it as they select its source, and what keeps it from disturbing the workload.
import { describe, expect, it } from 'vitest';
import type { V1Pod } from '../../src/cluster/objects.js';
import { DEFAULT_PROBE_IMAGE, PROBE_POD_LABEL, PROBE_POD_SETTLE_SECONDS, probePodManifest, probeScript } from '../../src/cluster/probe.js';
import { runProbe } from '../../src/cli/commands/probe/index.js';
import { InputError } from '../../src/errors.js';

const source: V1Pod = {
  metadata: {
    name: 'web-7d4b9c-x2x9z',
    namespace: 'shop',
    uid: '0b7c6a4e-1111-2222-3333-444455556666',
    labels: { app: 'web', 'pod-template-hash': '7d4b9c' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c', uid: 'rs-uid', controller: true }],
  },
  spec: { nodeName: 'node-b', containers: [{ name: 'web', image: 'registry.example/web:1' }] },
  status: { phase: 'Running', podIP: '10.244.1.7' },
};
const targets = [
  { ip: '10.244.0.5', port: 80 },
  { ip: '203.0.113.10', port: 443 },
];

describe('probePodManifest', () => {
  const pod = probePodManifest(source, targets, 1, 'docker.io/library/busybox:latest');

  it("stands in for the source: its namespace, every one of its labels, its node", () => {
    expect(pod.metadata?.namespace).toBe('shop');
    expect(pod.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': '7d4b9c', [PROBE_POD_LABEL]: 'true' });
    expect(pod.spec?.nodeName).toBe('node-b');
    expect(pod.metadata?.generateName).toBe('netpol-probe-web-7d4b9c-x2x9z-');
  });

  it('is controlled by the source pod, so the ReplicaSet whose selector matches its labels never adopts it', () => {
    expect(pod.metadata?.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: 'web-7d4b9c-x2x9z', uid: '0b7c6a4e-1111-2222-3333-444455556666', controller: true, blockOwnerDeletion: false },
    ]);
  });

  it('is never Ready (a readiness gate nobody sets), so no Service sends clients to it; it runs once and tolerates the node', () => {
    expect(pod.spec?.readinessGates).toEqual([{ conditionType: 'netpol.io/probe-never-ready' }]);
    expect(pod.spec?.restartPolicy).toBe('Never');
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('fits the restricted Pod Security profile and has requests and limits', () => {
    const c = pod.spec!.containers[0]!;
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources?.limits).toBeDefined();
    expect(c.resources?.requests).toBeDefined();
  });

  it('runs the probe script with the settle wait first, every target, and the image asked for', () => {
    const c = pod.spec!.containers[0]!;
    expect(c.image).toBe('docker.io/library/busybox:latest');
    expect(c.command).toEqual(['sh', '-c', probeScript(targets, 1, PROBE_POD_SETTLE_SECONDS)]);
    expect(c.command![2]!.split('\n')[0]).toBe(`sleep ${PROBE_POD_SETTLE_SECONDS}`);
    expect(c.command![2]).toContain('10.244.0.5:80 203.0.113.10:443');
  });

  it('exec probes do not wait (probeScript without a settle time is unchanged)', () => {
    expect(probeScript(targets, 1).split('\n')[0]).toBe('if [ -x /tcpserver ]; then exec /tcpserver -probe -timeout 1s 10.244.0.5:80 203.0.113.10:443; fi');
  });

  it('defaults to an image every cluster can pull that has sh, nc and timeout', () => {
    expect(DEFAULT_PROBE_IMAGE).toBe('docker.io/library/busybox:latest');
  });
});

describe('netpol probe flags', () => {
  const io = { stdout: process.stdout, stderr: process.stderr };
  const base = { ports: [80], to: [], timeout: 1, output: 'table' as const };

  it('--probe-image and --probe-pod-timeout only with --via pods (named in the error, before any cluster is reached)', async () => {
    await expect(runProbe({ ...base, via: 'exec', probeImage: 'busybox' }, io)).rejects.toThrow(InputError);
    await expect(runProbe({ ...base, via: 'exec', probeImage: 'busybox' }, io)).rejects.toThrow(/--probe-image: probe pods are made only with --via pods/);
    await expect(runProbe({ ...base, probePodTimeout: 5 }, io)).rejects.toThrow(/--probe-pod-timeout: probe pods are made only with --via pods/);
  });
});
