/**
 * The test cluster for e2e suites: a real etcd + kube-apiserver (test/cluster/) started once per
 * vitest run, on first use. Suites call `ensureCluster()` in `beforeAll`; the global teardown
 * (test/global-setup.ts) stops it. Also the "kubelet" and "controller" chores the tests do
 * themselves because no kubelet or controller-manager runs: writing pod status (IPs, container
 * ids) and EndpointSlices.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
