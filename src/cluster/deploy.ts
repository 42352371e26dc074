/**
 * Installing netpol's node agent into a cluster (`kubectl netpol deploy` / `undeploy`): the
 * kustomize base shipped in the package (deploy/base, with deploy/crds), read as plain files,
 * server-side applied with field manager "netpol", then watched until the DaemonSet's pods are
 * Ready on every node it schedules to — or, at the deadline, an account of which nodes' agents are
 * not ready and why (the container's waiting reason, its last termination message, probe failures).
 *
 * The base uses no kustomize transformers, only resource lists, so reading the files as listed is
 * exactly what `kubectl kustomize deploy/base` renders (test/unit/deploy-base.test.ts checks it).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError, InputError } from '../errors.js';
import { applyObject } from './apply.js';
import { ApiStatusError, rawRequest } from './live.js';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { parseKubeYaml } from './yaml-documents.js';

export const FIELD_MANAGER = 'netpol';
export const AGENT_NAMESPACE = 'netpol-system';
export const AGENT_DAEMONSET = 'netpol-agent';
export const AGENT_CONTAINER = 'agent';
export const AGENT_SELECTOR = 'app.kubernetes.io/name=netpol-agent';
export const IMAGE_REPOSITORY = 'docker.io/netpol/netpol';

/** The image this client's version deploys: docker.io/netpol/netpol:v<package.json version>. */
export function defaultImage(): string {
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  return `${IMAGE_REPOSITORY}:v${version}`;
}

/** deploy/base of this package: beside dist/ when built (dist/cluster/deploy.js), beside src/ in tests. */
export function packagedBaseDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'base');
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Where the API serves a kind: the base holds only these (a unit test checks every file's kinds). */
interface KindRoute {
  prefix: string;
  plural: string;
  namespaced: boolean;
}

const ROUTES: Record<string, KindRoute> = {
  'v1/Namespace': { prefix: '/api/v1', plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { prefix: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  'v1/Service': { prefix: '/api/v1', plural: 'services', namespaced: true },
  'v1/ConfigMap': { prefix: '/api/v1', plural: 'configmaps', namespaced: true },
  'apps/v1/DaemonSet': { prefix: '/apis/apps/v1', plural: 'daemonsets', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { prefix: '/apis/apiextensions.k8s.io/v1', plural: 'customresourcedefinitions', namespaced: false },
};

/** The REST path of one object (no query). */
export function objectPath(m: Manifest): string {
  const route = ROUTES[`${m.apiVersion}/${m.kind}`];
  if (!route) throw new Error(`no API route for ${m.apiVersion} ${m.kind}`);
  const ns = route.namespaced ? `/namespaces/${encodeURIComponent(m.metadata.namespace ?? 'default')}` : '';
  return `${route.prefix}${ns}/${route.plural}/${encodeURIComponent(m.metadata.name)}`;
}

/** "daemonset.apps/netpol-agent -n netpol-system", as kubectl names objects. */
export function describeManifest(m: Manifest): string {
  const group = m.apiVersion.includes('/') ? `.${m.apiVersion.split('/')[0]}` : '';
  return `${m.kind.toLowerCase()}${group}/${m.metadata.name}${m.metadata.namespace ? ` -n ${m.metadata.namespace}` : ''}`;
}

/**
 * Every object of a kustomization directory, in its `resources:` order (a directory entry is read
 * recursively, as kustomize does). Anything kustomize would transform (namespace:, images:,
 * patches, generators) is refused: the base must stay plain resource lists.
 */
export function loadKustomization(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) throw new InputError(shown, 'does not exist: the package is incomplete (deploy/ ships in package.json "files")');
  const lineCounter = new LineCounter();
  const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter });
  if (doc.errors.length > 0) throw new InputError(shown, `invalid YAML: ${doc.errors[0]!.message}`, lineCounter.linePos(doc.errors[0]!.pos[0]).line);
  // The line of a top-level key, or of the i-th item of a top-level list.
  const lineOf = (key: string, i?: number): number | undefined => {
    const pair = isMap(doc.contents) ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined;
    const node = i !== undefined && isSeq(pair?.value) ? pair.value.items[i] : pair?.key;
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  const k = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof k !== 'object' || Array.isArray(k)) throw new InputError(shown, 'must be a mapping (resources: [...])', 1);
  for (const key of Object.keys(k)) {
    if (!['apiVersion', 'kind', 'resources', 'metadata'].includes(key)) {
      throw new InputError(shown, `kustomize "${key}" is not supported here: list resources only (netpol deploy reads them as they are)`, lineOf(key), key);
    }
  }
  const resources = k.resources ?? [];
  if (!Array.isArray(resources)) throw new InputError(shown, 'must be a list of file or directory names', lineOf('resources'), 'resources');
  const out: Manifest[] = [];
  resources.forEach((entry, i) => {
    if (typeof entry !== 'string') throw new InputError(shown, 'must be a file or directory name', lineOf('resources', i), `resources[${i}]`);
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new InputError(shown, `${entry} does not exist`, lineOf('resources', i), `resources[${i}]`);
    if (statSync(path).isDirectory()) {
      out.push(...loadKustomization(path));
      return;
    }
    const name = relative(process.cwd(), path) || path;
    for (const located of parseKubeYaml(readFileSync(path, 'utf8'), name)) {
      const o = located.object as Partial<Manifest>;
      if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
        throw new InputError(name, 'an object needs apiVersion, kind and metadata.name', located.line);
      }
      if (!ROUTES[`${o.apiVersion}/${o.kind}`]) throw new InputError(name, `netpol deploy does not know where to apply ${o.apiVersion} ${o.kind}`, located.line, 'kind');
      out.push(o as Manifest);
    }
  });
  return out;
}

/** The base with the agent's image set to `image` (the DaemonSet's "agent" container). */
export function withImage(manifests: Manifest[], image: string): Manifest[] {
  return manifests.map((m) => {
    if (m.kind !== 'DaemonSet' || m.metadata.name !== AGENT_DAEMONSET) return m;
    const copy = structuredClone(m) as Manifest & { spec?: { template?: { spec?: { containers?: { name: string; image?: string }[] } } } };
    const container = copy.spec?.template?.spec?.containers?.find((c) => c.name === AGENT_CONTAINER);
    if (!container) throw new Error(`the base's DaemonSet ${AGENT_DAEMONSET} has no container named ${AGENT_CONTAINER}`);
    container.image = image;
    return copy;
  });
}

/** CRDs first (later objects may be custom resources), then Namespaces, then the rest in file order. */
export function applyOrder(manifests: Manifest[]): Manifest[] {
  const rank = (m: Manifest): number => (m.kind === 'CustomResourceDefinition' ? 0 : m.kind === 'Namespace' ? 1 : 2);
  return manifests.map((m, i) => ({ m, i })).sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i).map(({ m }) => m);
}

function apiFailure(err: unknown, what: string, server: string): Error {
  if (err instanceof ApiStatusError) {
    if (err.statusCode === 401) return new EnvironmentError(`${what}: the API server did not accept the kubeconfig's credentials (HTTP 401)`, 'check the kubeconfig user');
    if (err.statusCode === 403) return new EnvironmentError(`${what}: forbidden: ${err.reason}`, 'netpol deploy needs rights to create cluster-wide RBAC, a namespace and a DaemonSet (cluster-admin, usually)');
    const causes = err.causes.map((c) => `${c.field ?? ''} ${c.message ?? ''}`.trim()).filter(Boolean);
    return new EnvironmentError(`${what}: HTTP ${err.statusCode}: ${err.reason}${causes.length ? ` (${causes.join('; ')})` : ''}`);
  }
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ECONNREFUSED') return new EnvironmentError(`${what}: nothing listens at ${server} (connection refused)`, 'check the kubeconfig / --context');
  return new EnvironmentError(`${what}: ${(err as Error).message}`);
}

/** Server-side apply of every manifest (field manager netpol, conflicts forced: deploy owns these objects). */
export async function applyManifests(kc: KubeConfig, manifests: Manifest[], log: (line: string) => void, opts: { dryRun?: boolean } = {}): Promise<void> {
  const server = kc.getCurrentCluster()?.server ?? 'the API server';
  for (const m of applyOrder(manifests)) {
    try {
      await applyObject(kc, m, { fieldManager: FIELD_MANAGER, dryRun: opts.dryRun === true }, describeManifest(m));
    } catch (err) {
      throw apiFailure(err, `applying ${describeManifest(m)}`, server);
    }
    log(`${describeManifest(m)} serverside-applied${opts.dryRun ? ' (server dry run)' : ''}`);
  }
}

// --- waiting for the agents -------------------------------------------------------------------

interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: { reason?: string; exitCode?: number; message?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}
interface Pod {
  metadata: { name: string; uid?: string; creationTimestamp?: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatus[];
  };
}
interface DaemonSet {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; desiredNumberScheduled?: number; updatedNumberScheduled?: number; numberReady?: number; numberAvailable?: number };
}
interface Node {
  metadata: { name: string };
  spec?: { unschedulable?: boolean };
}
interface Event {
  involvedObject?: { uid?: string; name?: string; kind?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  metadata?: { creationTimestamp?: string };
}

/** One node's agent as the wait sees it. */
export interface AgentState {
  node: string;
  pod?: string;
  ready: boolean;
  /** Why it is not ready, in a user's words (empty when ready). */
  why: string;
}

const get = async <T>(kc: KubeConfig, path: string): Promise<T> => (await rawRequest(kc, path)) as T;

/** The agent pods' current state per node (the newest pod of a node when a rollout leaves two). */
export async function agentStates(kc: KubeConfig, withEvents: boolean): Promise<{ ds?: DaemonSet; states: AgentState[] }> {
  let ds: DaemonSet | undefined;
  try {
    ds = await get<DaemonSet>(kc, `/apis/apps/v1/namespaces/${AGENT_NAMESPACE}/daemonsets/${AGENT_DAEMONSET}`);
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 404)) throw err;
  }
  const [pods, nodes] = await Promise.all([
    get<{ items: Pod[] }>(kc, `/api/v1/namespaces/${AGENT_NAMESPACE}/pods?labelSelector=${encodeURIComponent(AGENT_SELECTOR)}`),
    get<{ items: Node[] }>(kc, '/api/v1/nodes'),
  ]);
  const events = withEvents ? (await get<{ items: Event[] }>(kc, `/api/v1/namespaces/${AGENT_NAMESPACE}/events`)).items : [];
  const byNode = new Map<string, Pod>();
  for (const p of pods.items) {
    const node = p.spec?.nodeName ?? '';
    const prev = byNode.get(node);
    if (!prev || (p.metadata.creationTimestamp ?? '') > (prev.metadata.creationTimestamp ?? '')) byNode.set(node, p);
  }
  const states: AgentState[] = [];
  for (const n of nodes.items) {
    const pod = byNode.get(n.metadata.name);
    if (!pod) {
      states.push({ node: n.metadata.name, ready: false, why: n.spec?.unschedulable ? 'no agent pod (node cordoned)' : 'no agent pod scheduled on this node yet' });
      continue;
    }
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && !pod.metadata.deletionTimestamp;
    states.push({ node: n.metadata.name, pod: pod.metadata.name, ready, why: ready ? '' : whyNotReady(pod, events) });
  }
  // Pods the scheduler has not placed yet (no node): the reason is on the pod's PodScheduled condition.
  const pending = byNode.get('');
  if (pending) states.push({ node: '(unscheduled)', pod: pending.metadata.name, ready: false, why: whyNotReady(pending, events) });
  return { ds, states };
}

/** The container's waiting reason, its last termination, probe failures: what `kubectl describe pod` would make you read. */
export function whyNotReady(pod: Pod, events: Event[]): string {
  const parts: string[] = [];
  const st = pod.status;
  if (pod.metadata.deletionTimestamp) parts.push('terminating');
  const unscheduled = st?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) parts.push(`not scheduled: ${unscheduled.reason ?? ''} ${unscheduled.message ?? ''}`.trim());
  const c = st?.containerStatuses?.find((s) => s.name === AGENT_CONTAINER) ?? st?.containerStatuses?.[0];
  if (!c) {
    parts.push(`pod ${st?.phase ?? 'Pending'}${st?.reason ? ` (${st.reason})` : ''}${st?.message ? `: ${st.message}` : ''}`);
  } else {
    const w = c.state?.waiting;
    if (w) parts.push(`container ${w.reason ?? 'waiting'}${w.message ? `: ${oneLine(w.message)}` : ''}`);
    if (c.state?.running && !c.ready) parts.push('container running, not ready');
    const t = c.state?.terminated ?? c.lastState?.terminated;
    if (t) parts.push(`last exit ${t.exitCode ?? '?'} (${t.reason ?? 'terminated'})${t.message ? `: ${oneLine(t.message)}` : ''}`);
    if ((c.restartCount ?? 0) > 0) parts.push(`${c.restartCount} restart${c.restartCount === 1 ? '' : 's'}`);
  }
  const mine = events.filter((e) => e.involvedObject?.uid === pod.metadata.uid && e.type === 'Warning');
  const probe = mine.filter((e) => e.reason === 'Unhealthy').sort((a, b) => eventTime(b).localeCompare(eventTime(a)))[0];
  if (probe?.message) parts.push(`probe: ${oneLine(probe.message)}`);
  const other = mine.filter((e) => e.reason !== 'Unhealthy' && e.reason !== 'BackOff').sort((a, b) => eventTime(b).localeCompare(eventTime(a)))[0];
  if (other?.message) parts.push(`event ${other.reason}: ${oneLine(other.message)}`);
  return parts.join('; ') || 'not ready';
}

const eventTime = (e: Event): string => e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '';
/** Termination messages (the agent's last log lines) in one line, at most 400 characters. */
function oneLine(text: string): string {
  const flat = text.trim().replace(/\s*\n\s*/g, ' | ');
  return flat.length > 400 ? `…${flat.slice(-399)}` : flat;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the DaemonSet's current generation runs Ready on every node it schedules to (as
 * `kubectl rollout status` judges it), logging each change; at the deadline throws an error naming
 * every node whose agent is not ready and why.
 */
export async function waitForAgents(kc: KubeConfig, opts: { timeoutMs: number; log: (line: string) => void; pollMs?: number }): Promise<AgentState[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = '';
  for (;;) {
    const { ds, states } = await agentStates(kc, false);
    const desired = ds?.status?.desiredNumberScheduled ?? 0;
    const observed = (ds?.status?.observedGeneration ?? 0) >= (ds?.metadata.generation ?? 1);
    const readyNodes = states.filter((s) => s.ready).length;
    const done =
      ds !== undefined && observed && (ds.status?.updatedNumberScheduled ?? 0) >= desired && (ds.status?.numberAvailable ?? 0) >= desired && readyNodes >= desired;
    const line = `agents ready: ${readyNodes}/${desired}${states.filter((s) => !s.ready).map((s) => `; ${s.node}: ${s.why}`).join('')}`;
    if (line !== last) opts.log(line);
    last = line;
    if (done) return states;
    if (Date.now() >= deadline) {
      const detailed = await agentStates(kc, true);
      const notReady = detailed.states.filter((s) => !s.ready);
      const lines = notReady.map((s) => `  ${s.node}${s.pod ? ` (pod ${s.pod})` : ''}: ${s.why}`);
      throw new EnvironmentError(
        `the netpol agents are not ready after ${Math.round(opts.timeoutMs / 1000)}s: ${notReady.length} of ${Math.max(desired, detailed.states.length)} node(s) not ready\n${lines.join('\n')}`,
        `kubectl -n ${AGENT_NAMESPACE} describe pods -l ${AGENT_SELECTOR}; kubectl -n ${AGENT_NAMESPACE} logs -l ${AGENT_SELECTOR} --previous`,
      );
    }
    await sleep(Math.min(opts.pollMs ?? 1000, Math.max(0, deadline - Date.now())));
  }
}

// --- removing -----------------------------------------------------------------------------------

/**
 * Deletes the base's objects (CRDs only when asked: they hold users' data) and waits until every one
 * of them and every agent pod is gone; returns how many existed. The DaemonSet goes first and its
 * pods are waited for before the RBAC and the namespace go, so that an agent flushing what it holds
 * on SIGTERM still has its permissions and its API server identity while it does.
 */
export async function deleteManifests(
  kc: KubeConfig,
  manifests: Manifest[],
  opts: { includeCrds: boolean; timeoutMs: number; log: (line: string) => void; pollMs?: number },
): Promise<number> {
  const server = kc.getCurrentCluster()?.server ?? 'the API server';
  const deadline = Date.now() + opts.timeoutMs;
  const targets = applyOrder(manifests)
    .filter((m) => opts.includeCrds || m.kind !== 'CustomResourceDefinition')
    .reverse();
  const workloads = targets.filter((m) => m.kind === 'DaemonSet');
  const rest = targets.filter((m) => m.kind !== 'DaemonSet');

  const remove = async (list: Manifest[]): Promise<Manifest[]> => {
    const deleted: Manifest[] = [];
    for (const m of list) {
      try {
        await rawRequest(kc, `${objectPath(m)}?propagationPolicy=Foreground`, { method: 'DELETE' });
        deleted.push(m);
        opts.log(`${describeManifest(m)} deleted`);
      } catch (err) {
        if (err instanceof ApiStatusError && err.statusCode === 404) continue;
        throw apiFailure(err, `deleting ${describeManifest(m)}`, server);
      }
    }
    return deleted;
  };

  let last = '';
  const waitGone = async (list: Manifest[]): Promise<void> => {
    for (;;) {
      const remaining: string[] = [];
      const pods = await get<{ items: Pod[] }>(kc, `/api/v1/namespaces/${AGENT_NAMESPACE}/pods?labelSelector=${encodeURIComponent(AGENT_SELECTOR)}`).catch((err: unknown) => {
        throw apiFailure(err, 'listing the agent pods', server);
      });
      for (const p of pods.items) remaining.push(`pod/${p.metadata.name} on ${p.spec?.nodeName ?? '(unscheduled)'}`);
      for (const m of list) {
        try {
          await rawRequest(kc, objectPath(m));
          remaining.push(describeManifest(m));
        } catch (err) {
          if (!(err instanceof ApiStatusError && err.statusCode === 404)) throw apiFailure(err, `reading ${describeManifest(m)}`, server);
        }
      }
      if (remaining.length === 0) return;
      const line = `waiting for ${remaining.length} to go: ${remaining.join(', ')}`;
      if (line !== last) opts.log(line);
      last = line;
      if (Date.now() >= deadline) {
        throw new EnvironmentError(`still present after ${Math.round(opts.timeoutMs / 1000)}s: ${remaining.join(', ')}`, `kubectl -n ${AGENT_NAMESPACE} get pods,events`);
      }
      await sleep(Math.min(opts.pollMs ?? 1000, Math.max(0, deadline - Date.now())));
    }
  };

  const first = await remove(workloads);
  await waitGone(first);
  const then = await remove(rest);
  if (!opts.includeCrds) {
    const kept = manifests.filter((m) => m.kind === 'CustomResourceDefinition');
    if (kept.length > 0) opts.log(`kept ${kept.map(describeManifest).join(', ')} and their objects (--include-crds removes them)`);
  }
  await waitGone(then);
  return first.length + then.length;
}
