/**
 * The live judge (a ConnectSink, src/daemon/sink.ts): every connect of this node judged against the
 * enforced NetworkPolicies and each staged policy (src/daemon/live-judge.ts: diff's evaluator and
 * attribution). What it finds goes four ways:
 *
 *   audit records  one per finding — denied / dropped by an enforced policy, would be denied by a
 *                  staged one — naming policy and gate; subscribe() hands them to the agent's
 *                  `GET /v1/audit` stream (kubectl netpol audit).
 *   evidence       per staged policy, this node's entry of status.nodes (counts, first/last seen,
 *                  bounded examples), written by server-side apply under this node's own field
 *                  manager, batched: at most one write per staged policy per flush interval, and
 *                  only when it changed — the API server's load grows with staged policies, not connects.
 *   Events         on the workload whose gate closes, deduplicated and rate-limited (event-recorder.ts).
 *   metrics        verdicts by policy and gate, bounded (verdict-metrics.ts), and the sink's own figures.
 *
 * accept() never throws and never waits: judging is synchronous and cached per edge; writes happen
 * on timers. What cannot be written is counted and shown in status(), never dropped silently.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { PodConnect } from '../cluster/cluster-agent.js';
import type { LiveClusterView } from '../cluster/live.js';
import type { ClusterObjects, V1NetworkPolicy } from '../cluster/objects.js';
import { ApiStatusError } from '../cluster/live.js';
import { AGENT_ROLE_HINT, applyNodeEvidence, StagedWatch, stagedApiError } from '../cluster/staged/client.js';
import { currentEntries, entryForStatus, newNodeEvidence, recordDenial, summarize } from '../cluster/staged/evidence.js';
import { stagedKey, type NodeEvidence, type StagedNetworkPolicy } from '../cluster/staged/types.js';
import type { Protocol } from '../flows/record.js';
import { AuditLog, type AuditReplay, type Kept } from './audit-replay.js';
import { EventRecorder, type InvolvedObject, type PreparedEvent } from './event-recorder.js';
import { JudgePolicies, LiveJudge, unanswered, type EdgeJudgement, type Finding, type Gate, type LiveVerdict } from './live-judge.js';
import type { ConnectSink, MetricFamily, SinkContext, SinkFactory, StatusFigures } from './sink.js';
import { VerdictMetrics } from './verdict-metrics.js';
import type { PodEndpoint } from '../policy/traffic.js';

/** One line of `GET /v1/audit` and `kubectl netpol audit -o json`. */
export interface AuditRecord {
  v: 1;
  /** When the connect started. */
  ts: string;
  /**
   * When the judge made this verdict (later than ts: a dropped verdict waits for the timeout).
   * `GET /v1/audit?since=` selects on it; absent from agents before the replay.
   */
  judged?: string;
  /** The node whose agent judged it. */
  node: string;
  verdict: LiveVerdict;
  /** True for would-deny (a staged policy), false for enforced ones. */
  staged: boolean;
  /** namespace/name: the staged policy, or the first enforced policy isolating the failing gate. */
  policy: string;
  policies: string[];
  gate: Gate;
  /** p/ns/pod:port of the connecting pod. */
  src: string;
  /** namespace/Kind/name of the connecting workload. */
  workload: string;
  /** The connecting pod's namespace and labels (what `audit -n/-l` select on). */
  namespace?: string;
  labels?: Record<string, string>;
  /** The destination pod's, when it is one. */
  dstNamespace?: string;
  dstLabels?: Record<string, string>;
  /** What was dialled: s/ns/svc:port, p/ns/pod:port, r/ip:port. */
  dst: string;
  proto: Protocol;
  /** The connect's outcome as traced (established, refused, timeout, closed, error), when known. */
  outcome?: string;
  /** netpol diff's sentence for the judgement. */
  reason: string;
}

export interface JudgeSinkOptions {
  /** How often evidence is written (default 10 s). */
  statusFlushMs?: number;
  /** How often Events are written (default 2 s). */
  eventFlushMs?: number;
  /** Event token bucket (default: client-go's 25 and one per 5 minutes). */
  eventBurst?: number;
  eventRefillMs?: number;
  /** Verdict series in /metrics before policy="_other" (default 500). */
  maxMetricSeries?: number;
  /** Start the staged-policy watch (default true; false judges enforced policies only). */
  staged?: boolean;
  /** Audit records kept for `since=` (default AUDIT_REPLAY_RECORDS, audit-replay.ts) and their age bound (default AUDIT_REPLAY_SECONDS). */
  auditReplayRecords?: number;
  auditReplaySeconds?: number;
}

const REASONS: Record<LiveVerdict, string> = {
  denied: 'NetworkPolicyDenied',
  dropped: 'NetworkPolicyDropped',
  'would-deny': 'StagedPolicyWouldDeny',
};

/** A finding kept for `since=`: what differs per connect, and the edge's cached judgement. */
interface KeptFinding extends Kept<AuditRecord> {
  ts: string;
  port: number | null | undefined;
  outcome: string | undefined;
  verdict: LiveVerdict;
  f: Finding;
  edge: EdgeJudgement;
}

/** The parts of a finding's Event and evidence that are the same for every connect of its edge. */
interface PreparedFinding {
  /** The Event per verdict (denied and dropped share a finding), when the gate's end is a workload. */
  events?: Record<LiveVerdict, PreparedEvent>;
  peerPort: number;
}

interface EvidenceState {
  uid?: string;
  generation?: number;
  namespace: string;
  name: string;
  entry: NodeEvidence;
  dirty: boolean;
  /** Bumped on every change, so a change during a write keeps the entry dirty. */
  version: number;
}

export class JudgeSink implements ConnectSink {
  readonly name = 'judge';
  private readonly kc: KubeConfig;
  private readonly view: LiveClusterView;
  private readonly node: string;
  private readonly watch?: StagedWatch;
  private watchProblem?: string;
  private readonly recorder: EventRecorder;
  private readonly verdicts: VerdictMetrics;
  private readonly subscribers = new Set<(r: AuditRecord) => void>();
  /** The recent records, for a client that resumes its stream (`GET /v1/audit?since=`). */
  private readonly kept: AuditLog<KeptFinding, AuditRecord>;
  private readonly evidence = new Map<string, EvidenceState>();
  /** Findings are cached per edge by the judge, so this lives as long as they do. */
  private readonly preparedFindings = new WeakMap<Finding, PreparedFinding>();
  private policies?: JudgePolicies;
  private judge?: LiveJudge;
  private stagedVersion = -1;
  private lastObjects?: ClusterObjects;
  private readonly timers: NodeJS.Timeout[] = [];
  private statusWriting?: Promise<void>;
  private readonly counts = { judged: 0, denied: 0, dropped: 0, wouldDeny: 0, unjudged: 0, statusWrites: 0, statusErrors: 0, subscriberErrors: 0, internalErrors: 0 };
  private lastError?: string;
  /** The connect accept() judged last, and whether every policy allowed it (for repeatable()). */
  private lastJudged?: PodConnect;
  private lastAllowed = false;
  /** The index lastJudged was judged on (repeatable() asks the view whether it is still current). */
  private lastIndex?: LiveJudge['index'];
  /**
   * Told when staged policies changed (onVerdictInputs). Kept here, not in the watch: a failed
   * start of the watch clears the watch's own listeners, and the judge starts it again.
   */
  private readonly verdictListeners = new Set<() => void>();
  private offWatch?: () => void;

  private constructor(ctx: SinkContext, private readonly opts: JudgeSinkOptions) {
    this.kc = ctx.view.kc;
    this.view = ctx.view;
    this.node = ctx.node;
    this.recorder = new EventRecorder(this.kc, { node: ctx.node, ...(opts.eventBurst !== undefined ? { burst: opts.eventBurst } : {}), ...(opts.eventRefillMs !== undefined ? { refillMs: opts.eventRefillMs } : {}) });
    this.verdicts = new VerdictMetrics(opts.maxMetricSeries ?? 500);
    this.kept = new AuditLog<KeptFinding, AuditRecord>((k) => this.auditRecord(k), opts.auditReplayRecords, opts.auditReplaySeconds !== undefined ? opts.auditReplaySeconds * 1000 : undefined);
    if (opts.staged !== false) this.watch = new StagedWatch(this.kc);
  }

  static async start(ctx: SinkContext, opts: JudgeSinkOptions = {}): Promise<JudgeSink> {
    const sink = new JudgeSink(ctx, opts);
    if (sink.watch) {
      try {
        await sink.watch.start();
        sink.watchStarted();
      } catch (err) {
        // Without the CRD (or the RBAC to read it) the judge still judges enforced policies; it is
        // not ready, and says why, until a retry succeeds.
        sink.watchProblem = (err as Error).message;
        sink.retryWatch();
      }
    }
    const every = (ms: number, fn: () => Promise<void>): void => {
      const t = setInterval(() => void fn().catch((err: unknown) => (sink.lastError = (err as Error).message)), ms);
      t.unref?.();
      sink.timers.push(t);
    };
    every(opts.eventFlushMs ?? 2_000, () => sink.recorder.flush());
    every(opts.statusFlushMs ?? 10_000, () => sink.flushEvidence());
    return sink;
  }

  private retryWatch(): void {
    const t = setTimeout(() => {
      if (!this.watch) return;
      this.watch
        .start()
        .then(() => {
          this.watchProblem = undefined;
          this.watchStarted();
        })
        .catch((err: unknown) => {
          this.watchProblem = (err as Error).message;
          this.retryWatch();
        });
    }, 5_000);
    t.unref?.();
    this.timers.push(t);
  }

  /** The watch runs (again): listen to it, and tell that the staged policies may have changed. */
  private watchStarted(): void {
    this.offWatch?.();
    this.offWatch = this.watch?.onChange(() => this.verdictInputsChanged());
    this.verdictInputsChanged();
  }

  private verdictInputsChanged(): void {
    for (const l of this.verdictListeners) {
      try {
        l();
      } catch (err) {
        this.counts.internalErrors++;
        this.lastError = (err as Error)?.message ?? String(err);
      }
    }
  }

  /**
   * Every audit record from now on; returns the function that unsubscribes. Called in the same
   * tick as replay() (accept() is synchronous), a resuming client gets each record exactly once.
   */
  subscribe(callback: (record: AuditRecord) => void): () => void {
    this.subscribers.add(callback);
    return () => this.subscribers.delete(callback);
  }

  /** The kept records judged at or after `since`, and how far back they are complete. */
  replay(since: Date): AuditReplay<AuditRecord> {
    return this.kept.since(since);
  }

  /** The judge for the current policies and index (rebuilt when either changed). */
  private currentJudge(): LiveJudge {
    // The view hands out the same objects until something changed: compare policies only then.
    const objects = this.view.objects();
    const enforced = objects.networkPolicies;
    const stagedVersion = this.watch?.version ?? 0;
    const viewChanged = objects !== this.lastObjects;
    this.lastObjects = objects;
    if (!this.policies || stagedVersion !== this.stagedVersion || (viewChanged && !samePolicies(this.policies.enforced, enforced))) {
      // A backstop for a change the watch's listeners missed: what was counted as allowed under
      // the staged policies before must be judged again.
      if (this.policies && stagedVersion !== this.stagedVersion) this.verdictInputsChanged();
      const staged = this.watch ? this.watch.list() : [];
      this.policies = new JudgePolicies(enforced, staged);
      this.stagedVersion = stagedVersion;
      this.judge = undefined;
      this.syncEvidence(staged);
    }
    const index = this.view.index();
    if (!this.judge || this.judge.index !== index || this.judge.policies !== this.policies) this.judge = new LiveJudge(this.policies, index);
    return this.judge;
  }

  accept(connect: PodConnect): void {
    try {
      const judge = this.currentJudge();
      const edge = judge.judge(connect.record);
      this.lastJudged = connect;
      this.lastAllowed = edge.enforced.verdict === 'allowed' && edge.findings.length === 0;
      this.lastIndex = judge.index;
      this.counts.judged++;
      if (edge.enforced.verdict === 'unjudged') this.counts.unjudged++;
      if (edge.findings.length === 0) return;
      const outcome = connect.record.outcome;
      // Per connect only what differs between connects of one edge: time, outcome, source port.
      const ts = connect.time.toISOString();
      const at = Date.now();
      for (const f of edge.findings) {
        const verdict: LiveVerdict = f.verdict === 'denied' && unanswered(outcome) ? 'dropped' : f.verdict;
        const p = this.prepare(f, edge);
        if (verdict === 'would-deny') {
          this.counts.wouldDeny++;
          const state = this.evidence.get(f.policy);
          if (state) {
            recordDenial(state.entry, { source: edge.sourceWorkload, peer: edge.dst, port: p.peerPort, protocol: edge.proto, gate: f.gate, at: ts });
            state.dirty = true;
            state.version++;
          }
        } else if (verdict === 'dropped') this.counts.dropped++;
        else this.counts.denied++;
        this.verdicts.add(verdict, f.policy, f.gate);
        if (p.events) this.recorder.recordPrepared(p.events[verdict], connect.time);
        // Kept for a client that resumes (built only if read); streamed now to the ones connected.
        const kept: KeptFinding = { at, ts, port: connect.record.src.port, outcome, verdict, f, edge };
        this.kept.push(kept);
        if (this.subscribers.size === 0) continue;
        const record = this.kept.read(kept);
        for (const s of this.subscribers) {
          try {
            s(record);
          } catch {
            this.counts.subscriberErrors++;
          }
        }
      }
    } catch (err) {
      this.counts.internalErrors++;
      this.lastError = (err as Error)?.message ?? String(err);
    }
  }

  /**
   * Later connects of this edge may be counted in the kernel (src/daemon/kernel-dedup.ts) only when
   * every enforced and every staged policy allows it: a finding must stay one audit line per connection.
   */
  repeatable(connect: PodConnect): boolean {
    // Allowed by staged policies only if they are known: not while the watch is not running.
    if (this.watch && (this.watchProblem !== undefined || !this.watch.running)) return false;
    // The agent asks right after accept(): its judgement then, without judging the edge again. A
    // judgement on an index older than the last change that can change a verdict (index() serves
    // one for up to 200 ms) is not offered: the edge would be counted under the new generation
    // with the old verdict.
    if (connect === this.lastJudged) return this.lastAllowed && this.lastIndex !== undefined && this.view.isCurrent(this.lastIndex);
    try {
      const judge = this.currentJudge();
      const edge = judge.judge(connect.record);
      return edge.enforced.verdict === 'allowed' && edge.findings.length === 0 && this.view.isCurrent(judge.index);
    } catch {
      return false;
    }
  }

  /** Connects the kernel counted on an edge judged allowed (nothing to record but the count). */
  acceptRepeats(_connect: PodConnect, count: number): void {
    this.counts.judged += count;
  }

  /** Staged policies changed: verdicts may have (the cluster view's changes the agent watches itself). */
  onVerdictInputs(listener: () => void): () => void {
    this.verdictListeners.add(listener);
    return () => this.verdictListeners.delete(listener);
  }

  private auditRecord({ at, ts, port, outcome, verdict, f, edge }: KeptFinding): AuditRecord {
    return {
      v: 1,
      ts,
      judged: new Date(at).toISOString(),
      node: this.node,
      verdict,
      staged: f.staged,
      policy: f.policy,
      policies: f.policies,
      gate: f.gate,
      src: port !== undefined && port !== null ? `${edge.src}:${port}` : edge.src,
      workload: edge.sourceWorkload,
      ...(edge.sourcePod ? { namespace: edge.sourcePod.namespace, labels: edge.sourcePod.labels } : {}),
      dst: edge.dst,
      ...(edge.dstPod ? { dstNamespace: edge.dstPod.namespace, dstLabels: edge.dstPod.labels } : {}),
      proto: edge.proto,
      ...(outcome !== undefined ? { outcome } : {}),
      reason: f.reason,
    };
  }

  /** What every connect of one finding shares (the Event's object and messages, the peer's port), made once per finding. */
  private prepare(f: Finding, edge: EdgeJudgement): PreparedFinding {
    let p = this.preparedFindings.get(f);
    if (p) return p;
    const head = `connect from ${edge.sourceWorkload} to ${edge.dst}/${edge.proto}`;
    const enforcedBy = f.policies.join(', ');
    const object = f.gateWorkload ? this.involvedObject(f.gateWorkload) : undefined;
    const event = (verdict: LiveVerdict, message: string): PreparedEvent => ({ input: { object: object!, type: 'Warning', reason: REASONS[verdict], message } });
    p = {
      ...(object
        ? {
            events: {
              'would-deny': event('would-deny', `${head} would be denied by staged policy ${f.policy} (${f.gate})`),
              dropped: event('dropped', `${head} dropped by NetworkPolicy ${enforcedBy} (no answer) (${f.gate})`),
              denied: event('denied', `${head} denied by NetworkPolicy ${enforcedBy} (${f.gate})`),
            },
          }
        : {}),
      peerPort: Number(/:(\d+)$/.exec(edge.dst)?.[1] ?? 0),
    };
    this.preparedFindings.set(f, p);
    return p;
  }

  // ---------------------------------------------------------------------------------------------
  // Evidence

  /** Keeps one entry per staged policy: resumed from this node's own status entry after a restart, fresh for a new spec. */
  private syncEvidence(staged: readonly StagedNetworkPolicy[]): void {
    const present = new Set<string>();
    for (const s of staged) {
      const key = stagedKey(s);
      present.add(key);
      const generation = s.metadata?.generation;
      const have = this.evidence.get(key);
      if (have && have.uid === s.metadata?.uid && have.generation === generation) continue;
      // After a restart (or when the watch brings our own last write back), continue from our entry.
      const mine = currentEntries(s).find((n) => n.node === this.node);
      const entry = mine ? structuredClone(mine) : newNodeEvidence(this.node, generation, new Date());
      this.evidence.set(key, { uid: s.metadata?.uid, generation, namespace: s.metadata?.namespace ?? 'default', name: s.metadata?.name ?? '', entry, dirty: mine === undefined, version: 0 });
    }
    for (const key of this.evidence.keys()) if (!present.has(key)) this.evidence.delete(key);
  }

  /** Writes every changed entry (one apply per staged policy); runs on a timer and on close. */
  flushEvidence(): Promise<void> {
    this.statusWriting ??= this.writeEvidence().finally(() => {
      this.statusWriting = undefined;
    });
    return this.statusWriting;
  }

  private async writeEvidence(): Promise<void> {
    for (const [key, state] of [...this.evidence]) {
      if (!state.dirty) continue;
      const latest = this.watch?.list().find((s) => stagedKey(s) === key);
      // The summary beside the entries: the others' current entries and ours.
      const others = latest ? currentEntries(latest).filter((n) => n.node !== this.node) : [];
      const entry = entryForStatus(state.entry);
      const version = state.version;
      const summary = summarize(latest ?? {}, [...others, entry]);
      try {
        const written = await applyNodeEvidence(this.kc, { namespace: state.namespace, name: state.name }, entry, summary);
        this.counts.statusWrites++;
        if (state.version === version) state.dirty = false;
        // Another agent wrote in between: its summary or ours is stale; the last writer fixes it.
        const now = summarize(written);
        if (now.wouldDeny !== written.status?.wouldDeny || now.lastSeen !== written.status?.lastSeen) state.dirty = true;
      } catch (err) {
        if (err instanceof ApiStatusError && err.statusCode === 404) {
          this.evidence.delete(key);
          continue;
        }
        this.counts.statusErrors++;
        this.lastError = stagedApiError(err, `cannot write evidence to StagedNetworkPolicy ${key}`, this.kc, AGENT_ROLE_HINT).message;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  private involvedObject(endpoint: PodEndpoint): InvolvedObject {
    const w = endpoint.workload;
    if (w.kind === 'Pod' || w.kind === undefined) {
      return { apiVersion: 'v1', kind: 'Pod', namespace: endpoint.namespace, name: endpoint.name, ...(endpoint.pod.metadata?.uid ? { uid: endpoint.pod.metadata.uid } : {}) };
    }
    const owner = this.view.objects().owners.find((o) => o.kind === w.kind && o.metadata?.namespace === w.namespace && o.metadata?.name === w.name);
    return {
      apiVersion: owner?.apiVersion ?? (w.kind === 'Job' || w.kind === 'CronJob' ? 'batch/v1' : 'apps/v1'),
      kind: w.kind,
      namespace: w.namespace,
      name: w.name,
      ...(owner?.metadata?.uid ? { uid: owner.metadata.uid } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------------

  status(): StatusFigures {
    const ev = this.recorder.figures;
    return {
      ...this.counts,
      staged: this.watch?.list().length ?? 0,
      stagedInvalid: this.policies?.problems.length ?? 0,
      evidencePending: [...this.evidence.values()].filter((e) => e.dirty).length,
      eventsRecorded: ev.recorded,
      eventsCreated: ev.created,
      eventsPatched: ev.patched,
      eventsThrottled: ev.throttled,
      eventsPending: ev.pending,
      eventsErrors: ev.errors,
      eventsLost: ev.lost,
      subscribers: this.subscribers.size,
      auditKept: this.kept.length,
      ...(this.watchProblem ? { stagedWatch: this.watchProblem } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  metrics(): MetricFamily[] {
    const ev = this.recorder.figures;
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
    return [
      counter('netpol_judge_connects_total', 'Connects judged by the live judge.', this.counts.judged),
      counter('netpol_judge_unjudged_total', 'Connects that could not be judged (a peer the cluster view does not hold).', this.counts.unjudged),
      ...this.verdicts.families(),
      { name: 'netpol_judge_staged_policies', help: 'Staged policies being judged.', type: 'gauge', samples: [{ value: this.policies?.stagedCount ?? 0 }] },
      counter('netpol_judge_status_writes_total', 'Evidence writes to StagedNetworkPolicy status.', this.counts.statusWrites),
      counter('netpol_judge_status_errors_total', 'Evidence writes that failed (retried at the next flush).', this.counts.statusErrors),
      counter('netpol_judge_events_recorded_total', 'Event occurrences recorded (before dedup and rate limiting).', ev.recorded),
      counter('netpol_judge_events_written_total', 'Event creates and count patches sent to the API server.', ev.created + ev.patched),
      counter('netpol_judge_events_throttled_total', 'Event writes that waited for the rate limit.', ev.throttled),
      counter('netpol_judge_events_lost_total', 'Event occurrences never written.', ev.lost),
    ];
  }

  readiness(): { ready: boolean; reason?: string } {
    return this.watchProblem ? { ready: false, reason: `live judge: ${this.watchProblem}` } : { ready: true };
  }

  async close(deadline: Date): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    const left = Math.max(0, deadline.getTime() - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
    await Promise.race([Promise.all([this.flushEvidence(), this.recorder.flush()]).then(() => undefined), timeout]);
    clearTimeout(timer);
    this.subscribers.clear();
    await this.watch?.close();
  }
}

function samePolicies(a: readonly V1NetworkPolicy[], b: readonly V1NetworkPolicy[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The live judge's factory, as the agent (src/daemon) plugs it in. */
export function judgeSinkFactory(opts: JudgeSinkOptions = {}): SinkFactory {
  return (ctx) => JudgeSink.start(ctx, opts);
}
