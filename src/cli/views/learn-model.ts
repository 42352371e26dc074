/**
 * The data behind the live learn view and its plain-lines fallback: flows as they arrive, folded
 * into one row per (workload, peer), plus the policies `learn` would write now and how they differ
 * from the files already in --out. The ink screen and the plain/JSON lines are views of the same
 * LearnModel and the same column spec (LEARN_COLUMNS).
 */
import { existsSync } from 'node:fs';
import type { ClusterIndex } from '../../cluster/lookup.js';
import { formatEndpoint } from '../../cluster/endpoint-notation.js';
import type { V1NetworkPolicy } from '../../cluster/objects.js';
import { EdgeAggregator, edgeIdentity, type FlowEdge } from '../../flows/edges.js';
import type { FlowRecord, LocatedFlow, Protocol } from '../../flows/record.js';
import { learnFromEdges } from '../../policy/learn.js';
import { loadPolicies } from '../../policy/load.js';
import { semanticDiff } from '../../policy/semantic-diff.js';
import type { SynthesisOptions, SynthesisResult } from '../../policy/synthesize/index.js';
import { resolveFlow } from '../../policy/traffic.js';

/**
 * One observed connection as the agent hands it over, or — with `connects` — the kernel's count of
 * connects of an edge already delivered (learn mode delivers an edge once and counts its repeats
 * in the kernel): the row's COUNT then shows what the kernel counted, not the one record.
 */
export interface LearnEvent {
  flow: FlowRecord;
  connects?: number;
}

/**
 * Where live flows come from: the local agent (learn --local) or the cluster node agent (learn -l).
 * An async iterator of events plus the tracer's counters, and a way to ask it to finish.
 */
export interface LearnSource extends AsyncIterable<LearnEvent> {
  /** Connect events the tracer delivered so far (flows and events it could not turn into one). */
  readonly events: number;
  /** Events lost on the way (ring buffer full): shown, never hidden. */
  readonly lost: number;
  /** Asks the source to finish; its iterator then ends after what it already delivered. */
  stop(): void | Promise<void>;
}

/** A LearnSource fed by pushing: what an agent's callback or a test calls. */
export class PushLearnSource implements LearnSource {
  events = 0;
  lost = 0;
  private queue: LearnEvent[] = [];
  private waiting?: () => void;
  private ended = false;

  push(flow: FlowRecord): void {
    if (this.ended) return;
    this.events++;
    this.queue.push({ flow });
    this.wake();
  }

  /** Events the tracer saw that did not become flows (e.g. filtered out); they still count as events. */
  countEvents(n: number): void {
    this.events += n;
  }

  addLost(n: number): void {
    this.lost += n;
  }

  /** The kernel counted `connects` connects of the edge `flow` (pushed before) stands for. */
  pushConnects(flow: FlowRecord, connects: number): void {
    if (this.ended) return;
    this.queue.push({ flow, connects });
    this.wake();
  }

  /** No more events (a --duration ran out, or the agent stopped). */
  end(): void {
    this.ended = true;
    this.wake();
  }

  stop(): void {
    this.end();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LearnEvent> {
    for (;;) {
      if (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        yield* batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

/** A source replaying recorded flows (a JSONL file through readFlows), optionally paced. */
export function replaySource(flows: AsyncIterable<FlowRecord> | Iterable<FlowRecord>, opts: { delayMs?: number } = {}): LearnSource {
  const src = new PushLearnSource();
  let stopped = false;
  void (async () => {
    for await (const f of flows) {
      if (stopped) break;
      src.push(f);
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    }
    src.end();
  })();
  const stop = () => {
    stopped = true;
    src.end();
  };
  return Object.assign(src, { stop });
}

/** One row of the view: a workload and one peer it connected to. */
export interface LearnRow {
  /** `shop/web`, or the source as noted when it is not a known pod (`r/10.0.0.1`). */
  workload: string;
  /** `Deployment`, `Pod`, … or '' outside the cluster. */
  kind: string;
  /** Seed notation of the peer: `p/ns/pod:port`, `s/ns/svc:port`, `r/ip:port`. */
  peer: string;
  proto: Protocol;
  /** The port(s) the packets reach (a Service's targetPort): what the policy allows. */
  ports: string;
  count: number;
  /** ms since epoch of the last flow (arrival time when the flow has no ts). */
  lastSeen: number;
}

export type PolicyStatus = 'new' | 'changed' | 'unchanged' | 'only-in-out';

export interface PolicyLine {
  /** namespace/name */
  policy: string;
  status: PolicyStatus;
  /** For `changed` and `new`: what it allows beyond / differently from the file, in sentences. */
  details: string[];
}

export interface PolicyPreview {
  policies: PolicyLine[];
  /** Rendered YAML of every policy that would be written. */
  result?: SynthesisResult;
  /** A synthesis or --out reading problem, shown instead of the preview. */
  error?: string;
}

export interface LearnModelOptions {
  /** The cluster index flows are resolved against (a live view hands out a new one on change). */
  index?: () => ClusterIndex;
  synthesis?: SynthesisOptions;
  /** --out: the generated policies are compared with the files there. */
  out?: string;
  /**
   * Flows of earlier sessions in the recording this one appends to: learned from (the preview is
   * what the final write learns from the whole recording), but not shown as rows of this session.
   */
  prior?: readonly FlowRecord[];
  now?: () => number;
}

interface RowKey {
  workload: string;
  kind: string;
  peer: string;
  ports: string;
}

export class LearnModel {
  readonly edges = new EdgeAggregator();
  /** The recording's earlier flows plus this session's: what the preview learns from. */
  private readonly learned?: EdgeAggregator;
  private readonly rows = new Map<string, LearnRow>();
  /** Per edge: its row, the flows that arrived for it and what the kernel counted (see setConnects). */
  private readonly edgeCounts = new Map<string, { row: LearnRow; flows: number; connects: number }>();
  private readonly resolved = new Map<string, RowKey>();
  private resolvedWith?: ClusterIndex;
  private existing?: { policies: V1NetworkPolicy[] } | { error: string };
  readonly startedAt: number;
  private readonly now: () => number;
  /** Told when the model changed without a flow (see SnapshotLearnModel); the session listens. */
  protected readonly invalidated = new Set<(rows: readonly LearnRow[]) => void>();

  constructor(private readonly opts: LearnModelOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    if (opts.prior && opts.prior.length > 0) {
      this.learned = new EdgeAggregator();
      for (const f of opts.prior) this.learned.add(f as LocatedFlow);
    }
  }

  onInvalidate(fn: (rows: readonly LearnRow[]) => void): () => void {
    this.invalidated.add(fn);
    return () => this.invalidated.delete(fn);
  }

  get flows(): number {
    return this.edges.flows;
  }

  /** Adds a flow; returns its row and whether that row is new (for plain lines). */
  add(flow: FlowRecord): { row: LearnRow; isNew: boolean } {
    const located = flow as LocatedFlow;
    this.edges.add(located);
    this.learned?.add(located);
    const key = this.rowKeyOf(located);
    const id = `${key.workload}\u0000${key.peer}\u0000${flow.proto}`;
    const ts = flow.ts !== undefined ? Date.parse(flow.ts) : NaN;
    const seen = Number.isNaN(ts) ? this.now() : ts;
    let row = this.rows.get(id);
    const isNew = !row;
    if (!row) {
      row = { ...key, proto: flow.proto, count: 0, lastSeen: seen };
      this.rows.set(id, row);
    }
    const edgeId = edgeIdentity(located);
    const edge = this.edgeCounts.get(edgeId);
    if (!edge) {
      this.edgeCounts.set(edgeId, { row, flows: 1, connects: 0 });
      row.count++;
    } else {
      edge.flows++;
      // A flow beyond what the kernel already counted adds one.
      if (edge.flows > edge.connects) row.count++;
    }
    if (seen > row.lastSeen) row.lastSeen = seen;
    return { row, isNew };
  }

  /**
   * The kernel's count of connects for the edge of `flow` (delivered once, repeats counted in the
   * kernel): the row counts max(flows that arrived, connects the kernel counted) per edge, so it
   * agrees with the kernel instead of showing 1 per edge.
   */
  setConnects(flow: FlowRecord, connects: number): void {
    const edge = this.edgeCounts.get(edgeIdentity(flow as LocatedFlow));
    if (!edge) return;
    const before = Math.max(edge.flows, edge.connects);
    edge.connects = Math.max(edge.connects, connects);
    edge.row.count += Math.max(edge.flows, edge.connects) - before;
  }

  private rowKeyOf(flow: LocatedFlow): RowKey {
    const index = this.opts.index?.();
    if (index !== this.resolvedWith) {
      this.resolved.clear();
      this.resolvedWith = index;
    }
    const k = edgeIdentity(flow);
    let key = this.resolved.get(k);
    if (!key) {
      key = index ? resolvedKey(flow, index) : unresolvedKey(flow);
      this.resolved.set(k, key);
    }
    return key;
  }

  /** Rows sorted by workload, then peer; `filter` keeps rows whose workload or peer contains it. */
  snapshot(filter = ''): LearnRow[] {
    const f = filter.toLowerCase();
    return [...this.rows.values()]
      .filter((r) => f === '' || r.workload.toLowerCase().includes(f) || r.peer.toLowerCase().includes(f) || r.kind.toLowerCase().includes(f))
      .sort((a, b) => cmp(a.workload, b.workload) || cmp(a.peer, b.peer) || cmp(a.proto, b.proto))
      .map((r) => ({ ...r }));
  }

  /** What learn would write now, compared with the files in --out. */
  preview(): PolicyPreview {
    const index = this.opts.index?.();
    if (!index) return { policies: [], error: 'no cluster view: policies are generated when the flows are resolved against a cluster' };
    let result: SynthesisResult;
    try {
      // The same pipeline as the final write (learnFromEdges): connects nobody answered are left out
      // unless --include-failed, file paths as written — the preview never shows a rule the write drops.
      const from = this.learned ?? this.edges;
      result = learnFromEdges(from.result(), from.flows, index, this.opts.synthesis ?? {}).result;
    } catch (err) {
      return { policies: [], error: (err as Error).message };
    }
    return this.compareWithOut(result);
  }

  /** A synthesis result as the preview shows it: each policy new, changed or unchanged against --out. */
  protected compareWithOut(result: SynthesisResult): PolicyPreview {
    const generated = result.policies.map((p) => p.policy);
    if (!this.opts.out) {
      return { result, policies: generated.map((p) => ({ policy: keyOf(p), status: 'new' as const, details: [] })) };
    }
    this.existing ??= readExisting(this.opts.out);
    if ('error' in this.existing) return { result, policies: generated.map((p) => ({ policy: keyOf(p), status: 'new' as const, details: [] })), error: this.existing.error };
    const diff = semanticDiff(this.existing.policies, generated);
    const lines: PolicyLine[] = [
      ...diff.added.map((p) => ({ policy: `${p.namespace}/${p.name}`, status: 'new' as const, details: [] })),
      ...diff.changed.map((c) => ({ policy: `${c.namespace}/${c.name}`, status: 'changed' as const, details: c.details })),
      ...diff.unchanged.map((u) => ({ policy: `${u.namespace}/${u.name}`, status: 'unchanged' as const, details: [] })),
      ...diff.removed.map((p) => ({ policy: `${p.namespace}/${p.name}`, status: 'only-in-out' as const, details: [] })),
    ].sort((a, b) => cmp(a.policy, b.policy));
    return { result, policies: lines };
  }

  /** The edges, for callers that write a recording or learn at the end. */
  flowEdges(): FlowEdge[] {
    return this.edges.result();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function keyOf(p: V1NetworkPolicy): string {
  return `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}`;
}

function readExisting(out: string): { policies: V1NetworkPolicy[] } | { error: string } {
  if (!existsSync(out)) return { policies: [] };
  try {
    return { policies: loadPolicies([out]) };
  } catch (err) {
    return { error: `cannot compare with ${out}: ${(err as Error).message}` };
  }
}

function unresolvedKey(flow: FlowRecord): RowKey {
  const s = flow.src;
  const pod = typeof s.namespace === 'string' && typeof s.pod === 'string' && s.pod !== '';
  const workload = pod ? `${s.namespace}/${s.pod}` : formatEndpoint({ kind: 'raw', ip: s.ip ?? '' });
  const d = flow.dst;
  const peer =
    typeof d.namespace === 'string' && typeof d.service === 'string' && d.service !== ''
      ? formatEndpoint({ kind: 'service', namespace: d.namespace, name: d.service }, d.port)
      : typeof d.namespace === 'string' && typeof d.pod === 'string' && d.pod !== ''
        ? formatEndpoint({ kind: 'pod', namespace: d.namespace, name: d.pod }, d.port)
        : formatEndpoint({ kind: 'raw', ip: d.ip }, d.port);
  return { workload, kind: pod ? 'Pod' : '', peer, ports: `${d.port}/${flow.proto}` };
}

function resolvedKey(flow: LocatedFlow, index: ClusterIndex): RowKey {
  let r;
  try {
    r = resolveFlow(flow, index);
  } catch {
    return unresolvedKey(flow);
  }
  const workload = r.src.kind === 'pod' ? `${r.src.workload.namespace}/${r.src.workload.name}` : formatEndpoint({ kind: 'raw', ip: r.src.ip });
  const kind = r.src.kind === 'pod' ? r.src.workload.kind : r.src.node ? `node ${r.src.node}` : '';
  const port = flow.dst.port;
  let peer: string;
  if (r.service) peer = formatEndpoint({ kind: 'service', namespace: r.service.namespace, name: r.service.name }, port);
  else {
    const t = r.targets[0];
    peer = t?.dst.kind === 'pod' ? formatEndpoint({ kind: 'pod', namespace: t.dst.namespace, name: t.dst.name }, port) : formatEndpoint({ kind: 'raw', ip: t?.dst.ip ?? flow.dst.ip }, port);
  }
  const reached = [...new Set(r.targets.map((t) => t.port))].sort((a, b) => a - b);
  const ports = reached.length === 0 ? `${port}/${flow.proto} (no backends)` : `${reached.join(',')}/${flow.proto}`;
  return { workload, kind, peer, ports };
}
