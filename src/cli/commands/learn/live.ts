/**
 * `netpol learn -l SELECTOR [-n NS] [--duration D] [--record F] [--out DIR] [--apply]`: observe the
 * selected pods on this node with eBPF, enrich each connect through the API server (pods,
 * Services, nodes), record the flows, and learn their NetworkPolicy. `--apply` sends the result to
 * the cluster: a server-side dry-run of every policy first, then server-side apply, with a diff.
 *
 * The API server may go away while observing: the kernel keeps reporting connects, the cluster
 * view keeps its last state and resumes its watches, and connects from pods it does not know yet
 * wait for it (ClusterAgent in trace-k8s.ts), so nothing observed is lost.
 */
import { LiveClusterView } from '../../../cluster/live.js';
import { InputError } from '../../../errors.js';
import { existsSync } from 'node:fs';
import { FlowWriter, readAllFlows, readFlows } from '../../../flows/jsonl.js';
import type { FlowRecord, Protocol } from '../../../flows/record.js';
import { DEFAULT_LEARN_PROTOCOLS, udpNotObservedWarning, type LearnProtocols } from '../../shared/learn-protocols.js';
import { learnFromFlows } from '../../../policy/learn.js';
import { emitLearned } from '../../shared/learned-output.js';
import { synthesisOptions, type SynthesisFlags } from '../../shared/synthesis-flags.js';
import { startLiveLearnView, type LiveLearnView } from '../../views/learn-view.js';
import { ClusterAgent } from '../../../cluster/cluster-agent.js';
import { podFilter } from '../../shared/pod-filter.js';

export interface LearnLiveOptions extends Partial<SynthesisFlags> {
  /** -l/--selector: the pods to learn (full label selector syntax). */
  selector?: string;
  /** -n: their namespace (default: the kubeconfig context's); -A: every namespace. */
  namespace?: string;
  allNamespaces?: boolean;
  /** -c: only this container of the pods. */
  containername?: string;
  /** --node: only pods scheduled to this node. */
  node?: string;
  /** --duration in milliseconds (parseDuration); default until Ctrl-C. */
  duration?: number;
  /** --record FILE: append the observed flows (JSONL v1) as they arrive. */
  record?: string;
  /** --out DIR: write the policy tree there instead of printing it. */
  out?: string;
  output?: 'yaml' | 'json';
  /** Keep connect latency in the recording (default true). */
  latency?: boolean;
  /** --proto: what to observe (default TCP and UDP; see LearnLocalOptions.proto). */
  proto?: LearnProtocols;
  /** --apply: server-side dry-run, then apply, with a diff. */
  apply?: boolean;
  kubeconfig?: string;
  context?: string;
}

export interface LearnLiveIO {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Aborting ends observation like Ctrl-C. */
  signal?: AbortSignal;
  /** Called once the programs are attached and the cluster view is synced. */
  onReady?: () => void;
  onSummary?: (s: { flows: number; lost: number; deduped: number; unresolved: number }) => void;
  /** A connected view to use (tests); closed by the caller. */
  view?: LiveClusterView;
}

export async function learnLive(opts: LearnLiveOptions, io: LearnLiveIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const view = io.view ?? (await LiveClusterView.connect({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace }));
  try {
    const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? view.namespace);
    const filter = podFilter({ ...opts, namespace, allNamespaces: opts.allNamespaces }, view.namespace);
    // Earlier sessions' flows in the recording this one appends to are learned from too (see learn-local.ts).
    const prior = opts.record && existsSync(opts.record) ? await readAllFlows([opts.record]) : [];
    const writer = opts.record ? new FlowWriter(opts.record) : undefined;
    const flows: FlowRecord[] = [];
    let unresolved = 0;
    let agent: ClusterAgent | undefined;
    let counters = { lost: 0, untracked: 0, deduped: 0 };
    const what = `${opts.selector ? `pods matching ${opts.selector}` : 'all pods'} in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}`;
    const flags = { ...opts, namespace, dns: opts.dns ?? true, ingress: opts.ingress ?? 'observed' } as SynthesisFlags;
    const synthesis = synthesisOptions(flags);
    let live: LiveLearnView | undefined;
    const wantUdp = (opts.proto ?? DEFAULT_LEARN_PROTOCOLS).includes('UDP');
    // What every flow says was observed (FlowRecord.observed): known once the hooks are attached.
    let observed: Protocol[] = ['TCP'];
    try {
      agent = await ClusterAgent.start(
        {
          view,
          filter,
          dedupEdges: true,
          ...(wantUdp ? { udp: true, udpOptional: true } : {}),
          // Learning waits longer than tracing for pods the view does not know yet (an API server
          // outage): a connect is only dropped if its pod never appears within a minute.
          holdMs: 60_000,
          onLost: (n, total) => {
            live?.addLost(n);
            stderr.write(`warning: ${n} connect events lost (ring buffer full; ${total} in total)\n`);
          },
          onUnresolved: (e) => {
            unresolved++;
            stderr.write(`warning: a connect to ${e.event.daddr}:${e.event.dport} came from container ${e.container?.id.slice(0, 12)} that the cluster never reported; not learned\n`);
          },
        },
        (c) => {
          if (opts.latency === false) delete c.record.latencyNs;
          c.record.observed = [...observed];
          flows.push(c.record);
          live?.push(c.record);
          writer?.append(c.record);
        },
      );
      if (agent.udpReporting.observed) observed = ['TCP', 'UDP'];
      else if (wantUdp) stderr.write(udpNotObservedWarning(agent.udpReporting.problem));
      stderr.write(`observing ${what} on ${agent.node} through ${view.description}${opts.duration ? ` for ${opts.duration / 1000}s` : ''} (Ctrl-C to stop and learn)\n`);
      live = startLiveLearnView({
        mode: 'cluster',
        selector: what,
        index: () => view.freshIndex(),
        synthesis,
        out: opts.out,
        prior,
        output: opts.output,
        durationMs: opts.duration,
        signal: io.signal,
        stderr: io.stderr,
      });
      io.onReady?.();
      await live.until;
    } finally {
      if (agent) counters = await agent.stop();
      await live?.close();
      writer?.close();
    }
    io.onSummary?.({ flows: flows.length, lost: counters.lost, deduped: counters.deduped, unresolved });
    stderr.write(
      `observed ${flows.length} distinct connections (${counters.deduped} repeats counted in the kernel), ${counters.lost} events lost` +
        `${writer ? `; recorded to ${opts.record}` : ''}\n`,
    );
    if (agent?.error) throw agent.error;

    // With --record: the whole recording, as `learn --flows REC` would (never narrower than it).
    const outcome = await learnFromFlows(opts.record ? readFlows([opts.record]) : flows, view.freshIndex(), synthesis);
    await emitLearned(outcome, opts, view.kc, { stdout, stderr });
    return 0;
  } finally {
    if (!io.view) await view.close();
  }
}
