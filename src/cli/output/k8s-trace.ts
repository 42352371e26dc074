/**
 * The cluster-mode trace output (the seed's `kubectl gadget trace tcpconnect` columns): shared by
 * the in-process mode on a node (commands/trace/cluster.ts) and the mode that streams from the
 * node agents (commands/trace/remote.ts), so both print the same bytes.
 */
import type { ConnectEvent } from '../../agent/event.js';
import { flowDestinationNotation, flowSourceNotation } from '../../cluster/enrich.js';
import { InputError } from '../../errors.js';
import type { FlowRecord } from '../../flows/record.js';
import { customLayout, k8sLayout, K8S_TCPCONNECT_COLUMNS, type K8sRowInfo, type Layout, type TraceRow } from './columns.js';

/** What a K8S row is made of: a connect attributed to its pod (ClusterAgent's PodConnect, or one streamed from an agent). */
export interface AttributedConnect {
  event: ConnectEvent;
  time: Date;
  record: FlowRecord;
  /** K8S.NODE */
  node: string;
  source: { namespace: string; name: string; container?: string };
}

export type K8sView = { kind: 'table'; layout: Layout } | { kind: 'json' };

export function parseK8sOutput(output: string | undefined, latency: boolean): K8sView {
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
