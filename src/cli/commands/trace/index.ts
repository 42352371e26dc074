/**
 * `netpol trace`: the command group and `trace tcpconnect`'s flags. The modes: this host
 * (./local.ts), a cluster's pods (./cluster.ts), and `trace udp` (./udp.ts).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DURATION_SYNTAX, parseDurationSeconds } from '../../shared/duration.js';
import { addClusterTraceOptions, runTraceK8s, wantsClusterMode, type TraceK8sOptions } from './cluster.js';
import { runTrace, type TraceOptions } from './local.js';
import { agentsDeployed, runTraceRemote } from './remote.js';
import { traceUdpCommand } from './udp.js';

function pidList(value: string, previous: number[] | undefined): number[] {
  const pid = Number(value);
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`not a pid: ${value}`);
  return [...(previous ?? []), pid];
}

export function traceCommand(): Command {
  const trace = new Command('trace').summary('trace events with eBPF: on this host (needs root), or a cluster\'s pods through the netpol agents (a kubeconfig)');
  const tcpconnect = addClusterTraceOptions(
    new Command('tcpconnect')
      .summary('trace TCP connects: who connected where, how long the answer took and how it ended')
      .description(
        'Shows every TCP connect of containers on this host (with --host also of host processes), with the\n' +
          'columns of `ig trace tcpconnect`. A connect is shown as it is made (when its SYN goes out), so a\n' +
          'connect that is never answered is seen at once. With --latency it is shown when answered, with\n' +
          'LATENCY and an OUTCOME column: established, refused (RST), timeout, closed (the socket went away\n' +
          'before any answer) or error:ERRNO (connect() failed: shown only with --connect-errors); so is any -o\n' +
          'columns= with latency, outcome or errno.',
      )
      .option('--latency', 'show the LATENCY column: time from SYN to the answer (SYN-ACK or RST) or to the socket closing')
      .option('-c, --containername <name>', 'only this container')
      .option('--pid <pid>', 'only this process (repeatable)', pidList)
      .option('--host', 'also trace host processes, not only containers')
      .option(
        '--connect-errors',
        'also show connect() calls that fail before sending a SYN (outcome error:ENETUNREACH, EADDRNOTAVAIL, ...). Off by default, as in ig, which does not show them: it needs the syscall tracepoints, which slow every syscall of the host (~2 µs a connect in a connect storm)',
      )
      .addOption(new Option('-o, --output <format>', 'columns, json, or columns=a,b (e.g. columns=runtime.containername,pid,dst,outcome)').default('columns'))
      .option('--timeout <duration>', `stop after this long (${DURATION_SYNTAX}; default: until Ctrl-C)`, parseDurationSeconds)
      .addHelpText(
        'after',
        '\nExamples:\n' +
          '  sudo netpol trace tcpconnect -c test-tcp-connect\n' +
          '  sudo netpol trace tcpconnect --latency --host\n' +
          '  sudo netpol trace tcpconnect --host -o json --timeout 10s > connects.jsonl\n' +
          '  sudo netpol trace tcpconnect -o columns=runtime.containername,comm,dst,latency,outcome',
      )
      .addHelpText(
        'after',
        '\nIn a cluster (any of -n, -A, --podname, -l, --node, --kubeconfig, --context), pods are named as the\n' +
          'seed shows them: K8S.NODE K8S.NAMESPACE K8S.POD K8S.CONTAINER PID COMM IP SRC DST. When the netpol\n' +
          'agents are deployed (kubectl netpol deploy), the connects stream from the agents on the nodes where\n' +
          'the pods run, through the API server (pods/portforward): no root, only a kubeconfig. Without them,\n' +
          'or with --on-node, this host is traced in-process (root on the node). stderr says which mode runs. e.g.\n' +
          '  netpol trace tcpconnect --podname mypod\n' +
          '  netpol trace tcpconnect -n shop -l app=web --latency\n' +
          '  sudo netpol trace tcpconnect --on-node -A -o json',
      ),
  ).action(async (opts: TraceOptions & TraceK8sOptions & { onNode?: boolean }) => {
    const io = { stdout: process.stdout, stderr: process.stderr };
    if (!wantsClusterMode(opts) && !opts.onNode) {
      process.exitCode = await runTrace(opts, io);
      return;
    }
    if (opts.onNode) {
      process.stderr.write('mode: on this node, in-process (--on-node)\n');
      process.exitCode = await runTraceK8s(opts, io);
      return;
    }
    const { loadKubeconfig } = await import('../../../cluster/kubeconfig.js');
    const { kc } = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
    const agents = await agentsDeployed(kc);
    if (agents.deployed) {
      process.stderr.write('mode: streaming from the netpol agents (daemonset netpol-system/netpol-agent)\n');
      if (opts.connectErrors) process.stderr.write('note: --connect-errors applies to in-process traces; the agents show failed connect() calls only when started with --connect-errors\n');
      process.exitCode = await runTraceRemote(opts, io);
      return;
    }
    process.stderr.write(`mode: on this node, in-process (${agents.problem ?? 'no daemonset netpol-system/netpol-agent; kubectl netpol deploy installs it'})\n`);
    process.exitCode = await runTraceK8s(opts, io);
  });
  trace.addCommand(tcpconnect);
  trace.addCommand(traceUdpCommand(runTrace));
  return trace;
}
