/**
 * Cluster mode of `netpol trace tcpconnect` (the seed's `kubectl gadget trace tcpconnect`): the
 * node agent's connects, enriched through the API server into K8S.NODE K8S.NAMESPACE K8S.POD
 * K8S.CONTAINER PID COMM IP SRC DST (+ LATENCY), SRC/DST in the seed notation (p/ns/pod:port,
 * s/ns/svc:port, r/ip:port), filtered by -n/-A, --podname, -l/--selector, -c and --node.
 *
 * ClusterAgent is the shared core of this and `netpol learn -l` (src/cli/learn-live.ts): the eBPF
 * agent (src/agent/agent.ts) sees every container's connects on this node; each one is matched to
 * its pod through the live cluster view (container id → status.containerStatuses, else the pod UID
 * of the kubelet cgroup). A connect from a pod the view does not know yet (just created, or the
 * API server is away) is held — in order — until the view knows it or `holdMs` passes, so an API
 * server restart delays output but loses nothing.
 */
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { Command, Option } from 'commander';
import { DURATION_SYNTAX, parseDurationSeconds } from './duration.js';
import type { EnrichedEvent, LocalAgent } from '../agent/agent.js';
import type { TracerCounters } from '../agent/tracer.js';
import { enrichWithIndex, flowDestinationNotation, flowSourceNotation, podOfContainer, type PodIdentity } from '../cluster/enrich.js';
// Type-only: the client library loads when cluster mode runs, not with every netpol command.
import type { LiveClusterView } from '../cluster/live.js';
import type { ClusterIndex } from '../cluster/lookup.js';
import type { V1Pod } from '../cluster/objects.js';
import { InputError } from '../errors.js';
import type { FlowRecord } from '../flows/record.js';
import { compileSelector, parseSelector } from '../policy/selector.js';
import { compileJson, customLayout, k8sLayout, K8S_TCPCONNECT_COLUMNS, TableFormatter, type K8sRowInfo, type Layout, type TraceRow } from './columns.js';

/** Which pods a cluster-mode command is about. */
export interface PodFilterOptions {
  /** -n: this namespace (default: the kubeconfig context's). */
  namespace?: string;
  /** -A: every namespace. */
  allNamespaces?: boolean;
  /** --podname */
  podname?: string;
  /** -l/--selector: full label selector syntax (`a=b,c in (x,y),!d`). */
  selector?: string;
  /** -c/--containername: the container's name in the pod spec. */
  containername?: string;
  /** --node: only pods scheduled to this node. */
  node?: string;
}

/** Compiles the filters; `defaultNamespace` is the context's namespace (used unless -n or -A). */
export function podFilter(opts: PodFilterOptions, defaultNamespace: string): (pod: V1Pod, container: string | undefined) => boolean {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? defaultNamespace);
  const selector = opts.selector !== undefined ? compileSelector(parseSelector(opts.selector, '--selector')) : undefined;
  return (pod, container) =>
    (namespace === undefined || (pod.metadata?.namespace ?? 'default') === namespace) &&
    (opts.podname === undefined || pod.metadata?.name === opts.podname) &&
    (selector === undefined || selector(pod.metadata?.labels ?? {})) &&
    (opts.containername === undefined || container === opts.containername) &&
    (opts.node === undefined || pod.spec?.nodeName === opts.node);
}

/** The node this agent runs on: $NETPOL_NODE_NAME, $NODE_NAME (the downward API's usual name), else the hostname. */
export function thisNodeName(): string {
  return process.env.NETPOL_NODE_NAME || process.env.NODE_NAME || hostname();
}

/** A connect from a pod the filters selected, enriched. */
export interface PodConnect {
  event: EnrichedEvent['event'];
  time: Date;
  record: FlowRecord;
  source: PodIdentity;
  /** K8S.NODE: the pod's node (spec.nodeName), else this node. */
  node: string;
}

export interface ClusterAgentOptions {
  view: LiveClusterView;
  filter: (pod: V1Pod, container: string | undefined) => boolean;
  /** This node's name (record.node for pods without spec.nodeName). */
  node?: string;
  /** One event per edge, repeats counted in the kernel (learn). */
  dedupEdges?: boolean;
  /** How long a connect from an unknown kubelet container waits for the view (default 10 s). */
  holdMs?: number;
  onLost?: (newlyLost: number, totalLost: number) => void;
  /** A connect given up on: its container never showed up in the cluster view. */
  onUnresolved?: (e: EnrichedEvent) => void;
}

/** Connects waiting for their pod, in arrival order. */
interface HoldQueue {
  chain: Promise<void>;
  held: number;
  failure: unknown;
}

export class ClusterAgent {
  private constructor(
    private readonly agent: LocalAgent,
    readonly node: string,
    private readonly holds: HoldQueue,
  ) {}

  static async start(opts: ClusterAgentOptions, onConnect: (c: PodConnect) => void): Promise<ClusterAgent> {
    const node = opts.node ?? thisNodeName();
    const holdMs = opts.holdMs ?? 10_000;
    const s: HoldQueue = { chain: Promise.resolve(), held: 0, failure: undefined };
    const queue: EnrichedEvent[] = [];
    const deliver = (e: EnrichedEvent, index: ClusterIndex): boolean => {
      const found = e.container ? podOfContainer(index, { containerId: e.container.id, podUid: e.container.podUid }) : { match: 'none' as const };
      if (!found.identity) return false;
      const identity = found.identity;
      if (!opts.filter(identity.pod, identity.container)) return true;
      const podNode = identity.pod.spec?.nodeName ?? node;
      const { record } = enrichWithIndex(e.event, index, podNode, e.time.toISOString(), () => ({ identity, match: found.match }));
      if (e.event.outcome === 'error') record.errno = e.event.errno;
      onConnect({ event: e.event, time: e.time, record, source: identity, node: podNode });
      return true;
    };
    // Containers given up on (never reported by the API server within holdMs): their later events
    // are not held again for a while, so one stray container cannot stall everything behind it.
    const givenUp = new Map<string, number>();
    const recentlyGivenUp = (e: EnrichedEvent): boolean => {
      const at = e.container ? givenUp.get(e.container.id) : undefined;
      return at !== undefined && Date.now() - at < 30_000;
    };
    const handle = (e: EnrichedEvent): void => {
      // Fast path: nothing held, pod known.
      if (s.held === 0 && deliver(e, opts.view.index())) return;
      // Not a pod's container (docker, host process), or one already given up on: not ours.
      if (s.held === 0 && (!e.container?.podUid || recentlyGivenUp(e))) return;
      // A kubelet container we cannot place yet: hold it (and everything after it, to keep order).
      s.held++;
      queue.push(e);
      s.chain = s.chain
        .then(async () => {
          const next = queue.shift()!;
          if (deliver(next, opts.view.freshIndex())) return;
          if (!next.container?.podUid || recentlyGivenUp(next)) return;
          const ok = await opts.view.waitFor((index) => (deliver(next, index) ? true : undefined), holdMs);
          if (!ok) {
            givenUp.set(next.container.id, Date.now());
            opts.onUnresolved?.(next);
          }
        })
        .catch((err: unknown) => {
          s.failure ??= err;
        })
        .finally(() => {
          s.held--;
        });
    };
    // Loaded on use: the agent brings the libbpf binding (a native module).
    const { LocalAgent } = await import('../agent/agent.js');
    const agent = await LocalAgent.start(
      {
        ...(opts.dedupEdges ? { dedupEdges: true } : {}),
        ...(opts.onLost ? { onLost: opts.onLost } : {}),
      },
      handle,
    );
    return new ClusterAgent(agent, node, s);
  }

  get eventsReceived(): number {
    return this.agent.eventsReceived;
  }

  get error(): unknown {
    return this.holds.failure ?? this.agent.error;
  }

  /** Stops tracing, then waits for held connects (each at most holdMs). */
  async stop(): Promise<TracerCounters> {
    const counters = await this.agent.stop();
    await this.holds.chain;
    return counters;
  }
}

export interface TraceK8sOptions extends PodFilterOptions {
  latency?: boolean;
  /** columns (default), json, or columns=a,b */
  output?: string;
  /** Stop after this many seconds. */
  timeout?: number;
  kubeconfig?: string;
  context?: string;
}

export interface TraceK8sIO {
  stdout: Writable;
  stderr: Writable;
  signal?: AbortSignal;
  /** Called once the programs are attached and the cluster view is synced. */
  onReady?: () => void;
  onSummary?: (s: { shown: number; lost: number; unresolved: number; received: number }) => void;
  /** A cluster view to use instead of connecting one (tests, or a caller that has one already). */
  view?: LiveClusterView;
}

type View = { kind: 'table'; layout: Layout } | { kind: 'json' };

export function parseK8sOutput(output: string | undefined, latency: boolean): View {
  if (output === undefined || output === 'columns') return { kind: 'table', layout: k8sLayout(latency) };
  if (output === 'json') return { kind: 'json' };
  if (output.startsWith('columns=')) {
    try {
      return { kind: 'table', layout: customLayout(output.slice('columns='.length), K8S_TCPCONNECT_COLUMNS) };
    } catch (err) {
      throw new InputError('-o', (err as Error).message);
    }
  }
  throw new InputError('-o', `unknown output "${output}"; use columns, json or columns=a,b`);
}

/** The row the K8S columns read. */
export function k8sRow(c: PodConnect): TraceRow {
  const { record } = c;
  const dstKind: K8sRowInfo['dstKind'] = record.dst.service ? 'svc' : record.dst.pod ? 'pod' : 'raw';
  const k8s: K8sRowInfo = {
    node: c.node,
    namespace: c.source.namespace,
    pod: c.source.name,
    container: c.source.container ?? '',
    src: flowSourceNotation(record.src),
    dst: flowDestinationNotation(record.dst),
    dstKind,
    ...(dstKind !== 'raw' ? { dstNamespace: record.dst.namespace ?? undefined, dstName: (record.dst.service ?? record.dst.pod) ?? undefined } : {}),
  };
  return { event: c.event, container: null, time: c.time, extra: { k8s } };
}

/** Runs a cluster-mode trace until --timeout, the signal or Ctrl-C; returns the exit code. */
export async function runTraceK8s(opts: TraceK8sOptions, io: TraceK8sIO): Promise<number> {
  const out = parseK8sOutput(opts.output, opts.latency ?? false);
  const table = out.kind === 'table' ? new TableFormatter<TraceRow>(out.layout, K8S_TCPCONNECT_COLUMNS) : undefined;
  const json = compileJson(K8S_TCPCONNECT_COLUMNS);
  const view = io.view ?? (await (await import('../cluster/live.js')).LiveClusterView.connect({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace }));
  let pending: string[] = [];
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    if (pending.length === 0) return;
    io.stdout.write(pending.join('\n') + '\n');
    pending = [];
  };
  let shown = 0;
  let unresolved = 0;
  let agent: ClusterAgent | undefined;
  try {
    agent = await ClusterAgent.start(
      {
        view,
        filter: podFilter(opts, view.namespace),
        onLost: (n, total) => io.stderr.write(`warning: ${n} events lost (ring buffer full; ${total} in total)\n`),
        onUnresolved: () => unresolved++,
      },
      (c) => {
        shown++;
        const row = k8sRow(c);
        pending.push(table ? table.row(row) : JSON.stringify(json(row)));
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      },
    );
    if (table) io.stdout.write(table.header() + '\n');
    io.onReady?.();
    await waitForStop(opts.timeout !== undefined ? opts.timeout * 1000 : undefined, io.signal);
  } finally {
    const counters = agent ? await agent.stop() : { lost: 0, untracked: 0 };
    flush();
    if (!io.view) await view.close();
    io.onSummary?.({ shown, lost: counters.lost, unresolved, received: agent?.eventsReceived ?? 0 });
    io.stderr.write(
      `${shown} connects traced, ${counters.lost} lost${unresolved ? `, ${unresolved} from containers the cluster never reported` : ''}\n`,
    );
  }
  if (agent?.error) throw agent.error;
  return 0;
}

/** Resolves after `ms` (if given), on SIGINT/SIGTERM, or when the signal aborts. */
export function waitForStop(ms: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      process.removeListener('SIGINT', finish);
      process.removeListener('SIGTERM', finish);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = ms !== undefined ? setTimeout(finish, ms) : undefined;
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (signal?.aborted) finish();
    signal?.addEventListener('abort', finish, { once: true });
  });
}

/** True when trace flags ask for cluster mode (the dispatcher in trace.ts asks this). */
export function wantsClusterMode(opts: Partial<TraceK8sOptions>): boolean {
  return [opts.namespace, opts.allNamespaces, opts.podname, opts.selector, opts.node, opts.kubeconfig, opts.context].some((v) => v !== undefined);
}


/** Adds the cluster-mode flags to a `trace tcpconnect` command. */
export function addClusterTraceOptions(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <ns>', 'cluster mode: pods of this namespace (default: the kubeconfig context\'s)')
    .option('-A, --all-namespaces', 'cluster mode: pods of every namespace')
    .option('--podname <name>', 'cluster mode: only this pod')
    .option('-l, --selector <selector>', 'cluster mode: only pods matching this label selector (e.g. run=mypod, app in (a,b), !canary)')
    .option('--node <name>', 'cluster mode: only pods scheduled to this node')
    .option('--kubeconfig <file>', 'cluster mode: kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'cluster mode: kubeconfig context');
}

/** A standalone `tcpconnect` command in cluster mode (for callers that do not merge it into trace.ts). */
export function traceK8sCommand(): Command {
  const cmd = new Command('tcpconnect')
    .summary('trace TCP connects of Kubernetes pods on this node')
    .option('--latency', 'show the LATENCY column')
    .option('-c, --containername <name>', 'only this container (name in the pod spec)')
    .addOption(new Option('-o, --output <format>', 'columns, json, or columns=a,b').default('columns'))
    .option('--timeout <duration>', `stop after this long (${DURATION_SYNTAX}; default: until Ctrl-C)`, parseDurationSeconds);
  addClusterTraceOptions(cmd);
  return cmd.action(async (opts: TraceK8sOptions) => {
    process.exitCode = await runTraceK8s(opts, { stdout: process.stdout, stderr: process.stderr });
  });
}
