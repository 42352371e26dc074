/**
 * Kubernetes Events from the live judge, deduplicated and rate-limited the way the kubelet's event
 * recorder does it (client-go's EventCorrelator), with one difference: nothing is dropped.
 *
 *   dedup        an Event repeats when its object, reason and message repeat: the first one is
 *                created, later ones increment `count` and `lastTimestamp` of that same Event.
 *   aggregation  once one object has 10 distinct messages for one reason within 10 minutes, further
 *                ones go into a single Event "(combined from similar events): <latest message>".
 *   rate limit   a token bucket per object (burst 25, one token per 5 minutes: client-go's defaults)
 *                gates writes to the API server. Where the kubelet drops an event when the bucket is
 *                empty, here the repeats wait (their counts accumulate) and are written when a token
 *                comes; what is waiting is shown as pending, and the writes that waited as throttled.
 *
 * Writes are batched: record() only counts; flush() (every couple of seconds) sends one create or
 * patch per Event that changed.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { statusError } from '../cluster/apply.js';
import { ApiStatusError } from '../cluster/live.js';

/** The generated client sends a patch as JSON patch (its first content type); an Event's repeat is a merge patch. */
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface EventInput {
  object: InvolvedObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: Date;
}

export interface RecorderOptions {
  /** Source host (this node) and component. */
  node: string;
  component?: string;
  burst?: number;
  /** Milliseconds per token. */
  refillMs?: number;
  /** Distinct messages per object and reason before aggregation. */
  maxSimilar?: number;
  similarWindowMs?: number;
  /** Events tracked at once; the least recently used is forgotten (after its pending count is written or counted as lost). */
  maxTracked?: number;
  now?: () => number;
}

/** An Event prepared once and recorded many times (recordPrepared). */
export interface PreparedEvent {
  input: Omit<EventInput, 'at'>;
  tracked?: Tracked;
  seen?: Map<string, number>;
}

interface Tracked {
  key: string;
  input: EventInput;
  /** The Event's name once created. */
  name?: string;
  /** Count written to the API server. */
  written: number;
  /** Count recorded (written + pending). */
  total: number;
  firstAt: Date;
  lastAt: Date;
  lastUsed: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export interface RecorderFigures {
  recorded: number;
  created: number;
  patched: number;
  /** Writes that had to wait for a token (the kubelet would have dropped these). */
  throttled: number;
  /** Occurrences recorded but not yet written (waiting for a token or the next flush). */
  pending: number;
  errors: number;
  /** Occurrences never written: their Event was forgotten (maxTracked) while they waited, or the write failed for good. */
  lost: number;
  lastError?: string;
}

export class EventRecorder {
  private readonly tracked = new Map<string, Tracked>();
  private readonly objectKeys = new WeakMap<InvolvedObject, string>();
  private readonly buckets = new Map<string, Bucket>();
  /** object+reason → distinct messages seen recently (message → last seen). */
  private readonly similar = new Map<string, Map<string, number>>();
  readonly figures: RecorderFigures = { recorded: 0, created: 0, patched: 0, throttled: 0, pending: 0, errors: 0, lost: 0 };
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxSimilar: number;
  private readonly similarWindowMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;
  private flushing?: Promise<void>;
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly opts: RecorderOptions,
  ) {
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 300_000;
    this.maxSimilar = opts.maxSimilar ?? 10;
    this.similarWindowMs = opts.similarWindowMs ?? 600_000;
    this.maxTracked = opts.maxTracked ?? 4096;
    this.now = opts.now ?? Date.now;
    this.core = kc.makeApiClient(CoreV1Api);
  }

  private objectKey(o: InvolvedObject): string {
    return `${o.namespace}/${o.kind}/${o.name}/${o.uid ?? ''}`;
  }

  /**
   * Counts one occurrence of a prepared Event (the judge prepares one per finding and calls this per
   * connect): a repeat costs a few field updates, no string building or hashing.
   */
  recordPrepared(p: PreparedEvent, at: Date): void {
    const t = p.tracked;
    if (t && t.input.message === p.input.message && this.tracked.get(t.key) === t) {
      this.figures.recorded++;
      const now = this.now();
      p.seen?.set(p.input.message, now);
      t.total++;
      t.lastAt = at;
      t.lastUsed = now;
      this.figures.pending++;
      return;
    }
    this.record({ ...p.input, at });
    const obj = this.objectKeys.get(p.input.object)!;
    const simKey = `${obj}\u0000${p.input.reason}`;
    p.tracked = this.tracked.get(`${simKey}\u0000${p.input.message}`);
    p.seen = this.similar.get(simKey);
  }

  /** Counts one occurrence; never does I/O. */
  record(input: EventInput): void {
    this.figures.recorded++;
    const now = this.now();
    let obj = this.objectKeys.get(input.object);
    if (obj === undefined) this.objectKeys.set(input.object, (obj = this.objectKey(input.object)));
    const simKey = `${obj}\u0000${input.reason}`;
    // A repeat of a message already tracked: count it (and keep the message recent).
    const repeat = this.tracked.get(`${simKey}\u0000${input.message}`);
    if (repeat) {
      this.similar.get(simKey)?.set(input.message, now);
      repeat.total++;
      repeat.lastAt = input.at;
      repeat.lastUsed = now;
      this.figures.pending++;
      return;
    }
    let seen = this.similar.get(simKey);
    if (!seen) this.similar.set(simKey, (seen = new Map()));
    for (const [m, t] of seen) if (now - t > this.similarWindowMs) seen.delete(m);
    let message = input.message;
    if (!seen.has(message) && seen.size >= this.maxSimilar) {
      message = `(combined from similar events): ${input.message}`;
    } else {
      seen.set(message, now);
    }
    // Aggregated occurrences share one Event (its message shows the latest).
    const key = message.startsWith('(combined from similar events): ') ? `${simKey}\u0000*` : `${simKey}\u0000${message}`;
    let t = this.tracked.get(key);
    if (!t) {
      if (this.tracked.size >= this.maxTracked) this.forgetOldest();
      t = { key, input: { ...input, message }, written: 0, total: 0, firstAt: input.at, lastAt: input.at, lastUsed: now };
      this.tracked.set(key, t);
    } else if (t.input.message !== message) {
      t.input = { ...t.input, message };
    }
    t.total++;
    t.lastAt = input.at;
    t.lastUsed = now;
    this.figures.pending++;
  }

  private forgetOldest(): void {
    let oldest: Tracked | undefined;
    for (const t of this.tracked.values()) if (!oldest || t.lastUsed < oldest.lastUsed) oldest = t;
    if (!oldest) return;
    const unwritten = oldest.total - oldest.written;
    this.figures.lost += unwritten;
    this.figures.pending -= unwritten;
    this.tracked.delete(oldest.key);
  }

  private take(objectKey: string): boolean {
    const now = this.now();
    let b = this.buckets.get(objectKey);
    if (!b) this.buckets.set(objectKey, (b = { tokens: this.burst, at: now }));
    const refill = Math.floor((now - b.at) / this.refillMs);
    if (refill > 0) {
      b.tokens = Math.min(this.burst, b.tokens + refill);
      b.at += refill * this.refillMs;
    }
    if (b.tokens >= this.burst) b.at = now;
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  /** Writes every Event with unwritten occurrences, as far as the buckets allow. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    for (const t of [...this.tracked.values()]) {
      const unwritten = t.total - t.written;
      if (unwritten <= 0) continue;
      if (!this.take(this.objectKey(t.input.object))) {
        this.figures.throttled++;
        continue;
      }
      try {
        if (t.name === undefined) await this.create(t);
        else await this.patch(t);
        this.figures.pending -= unwritten;
        t.written += unwritten;
      } catch (err) {
        this.figures.errors++;
        this.figures.lastError = (err as Error).message;
        // The Event vanished (deleted, expired): create a fresh one next time with the whole count.
        if (err instanceof ApiStatusError && err.statusCode === 404) t.name = undefined;
      }
    }
  }

  /** The Event in client-node's model (its timestamps are Dates, serialized as RFC 3339). */
  private body(t: Tracked): Omit<CoreV1Event, 'metadata'> {
    const i = t.input;
    return {
      involvedObject: { apiVersion: i.object.apiVersion, kind: i.object.kind, namespace: i.object.namespace, name: i.object.name, ...(i.object.uid ? { uid: i.object.uid } : {}) },
      reason: i.reason,
      message: i.message,
      type: i.type,
      count: t.total,
      firstTimestamp: t.firstAt,
      lastTimestamp: t.lastAt,
      source: { component: this.opts.component ?? 'netpol-agent', host: this.opts.node },
      reportingComponent: 'netpol.io/agent',
      reportingInstance: this.opts.node,
    };
  }

  private async create(t: Tracked): Promise<void> {
    const ns = t.input.object.namespace;
    // client-go names Events <object>.<unique hex>.
    const name = `${t.input.object.name}.${randomBytes(8).toString('hex')}`;
    await this.core
      .createNamespacedEvent({ namespace: ns, body: { ...this.body(t), apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: ns } } })
      .catch((err: unknown) => Promise.reject(statusError(err, `POST events -n ${ns}`)));
    t.name = name;
    this.figures.created++;
  }

  private async patch(t: Tracked): Promise<void> {
    const ns = t.input.object.namespace;
    const b = this.body(t);
    // A patch's body goes out as given (JSON: the Date as RFC 3339).
    await this.core
      .patchNamespacedEvent({ namespace: ns, name: t.name!, body: { count: b.count, lastTimestamp: b.lastTimestamp, message: b.message } }, MERGE_PATCH)
      .catch((err: unknown) => Promise.reject(statusError(err, `PATCH events/${t.name} -n ${ns}`)));
    this.figures.patched++;
  }
}
