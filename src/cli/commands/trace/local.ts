/**
 * `netpol trace tcpconnect`: every TCP connect on this host, as `ig trace tcpconnect` shows it
 * (same columns, same --latency formatting), plus how each connect ended (established, refused,
 * timeout, closed before an answer, or the connect() errno). Needs root (eBPF).
 *
 * Without --latency a connect is shown as it is made (when its SYN goes out), as `ig` does: a
 * connect to a host that drops SYNs appears at once, not when the kernel gives up minutes later.
 * With --latency (or a column that needs the answer: LATENCY, OUTCOME, ERRNO) it is shown when the
 * server answers (SYN-ACK or RST), when the socket is closed or times out, or when connect() fails.
 * Lost events (ring buffer full) are reported on stderr while tracing and in the summary.
 */
import type { Writable } from 'node:stream';
import { TCPCONNECT_COLUMNS, type TraceRow, type TraceView, defaultLayout, needsAnswer, parseTraceOutput } from '../../output/trace-columns.js';
import { ByteBatch } from '../../output/byte-batch.js';
import { TableFormatter } from '../../output/columns/table.js';
import { LineBatch } from '../../output/line-batch.js';
import { traceJsonLines, traceJsonWriter } from '../../output/trace-json.js';
import type { TraceStreams } from './io.js';

export interface TraceOptions {
  /** tcp (the tcpconnect gadget, default) or udp (the udp gadget). */
  proto?: 'tcp' | 'udp';
  latency?: boolean;
  containername?: string;
  pid?: number[];
  host?: boolean;
  /** columns (default), json, or columns=a,b */
  output?: string;
  /** Stop after this many seconds. */
  timeout?: number;
  /** Also show connect() calls that fail before any SYN (AgentOptions.connectErrors; costs every syscall). */
  connectErrors?: boolean;
}

/**
 * The ring buffer is drained every 50 ms while events flow (the tracer's default is 5): each drain
 * wakes the process and writes once, and in a connect storm the tracer's CPU per connect was ~1 µs
 * more at 5 ms than at 20 ms (bench/trace-cost-split.ts, `kernel` against `kernel-poll20`), and at
 * 10 / 20 / 50 ms 1.39 / 1.13 / 0.92 µs (bench/connect-storm.ts, medians of 6 rounds, session 9).
 * A line appears at most 50 ms later; the 4 MiB ring holds ~35,000 events, 700,000 a second at this
 * interval (a storm here makes 50,000).
 */
const POLL_MS = 50;

export type TraceIO = TraceStreams<{ shown: number; lost: number; untracked: number; received: number }>;

/**
 * Whether connects are shown as they are made (the seed's default) or when answered: answered with
 * --latency, or when the table shows a column only the answer fills. JSON without --latency is
 * written as connects are made (outcome "connecting", latency null).
 */
export function showsConnectsAsMade(view: TraceView, latency: boolean): boolean {
  return !latency && (view.kind === 'json' || !needsAnswer(view.layout));
}

/** Says on stderr when connects had to be shown as answered although asked for as made. */
export function warnIfConnectsAnswered(reporting: { reported: boolean; problem?: string }, stderr: Writable): void {
  if (!reporting.reported) {
    stderr.write(`warning: connects are shown when answered, not as they are made: ${reporting.problem ?? 'the sockops hook is not attached'}\n`);
  }
}

export function parseOutput(output: string | undefined, latency: boolean): TraceView {
  return parseTraceOutput(output, defaultLayout(latency), TCPCONNECT_COLUMNS);
}

/** Runs one trace until timeout, signal or Ctrl-C; returns the exit code. */
export async function runTrace(opts: TraceOptions, io: TraceIO): Promise<number> {
  const view = parseOutput(opts.output, opts.latency ?? false);
  const table = view.kind === 'table' ? new TableFormatter<TraceRow>(view.layout, TCPCONNECT_COLUMNS) : undefined;
  // Output is batched: one write per ring-buffer drain, not one per event. Table lines are encoded
  // into the batch's buffer 64 at a time (LineBatch says why); JSON lines are written into it as
  // bytes (trace-json.ts says why).
  const pending = table ? new LineBatch() : undefined;
  const jsonBytes = table ? undefined : new ByteBatch();
  const lines = table ? undefined : traceJsonLines(TCPCONNECT_COLUMNS);
  const jsonLine = traceJsonWriter(TCPCONNECT_COLUMNS, lines);
  let flushScheduled = false;
  // A closed pipe (`netpol trace ... | head`) ends the trace quietly; other output errors fail it.
  let outputError: NodeJS.ErrnoException | undefined;
  const onOutputError = (err: NodeJS.ErrnoException) => {
    outputError ??= err;
    stopping?.();
  };
  io.stdout.on('error', onOutputError);
  const flush = () => {
    flushScheduled = false;
    if (outputError) return;
    try {
      if (jsonBytes) {
        const pieces = jsonBytes.takePieces();
        // Written (or failed): the batch may write its chunk again (ByteBatch.release).
        if (pieces !== undefined) for (const bytes of pieces) io.stdout.write(bytes, () => jsonBytes.release(bytes));
      } else {
        const bytes = pending!.take();
        if (bytes !== undefined) io.stdout.write(bytes);
      }
    } catch (err) {
      onOutputError(err as NodeJS.ErrnoException);
    }
  };
  const scheduleFlush = () => {
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  let shown = 0;
  let stopping: (() => void) | undefined;
  // Loaded on use: the agent brings the libbpf binding (a native module), which no other command needs.
  const { LocalAgent } = await import('../../../agent/agent.js');
  const agent = await LocalAgent.start(
    {
      ...(opts.containername !== undefined ? { containerName: opts.containername } : {}),
      ...(opts.pid ? { pids: opts.pid } : {}),
      host: opts.host ?? false,
      pollMs: POLL_MS,
      ...(opts.proto === 'udp' ? { tcp: false, udp: true } : { reportConnects: showsConnectsAsMade(view, opts.latency ?? false) }),
      ...(opts.connectErrors && opts.proto !== 'udp' ? { connectErrors: true } : {}),
      onLost: (n, total) => io.stderr.write(`warning: ${n} events lost (ring buffer full; ${total} in total)\n`),
      onError: () => stopping?.(),
    },
    (row) => {
      shown++;
      if (table) pending!.add(table.row(row));
      else jsonLine(row, jsonBytes!);
      scheduleFlush();
    },
    // JSON lines straight from the ring's records (TraceJsonLines.writeRecord): no event object per connect.
    lines
      ? (data, bytes, offset, container, timeMs) => {
          lines.writeRecord(data, bytes, offset, container, timeMs, jsonBytes!);
          shown++;
          scheduleFlush();
        }
      : undefined,
  );
  if (opts.proto !== 'udp' && showsConnectsAsMade(view, opts.latency ?? false)) warnIfConnectsAnswered(agent.connectReporting, io.stderr);
  const done = new Promise<string>((resolve) => {
    stopping = () => resolve('stopped');
  });
  const onSignal = () => stopping?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  io.signal?.addEventListener('abort', onSignal, { once: true });
  const timer = opts.timeout !== undefined ? setTimeout(onSignal, opts.timeout * 1000) : undefined;
  try {
    if (table) io.stdout.write(table.header() + '\n');
    io.onReady?.();
    await done;
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    io.signal?.removeEventListener('abort', onSignal);
    const counters = await agent.stop();
    flush();
    io.stdout.removeListener('error', onOutputError);
    io.onSummary?.({ shown, lost: counters.lost, untracked: counters.untracked, received: agent.eventsReceived });
    io.stderr.write(`${shown} ${opts.proto === 'udp' ? 'UDP destinations' : 'connects'} traced, ${counters.lost} lost${counters.untracked ? `, ${counters.untracked} not followed (pending map full)` : ''}\n`);
  }
  if (agent.error) throw agent.error;
  if (outputError && outputError.code !== 'EPIPE') throw outputError;
  return 0;
}
