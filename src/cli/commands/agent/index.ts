/**
 * `netpol agent`: the node agent (the netpol-agent DaemonSet's process; src/daemon/node-agent.ts).
 * Runs until SIGTERM or SIGINT, then stops accepting, closes its sinks within --close-timeout and
 * exits 0.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { DEFAULT_PIN_ROOT } from '../../../agent/pins.js';
import { thisNodeName } from '../../../cluster/cluster-agent.js';
import { NodeAgent } from '../../../daemon/node-agent.js';
import { profileJournalDir } from '../../../daemon/profile-sink.js';
import { defaultSinks } from '../../../daemon/sinks.js';
import { DURATION_SYNTAX, parseDurationSeconds } from '../../shared/duration.js';

interface AgentFlags {
  node?: string;
  kubeconfig?: string;
  context?: string;
  apiAddress: string;
  healthAddress: string;
  pods: 'node' | 'cluster';
  closeTimeout?: number;
  retention?: number;
  pin?: boolean;
  pinRoot: string;
  kernelDedup: boolean;
  connectErrors?: boolean;
}

function hostPort(flag: string): (value: string) => { host: string; port: number } {
  return (value) => {
    const m = /^(.*):(\d{1,5})$/.exec(value);
    const port = m ? Number(m[2]) : NaN;
    if (!m || !m[1] || port > 65535) throw new InvalidArgumentError(`${flag}: "${value}" is not HOST:PORT`);
    return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
  };
}

export function agentCommand(): Command {
  return new Command('agent')
    .summary('run the node agent (the netpol-agent DaemonSet\'s process; needs root or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN)')
    .description(
      'Traces every pod of this node (the node is $NETPOL_NODE_NAME, else $NODE_NAME from the downward API,\n' +
        'else the hostname) and serves the connects to `kubectl netpol trace` and `kubectl netpol status`\n' +
        'through the pods/portforward subresource: GET /v1/status, /v1/connects and /v1/audit on 127.0.0.1:9808.\n' +
        'Writes what it sees into TrafficProfiles (journal under /var/lib/netpol/<node>) and judges every connect\n' +
        'against the enforced and the staged NetworkPolicies (audit records, Events, staged policies\' evidence).\n' +
        'GET /healthz, /readyz and /metrics (Prometheus) on 0.0.0.0:9809. Stops on SIGTERM (exit 0).',
    )
    .option('--node <name>', 'this node\'s name (default: $NETPOL_NODE_NAME, $NODE_NAME, the hostname)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, else the pod\'s service account)')
    .option('--context <name>', 'kubeconfig context')
    .option('--api-address <host:port>', 'where the client API listens (keep it on loopback: it carries trace data)', '127.0.0.1:9808')
    .option('--health-address <host:port>', 'where /healthz, /readyz and /metrics listen', '0.0.0.0:9809')
    .addOption(
      // cluster by default: the profiles and the judge name a peer on another node by its workload and
      // labels, which only a view of every pod knows; node saves memory on large clusters, at the
      // price of such peers being recorded and judged as addresses.
      new Option('--pods <scope>', 'pods the agent watches: the whole cluster\'s (peers on every node known by workload and labels), or this node\'s only (less memory; peers on other nodes show as addresses unless behind a Service)')
        .choices(['cluster', 'node'])
        .default('cluster'),
    )
    .option('--retention <duration>', `how long a TrafficProfile keeps an edge that is not seen again (${DURATION_SYNTAX}; default 14d, or $NETPOL_PROFILE_RETENTION)`, parseDurationSeconds)
    .option('--pin', `keep the BPF programs, ring buffer and counters pinned under --pin-root across restarts, so the next agent reads what was recorded while none ran (default: only when running as a DaemonSet's pod, whose pins go when the DaemonSet is deleted; pins made by hand stay until removed: rm -r the directory)`)
    .option('--no-pin', 'never pin: the programs go with the process')
    .option('--pin-root <dir>', 'where to pin, on a BPF filesystem', process.env.NETPOL_PIN_ROOT || DEFAULT_PIN_ROOT)
    .option('--no-kernel-dedup', 'report every answered connect through the ring (by default the established answers of edges every enforced and staged policy allows are counted in the kernel, and the counts handed to the profiles and the judge each second)')
    .option(
      '--connect-errors',
      'also report connect() calls that fail before sending anything (outcome error:ENETUNREACH and the like). Off by default: it needs the syscall tracepoints, which slow every syscall on the node (~2 µs a connect in a connect storm), and such a connect reaches no peer, so no policy allows or denies it',
    )
    .option('--close-timeout <duration>', `on SIGTERM, how long from the signal the agent has to finish: held connects given up, the sinks flushed (${DURATION_SYNTAX}; default 10s)`, parseDurationSeconds)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  sudo netpol agent --node node-1 --kubeconfig /etc/kubernetes/kubelet.conf\n' +
        '  netpol agent --pods node --retention 30d --health-address 0.0.0.0:9809',
    )
    .action(async (flags: AgentFlags) => {
      const api = hostPort('--api-address')(flags.apiAddress);
      const health = hostPort('--health-address')(flags.healthAddress);
      const log = (line: string): void => {
        process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      };
      const node = flags.node ?? thisNodeName();
      const pod = process.env.NETPOL_POD_NAME && process.env.NETPOL_POD_NAMESPACE ? { name: process.env.NETPOL_POD_NAME, namespace: process.env.NETPOL_POD_NAMESPACE } : undefined;
      const agent = new NodeAgent({
        node,
        // One agent per node: it owns the node's journal (and, pinned, the node's ring buffer).
        lockPath: join(profileJournalDir(node), 'agent.lock'),
        pin: { mode: flags.pin === undefined ? 'auto' : flags.pin ? 'on' : 'off', root: flags.pinRoot, ...(pod ? { pod } : {}) },
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.context ? { context: flags.context } : {}),
        api,
        health,
        podScope: flags.pods,
        sinks: defaultSinks(flags.retention !== undefined ? { retentionMs: flags.retention * 1000 } : {}),
        ...(flags.connectErrors ? { connectErrors: true } : {}),
        ...(flags.closeTimeout !== undefined ? { closeDeadlineMs: flags.closeTimeout * 1000 } : {}),
        ...(flags.kernelDedup === false ? { kernelDedup: false } : {}),
        log,
        onWatchError: (m) => log(`watch: ${m}`),
      });
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log(`${signal}: stopping`);
          void agent.stop().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      try {
        await agent.start();
      } catch (err) {
        await agent.stop();
        throw err;
      }
      await stopped;
      process.exitCode = 0;
    });
}
