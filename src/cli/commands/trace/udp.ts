/**
 * `netpol trace udp`: the UDP side of what `trace tcpconnect` shows for TCP. UDP has no handshake,
 * so what is traced is each socket's first datagram to each destination (a resolver's query to
 * CoreDNS, a client's first packet to a server), seen in the sending task by cgroup hooks
 * (cgroup/connect4|6 for connected sockets, cgroup/sendmsg4|6 for sendto) — no kprobes. Same
 * columns as tcpconnect: RUNTIME.CONTAINERNAME PID COMM IP SRC DST; SRC's port is 0 while the
 * socket is not bound yet (the kernel binds it when the datagram leaves).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DURATION_SYNTAX, parseDurationSeconds } from '../../shared/duration.js';
import type { runTrace, TraceOptions } from './local.js';

function pidList(value: string, previous: number[] | undefined): number[] {
  const pid = Number(value);
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`not a pid: ${value}`);
  return [...(previous ?? []), pid];
}

/** `run` is trace's runner, passed in so that this file does not import the command that holds it. */
export function traceUdpCommand(run: typeof runTrace): Command {
  return new Command('udp')
    .summary("trace UDP: each socket's first datagram to each destination (needs root)")
    .description(
      "Shows each UDP socket's first datagram to each destination, on this host's containers (with --host\n" +
        'also host processes), in the columns of `trace tcpconnect`. Repeats of a socket to the same\n' +
        'destination are not shown again; a new socket (a resolver opens one per query) is.',
    )
    .option('-c, --containername <name>', 'only this container')
    .option('--pid <pid>', 'only this process (repeatable)', pidList)
    .option('--host', 'also trace host processes, not only containers')
    .addOption(new Option('-o, --output <format>', 'columns, json, or columns=a,b (e.g. columns=comm,src,dst)').default('columns'))
    .option('--timeout <duration>', `stop after this long (${DURATION_SYNTAX}; default: until Ctrl-C)`, parseDurationSeconds)
    .addHelpText('after', '\nExamples:\n  sudo netpol trace udp --host --timeout 10s\n  sudo netpol trace udp -c test-tcp-connect -o json')
    .action(async (opts: TraceOptions) => {
      process.exitCode = await run({ ...opts, proto: 'udp' }, { stdout: process.stdout, stderr: process.stderr });
    });
}
