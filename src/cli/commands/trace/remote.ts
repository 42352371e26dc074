/**
 * `kubectl netpol trace tcpconnect` from a workstation (no root, a kubeconfig): finds the pods the
 * flags select (-n/-A, -l, --podname, --node), their nodes, and the netpol agent (DaemonSet
 * netpol-system/netpol-agent) on each of those nodes; streams /v1/connects from each agent through
 * the pods/portforward subresource, filtered on the agent's side, and prints the merged stream
 * exactly as the on-node mode does (src/cli/output/k8s-trace.ts).
 *
 * Pods that appear later, on other nodes, are picked up (the pod list is read again every second)
 * and their node's stream asks for the agent's recent past from the moment the trace started
 * (`since=`), so a pod created just after `trace` started has none of its first connects missed.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { AGENT_DAEMONSET, AGENT_NAMESPACE, AGENT_SELECTOR, agentStates, type AgentState } from '../../../cluster/deploy.js';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { ApiStatusError, rawRequest } from '../../../cluster/live.js';
import type { V1Pod } from '../../../cluster/objects.js';
import { toStreamedConnect, type ConnectsQuery } from '../../../daemon/protocol.js';
import { EnvironmentError, InputError } from '../../../errors.js';
import { k8sRow, K8sRowWriter, parseK8sOutput, showsAsMade } from '../../output/k8s-trace.js';
import { AgentTunnel, AgentUnreachable, noAgentsError } from '../../shared/agent-client.js';
import { podFilter } from '../../shared/pod-filter.js';
import { waitForStop, type TraceK8sIO, type TraceK8sOptions } from './cluster.js';
import { Delivered } from './delivered.js';

/** Whether the agents are deployed: 'yes', 'no' (no DaemonSet), or why it cannot be told. */
export async function agentsDeployed(kc: KubeConfig): Promise<{ deployed: boolean; problem?: string }> {
  try {
    await rawRequest(kc, `/apis/apps/v1/namespaces/${AGENT_NAMESPACE}/daemonsets/${AGENT_DAEMONSET}`, { timeoutMs: 10_000 });
    return { deployed: true };
  } catch (err) {
    if (err instanceof ApiStatusError && err.statusCode === 404) return { deployed: false };
    if (err instanceof ApiStatusError && err.statusCode === 403) return { deployed: false, problem: `cannot read daemonset ${AGENT_NAMESPACE}/${AGENT_DAEMONSET}: ${err.reason}` };
    throw err;
  }
}

/** The pods the flags select, read from the API server (the selectors applied there, checked again here). */
async function matchingPods(kc: KubeConfig, opts: TraceK8sOptions, namespace: string | undefined, keep: (pod: V1Pod) => boolean): Promise<V1Pod[]> {
  const params = new URLSearchParams();
  if (opts.selector !== undefined) params.set('labelSelector', opts.selector);
  const fields = [...(opts.podname !== undefined ? [`metadata.name=${opts.podname}`] : []), ...(opts.node !== undefined ? [`spec.nodeName=${opts.node}`] : [])];
  if (fields.length > 0) params.set('fieldSelector', fields.join(','));
  const base = namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
  const list = (await rawRequest(kc, `${base}?${params.toString()}`, { timeoutMs: 15_000 })) as { items?: V1Pod[] };
  return (list.items ?? []).filter(keep);
}

/**
 * The agents per node. agentStates also lists nodes (to name those without an agent); a user who
 * may not list nodes still gets the agents from their pods alone.
 */
async function agentsByNode(kc: KubeConfig): Promise<AgentState[]> {
  try {
    return (await agentStates(kc, false)).states;
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 403)) throw err;
    const pods = (await rawRequest(kc, `/api/v1/namespaces/${AGENT_NAMESPACE}/pods?labelSelector=${encodeURIComponent(AGENT_SELECTOR)}`)) as { items?: V1Pod[] };
    return (pods.items ?? []).map((p) => {
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && !p.metadata?.deletionTimestamp;
      return { node: p.spec?.nodeName ?? '', pod: p.metadata?.name ?? '', ready, why: ready ? '' : `agent pod ${p.status?.phase ?? 'Pending'}, not ready` };
    });
  }
}

interface NodeStream {
  tunnel: AgentTunnel;
  done: Promise<void>;
}

/** Runs the trace from the agents until --timeout, the signal or Ctrl-C; returns the exit code. */
export async function runTraceRemote(opts: TraceK8sOptions, io: TraceK8sIO): Promise<number> {
  const out = parseK8sOutput(opts.output, opts.latency ?? false);
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const resolved = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  const kc = resolved.kc;
  const namespace = opts.allNamespaces ? undefined : resolved.namespace;
  const podMatches = podFilter({ ...opts, containername: undefined }, resolved.namespace);
  const keep = (pod: V1Pod): boolean => podMatches(pod, undefined);
  const rows = new K8sRowWriter(out, io.stdout);
  const asMade = showsAsMade(out, opts.latency);
  const started = new Date();
  const query: ConnectsQuery = {
    ...(namespace !== undefined ? { namespace } : {}),
    ...(opts.podname !== undefined ? { podname: opts.podname } : {}),
    ...(opts.selector !== undefined ? { selector: opts.selector } : {}),
    ...(opts.containername !== undefined ? { container: opts.containername } : {}),
    when: asMade ? 'connect' : 'answer',
  };

  let shown = 0;
  let lost = 0;
  /**
   * Connects the agents counted in the kernel (before this trace streamed): told, not shown. An upper
   * bound: after a reconnect the replay may tell a count again.
   */
  let counted = 0;
  const countedFrom = new Set<string>();
  const abort = new AbortController();
  const streams = new Map<string, NodeStream>();
  const warned = new Map<string, string>();
  let failure: unknown;
  let opened = 0;
  const agentProblems: string[] = [];
  const warnOnce = (node: string, message: string): void => {
    if (warned.get(node) === message) return;
    warned.set(node, message);
    io.stderr.write(`warning: ${message}\n`);
  };

  const delivered = new Map<string, Delivered>();
  const open = async (state: AgentState): Promise<void> => {
    const tunnel = await AgentTunnel.open(kc, state.node, state.pod!);
    opened++;
    let seen = delivered.get(state.node);
    if (!seen) delivered.set(state.node, (seen = new Delivered()));
    const since = seen.lastTime && seen.lastTime > started ? seen.lastTime : started;
    const done = tunnel
      .streamConnects(
        { ...query, since },
        (line) => {
          if (line.kind === 'lost' && line.counted) {
            // One note per node (a sweep tells one count per edge); the total is in the final line.
            if (!countedFrom.has(state.node)) {
              io.stderr.write(
                `note: node ${state.node}'s agent counted some connects in the kernel, not one by one ` +
                  `(repeats of connections every policy allows, made while no trace streamed from it); the final line says how many\n`,
              );
            }
            countedFrom.add(state.node);
            counted += line.lost;
            return;
          }
          if (line.kind === 'lost') {
            lost += line.lost;
            io.stderr.write(`warning: ${line.lost} connects from node ${state.node} not received (this client read too slowly)\n`);
            return;
          }
          if (!seen.first(line.connect)) return;
          shown++;
          rows.push(k8sRow(toStreamedConnect(line.connect)));
        },
        abort.signal,
      )
      .then(
        () => {
          if (!abort.signal.aborted) warnOnce(state.node, `the stream from the agent on node ${state.node} ended (agent restarting?); reconnecting`);
        },
        (err: unknown) => {
          if (abort.signal.aborted) return;
          if ((err as Error).name === 'WireError') failure ??= err;
          if (err instanceof AgentUnreachable && err.fatal) failure ??= new EnvironmentError(err.message, 'kubectl auth can-i get pods/portforward -n netpol-system (and create)');
          warnOnce(state.node, (err as Error).message);
        },
      )
      .finally(() => {
        streams.delete(state.node);
        void tunnel.close();
      });
    streams.set(state.node, { tunnel, done });
  };

  let states: AgentState[] | undefined;
  const refresh = async (): Promise<void> => {
    const pods = await matchingPods(kc, opts, namespace, keep);
    const nodes = new Set(pods.map((p) => p.spec?.nodeName).filter((n): n is string => !!n));
    const missing = [...nodes].filter((n) => !streams.has(n));
    if (missing.length === 0) return;
    if (!states || missing.some((n) => !states!.find((s) => s.node === n)?.ready)) states = await agentsByNode(kc);
    for (const node of missing) {
      const state = states.find((s) => s.node === node);
      if (!state?.ready || !state.pod) {
        const problem = `no agent on node ${node}: ${state ? state.why : 'no agent pod on this node'}`;
        if (!agentProblems.includes(problem)) agentProblems.push(problem);
        warnOnce(node, problem);
        continue;
      }
      await open(state);
    }
  };

  try {
    await refresh();
    rows.writeHeader();
    io.onReady?.();
    const poller = setInterval(() => {
      refresh().catch((err: unknown) => warnOnce('', `cannot list pods: ${(err as Error).message}`));
    }, 1000);
    try {
      await Promise.race([
        waitForStop(opts.timeout !== undefined ? opts.timeout * 1000 : undefined, io.signal),
        new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (failure) {
              clearInterval(check);
              resolve();
            }
          }, 100);
          abort.signal.addEventListener('abort', () => clearInterval(check), { once: true });
        }),
      ]);
    } finally {
      clearInterval(poller);
    }
  } finally {
    abort.abort();
    await Promise.all([...streams.values()].map((s) => s.done));
    rows.flush();
    io.onSummary?.({ shown, lost, unresolved: 0, received: shown });
    io.stderr.write(`${shown} connects traced, ${lost} lost${counted > 0 ? `, up to ${counted} more counted in the agents' kernels (not shown one by one)` : ''}\n`);
  }
  if (failure) throw failure;
  // Nothing could be traced because the nodes of the selected pods have no ready agent: an error.
  if (opened === 0 && agentProblems.length > 0) throw noAgentsError(agentProblems);
  return 0;
}
