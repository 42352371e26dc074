/**
 * Cgroup paths, the one parser module: what a cgroup directory's path says about the container in
 * it. Two readings, because the two callers ask different questions:
 *
 * - parseCgroupPath (the node agent, any runtime): the container id and runtime a directory is
 *   named after, and the pod UID when a kubelet made it. Runtimes name the directory after the
 *   container id:
 *     /sys/fs/cgroup/unified/docker/<id>                 docker, cgroupfs driver, hybrid hierarchy
 *     /sys/fs/cgroup/docker/<id>                         docker, cgroupfs driver, pure cgroup v2
 *     /sys/fs/cgroup/system.slice/docker-<id>.scope      docker, systemd driver
 *     /sys/fs/cgroup/kubepods/besteffort/pod<uid>/<id>   kubelet, cgroupfs driver
 * - parseKubeletCgroupPath (cluster enrichment): the kubelet's layout in full (driver, QoS class,
 *   pod UID, container id, CRI-O's conmon scope), for paths below a kubepods cgroup.
 *
 * The kubelet's cgroup layouts, by cgroup driver and runtime (cgroup v2 paths, relative to the
 * unified hierarchy's root; v1 names are the same below the controller's mount):
 *
 *   systemd   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
 *             …/crio-<id>.scope  (CRI-O; crio-conmon-<id>.scope holds its conmon)   …/docker-<id>.scope (cri-dockerd)
 *   cgroupfs  /kubepods/burstable/pod<uid>/<id>       (Guaranteed pods sit directly in /kubepods/pod<uid>/)
 *
 * Some distributions nest all of that under a prefix (kind: /kubelet.slice/kubelet-kubepods.slice/…,
 * or a container's own cgroup namespace root), so the parser looks at path segments, not prefixes.
 */
import { basename } from 'node:path';

export type Runtime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'unknown';

/** A container's cgroup directory as its path names it. */
export interface ContainerCgroup {
  path: string;
  containerId: string;
  runtime: Runtime;
  /** Pod UID for kubelet-managed cgroups. */
  podUid?: string;
}

const CONTAINER_DIR = /^(?:(docker|cri-containerd|crio|libpod)-)?([0-9a-f]{64})(?:\.scope)?$/;
const POD_SEGMENT = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** Whether a directory name is one a runtime gives a container's cgroup (the agent watches for them). */
export function isContainerDirName(name: string): boolean {
  return CONTAINER_DIR.test(name);
}

export function parseCgroupPath(path: string): ContainerCgroup | undefined {
  const m = CONTAINER_DIR.exec(basename(path));
  if (!m?.[2]) return undefined;
  const prefix = m[1];
  const pod = POD_SEGMENT.exec(path)?.[1]?.replaceAll('_', '-');
  let runtime: Runtime = 'unknown';
  if (prefix === 'docker' || (!prefix && /\/docker\//.test(path))) runtime = 'docker';
  else if (prefix === 'cri-containerd') runtime = 'containerd';
  else if (prefix === 'crio') runtime = 'cri-o';
  else if (prefix === 'libpod') runtime = 'podman';
  return { path, containerId: m[2], runtime, ...(pod ? { podUid: pod } : {}) };
}

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface KubeletCgroup {
  driver: 'systemd' | 'cgroupfs';
  /** Pod UID in its API form (dashes), when the path is below a pod's cgroup. */
  podUid?: string;
  qos?: QosClass;
  /** 64-hex container id, when the path is a container's cgroup (or below it). */
  containerId?: string;
  /** Known from systemd scope names; cgroupfs paths do not say which runtime made them. */
  runtime?: ContainerRuntime;
  /** True for CRI-O's conmon scope: the pod's, but no container's. */
  conmon?: boolean;
}

const SCOPE = /^(cri-containerd|crio|docker|cri-dockerd|containerd)-(conmon-)?([0-9a-f]{64})\.scope$/;
const RUNTIME_BY_PREFIX: Record<string, ContainerRuntime> = {
  'cri-containerd': 'containerd',
  containerd: 'containerd',
  crio: 'cri-o',
  docker: 'docker',
  'cri-dockerd': 'docker',
};
const SYSTEMD_POD = /^(?:[a-z0-9_-]*-)?kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{32,36})\.slice$/;
const CGROUPFS_POD = /^pod([0-9a-f-]{32,36})$/;
const BARE_ID = /^[0-9a-f]{64}$/;

/** Reads a kubelet-made cgroup path; undefined when the path is not below a kubepods cgroup. */
export function parseKubeletCgroupPath(path: string): KubeletCgroup | undefined {
  const segments = path.split('/').filter((s) => s !== '');
  const kubepods = segments.findIndex((s) => s === 'kubepods' || /(^|-)kubepods\.slice$/.test(s));
  if (kubepods < 0) return undefined;
  const driver = segments[kubepods]!.endsWith('.slice') ? 'systemd' : 'cgroupfs';
  const out: KubeletCgroup = { driver };
  for (const seg of segments.slice(kubepods + 1)) {
    if (driver === 'systemd') {
      const qosSlice = /(?:^|-)kubepods-(besteffort|burstable)\.slice$/.exec(seg);
      if (qosSlice) {
        out.qos = qosSlice[1] as QosClass;
        continue;
      }
      const pod = SYSTEMD_POD.exec(seg);
      if (pod) {
        out.podUid = pod[2]!.replaceAll('_', '-');
        out.qos ??= (pod[1] as QosClass | undefined) ?? 'guaranteed';
        continue;
      }
      const scope = SCOPE.exec(seg);
      if (scope && out.podUid && !out.containerId) {
        out.runtime = RUNTIME_BY_PREFIX[scope[1]!];
        if (scope[2]) out.conmon = true;
        else out.containerId = scope[3];
      }
    } else {
      if (seg === 'besteffort' || seg === 'burstable') {
        out.qos = seg;
        continue;
      }
      const pod = CGROUPFS_POD.exec(seg);
      if (pod) {
        out.podUid = pod[1];
        out.qos ??= 'guaranteed';
        continue;
      }
      if (out.podUid && !out.containerId) {
        if (BARE_ID.test(seg)) out.containerId = seg;
        else {
          // cgroupfs driver with a systemd-style scope name (some runtimes do this).
          const scope = SCOPE.exec(seg);
          if (scope) {
            out.runtime = RUNTIME_BY_PREFIX[scope[1]!];
            if (scope[2]) out.conmon = true;
            else out.containerId = scope[3];
          }
        }
      }
    }
  }
  return out;
}
