/**
 * Real TCP connects between pods, for `netpol probe`: each source pod is asked, through the API
 * server's pod exec (what `kubectl exec` uses), to connect to every target in one go, and reports
 * one line per target. What a probe sees is what the cluster's dataplane did — the predicted
 * verdicts are the CLI's business (src/cli/probe.ts); this module only measures.
 *
 * In the source container the probe runs `/tcpserver -probe` when the image has it (netpol's probe
 * image, test/node/images), else busybox/netcat `nc` under a hard `timeout`. With nc a target
 * that accepts but never closes reads as "timeout": probe such ports from the probe image.
 *
 * Or (`--via pods`) from a short-lived probe pod per source instead: the source's namespace, labels
 * and node, an image of the user's choice; no shell or nc needed in the workload's image
 * (probeFromProbePod).
 */
import { PassThrough } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError, NetpolError } from '../errors.js';
import type { V1Pod } from './objects.js';

export interface ProbeTarget {
  ip: string;
  port: number;
}

export interface ProbeResult extends ProbeTarget {
  /** True when the packets got through: the handshake completed, or the pod refused (nothing listens). */
  connected: boolean;
  /** What the source reported (for disagreements): "open", "refused", "timeout", … */
  detail: string;
}

/**
 * The shell script a source pod runs: one `ip port result` line per target. `settleSeconds`: a wait
 * before the first connect (probe pods: see PROBE_POD_SETTLE_SECONDS).
 */
export function probeScript(targets: readonly ProbeTarget[], timeoutSeconds: number, settleSeconds = 0): string {
  const list = targets.map((t) => `${t.ip}:${t.port}`).join(' ');
  const t = Math.max(1, Math.round(timeoutSeconds));
  return [
    ...(settleSeconds > 0 ? [`sleep ${settleSeconds}`] : []),
    `if [ -x /tcpserver ]; then exec /tcpserver -probe -timeout ${t}s ${list}; fi`,
    `for target in ${list}; do`,
    `  ip=\${target%:*}; port=\${target##*:}`,
    // No nc -w: busybox nc exits 1 on its own timeout, like a refusal; timeout(1) exits ≥ 124.
    `  timeout ${t} nc "$ip" "$port" </dev/null >/dev/null 2>&1; code=$?`,
    `  if [ $code -eq 0 ]; then echo "$ip $port open"; elif [ $code -ge 124 ]; then echo "$ip $port timeout"; else echo "$ip $port refused"; fi`,
    `done`,
  ].join('\n');
}

/** Parses the lines of probeScript (or /tcpserver -probe): `ip port open|refused|timeout|…`. */
export function parseProbeOutput(text: string, targets: readonly ProbeTarget[]): ProbeResult[] {
  const seen = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\d+) (\S+)$/.exec(line.trim());
    if (m) seen.set(`${m[1]}:${m[2]}`, m[3]!);
  }
  return targets.map((t) => {
    const detail = seen.get(`${t.ip}:${t.port}`) ?? 'no answer from the probe';
    // Refused: the SYN reached the pod, which answered with a reset (nothing listens there), so the
    // network let it through. Dataplanes that enforce NetworkPolicy drop (kube-network-policies
    // does); one that rejected with resets instead would read as reachable here.
    return { ...t, connected: detail === 'open' || detail === 'refused', detail };
  });
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exec's status: Success, or the failure message (exit code, container not found). */
  status: string;
}

/** Runs a command in a pod's container through the API server (the websocket exec subresource). */
export async function execInPod(kc: KubeConfig, namespace: string, pod: string, container: string, command: string[], timeoutMs: number): Promise<ExecResult> {
  const { Exec } = await import('@kubernetes/client-node');
  const exec = new Exec(kc);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec in ${namespace}/${pod} did not finish within ${timeoutMs} ms`)), timeoutMs);
    exec
      .exec(namespace, pod, container, command, stdout, stderr, null, false, (status) => {
        clearTimeout(timer);
        // The status arrives before the streams' last chunks are read: let them drain.
        setImmediate(() => resolve({ stdout: out, stderr: err, status: status.status === 'Success' ? 'Success' : (status.message ?? status.status ?? 'unknown') }));
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
  });
}

/** Every target probed from one pod's container. */
export async function probeFromPod(
  kc: KubeConfig,
  source: { namespace: string; pod: string; container: string },
  targets: readonly ProbeTarget[],
  timeoutSeconds: number,
): Promise<ProbeResult[]> {
  if (targets.length === 0) return [];
  // Targets run one after another: the exec's own deadline allows every one its timeout.
  const budget = (targets.length * (Math.max(1, Math.round(timeoutSeconds)) + 2) + 10) * 1000;
  const r = await execInPod(kc, source.namespace, source.pod, source.container, ['sh', '-c', probeScript(targets, timeoutSeconds)], budget);
  return parseProbeOutput(r.stdout, targets);
}

/** The image of a probe pod (`--via pods`) unless `--probe-image` says otherwise: busybox has sh, nc and timeout. */
export const DEFAULT_PROBE_IMAGE = 'docker.io/library/busybox:latest';

/** Container states that mean the probe image will not run: the pull failed or the image is unusable. */
const IMAGE_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);
/** Container states that mean the container cannot be made at all. */
const CREATE_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/**
 * A probe pod waits this long before its first connect. NetworkPolicy implementations learn a new
 * pod's address from the API server (kube-network-policies on every node, Calico and Cilium alike),
 * and the node that enforces the destination's ingress is often another one: a connect in a pod's
 * first moments can be dropped or held before either node knows the pod. Seen on the two test
 * nodes: without the wait, both runs of test/e2e/node-multinode.test.ts had probe pods whose
 * connects to open pods timed out (1 s timeout); with it, four runs in a row agreed on every probe.
 * Long-lived workload pods (--via exec) never meet this.
 */
export const PROBE_POD_SETTLE_SECONDS = 2;

/** The label every probe pod carries besides its source's, so that users can find (and clean up) strays. */
export const PROBE_POD_LABEL = 'netpol.io/probe';

export interface ProbePodOptions {
  image: string;
  /** How long the probe pod may take to be scheduled, pull its image and start (ms). */
  startTimeoutMs: number;
  /** How often the pod's status is read (ms; default 250). */
  pollMs?: number;
}

/**
 * The probe pod standing in for `source`: its namespace and labels, so that every NetworkPolicy
 * selects it exactly as it selects the source (what a probe measures is the source's egress); on the
 * source's node, so the same node's dataplane enforces it. It must never disturb the workload:
 * - controlled by the source pod (an ownerReference with controller: true): a ReplicaSet, Job or
 *   StatefulSet whose selector matches those labels does not adopt it (and scale its real pods
 *   down), and the garbage collector removes it with the source should netpol die mid-probe;
 * - a readiness gate nothing ever sets: never Ready, so no Service sends its clients to it;
 * - the restricted Pod Security profile (non-root, no privilege escalation, no capabilities) so
 *   namespaces that enforce it admit it, and small resource requests and limits for quotas.
 */
export function probePodManifest(source: V1Pod, targets: readonly ProbeTarget[], timeoutSeconds: number, image: string): V1Pod {
  const name = source.metadata?.name ?? 'pod';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      // generateName: several probes of one source (or runs side by side) never collide.
      generateName: `netpol-probe-${name.slice(0, 40)}-`,
      namespace: source.metadata?.namespace ?? 'default',
      labels: { ...(source.metadata?.labels ?? {}), [PROBE_POD_LABEL]: 'true' },
      annotations: { 'netpol.io/probe-of': name },
      ownerReferences: source.metadata?.uid
        ? [{ apiVersion: 'v1', kind: 'Pod', name, uid: source.metadata.uid, controller: true, blockOwnerDeletion: false }]
        : undefined,
    },
    spec: {
      nodeName: source.spec?.nodeName,
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      // A taint that lets the source run there must not keep its probe away.
      tolerations: [{ operator: 'Exists' }],
      readinessGates: [{ conditionType: 'netpol.io/probe-never-ready' }],
      securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image,
          command: ['sh', '-c', probeScript(targets, timeoutSeconds, PROBE_POD_SETTLE_SECONDS)],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  } as V1Pod;
}

export interface ProbePodResult {
  results: ProbeResult[];
  /** The probe pod as last read (its name and address: what the policies saw as the source). */
  pod: V1Pod;
}

/**
 * Every target probed from a short-lived probe pod standing in for `source` (probePodManifest):
 * created, waited for until it exits, its log read and parsed, then deleted — also on failure.
 * Errors say what to do: RBAC missing (EnvironmentError naming the verbs), an image that cannot be
 * pulled, a pod that does not start or finish in time.
 */
export async function probeFromProbePod(
  kc: KubeConfig,
  source: V1Pod,
  targets: readonly ProbeTarget[],
  timeoutSeconds: number,
  opts: ProbePodOptions,
): Promise<ProbePodResult> {
  const { rawRequest, ApiStatusError } = await import('./live.js');
  const namespace = source.metadata?.namespace ?? 'default';
  const srcName = `${namespace}/${source.metadata?.name ?? ''}`;
  const podsPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  const forbidden = (what: string, e: { reason: string }): EnvironmentError =>
    new EnvironmentError(
      `netpol probe --via pods: cannot ${what} in namespace ${namespace}: ${e.reason}`,
      'probe pods need create, get and delete on pods and get on pods/log in the namespaces probed (or use --via exec, which needs create on pods/exec)',
    );
  let created: V1Pod;
  try {
    created = (await rawRequest(kc, podsPath, { method: 'POST', body: probePodManifest(source, targets, timeoutSeconds, opts.image) })) as V1Pod;
  } catch (e) {
    if (e instanceof ApiStatusError && (e.statusCode === 403 || e.statusCode === 401)) throw forbidden('create pods', e);
    if (e instanceof ApiStatusError) throw new NetpolError(`netpol probe --via pods: the probe pod for ${srcName} was rejected: ${e.reason}`);
    throw e;
  }
  const name = created.metadata?.name ?? '';
  const podPath = `${podsPath}/${encodeURIComponent(name)}`;
  const what = `probe pod ${namespace}/${name} (for ${srcName}, image ${opts.image})`;
  let pod = created;
  let outcome: { results: ProbeResult[] } | undefined;
  let failure: unknown;
  try {
    const poll = opts.pollMs ?? 250;
    const startBy = Date.now() + opts.startTimeoutMs;
    let finishBy = Number.POSITIVE_INFINITY;
    let podIP = '';
    for (;;) {
      try {
        pod = (await rawRequest(kc, podPath)) as V1Pod;
      } catch (e) {
        if (e instanceof ApiStatusError && (e.statusCode === 403 || e.statusCode === 401)) throw forbidden('get pods', e);
        throw e;
      }
      podIP = pod.status?.podIP ?? podIP;
      const phase = pod.status?.phase ?? 'Pending';
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting?.reason && IMAGE_FAILURES.has(waiting.reason)) {
        throw new EnvironmentError(
          `${what}: the image cannot be pulled on node ${pod.spec?.nodeName ?? '?'}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
          '--probe-image must name an image the nodes can pull that has sh and nc (busybox does)',
        );
      }
      if (waiting?.reason && CREATE_FAILURES.has(waiting.reason)) {
        throw new EnvironmentError(`${what}: its container cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
      }
      if (phase === 'Succeeded' || phase === 'Failed') break;
      if (phase === 'Running' && finishBy === Number.POSITIVE_INFINITY) {
        // Running: the targets are probed one after another, each within its timeout.
        finishBy = Date.now() + (PROBE_POD_SETTLE_SECONDS + targets.length * (Math.max(1, Math.round(timeoutSeconds)) + 2) + 10) * 1000;
      }
      if (phase !== 'Running' && Date.now() > startBy) {
        const why = waiting?.reason ?? pod.status?.conditions?.find((c) => c.status === 'False' && c.reason)?.reason ?? 'no reason given';
        throw new EnvironmentError(
          `${what}: not running after ${Math.round(opts.startTimeoutMs / 1000)} s (phase ${phase}: ${why})`,
          'is the node up, and can it pull the image? (--probe-pod-timeout gives it longer)',
        );
      }
      if (Date.now() > finishBy) throw new EnvironmentError(`${what}: still running long after its last probe should have ended`);
      await new Promise((r) => setTimeout(r, poll));
    }
    if (podIP && pod.status) pod.status.podIP = podIP;
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    const log = await readLog(kc, namespace, name).catch((e: unknown) => {
      const code = (e as { code?: number }).code;
      if (code === 403 || code === 401) throw forbidden('get pods/log', { reason: (e as Error).message });
      throw e;
    });
    if (pod.status?.phase === 'Failed') {
      throw new NetpolError(`${what} failed (exit code ${terminated?.exitCode ?? '?'}${terminated?.reason ? `, ${terminated.reason}` : ''}): ${log.trim().slice(0, 300) || 'no output'}`);
    }
    outcome = { results: parseProbeOutput(log, targets) };
  } catch (e) {
    failure = e;
  } finally {
    try {
      await rawRequest(kc, `${podPath}?gracePeriodSeconds=0`, { method: 'DELETE' });
    } catch (e) {
      const gone = e instanceof ApiStatusError && e.statusCode === 404;
      // A probe pod left behind must never go unnoticed: report it unless an earlier error already is.
      if (!gone && failure === undefined) failure = new EnvironmentError(`${what}: could not delete it: ${(e as Error).message}`, `kubectl delete pod -n ${namespace} -l ${PROBE_POD_LABEL}`);
    }
  }
  if (failure !== undefined) throw failure;
  return { results: outcome!.results, pod };
}

async function readLog(kc: KubeConfig, namespace: string, name: string): Promise<string> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  return kc.makeApiClient(CoreV1Api).readNamespacedPodLog({ name, namespace, container: 'probe' });
}
