// The packaged kustomize base (deploy/base) as `netpol deploy` reads it: the agent's image follows
// the package version, the agent's RBAC is exactly read access to what its cluster view watches,
// the DaemonSet keeps its least-privilege settings, and the reader refuses what it cannot render
// the way kustomize would. Why a pod is not ready is told from real pod status shapes.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyOrder, defaultImage, loadKustomization, objectPath, packagedBaseDir, whyNotReady, withImage, type Manifest } from '../../src/cluster/deploy.js';
import { WATCHED_KINDS } from '../../src/cluster/live.js';
import { InputError } from '../../src/errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const base = loadKustomization(packagedBaseDir());
const byKind = (kind: string) => base.filter((m) => m.kind === kind);
type Container = { name: string; image: string; args?: string[]; securityContext: Record<string, unknown>; volumeMounts: { name: string; readOnly?: boolean }[]; env: { name: string; value?: string; valueFrom?: unknown }[] };
const ds = byKind('DaemonSet')[0] as Manifest & { spec: { template: { spec: { hostNetwork?: boolean; hostPID?: boolean; containers: Container[]; volumes: { name: string; hostPath?: { path: string } }[] } } } };

describe('deploy/base', () => {
  it('names the image of this version, and --image replaces only the agent container', () => {
    expect(defaultImage()).toBe(`docker.io/netpol/netpol:v${pkg.version}`);
    expect(ds.spec.template.spec.containers[0]!.image).toBe(defaultImage());
    const replaced = withImage(base, 'registry.example.com/netpol@sha256:abc');
    const c = (replaced.find((m) => m.kind === 'DaemonSet') as typeof ds).spec.template.spec.containers[0]!;
    expect(c.image).toBe('registry.example.com/netpol@sha256:abc');
    expect(ds.spec.template.spec.containers[0]!.image).toBe(defaultImage()); // the base itself is untouched
  });

  it('holds the shared names: namespace netpol-system, ServiceAccount and DaemonSet netpol-agent, port 9809 http-metrics', () => {
    expect(byKind('Namespace').map((m) => m.metadata.name)).toEqual(['netpol-system']);
    expect(byKind('ServiceAccount').map((m) => `${m.metadata.namespace}/${m.metadata.name}`)).toEqual(['netpol-system/netpol-agent']);
    expect(`${ds.metadata.namespace}/${ds.metadata.name}`).toBe('netpol-system/netpol-agent');
    const svc = byKind('Service')[0] as Manifest & { spec: { ports: { name: string; port: number }[] } };
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: 'http-metrics', port: 9809 })]);
  });

  it("gives the agent get/list/watch of exactly the kinds its cluster view watches, and nothing else", () => {
    const role = byKind('ClusterRole').find((m) => m.metadata.name === 'netpol-agent') as Manifest & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const granted = role.rules.flatMap((r) => {
      expect(r.verbs.sort()).toEqual(['get', 'list', 'watch']);
      return r.apiGroups.flatMap((g) => r.resources.map((res) => (g === '' ? res : `${res}.${g}`)));
    });
    const wanted = WATCHED_KINDS.map((k) => {
      const group = k.apiVersion.includes('/') ? k.apiVersion.split('/')[0]! : '';
      const plural = k.path.split('/').pop()!;
      return group === '' ? plural : `${plural}.${group}`;
    });
    expect(granted.sort()).toEqual([...new Set(wanted)].sort());
    const binding = byKind('ClusterRoleBinding')[0] as Manifest & { subjects: unknown[]; roleRef: { name: string } };
    expect(binding.roleRef.name).toBe('netpol-agent');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'netpol-agent', namespace: 'netpol-system' }]);
  });

  it('runs the agent with least privilege: no host network or PID, caps dropped but four, read-only root and host paths', () => {
    const spec = ds.spec.template.spec;
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.hostPID).toBeUndefined();
    const c = spec.containers[0]!;
    expect(c.args).toEqual(['agent']);
    expect(c.securityContext).toMatchObject({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON', 'NET_ADMIN', 'DAC_READ_SEARCH'] },
    });
    expect(c.volumeMounts.length).toBeGreaterThan(0);
    // Every host path read-only but the profile journal's (/var/lib/netpol, the `state` volume) and
    // the BPF filesystem (`bpffs`: the kernel state pinned across agent restarts).
    for (const m of c.volumeMounts) expect(m.readOnly ?? false, m.name).toBe(m.name !== 'state' && m.name !== 'bpffs');
    expect(spec.volumes.map((v) => v.hostPath?.path).sort()).toEqual(['/run/containerd/io.containerd.runtime.v2.task', '/sys/fs/bpf', '/sys/fs/cgroup', '/sys/kernel/btf', '/sys/kernel/tracing', '/var/lib/netpol']);
    expect(c.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    // Its own pod, so it pins only as a DaemonSet's pod and unpins when the DaemonSet is deleted.
    expect(c.env).toContainEqual({ name: 'NETPOL_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(c.env).toContainEqual({ name: 'NETPOL_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    // The memory settings the agent's RSS figures were measured with (README, node agent memory):
    // a 1 MiB young generation, and two malloc arenas (glibc's default let each thread grow its own).
    expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-semi-space-size=1' });
    expect(c.env).toContainEqual({ name: 'MALLOC_ARENA_MAX', value: '2' });
  });

  it('applies CRDs, then the namespace, then the rest; every object has a REST path', () => {
    const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'x.netpol.io' } };
    const ordered = applyOrder([...base, crd]);
    const crds = base.filter((m) => m.kind === 'CustomResourceDefinition').length;
    expect(crds).toBe(2); // trafficprofiles, stagednetworkpolicies
    expect(ordered.slice(0, crds + 1).map((m) => m.kind)).toEqual(Array(crds + 1).fill('CustomResourceDefinition'));
    expect(ordered[crds]).toBe(crd); // CRDs first, in the order given
    expect(ordered[crds + 1]!.kind).toBe('Namespace');
    expect(objectPath(ds)).toBe('/apis/apps/v1/namespaces/netpol-system/daemonsets/netpol-agent');
    expect(objectPath(crd)).toBe('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.netpol.io');
  });
});

describe('loadKustomization', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-kustomize-'));
  const write = (rel: string, text: string) => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };

  it('refuses kustomize transformers it would not render, naming the file, line and field', () => {
    write('t/kustomization.yaml', 'resources:\n  - a.yaml\nimages:\n  - name: x\n');
    write('t/a.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n');
    expect(() => loadKustomization(join(dir, 't'))).toThrow(InputError);
    expect(() => loadKustomization(join(dir, 't'))).toThrow(/kustomization\.yaml:3: images: kustomize "images" is not supported/);
  });

  it('names a listed file that does not exist, and a kind it cannot apply', () => {
    write('m/kustomization.yaml', 'resources:\n  - ok.yaml\n  - gone.yaml\n');
    write('m/ok.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n');
    expect(() => loadKustomization(join(dir, 'm'))).toThrow(/kustomization\.yaml:3: resources\[1\]: gone\.yaml does not exist/);
    write('k/kustomization.yaml', 'resources:\n  - s.yaml\n');
    write('k/s.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n');
    expect(() => loadKustomization(join(dir, 'k'))).toThrow(/s\.yaml:6: kind: netpol deploy does not know where to apply v1 Secret/);
  });

  it('reads directories recursively, in the order listed', () => {
    write('r/sub/kustomization.yaml', 'resources:\n  - b.yaml\n');
    write('r/sub/b.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n');
    write('r/a.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n');
    write('r/kustomization.yaml', 'resources:\n  - sub\n  - a.yaml\n');
    expect(loadKustomization(join(dir, 'r')).map((m) => m.metadata.name)).toEqual(['b', 'a']);
  });
});

describe('whyNotReady', () => {
  const pod = (status: object) => ({ metadata: { name: 'netpol-agent-x', uid: 'u1' }, spec: { nodeName: 'n1' }, status });

  it('says why an agent crashes: waiting reason, last exit with its log lines, restarts, the failing probe', () => {
    const why = whyNotReady(
      pod({
        phase: 'Running',
        containerStatuses: [
          {
            name: 'agent',
            ready: false,
            restartCount: 2,
            state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } },
            lastState: { terminated: { exitCode: 3, reason: 'Error', message: 'error: permission denied reading /sys/kernel/tracing/events\n  hint: grant CAP_DAC_READ_SEARCH\n' } },
          },
        ],
      }),
      [{ involvedObject: { uid: 'u1' }, type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe failed: connection refused', lastTimestamp: '2026-01-01T00:00:01Z' }],
    );
    expect(why).toBe(
      'container CrashLoopBackOff: back-off 20s; last exit 3 (Error): error: permission denied reading /sys/kernel/tracing/events | hint: grant CAP_DAC_READ_SEARCH; 2 restarts; probe: Readiness probe failed: connection refused',
    );
  });

  it('says why an image does not start, and why a pod is not scheduled', () => {
    expect(whyNotReady(pod({ phase: 'Pending', containerStatuses: [{ name: 'agent', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }] }), [])).toBe(
      'container ImagePullBackOff: Back-off pulling image "x"',
    );
    expect(whyNotReady(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }] }), [])).toBe(
      'not scheduled: Unschedulable 0/1 nodes are available; pod Pending',
    );
  });
});
