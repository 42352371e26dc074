/**
 * The profile writer: one node's share of every workload's TrafficProfile, kept in the API server.
 *
 * - accept() journals the connect (journal.ts) and counts it in memory; it never waits for the
 *   API server. What the writer has to give up on (backlog full, a torn journal line) is counted
 *   as lost and shown in status(), never dropped silently.
 * - Every flush interval (10 s) it writes the objects that gained an edge; objects whose only
 *   change is counts and last-seen times are refreshed one per interval, oldest first, and only
 *   once `refreshMs` has passed since their last write. Steady state — no new edges — is therefore
 *   at most one write per node per interval, whatever the connect rate.
 * - Each object has this writer as its only writer (one object per workload and node), and a write
 *   carries absolute content, so retries are idempotent and nodes never conflict.
 * - A write that fails is retried with exponential backoff (1 s … 60 s); the backlog of unwritten
 *   edges is bounded (`maxBacklogEdges`); connects of new edges beyond it are counted as lost.
 * - An object holds at most `maxEdges` edges; later edges are counted in status.overflow.
 * - Retention: edges last seen longer ago than `retentionMs` are removed and counted in
 *   status.expired; an object left with no edge is deleted.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { applyProfile, deleteProfile, getProfile, listProfiles, newConnectionPool } from './client.js';
import { ApiStatusError } from '../live.js';
import { collectExpiredProfiles } from './gc.js';
import type { RingMark } from '../../agent/pins.js';
import { Journal, type JournalEntry } from './journal.js';
import { addEdge, expireEdges } from './merge.js';
import { stampBefore } from '../../flows/timestamp.js';
import { ObservationLedger, type ProtocolState } from './observing.js';
import type { EdgeObservation, ProfileCounter, ProfileEdge, ProfileObservation, ProtocolObservation, TrafficProfile, WorkloadIdentity } from './types.js';
import { edgeKey, NODE_LABEL, labelValue, PROFILE_API_VERSION, PROFILE_KIND, profileLabels, profileName } from './types.js';

export const DEFAULT_RETENTION_MS = 14 * 86_400_000;

/**
 * A share's key: its object's namespace and name. The name alone (kind.workload.node) is the same
 * for same-named workloads of two namespaces, whose edges must not mix.
 */
function shareKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * Whether a write failed because the profile's namespace no longer exists (404 naming the
 * namespace) or is being deleted (403 NamespaceTerminating). A missing CRD is also a 404, but one
 * that names no namespace: that one is retried (the CRD may be installed again).
 */
function namespaceGone(err: unknown, namespace: string): boolean {
  if (!(err instanceof ApiStatusError)) return false;
  if (err.statusCode === 404) return err.reason === `namespaces "${namespace}" not found`;
  return err.statusCode === 403 && (err.causes.some((c) => c.reason === 'NamespaceTerminating') || err.reason.includes('because it is being terminated'));
}

export interface ProfileWriterOptions {
  kc: KubeConfig;
  node: string;
  /** The journal's directory (a hostPath in the DaemonSet). Without one, nothing survives a kill. */
  journalDir?: string;
  flushIntervalMs?: number;
  /** How long a count-only change may wait to be written (default 5 min). */
  refreshMs?: number;
  /** Count-only refreshes per flush interval (default 1). */
  refreshesPerFlush?: number;
  maxEdges?: number;
  maxBacklogEdges?: number;
  retentionMs?: number;
  /** Start a new journal segment when the current one is larger (default 4 MiB). */
  journalRotateBytes?: number;
  backoffMaxMs?: number;
  /**
   * How often to delete profiles nobody has seen anything in within retention (a node that left):
   * default every 6 h with jitter; 0 turns it off. Cheap (one list from the watch cache).
   */
  gcIntervalMs?: number;
  fieldManager?: string;
  /** Clock (tests). */
  now?: () => number;
}

interface Pending {
  edge: EdgeObservation;
  count: number;
  first: string;
  last: string;
  seq: number;
}

/** One object: this node's share of one workload's profile. */
interface Share {
  name: string;
  owner: WorkloadIdentity;
  /** The content the API server holds; undefined until read. */
  base?: Map<string, ProfileEdge>;
  /** Whether the API server holds the object (known once base is). */
  exists: boolean;
  overflow: ProfileCounter;
  expired: ProfileCounter;
  appliedSeq: number;
  /** Journal entries replayed before `base` was known: filtered by appliedSeq once it is. */
  replayed: JournalEntry[];
  pending: Map<string, Pending>;
  /** A change that must be written at the next flush (new edge, new labels). */
  urgent: boolean;
  lastWriteMs: number;
  /** Keys already counted in overflow by this writer. */
  overflowKeys: Set<string>;
}

export class ProfileWriter {
  private readonly shares = new Map<string, Share>();
  /** This writer's keep-alive connections (closed with it). */
  private readonly pool = newConnectionPool();
  private timer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private nextAttemptMs = 0;
  private backoffMs = 0;
  private backlogEdges = 0;
  private readonly figures = {
    observed: 0,
    written: 0,
    retried: 0,
    lost: 0,
    replayed: 0,
    replaySkipped: 0,
    overflowConnects: 0,
    expiredEdges: 0,
    deleted: 0,
    collected: 0,
    rejected: 0,
    journalFailures: 0,
    /** 1 once the installed CRD refused status.protocols (update it: kubectl netpol deploy). */
    protocolsRefused: 0,
  };
  private lastError: string | undefined;
  /**
   * lastError is a failed write's (a 429, an outage): cleared by the next successful write, so status
   * never shows a stale failure. Other errors (refused content, journal, sweep) are kept: they name
   * connects lost or not durable.
   */
  private lastErrorRetryable = false;
  private lastWriteAt: string | undefined;
  private firstWriteOk = false;
  /** This node's objects were listed at start (so a share not among them is known not to exist). */
  private listed = false;
  /** The node's protocol window across agent restarts (observing.ts). */
  private ledger = ObservationLedger.open(undefined);
  /** What every object written claims in status.protocols; unknown until the agent has attached. */
  private protocols: ProtocolObservation[] | undefined;
  /** The installed CRD predates status.protocols (the API server refused the field): written without it. */
  private protocolsRefused = false;
  private readonly o: Required<Omit<ProfileWriterOptions, 'journalDir'>> & { journalDir?: string };

  private constructor(
    opts: ProfileWriterOptions,
    private readonly journal: Journal | undefined,
  ) {
    this.o = {
      flushIntervalMs: 10_000,
      refreshMs: 300_000,
      refreshesPerFlush: 1,
      maxEdges: 1000,
      maxBacklogEdges: 100_000,
      retentionMs: DEFAULT_RETENTION_MS,
      journalRotateBytes: 4 << 20,
      backoffMaxMs: 60_000,
      gcIntervalMs: 6 * 3_600_000,
      fieldManager: `netpol-agent/${opts.node}`.slice(0, 128),
      now: Date.now,
      ...opts,
    };
  }

  /** Opens the journal, replays it against what the API server holds, and starts flushing. */
  static async start(opts: ProfileWriterOptions): Promise<ProfileWriter> {
    let journal: Journal | undefined;
    let replay: JournalEntry[] = [];
    let unreadable = 0;
    if (opts.journalDir) {
      const opened = Journal.open(opts.journalDir);
      journal = opened.journal;
      replay = opened.replay.entries;
      unreadable = opened.replay.unreadable;
    }
    const w = new ProfileWriter(opts, journal);
    w.ledger = ObservationLedger.open(opts.journalDir);
    w.figures.lost += unreadable;
    for (const e of replay) w.shareOf(e.owner).replayed.push(e);
    // The node's objects, read once; when the API server is away, each is read before its first write.
    try {
      const own = await listProfiles(opts.kc, { labelSelector: `${NODE_LABEL}=${labelValue(opts.node)}`, timeoutMs: 15_000, pool: w.pool });
      for (const p of own) if (p.spec?.node === opts.node) w.loadBase(shareKey(p.metadata.namespace, p.metadata.name), p);
      // This node's agent is the only writer of its objects: what the list lacks does not exist,
      // now or for shares made later, so their first write needs no read.
      w.listed = true;
      for (const s of w.shares.values()) if (!s.base) w.loadBase(shareKey(s.owner.namespace, s.name), undefined);
    } catch (err) {
      w.lastError = `reading this node's profiles: ${(err as Error).message}`;
      w.lastErrorRetryable = true;
    }
    for (const s of w.shares.values()) if (!s.base && s.replayed.length === 0) w.shares.delete(shareKey(s.owner.namespace, s.name));
    if (w.o.flushIntervalMs > 0) {
      w.timer = setInterval(() => void w.flush().catch(() => {}), w.o.flushIntervalMs);
      w.timer.unref();
    }
    if (w.o.gcIntervalMs > 0) {
      // Jittered, so a thousand agents started together do not sweep together.
      const every = w.o.gcIntervalMs * (0.75 + Math.random() / 2);
      w.gcTimer = setInterval(() => void w.collectExpired().catch(() => {}), every);
      w.gcTimer.unref();
    }
    return w;
  }

  /** profileName per workload kind and name (per connect it lowercased and ran three regular expressions). */
  private readonly names = new Map<string, string>();

  private shareOf(owner: WorkloadIdentity): Share {
    const nameKey = `${owner.kind}\u0000${owner.name}`;
    let name = this.names.get(nameKey);
    if (name === undefined) {
      if (this.names.size >= 10_000) this.names.clear();
      name = profileName(owner, this.o.node);
      this.names.set(nameKey, name);
    }
    const key = shareKey(owner.namespace, name);
    let s = this.shares.get(key);
    if (!s) {
      s = {
        name,
        owner,
        overflow: { edges: 0, connects: 0 },
        expired: { edges: 0, connects: 0 },
        appliedSeq: 0,
        replayed: [],
        exists: false,
        pending: new Map(),
        urgent: false,
        lastWriteMs: 0,
        overflowKeys: new Set(),
      };
      this.shares.set(key, s);
      if (this.listed) s.base = new Map();
    } else if (!sameRecord(s.owner.labels, owner.labels) || (s.owner.selector !== owner.selector && JSON.stringify(s.owner.selector) !== JSON.stringify(owner.selector))) {
      s.owner = owner;
      s.urgent = true;
    }
    return s;
  }

  /** Takes the API server's content of a share as its base, then what of the replay it lacks. */
  private loadBase(key: string, p: TrafficProfile | undefined): void {
    let s = this.shares.get(key);
    if (!s && p) s = this.shareOf(p.spec.workload);
    if (!s) return;
    s.base = new Map();
    s.exists = p !== undefined;
    for (const e of p?.status?.edges ?? []) s.base.set(edgeKey(e), { ...e });
    s.overflow = { ...(p?.status?.overflow ?? { edges: 0, connects: 0 }) };
    s.expired = { ...(p?.status?.expired ?? { edges: 0, connects: 0 }) };
    const sameJournal = this.journal !== undefined && p?.status?.journal?.id === this.journal.id;
    s.appliedSeq = sameJournal ? (p?.status?.journal?.seq ?? 0) : 0;
    if (p?.status?.lastWrite) s.lastWriteMs = Date.parse(p.status.lastWrite);
    for (const e of s.replayed) {
      if (sameJournal && e.seq <= s.appliedSeq) {
        this.figures.replaySkipped += e.count;
        continue;
      }
      this.figures.replayed += e.count;
      this.addPending(s, e.edge, e.count, e.first, e.last, e.seq);
    }
    s.replayed = [];
  }

  private addPending(s: Share, edge: EdgeObservation, count: number, first: string, last: string, seq: number, key = edgeKey(edge)): void {
    const p = s.pending.get(key);
    if (p) {
      p.count += count;
      if (first < p.first) p.first = first;
      if (last > p.last) p.last = last;
      p.seq = Math.max(p.seq, seq);
      return;
    }
    s.pending.set(key, { edge, count, first, last, seq });
    this.backlogEdges++;
    if (!s.base || !s.base.has(key)) s.urgent = true;
  }

  /**
   * What the agent observes, once its programs are attached (`attachStart`: taken before the first
   * was attached). Until then objects are written without status.protocols (nothing claimed).
   */
  observing(now: ProtocolState[], attachStart: Date): ProtocolObservation[] {
    this.protocols = this.ledger.settle(now, attachStart);
    return this.protocols;
  }

  /** One connect. Journaled before it is counted; never throws, never waits. */
  accept(obs: ProfileObservation, cursor?: RingMark): void {
    this.figures.observed++;
    if (obs.edges.length === 0) return;
    const s = this.shareOf(obs.owner);
    const keys = obs.edges.map(edgeKey);
    const fresh = keys.filter((k) => !s.pending.has(k)).length;
    if (fresh > 0 && this.backlogEdges + fresh > this.o.maxBacklogEdges) {
      this.figures.lost++;
      return;
    }
    let seq = 0;
    if (this.journal) {
      try {
        seq = this.journal.record(obs.owner, obs.edges, obs.time, cursor);
        // Written at the end of this event-loop turn at the latest; the agent syncs sooner, before
        // the ring frees the records of its batch (syncJournal()).
        this.syncSoon ??= setImmediate(() => this.syncJournal());
      } catch (err) {
        // Kept in memory (it is written if this agent lives), but not durable: said in status.
        this.figures.journalFailures++;
        this.lastError = `journal: ${(err as Error).message}`;
        this.lastErrorRetryable = false;
      }
    }
    obs.edges.forEach((e, i) => this.addPending(s, e, 1, obs.time, obs.time, seq, keys[i]));
  }

  /**
   * `count` connects like `obs`, between `first` and `last` (counted in the kernel, handed over by
   * the agent's sweep): journaled as one aggregate and counted as `count` connects.
   */
  acceptRepeats(obs: ProfileObservation, count: number, first: string, last: string): void {
    this.figures.observed += count;
    if (obs.edges.length === 0) return;
    const s = this.shareOf(obs.owner);
    const keys = obs.edges.map(edgeKey);
    const fresh = keys.filter((k) => !s.pending.has(k)).length;
    if (fresh > 0 && this.backlogEdges + fresh > this.o.maxBacklogEdges) {
      this.figures.lost += count;
      return;
    }
    let seq = 0;
    if (this.journal) {
      try {
        seq = this.journal.recordRepeats(obs.owner, obs.edges, count, first, last);
        this.syncSoon ??= setImmediate(() => this.syncJournal());
      } catch (err) {
        this.figures.journalFailures++;
        this.lastError = `journal: ${(err as Error).message}`;
        this.lastErrorRetryable = false;
      }
    }
    obs.edges.forEach((e, i) => this.addPending(s, e, count, first, last, seq, keys[i]));
  }

  private syncSoon: NodeJS.Immediate | undefined;

  /**
   * Writes the journal's buffered lines (one write for every connect accepted since the last).
   * A failure is counted (journalFailures) and said in status; the lines stay buffered for the next.
   */
  syncJournal(): void {
    if (this.syncSoon) clearImmediate(this.syncSoon);
    this.syncSoon = undefined;
    if (!this.journal?.dirty) return;
    try {
      this.journal.sync();
    } catch (err) {
      this.figures.journalFailures++;
      this.lastError = `journal: ${(err as Error).message}`;
      this.lastErrorRetryable = false;
    }
  }

  /**
   * Writes what is due (everything with `all`, e.g. at shutdown). Resolves when done; a failed
   * write ends this flush and sets the backoff (the error is kept for status()).
   */
  flush(opts: { all?: boolean } = {}): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (opts.all ? this.flush(opts) : undefined));
    this.flushing = this.flushOnce(opts.all ?? false).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(all: boolean): Promise<void> {
    const now = this.o.now();
    // Compaction first: during an outage (backing off) the journal must stay bounded all the same.
    this.maybeCompact();
    if (!all && now < this.nextAttemptMs) return;
    const urgent: Share[] = [];
    const refresh: Share[] = [];
    const cutoff = now - this.o.retentionMs;
    for (const s of this.shares.values()) {
      const expiring = s.base !== undefined && [...s.base.values()].some((e) => stampBefore(e.lastSeen, cutoff));
      if (s.urgent || expiring || s.replayed.length > 0 || (all && s.pending.size > 0)) urgent.push(s);
      else if (s.pending.size > 0 && now - s.lastWriteMs >= this.o.refreshMs) refresh.push(s);
    }
    refresh.sort((a, b) => a.lastWriteMs - b.lastWriteMs);
    const due = [...urgent, ...refresh.slice(0, this.o.refreshesPerFlush)];
    try {
      for (const s of due) await this.writeShare(s);
      this.backoffMs = 0;
      this.nextAttemptMs = 0;
    } catch (err) {
      this.figures.retried++;
      this.lastError = (err as Error).message;
      this.lastErrorRetryable = true;
      this.backoffMs = Math.min(this.o.backoffMaxMs, this.backoffMs === 0 ? 1000 : this.backoffMs * 2);
      this.nextAttemptMs = this.o.now() + this.backoffMs;
      throw err;
    }
  }

  private async writeShare(s: Share): Promise<void> {
    if (!s.base) this.loadBase(shareKey(s.owner.namespace, s.name), await getProfile(this.o.kc, s.owner.namespace, s.name, 15_000, this.pool));
    const base = s.base!;
    const now = this.o.now();
    // Journaled before the API server holds them (status.journal.seq): a connect the API server
    // counted but the journal lacks would be read from the ring and counted again by the next agent.
    this.syncJournal();
    // The write takes the pending deltas; on failure they go back (merged with newer ones).
    const taken = s.pending;
    s.pending = new Map();
    const wasUrgent = s.urgent;
    s.urgent = false;
    const content = new Map<string, ProfileEdge>();
    for (const [k, e] of base) content.set(k, { ...e });
    const overflow = { ...s.overflow };
    const newOverflowKeys: string[] = [];
    let seq = s.appliedSeq;
    for (const [key, p] of taken) {
      seq = Math.max(seq, p.seq);
      if (!content.has(key) && content.size >= this.o.maxEdges) {
        overflow.connects += p.count;
        if (!s.overflowKeys.has(key)) {
          overflow.edges++;
          newOverflowKeys.push(key);
        }
        continue;
      }
      addEdge(content, p.edge, p.count, p.first, p.last, key);
    }
    const expired = expireEdges(content, now - this.o.retentionMs);
    const lastWrite = new Date(now).toISOString();
    try {
      if (content.size === 0 && overflow.connects === 0) {
        // Nothing left within retention: the object goes (this writer is its only writer).
        await deleteProfile(this.o.kc, s.owner.namespace, s.name, undefined, this.pool);
        this.figures.deleted++;
        this.writeSucceeded();
      } else {
        let oldest: string | undefined;
        for (const e of content.values()) if (oldest === undefined || e.firstSeen < oldest) oldest = e.firstSeen;
        const profile: TrafficProfile = {
          apiVersion: PROFILE_API_VERSION,
          kind: PROFILE_KIND,
          metadata: { name: s.name, namespace: s.owner.namespace, labels: profileLabels(s.owner, this.o.node) },
          spec: { workload: s.owner, node: this.o.node },
          status: {
            edges: [...content.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e),
            edgeCount: content.size,
            overflow,
            expired: { edges: s.expired.edges + expired.edges, connects: s.expired.connects + expired.connects },
            journal: { id: this.journal?.id ?? '', seq },
            ...(oldest ? { oldestObservation: oldest } : {}),
            lastWrite,
            ...(this.protocols && !this.protocolsRefused ? { protocols: this.protocols } : {}),
          },
        };
        await applyProfile(this.o.kc, profile, this.o.fieldManager, { exists: s.exists, pool: this.pool });
        this.figures.written++;
        this.firstWriteOk = true;
        this.writeSucceeded();
      }
    } catch (err) {
      if (err instanceof ApiStatusError && !this.protocolsRefused && /\.status\.protocols: field not declared in schema/.test(err.reason)) {
        // A CRD older than this agent (server-side apply refuses fields it does not declare): keep
        // writing without the claim, so learn assumes DNS, and say why in status. The edges go back
        // to pending below and are written at the next attempt.
        this.protocolsRefused = true;
        this.figures.protocolsRefused = 1;
      }
      const gone = namespaceGone(err, s.owner.namespace);
      if (gone || (err instanceof ApiStatusError && (err.statusCode === 400 || err.statusCode === 422))) {
        // Refused for its content (e.g. beyond the CRD's limits), or its namespace is gone (deleted
        // while the edges waited, or a journal replayed from before): retrying cannot help, and it
        // must not hold back the other profiles. Its connects are counted as lost, with why.
        let connects = 0;
        for (const p of taken.values()) connects += p.count;
        this.figures.lost += connects;
        this.figures.rejected += connects;
        this.backlogEdges -= taken.size;
        this.lastErrorRetryable = false;
        this.lastError =
          `profile ${s.owner.namespace}/${s.name} refused by the API server: ${(err as ApiStatusError).reason}` +
          (gone ? ` (namespace ${s.owner.namespace} does not exist or is being deleted: its ${connects} connects are lost)` : '');
        return;
      }
      for (const [key, p] of taken) {
        this.backlogEdges--;
        this.addPending(s, p.edge, p.count, p.first, p.last, p.seq, key);
      }
      s.urgent = s.urgent || wasUrgent;
      throw err;
    }
    this.backlogEdges -= taken.size;
    s.base = content;
    s.exists = !(content.size === 0 && overflow.connects === 0);
    this.figures.overflowConnects += overflow.connects - s.overflow.connects;
    s.overflow = overflow;
    for (const k of newOverflowKeys) s.overflowKeys.add(k);
    s.expired = { edges: s.expired.edges + expired.edges, connects: s.expired.connects + expired.connects };
    this.figures.expiredEdges += expired.edges;
    s.appliedSeq = seq;
    s.lastWriteMs = now;
    this.lastWriteAt = lastWrite;
    if (content.size === 0 && overflow.connects === 0 && s.pending.size === 0) this.shares.delete(shareKey(s.owner.namespace, s.name));
  }

  private writeSucceeded(): void {
    if (!this.lastErrorRetryable) return;
    this.lastError = undefined;
    this.lastErrorRetryable = false;
  }

  /** Deletes profiles of any node with nothing seen within retention (gc.ts); counted in `collected`. */
  async collectExpired(): Promise<number> {
    try {
      const n = await collectExpiredProfiles(this.o.kc, this.o.retentionMs, this.o.now(), this.pool);
      this.figures.collected += n;
      return n;
    } catch (err) {
      this.lastError = `retention sweep: ${(err as Error).message}`;
      this.lastErrorRetryable = false;
      throw err;
    }
  }

  /** Rotates the journal when it has grown: only what is not yet written goes into the new segment. */
  private maybeCompact(): void {
    if (!this.journal) return;
    // Earlier runs' segments go once every replayed entry is placed (their objects were read).
    const replayPlaced = [...this.shares.values()].every((s) => s.replayed.length === 0);
    if (this.journal.size < this.o.journalRotateBytes && !(this.journal.olderSegments > 0 && replayPlaced)) return;
    const keep: JournalEntry[] = [];
    for (const s of this.shares.values()) {
      for (const p of s.pending.values()) keep.push({ owner: s.owner, edge: p.edge, count: p.count, first: p.first, last: p.last, seq: p.seq });
      keep.push(...s.replayed);
    }
    try {
      this.journal.compact(keep);
    } catch (err) {
      this.lastError = `journal compaction: ${(err as Error).message}`;
      this.lastErrorRetryable = false;
    }
  }

  /** The last kernel ring position journaled (the agent resumes reading the pinned ring after it). */
  ringMark(): RingMark | undefined {
    return this.journal?.mark;
  }

  status(): Record<string, number | string | boolean> {
    const out: Record<string, number | string | boolean> = {
      ...this.figures,
      backlog: this.backlogEdges,
      backlogProfiles: [...this.shares.values()].filter((s) => s.pending.size > 0 || s.replayed.length > 0).length,
      profiles: this.shares.size,
      journalBytes: this.journal?.size ?? 0,
    };
    if (this.lastWriteAt) out.lastWrite = this.lastWriteAt;
    if (this.lastError) out.lastError = this.lastError;
    return out;
  }

  readiness(): { ready: boolean; reason?: string } {
    // Not ready only once a write (or the start's list) has failed and none has succeeded since
    // start: edges merely waiting for their first flush (at most one interval) are not a failure.
    if (this.firstWriteOk || this.backlogEdges === 0 || this.lastError === undefined) return { ready: true };
    return { ready: false, reason: `profile writes failing: ${this.lastError}` };
  }

  /** Writes everything pending within the deadline; what is left stays in the journal for the next start. */
  async close(deadline: Date): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.timer = undefined;
    const left = deadline.getTime() - Date.now();
    if (left > 0) {
      this.nextAttemptMs = 0;
      await Promise.race([this.flush({ all: true }).catch(() => {}), new Promise((r) => setTimeout(r, left).unref())]);
    }
    await this.flushing?.catch(() => {});
    this.syncJournal();
    this.journal?.close();
    this.pool.destroy();
  }
}

/**
 * The same labels, in the same order: what comparing their JSON says, without building two strings
 * per connect (four JSON.stringify calls per connect were ~8 % of the agent's CPU in a connect storm).
 */
function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || a[k] !== b[k]) return false;
  }
  return true;
}
