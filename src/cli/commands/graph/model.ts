/**
 * The connectivity graph: workloads (grouped by namespace) and outside peers as nodes, observed
 * connections as edges labelled with ports and counts, and — when policies are given — each port
 * coloured by the verdict. Built from aggregated flow edges resolved against the cluster, so a
 * connection to a Service is drawn to the workloads behind it, on the targetPort, the way
 * NetworkPolicy sees it. Mermaid, DOT and HTML are views of this model.
 */
import { printable } from '../../output/escape.js';
import type { ClusterIndex } from '../../../cluster/lookup.js';
import type { FlowEdge } from '../../../flows/edges.js';
import type { Protocol } from '../../../flows/record.js';
import { resolveFlow, type Endpoint, type Traffic } from '../../../policy/traffic.js';
import type { VerdictKind } from '../../../policy/verdict.js';

export type GraphNodeKind = 'workload' | 'service' | 'external';

export interface GraphNode {
  /** Stable id: `w/<ns>/<Kind>/<name>`, `s/<ns>/<service>` (no backends), `x/<ip>`. */
  id: string;
  kind: GraphNodeKind;
  /** Namespace of a workload or Service; undefined outside the cluster. */
  namespace?: string;
  /** Short name drawn in the box. */
  label: string;
  /** Second line / tooltip: `Deployment`, `node minikube`, `service without backends`. */
  detail: string;
}

export interface PortStat {
  port: number;
  proto: Protocol;
  /** Connections seen (flows). */
  count: number;
  /** Of those, judged allowed / denied (both 0 when no policies were given). */
  allowed: number;
  denied: number;
}

export type EdgeStatus = 'allowed' | 'denied' | 'mixed' | 'unjudged';

export interface GraphEdge {
  /** `<from>-><to>` */
  id: string;
  from: string;
  to: string;
  /** Sorted by protocol then port. */
  ports: PortStat[];
  count: number;
  /** Services the connections went through (`s/ns/name:port`), sorted. */
  via: string[];
  status: EdgeStatus;
}

export interface ConnectivityGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Namespaces that have nodes, sorted. */
  namespaces: string[];
  /** True when edges carry verdicts. */
  judged: boolean;
  /** Flows drawn (sum of edge counts may be larger when a Service fans out to several workloads). */
  flows: number;
}

/** Judges one Traffic; the CLI passes `(t) => evaluate(compilePolicies(p), t).verdict`. */
export type TrafficJudge = (traffic: Traffic) => VerdictKind;

export interface GraphOptions {
  judge?: TrafficJudge;
  /** Keep only edges with an end in this namespace. */
  namespace?: string;
}

function endpointNode(e: Endpoint): GraphNode {
  if (e.kind === 'pod') {
    const w = e.workload;
    return { id: `w/${w.namespace}/${w.kind}/${w.name}`, kind: 'workload', namespace: printable(w.namespace), label: printable(w.name), detail: w.kind };
  }
  return { id: `x/${e.ip}`, kind: 'external', label: printable(e.ip), detail: e.node ? `node ${printable(e.node)}` : 'outside the cluster' };
}

function statusOf(ports: PortStat[], judged: boolean): EdgeStatus {
  if (!judged) return 'unjudged';
  const denied = ports.some((p) => p.denied > 0);
  const allowed = ports.some((p) => p.allowed > 0);
  return denied && allowed ? 'mixed' : denied ? 'denied' : 'allowed';
}

const PROTO_ORDER: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };

export function buildGraph(flowEdges: readonly FlowEdge[], index: ClusterIndex, opts: GraphOptions = {}): ConnectivityGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, { from: string; to: string; ports: Map<string, PortStat>; via: Set<string> }>();
  let flows = 0;
  const judged = opts.judge !== undefined;

  const addEdge = (from: GraphNode, to: GraphNode, port: number, proto: Protocol, count: number, verdict: VerdictKind | undefined, via?: string) => {
    if (opts.namespace !== undefined && from.namespace !== opts.namespace && to.namespace !== opts.namespace) return false;
    nodes.set(from.id, from);
    nodes.set(to.id, to);
    const id = `${from.id}->${to.id}`;
    let e = edges.get(id);
    if (!e) edges.set(id, (e = { from: from.id, to: to.id, ports: new Map(), via: new Set() }));
    const pk = `${proto}/${port}`;
    let p = e.ports.get(pk);
    if (!p) e.ports.set(pk, (p = { port, proto, count: 0, allowed: 0, denied: 0 }));
    p.count += count;
    if (verdict) p[verdict] += count;
    if (via) e.via.add(via);
    return true;
  };

  for (const fe of flowEdges) {
    const resolved = resolveFlow(fe.sample, index);
    const from = endpointNode(resolved.src);
    let drawn = false;
    if (resolved.targets.length === 0 && resolved.service) {
      // A Service with no backends on that port: draw the Service itself; nothing can answer, so denied.
      const s = resolved.service;
      const to: GraphNode = { id: `s/${s.namespace}/${s.name}`, kind: 'service', namespace: printable(s.namespace), label: printable(s.name), detail: 'service without backends' };
      drawn = addEdge(from, to, s.port, fe.sample.proto, fe.count, judged ? 'denied' : undefined, `s/${s.namespace}/${s.name}:${s.port}`);
    }
    // One edge per distinct destination workload (a Service's backends often share one), on the
    // port the packets reach; a workload is denied when any of its backends is.
    const perNode = new Map<string, { node: GraphNode; traffic: Traffic; verdict?: VerdictKind }>();
    for (const t of resolved.targets) {
      const node = endpointNode(t.dst);
      const key = `${node.id}|${t.port}`;
      const verdict = opts.judge?.(t);
      const seen = perNode.get(key);
      if (!seen) perNode.set(key, { node, traffic: t, verdict });
      else if (verdict === 'denied') seen.verdict = 'denied';
    }
    for (const { node, traffic, verdict } of perNode.values()) {
      const via = traffic.via ? `s/${traffic.via.namespace}/${traffic.via.name}:${traffic.via.port}` : undefined;
      drawn = addEdge(from, node, traffic.port, traffic.proto, fe.count, verdict, via) || drawn;
    }
    if (drawn) flows += fe.count;
  }

  const edgeList: GraphEdge[] = [...edges.entries()]
    .map(([id, e]) => {
      const ports = [...e.ports.values()].sort((a, b) => PROTO_ORDER[a.proto] - PROTO_ORDER[b.proto] || a.port - b.port);
      return {
        id,
        from: e.from,
        to: e.to,
        ports,
        count: ports.reduce((s, p) => s + p.count, 0),
        via: [...e.via].sort(),
        status: statusOf(ports, judged),
      };
    })
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
  const nodeList = [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const namespaces = [...new Set(nodeList.flatMap((n) => (n.namespace ? [n.namespace] : [])))].sort();
  return { nodes: nodeList, edges: edgeList, namespaces, judged, flows };
}

/** `80/TCP ×12` — one port of an edge. */
export function portLabel(p: PortStat): string {
  return `${p.port}/${p.proto} ×${p.count}`;
}

/** The label drawn on an edge: its ports with counts, denied ports marked. */
export function edgeLabel(e: GraphEdge): string {
  return e.ports.map((p) => (p.denied > 0 && p.allowed === 0 ? `${portLabel(p)} denied` : p.denied > 0 ? `${portLabel(p)} (${p.denied} denied)` : portLabel(p))).join(', ');
}

export const STATUS_COLORS: Record<EdgeStatus, string> = {
  allowed: '#2e7d32',
  denied: '#c62828',
  mixed: '#ef6c00',
  unjudged: '#607d8b',
};
