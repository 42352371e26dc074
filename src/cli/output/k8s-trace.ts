/**
 * The cluster-mode trace output (the seed's `kubectl gadget trace tcpconnect` columns): shared by
 * the in-process mode on a node (commands/trace/cluster.ts) and the mode that streams from the
 * node agents (commands/trace/remote.ts), so both print the same bytes.
 */
import type { ConnectEvent } from '../../agent/event.js';
import { flowDestinationNotation, flowSourceNotation } from '../../cluster/enrich.js';
import type { FlowRecord } from '../../flows/record.js';
import { compileJsonText } from './columns/json.js';
import { TableFormatter } from './columns/table.js';
import { k8sLayout, K8S_TCPCONNECT_COLUMNS, needsAnswer, parseTraceOutput, type K8sRowInfo, type TraceRow, type TraceView } from './trace-columns.js';

/** What a K8S row is made of: a connect attributed to its pod (ClusterAgent's PodConnect, or one streamed from an agent). */
export interface AttributedConnect {
  event: ConnectEvent;
  time: Date;
  record: FlowRecord;
  /** K8S.NODE */
  node: string;
  source: { namespace: string; name: string; container?: string };
}

export type K8sView = TraceView;

/** `-o` of cluster-mode trace: the K8S layout (with LATENCY under --latency), json, or columns=… of the K8S columns. */
export function parseK8sOutput(output: string | undefined, latency: boolean): K8sView {
  return parseTraceOutput(output, k8sLayout(latency), K8S_TCPCONNECT_COLUMNS);
}

/** As the seed: connects shown as made without --latency (unless a column needs the answer), when answered with it. */
export function showsAsMade(out: K8sView, latency: boolean | undefined): boolean {
  return !latency && (out.kind === 'json' || !needsAnswer(out.layout));
}

/**
 * Writes K8S rows (table lines, or one JSON object a line) to stdout in batches: the rows that
 * arrive in one turn of the event loop go out in one write at the next, since a busy node's
 * connects come in bursts and a write a row would cost a syscall each. flush() at the end writes
 * what is still pending.
 */
export class K8sRowWriter {
  private readonly table: TableFormatter<TraceRow> | undefined;
  private readonly json = compileJsonText(K8S_TCPCONNECT_COLUMNS);
  private pending = '';
  private scheduled = false;

  constructor(
    out: K8sView,
    private readonly stdout: { write(chunk: string): unknown },
  ) {
    this.table = out.kind === 'table' ? new TableFormatter<TraceRow>(out.layout, K8S_TCPCONNECT_COLUMNS) : undefined;
  }

  /** The table's header line (written at once), nothing for JSON. */
  writeHeader(): void {
    if (this.table) this.stdout.write(this.table.header() + '\n');
  }

  push(row: TraceRow): void {
    // One string per batch (joining an array of freshly built lines costs more than appending them).
    this.pending += (this.table ? this.table.row(row) : this.json(row)) + '\n';
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending === '') return;
    this.stdout.write(this.pending);
    this.pending = '';
  }
}

/** The row the K8S columns read. */
export function k8sRow(c: AttributedConnect): TraceRow {
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
