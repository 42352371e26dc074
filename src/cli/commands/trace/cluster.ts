/**
 * Cluster mode of `netpol trace tcpconnect` (the seed's `kubectl gadget trace tcpconnect`): the
 * node agent's connects, enriched through the API server into K8S.NODE K8S.NAMESPACE K8S.POD
 * K8S.CONTAINER PID COMM IP SRC DST (+ LATENCY), SRC/DST in the seed notation (p/ns/pod:port,
 * s/ns/svc:port, r/ip:port), filtered by -n/-A, --podname, -l/--selector, -c and --node.
 *
 * The connects come from ClusterAgent (src/cluster/cluster-agent.ts), shared with `netpol learn -l`.
 */
import type { Command } from 'commander';
import { ClusterAgent } from '../../../cluster/cluster-agent.js';
// Type-only: the client library loads when cluster mode runs, not with every netpol command.
import type { LiveClusterView } from '../../../cluster/live.js';
import { podFilter, type PodFilterOptions } from '../../shared/pod-filter.js';
import { k8sRow, K8sRowWriter, parseK8sOutput, showsAsMade } from '../../output/k8s-trace.js';
import type { TraceStreams } from './io.js';

export interface TraceK8sOptions extends PodFilterOptions {
  latency?: boolean;
  /** columns (default), json, or columns=a,b */
  output?: string;
  /** Stop after this many seconds. */
  timeout?: number;
  kubeconfig?: string;
  context?: string;
  /** Also show connect() calls that fail before any SYN (ClusterAgentOptions.connectErrors). */
  connectErrors?: boolean;
}

export interface TraceK8sIO extends TraceStreams<{ shown: number; lost: number; unresolved: number; received: number }> {
  /** A cluster view to use instead of connecting one (tests, or a caller that has one already). */
  view?: LiveClusterView;
}

/** Runs a cluster-mode trace until --timeout, the signal or Ctrl-C; returns the exit code. */
export async function runTraceK8s(opts: TraceK8sOptions, io: TraceK8sIO): Promise<number> {
  const out = parseK8sOutput(opts.output, opts.latency ?? false);
  const rows = new K8sRowWriter(out, io.stdout);
  const asMade = showsAsMade(out, opts.latency);
  const view = io.view ?? (await (await import('../../../cluster/live.js')).LiveClusterView.connect({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace }));
  let shown = 0;
  let unresolved = 0;
  let agent: ClusterAgent | undefined;
  try {
    agent = await ClusterAgent.start(
      {
        view,
        filter: podFilter(opts, view.namespace),
        reportConnects: asMade,
        ...(opts.connectErrors ? { connectErrors: true } : {}),
        onLost: (n, total) => io.stderr.write(`warning: ${n} events lost (ring buffer full; ${total} in total)\n`),
        onUnresolved: () => unresolved++,
      },
      (c) => {
        shown++;
        rows.push(k8sRow(c));
      },
    );
    if (asMade && !agent.connectReporting.reported) {
      io.stderr.write(`warning: connects are shown when answered, not as they are made: ${agent.connectReporting.problem ?? 'the sockops hook is not attached'}\n`);
    }
    rows.writeHeader();
    io.onReady?.();
    await waitForStop(opts.timeout !== undefined ? opts.timeout * 1000 : undefined, io.signal);
  } finally {
    const counters = agent ? await agent.stop() : { lost: 0, untracked: 0 };
    rows.flush();
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
    .option('--context <name>', 'cluster mode: kubeconfig context')
    .option('--on-node', 'cluster mode, traced in-process on this node (needs root) even when the netpol agents are deployed');
}
