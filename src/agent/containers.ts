/**
 * Local enrichment: cgroup id → container → name and image, the way a node agent sees it.
 *
 * The kernel gives us bpf_get_current_cgroup_id() of the connecting task: the inode of its
 * cgroup v2 directory. Container runtimes name that directory after the container id:
 *   /sys/fs/cgroup/unified/docker/<id>                 docker, cgroupfs driver, hybrid hierarchy
 *   /sys/fs/cgroup/docker/<id>                         docker, cgroupfs driver, pure cgroup v2
 *   /sys/fs/cgroup/system.slice/docker-<id>.scope      docker, systemd driver
 *   /sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/
 *       kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope     kubelet + containerd
 *   /sys/fs/cgroup/kubepods/besteffort/pod<uid>/<id>   kubelet, cgroupfs driver
 * so a walk of the cgroup2 tree maps inode → container id (and pod uid for kubelet layouts);
 * cgroup-path.ts reads the paths.
 * Names and images come from the runtime's own API: Docker's socket with plain node:http.
 * A host process (no container) keeps only its process name (comm) from the event.
 */
import { type FSWatcher, readdirSync, readFileSync, statSync, watch, existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { isContainerDirName, parseCgroupPath, type ContainerCgroup, type Runtime } from './cgroup-path.js';


export interface CgroupEntry extends ContainerCgroup {
  cgroupId: bigint;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  runtime: Runtime;
  podUid?: string;
  /** Addresses of the container on its networks (Docker). */
  ips: string[];
  /** Kubernetes pod of a CRI container (from containerd's annotations). */
  pod?: { namespace: string; name: string };
}

const NEGATIVE_TTL_MS = 5000;

/** Mount point of the cgroup v2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified). */
export function cgroup2Root(): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, mnt, type] = line.split(' ');
      if (type === 'cgroup2' && mnt) return mnt;
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

/** cgroup id → container, by walking the cgroup v2 tree; refreshed on misses and on inotify. */
export class CgroupIndex {
  private byId = new Map<bigint, CgroupEntry>();
  private lastScan = 0;
  private watchers: FSWatcher[] = [];

  constructor(
    readonly root: string | undefined = cgroup2Root(),
    private readonly maxDepth = 6,
  ) {
    this.rescan();
  }

  rescan(): CgroupEntry[] {
    this.lastScan = Date.now();
    const added: CgroupEntry[] = [];
    const next = new Map<bigint, CgroupEntry>();
    const walk = (dir: string, depth: number): void => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const ent of entries) {
        if (!ent.isDirectory()) continue;
        const path = join(dir, ent.name);
        const parsed = parseCgroupPath(path);
        if (parsed) {
          const entry = this.entryFor(path, parsed);
          if (entry) {
            next.set(entry.cgroupId, entry);
            if (!this.byId.has(entry.cgroupId)) added.push(entry);
          }
        } else if (depth < this.maxDepth) {
          walk(path, depth + 1);
        }
      }
    };
    if (this.root) walk(this.root, 0);
    // Keep entries whose directory is gone: a short-lived container's events may still be queued,
    // and cgroup ids are never reused within a boot.
    for (const [id, e] of next) this.byId.set(id, e);
    return added;
  }

  private entryFor(path: string, parsed: ContainerCgroup): CgroupEntry | undefined {
    try {
      return { ...parsed, cgroupId: statSync(path, { bigint: true }).ino };
    } catch {
      return undefined;
    }
  }

  /** The container of a cgroup id; rescans (at most every 50 ms) on a miss. */
  lookup(cgroupId: bigint): CgroupEntry | undefined {
    const hit = this.byId.get(cgroupId);
    if (hit || Date.now() - this.lastScan < 50) return hit;
    this.rescan();
    return this.byId.get(cgroupId);
  }

  entries(): CgroupEntry[] {
    return [...this.byId.values()];
  }

  /**
   * Calls `onAdded` soon after a container cgroup appears: inotify on the directories runtimes
   * create containers in (the cgroup is made before the container's process starts), plus a
   * periodic rescan for nested kubelet layouts. Returns a function that stops watching.
   */
  watch(onAdded: (e: CgroupEntry) => void, rescanMs = 1000): () => void {
    const fire = () => {
      for (const e of this.rescan()) onAdded(e);
    };
    const dirs = new Set<string>();
    if (this.root) {
      dirs.add(this.root);
      for (const d of ['docker', 'system.slice', 'kubepods', 'kubepods.slice', 'machine.slice']) {
        if (existsSync(join(this.root, d))) dirs.add(join(this.root, d));
      }
      for (const e of this.byId.values()) dirs.add(join(e.path, '..'));
    }
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, (_type, name) => {
          if (name && (isContainerDirName(name.toString()) || name.toString() === 'docker')) {
            fire();
            if (name.toString() === 'docker') this.watchDir(join(d, 'docker'), fire);
          }
        });
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        /* not watchable: the periodic rescan covers it */
      }
    }
    const timer = setInterval(fire, rescanMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      for (const w of this.watchers.splice(0)) w.close();
    };
  }

  private watchDir(dir: string, fire: () => void): void {
    try {
      const w = watch(dir, { persistent: false }, () => fire());
      w.on('error', () => w.close());
      this.watchers.push(w);
    } catch {
      /* ignore */
    }
  }
}

interface DockerInspect {
  Id: string;
  Name: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  NetworkSettings?: { IPAddress?: string; GlobalIPv6Address?: string; Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> };
}

/** Docker Engine API over its unix socket, with plain node:http. */
export class DockerClient {
  constructor(readonly socketPath = '/var/run/docker.sock') {}

  available(): boolean {
    return existsSync(this.socketPath);
  }

  get<T>(path: string, timeoutMs = 3000): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new Error(`docker API ${path}: HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`docker API ${path}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const c = await this.get<DockerInspect>(`/containers/${encodeURIComponent(id)}/json`);
    if (!c) return undefined;
    const ips = new Set<string>();
    const ns = c.NetworkSettings;
    for (const a of [ns?.IPAddress, ns?.GlobalIPv6Address]) if (a) ips.add(a);
    for (const n of Object.values(ns?.Networks ?? {})) for (const a of [n.IPAddress, n.GlobalIPv6Address]) if (a) ips.add(a);
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      image: c.Config?.Image ?? '',
      labels: c.Config?.Labels ?? {},
      runtime: 'docker',
      ips: [...ips],
    };
  }
}

interface OciConfig {
  annotations?: Record<string, string>;
}

/**
 * containerd without talking gRPC: each running task has an OCI bundle at
 * <root>/<namespace>/<id>/config.json whose annotations (set by the CRI plugin) name the
 * container, its image and its pod.
 */
export class ContainerdBundles {
  constructor(readonly roots: string[] = ['/run/containerd/io.containerd.runtime.v2.task', '/run/k3s/containerd/io.containerd.runtime.v2.task']) {}

  inspect(id: string): ContainerInfo | undefined {
    for (const root of this.roots) {
      let namespaces: string[];
      try {
        namespaces = readdirSync(root);
      } catch {
        continue;
      }
      for (const ns of namespaces) {
        let config: OciConfig;
        try {
          config = JSON.parse(readFileSync(join(root, ns, id, 'config.json'), 'utf8')) as OciConfig;
        } catch {
          continue;
        }
        const a = config.annotations ?? {};
        const podName = a['io.kubernetes.cri.sandbox-name'];
        const podNamespace = a['io.kubernetes.cri.sandbox-namespace'];
        return {
          id,
          name: a['io.kubernetes.cri.container-name'] ?? podName ?? id.slice(0, 12),
          image: a['io.kubernetes.cri.image-name'] ?? '',
          labels: {},
          runtime: 'containerd',
          ips: [],
          ...(podName && podNamespace ? { pod: { namespace: podNamespace, name: podName } } : {}),
          ...(a['io.kubernetes.cri.sandbox-uid'] ? { podUid: a['io.kubernetes.cri.sandbox-uid'] } : {}),
        };
      }
    }
    return undefined;
  }
}

/**
 * cgroup id → ContainerInfo with caching. `null` in the cache means "not a container" (a host
 * process), so misses are not retried on every event.
 */
export class ContainerResolver {
  private cache = new Map<bigint, ContainerInfo | null>();
  /** When a "not a container" answer was cached: it is asked again after NEGATIVE_TTL_MS. */
  private negativeAt = new Map<bigint, number>();
  private inflight = new Map<bigint, Promise<ContainerInfo | null>>();

  /** Fallback for cgroups gone before they were indexed: their directory name, from the kernel. */
  cgroupName: ((cgroupId: bigint) => string | undefined) | undefined;

  constructor(
    readonly cgroups = new CgroupIndex(),
    readonly docker = new DockerClient(),
    readonly containerd = new ContainerdBundles(),
  ) {}

  /**
   * The last answer cached() gave and its cgroup: a storm's connects ask for one cgroup tens of
   * thousands of times a second, each a Map lookup by BigInt (and, for a host process, another and
   * the clock). Forgotten whenever the cache changes.
   */
  private memoId: bigint | undefined;
  private memoKnown: ContainerInfo | null | undefined;
  /** A memoized null's expiry (negativeAt + NEGATIVE_TTL_MS), epoch ms. */
  private memoUntil = Number.NaN;

  /**
   * What is known now, without waiting: info, null (host process) or undefined (not yet asked).
   * `nowMs`: the time a "not a container" answer is judged expired against; the record path passes
   * the connect's own time (it has it, and reading the clock per connect was a cost of its own).
   */
  cached(cgroupId: bigint, nowMs?: number): ContainerInfo | null | undefined {
    if (cgroupId === this.memoId && (this.memoKnown !== null || (nowMs ?? Date.now()) <= this.memoUntil)) return this.memoKnown;
    const known = this.cache.get(cgroupId);
    if (known === null) {
      const until = (this.negativeAt.get(cgroupId) ?? 0) + NEGATIVE_TTL_MS;
      if ((nowMs ?? Date.now()) > until) {
        this.cache.delete(cgroupId);
        this.memoId = undefined;
        return undefined;
      }
      this.memoUntil = until;
    }
    if (known !== undefined) {
      this.memoId = cgroupId;
      this.memoKnown = known;
    }
    return known;
  }

  resolve(cgroupId: bigint): Promise<ContainerInfo | null> {
    const known = this.cached(cgroupId);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.inflight.get(cgroupId);
    if (!p) {
      p = this.lookup(cgroupId).then((info) => {
        this.inflight.delete(cgroupId);
        this.cache.set(cgroupId, info);
        this.memoId = undefined;
        if (info === null) this.negativeAt.set(cgroupId, Date.now());
        return info;
      });
      this.inflight.set(cgroupId, p);
    }
    return p;
  }

  private async lookup(cgroupId: bigint): Promise<ContainerInfo | null> {
    if (cgroupId <= 1n) return null; // the root cgroup: a host process
    let entry = this.cgroups.lookup(cgroupId);
    if (!entry) {
      const name = this.cgroupName?.(cgroupId);
      const parsed = name ? parseCgroupPath(name) : undefined;
      if (parsed) entry = { ...parsed, cgroupId };
    }
    if (!entry) return null;
    return (await this.inspectEntry(entry)) ?? null;
  }

  /** Runtime details of a container cgroup (id and runtime only when the API does not know it). */
  async inspectEntry(entry: CgroupEntry): Promise<ContainerInfo | undefined> {
    let info: ContainerInfo | undefined;
    if (this.docker.available() && (entry.runtime === 'docker' || entry.runtime === 'unknown')) {
      try {
        info = await this.docker.inspect(entry.containerId);
      } catch {
        info = undefined;
      }
    }
    if (!info && entry.runtime !== 'docker') info = this.containerd.inspect(entry.containerId);
    const result: ContainerInfo = info ?? {
      id: entry.containerId,
      name: entry.containerId.slice(0, 12),
      image: '',
      labels: {},
      runtime: entry.runtime,
      ips: [],
    };
    if (entry.podUid) result.podUid = entry.podUid;
    this.cache.set(entry.cgroupId, result);
    this.memoId = undefined;
    return result;
  }

  /** Every container cgroup present now, resolved. */
  async all(): Promise<Array<{ entry: CgroupEntry; info: ContainerInfo }>> {
    const out: Array<{ entry: CgroupEntry; info: ContainerInfo }> = [];
    this.cgroups.rescan();
    for (const entry of this.cgroups.entries()) {
      const info = await this.inspectEntry(entry);
      if (info) out.push({ entry, info });
    }
    return out;
  }

  /** Resolves each container cgroup that appears from now on. */
  watch(onContainer: (entry: CgroupEntry, info: ContainerInfo) => void): () => void {
    return this.cgroups.watch((entry) => {
      void this.inspectEntry(entry).then((info) => {
        if (info) onContainer(entry, info);
      });
    });
  }
}
