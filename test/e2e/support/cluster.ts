/**
 * The test cluster for e2e suites: a real etcd + kube-apiserver (test/cluster/) started once per
 * vitest run, on first use. Suites call `ensureCluster()` in `beforeAll`; the global teardown
 * (test/global-setup.ts) stops it. Also the "kubelet" and "controller" chores the tests do
 * themselves because no kubelet or controller-manager runs: writing pod status (IPs, container
 * ids) and EndpointSlices.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type V1Container,
  type V1EndpointSlice,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { cgroup2Root } from '../../../src/agent/containers.js';
import { Netns } from './netns.js';

const run = promisify(execFile);
const clusterScripts = resolve(import.meta.dirname, '..', '..', 'cluster');
/** Keep in sync with test/global-setup.ts. */
const STARTED_MARKER = '.started-by-test-run';

export interface TestCluster {
  /** State directory (certs, logs, kubeconfigs). */
  dir: string;
  /** kubeconfig with contexts netpol-admin (current) and netpol-rbac. */
  kubeconfig: string;
  adminKubeconfig: string;
  /** The second identity: user netpol-rbac, no groups, only what RBAC grants. */
  rbacKubeconfig: string;
  server: string;
  /** Admin client config. */
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  networking: NetworkingV1Api;
  rbac: RbacAuthorizationV1Api;
}

function clusterDir(): string {
  const dir = inject('netpolClusterDir');
  if (!dir) throw new Error('netpolClusterDir not provided: is test/global-setup.ts configured as globalSetup?');
  return dir;
}

function alive(pidFile: string): boolean {
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

async function script(name: string, args: string[]): Promise<void> {
  try {
    const env = { ...process.env, NETPOL_CLUSTER_OWNER_PID: String(inject('netpolClusterOwner')) };
    await run('bash', [join(clusterScripts, name), ...args], { maxBuffer: 16 << 20, env });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`test/cluster/${name} ${args.join(' ')} failed:\n${e.stderr ?? e.message}`);
  }
}

let cached: TestCluster | undefined;

/** Starts the run's cluster if no suite has yet (or restarts a stopped apiserver) and connects to it. */
export async function ensureCluster(): Promise<TestCluster> {
  const dir = clusterDir();
  if (!alive(join(dir, 'etcd.pid'))) {
    await script('start.sh', [dir]);
    writeFileSync(join(dir, STARTED_MARKER), `${process.pid}\n`);
  } else if (!alive(join(dir, 'apiserver.pid'))) {
    await script('start.sh', ['--apiserver', dir]);
  }
  if (cached && cached.dir === dir) return cached;
  const kubeconfig = join(dir, 'kubeconfig');
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'admin.kubeconfig'));
  const server = kc.getCurrentCluster()?.server ?? '';
  process.env.KUBECONFIG = kubeconfig;
  cached = {
    dir,
    kubeconfig,
    adminKubeconfig: join(dir, 'admin.kubeconfig'),
    rbacKubeconfig: join(dir, 'rbac.kubeconfig'),
    server,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
  return cached;
}

/** Stops only the apiserver (etcd keeps the data), as an outage would. */
export async function stopApiserver(): Promise<void> {
  await script('stop.sh', ['--apiserver', clusterDir()]);
}

/** Starts the apiserver again on the same port with the same certificates; resolves when ready. */
export async function startApiserver(): Promise<void> {
  await script('start.sh', ['--apiserver', clusterDir()]);
}

let counter = 0;
/** A namespace of its own for each test (no namespace controller runs, so names are never reused). */
export async function createNamespace(c: TestCluster, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`.slice(0, 63);
  await c.core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

export interface PodSpecInput {
  name: string;
  labels?: Record<string, string>;
  containers?: Array<Pick<V1Container, 'name'> & Partial<V1Container>>;
  nodeName?: string;
  hostNetwork?: boolean;
  ownerReferences?: NonNullable<V1Pod['metadata']>['ownerReferences'];
}

export interface PodStatusInput {
  /** All the pod's IPs; the first is status.podIP. */
  ips: string[];
  hostIP?: string;
  /** Container name → runtime id with scheme, e.g. `containerd://0123…`, in spec order. */
  containerIds?: Record<string, string>;
}

/** Creates a pod and writes its status as the kubelet would once its sandbox and containers run. */
export async function createRunningPod(c: TestCluster, namespace: string, spec: PodSpecInput, status: PodStatusInput): Promise<V1Pod> {
  const containers = (spec.containers ?? [{ name: spec.name }]).map((ct) => ({ image: 'busybox', ...ct }));
  const created = await c.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: spec.name, labels: spec.labels ?? {}, ownerReferences: spec.ownerReferences },
      spec: { containers, nodeName: spec.nodeName, hostNetwork: spec.hostNetwork },
    },
  });
  return writePodStatus(c, created, status);
}

export async function writePodStatus(c: TestCluster, pod: V1Pod, status: PodStatusInput): Promise<V1Pod> {
  const now = new Date();
  const containers = pod.spec?.containers ?? [];
  const body: V1Pod = {
    ...pod,
    status: {
      phase: 'Running',
      podIP: status.ips[0],
      podIPs: status.ips.map((ip) => ({ ip })),
      hostIP: status.hostIP,
      hostIPs: status.hostIP ? [{ ip: status.hostIP }] : undefined,
      startTime: now,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      containerStatuses: containers.map((ct) => ({
        name: ct.name,
        image: ct.image ?? 'busybox',
        imageID: '',
        ready: true,
        restartCount: 0,
        started: true,
        containerID: status.containerIds?.[ct.name],
        state: { running: { startedAt: now } },
      })),
    },
  };
  return c.core.replaceNamespacedPodStatus({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body });
}

/**
 * Writes the EndpointSlice the EndpointSlice controller would write for a Service: one endpoint per
 * pod IP, ports named as the Service's ports with their resolved target ports.
 */
export async function writeEndpointSlice(
  c: TestCluster,
  service: V1Service,
  backends: V1Pod[],
  ports: Array<{ name?: string; port: number; protocol?: string }>,
): Promise<V1EndpointSlice> {
  const namespace = service.metadata!.namespace!;
  const svcName = service.metadata!.name!;
  return c.discovery.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: {
        name: `${svcName}-${Math.random().toString(36).slice(2, 7)}`,
        labels: { 'kubernetes.io/service-name': svcName, 'endpointslice.kubernetes.io/managed-by': 'netpol-tests' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svcName, uid: service.metadata!.uid!, controller: true }],
      },
      addressType: 'IPv4',
      endpoints: backends.map((pod) => ({
        addresses: [pod.status!.podIP!],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: pod.spec?.nodeName,
        targetRef: { kind: 'Pod', namespace, name: pod.metadata!.name!, uid: pod.metadata!.uid! },
      })),
      ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    },
  });
}

/** A Node object with its InternalIP, as a kubelet registers it. */
export async function createNode(c: TestCluster, name: string, internalIp: string, labels: Record<string, string> = {}): Promise<void> {
  const node = await c.core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } } });
  await c.core.replaceNodeStatus({
    name,
    body: { ...node, status: { addresses: [{ type: 'InternalIP', address: internalIp }, { type: 'Hostname', address: name }] } },
  });
}

// ---------------------------------------------------------------------------------------------
// A node's worth of "kubelet": pods as network namespaces behind a router namespace, with their
// processes in cgroups laid out the way the kubelet lays them out (cgroupfs driver, cgroup v2:
// <root>/kubepods/besteffort/pod<uid>/<container id>), and their status written through the API.
// Pod addresses (10.244.x.y) and the stand-ins for "the internet" (documentation addresses on the
// router) exist only inside namespaces the test creates; nothing has a route out of the machine.


/** busybox applets as symlinks, so processes run with comm "wget", "httpd"... */
export function busyboxApplets(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netpol-k8s-bb-'));
  for (const applet of ['wget', 'httpd', 'sh', 'sleep', 'nc']) symlinkSync('/bin/busybox', join(dir, applet));
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'index.html'), 'ok\n');
  return dir;
}

export interface RunningProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export class TestPod {
  readonly children: ChildProcess[] = [];
  constructor(
    readonly node: TestNode,
    readonly pod: V1Pod,
    readonly netns: Netns,
    readonly ip: string,
    /** Container name → cgroup directory (absolute). */
    readonly cgroups: Map<string, string>,
    /** Container name → 64-hex container id. */
    readonly containerIds: Map<string, string>,
  ) {}

  get name(): string {
    return this.pod.metadata!.name!;
  }

  get namespace(): string {
    return this.pod.metadata!.namespace!;
  }

  /**
   * Runs argv as a process of `container`: in the pod's network namespace and in the container's
   * cgroup (the shell moves itself there before exec, so the workload's first instruction already
   * runs in it).
   */
  exec(argv: string[], container = this.pod.spec!.containers[0]!.name): RunningProcess {
    const cgroup = this.cgroups.get(container);
    if (!cgroup) throw new Error(`pod ${this.name} has no container ${container}`);
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${this.netns.name}`, '--', join(this.node.bin, 'sh'), '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv],
      { stdio: 'ignore' },
    );
    this.children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, pid: child.pid!, exited };
  }

  /**
   * `wget -q -O /dev/null http://ADDR:PORT/` from the pod, as the seed's pod does (Debian's static
   * busybox 1.35 wget crashes with -T, so the timeout is ours: 5 s); resolves with its pid.
   */
  async wget(addr: string, port: number, container?: string): Promise<number> {
    const p = this.wgetProcess(addr, port, container);
    await p.exited;
    return p.pid;
  }

  wgetProcess(addr: string, port: number, container?: string): RunningProcess {
    const p = this.exec([join(this.node.bin, 'wget'), '-q', '-O', '/dev/null', `http://${addr}:${port}/`], container);
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
    void p.exited.then(() => clearTimeout(timer));
    return p;
  }

  /** Serves HTTP on `port` inside the pod (a backend). */
  serve(port: number, container?: string): RunningProcess {
    return this.exec([join(this.node.bin, 'httpd'), '-f', '-p', String(port), '-h', this.node.www], container);
  }

  destroy(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    this.netns.destroy();
    for (const dir of this.cgroups.values()) removeCgroup(dir);
    removeCgroup(join(this.cgroups.values().next().value!, '..'));
  }
}

function removeCgroup(dir: string): void {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // EBUSY while killed processes are still leaving it.
      execFileSync('sleep', ['0.1']);
    }
  }
}

/**
 * This machine as a Kubernetes node: a Node object, a router namespace that connects the pods and
 * carries the "outside" addresses (documentation ranges, on its loopback), and pods on it.
 */
export class TestNode {
  readonly pods: TestPod[] = [];
  private subnet = randomInt(1, 200);
  private servers: ChildProcess[] = [];

  private constructor(
    readonly c: TestCluster,
    readonly name: string,
    readonly router: Netns,
    readonly bin: string,
    readonly cgroupRoot: string,
  ) {}

  /** What the HTTP servers serve (an index.html, so a wget succeeds). */
  get www(): string {
    return join(this.bin, 'www');
  }

  static async create(c: TestCluster, name: string): Promise<TestNode> {
    const root = cgroup2Root();
    if (!root) throw new Error('no cgroup v2 hierarchy mounted: the kubelet cgroup layout needs one');
    const router = Netns.create('npk8s');
    router.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const node = new TestNode(c, name, router, busyboxApplets(), root);
    // The node's address: what K8S.NODE resolves and host-network pods would use.
    router.exec(['ip', 'addr', 'add', '198.51.100.254/32', 'dev', 'lo']);
    await c.core.deleteNode({ name }).catch(() => undefined);
    await createNode(c, name, '198.51.100.254');
    return node;
  }

  /** An "outside" host: `ip` on the router's loopback, serving HTTP on `ports` (none: connections are refused). */
  async addOutsideHost(ip: string, ports: number[]): Promise<void> {
    this.router.exec(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
    for (const port of ports) {
      const child = spawn('nsenter', [`--net=/run/netns/${this.router.name}`, '--', join(this.bin, 'httpd'), '-f', '-p', `${ip}:${port}`, '-h', this.www], {
        stdio: 'ignore',
      });
      this.servers.push(child);
      await waitForListen(this.router, port);
    }
  }

  /**
   * Creates the pod through the API (scheduled to this node), gives it a network namespace with
   * address 10.244.<n>.2 routed through the router, container cgroups, and writes its status as
   * the kubelet would: IP, hostIP, containerIDs `containerd://<id>` matching the cgroup names.
   */
  async runPod(namespace: string, spec: Omit<PodSpecInput, 'nodeName'>): Promise<TestPod> {
    const created = await this.c.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: spec.name, labels: spec.labels ?? {}, ownerReferences: spec.ownerReferences },
        spec: {
          nodeName: this.name,
          containers: (spec.containers ?? [{ name: spec.name }]).map((ct) => ({ image: 'busybox', ...ct })),
        },
      },
    });
    const n = this.subnet++;
    const ip = `10.244.${n}.2`;
    const gw = `10.244.${n}.1`;
    const netns = Netns.create('npkpod');
    const [a, b] = [`nk${randomBytes(3).toString('hex')}`, `np${randomBytes(3).toString('hex')}`];
    execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    execFileSync('ip', ['link', 'set', a, 'netns', this.router.name]);
    execFileSync('ip', ['link', 'set', b, 'netns', netns.name]);
    this.router.exec(['ip', 'addr', 'add', `${gw}/24`, 'dev', a]);
    this.router.exec(['ip', 'link', 'set', a, 'up']);
    netns.exec(['ip', 'addr', 'add', `${ip}/24`, 'dev', b]);
    netns.exec(['ip', 'link', 'set', b, 'up']);
    // Pods reach other pods, Services (DNAT'ed in the pod's namespace) and the documentation ranges.
    for (const dst of ['10.0.0.0/8', '198.51.100.0/24', '203.0.113.0/24']) netns.exec(['ip', 'route', 'add', dst, 'via', gw]);

    const uid = created.metadata!.uid!;
    const podDir = join(this.cgroupRoot, 'kubepods', 'besteffort', `pod${uid}`);
    const cgroups = new Map<string, string>();
    const ids = new Map<string, string>();
    for (const ct of created.spec!.containers) {
      const id = randomBytes(32).toString('hex');
      const dir = join(podDir, id);
      mkdirSync(dir, { recursive: true });
      cgroups.set(ct.name, dir);
      ids.set(ct.name, id);
    }
    const pod = await writePodStatus(this.c, created, {
      ips: [ip],
      hostIP: '198.51.100.254',
      containerIds: Object.fromEntries([...ids].map(([name, id]) => [name, `containerd://${id}`])),
    });
    const testPod = new TestPod(this, pod, netns, ip, cgroups, ids);
    this.pods.push(testPod);
    return testPod;
  }

  /** kube-proxy's job for one Service port, done in the client pod's namespace: ClusterIP:port → backend:targetPort. */
  dnat(client: TestPod, clusterIP: string, port: number, backendIp: string, targetPort: number): void {
    const script =
      'table ip netpol_svc {\n chain output {\n  type nat hook output priority -100;\n' +
      `  ip daddr ${clusterIP} tcp dport ${port} dnat to ${backendIp}:${targetPort}\n }\n}\n`;
    execFileSync('ip', ['netns', 'exec', client.netns.name, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) s.kill('SIGKILL');
    for (const p of this.pods.splice(0)) {
      p.destroy();
      await this.c.core.deleteNamespacedPod({ name: p.name, namespace: p.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    this.router.destroy();
    rmSync(this.bin, { recursive: true, force: true });
    await this.c.core.deleteNode({ name: this.name }).catch(() => undefined);
  }
}

async function waitForListen(ns: Netns, port: number, timeoutMs = 5000): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const tables = ns.exec(['cat', '/proc/net/tcp']);
    if (tables.split('\n').some((l) => l.includes(hex) && / 0A /.test(l))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on port ${port} in ${ns.name}`);
}
