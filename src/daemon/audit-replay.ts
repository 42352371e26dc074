/**
 * The live judge's recent audit records, kept for `GET /v1/audit?since=`: a client whose stream
 * broke (a port-forward dropped) reconnects and asks for what was judged in the gap. Kept in the
 * order they were judged, bounded by count and by age; a record is built only when someone reads
 * it (most findings are never streamed: the judge keeps them for a reconnect that may not come).
 *
 * Records are selected by when they were judged (the record's `judged`), not by `ts` (when the
 * connect started): a dropped verdict is known only once the connect timed out, seconds after the
 * connects that followed it were judged, so a client resuming from the `ts` of the last record it
 * got would never see it.
 */
import { Ring } from './ring.js';

/**
 * At most this many records are kept (the memory bound: a record and what it holds of its connect
 * is about a kilobyte, so a few megabytes at most) ...
 */
export const AUDIT_REPLAY_RECORDS = 4096;
/**
 * ... and none judged longer ago than this: long enough for `kubectl netpol audit` to notice a
 * dropped port-forward and open a new one (it retries within seconds; a replaced agent pod is found
 * by its rediscovery every 10 s), short enough that a resume never floods a client with old news.
 */
export const AUDIT_REPLAY_SECONDS = 300;

/** A kept finding: what its record is built from (the log's `build`), and the record once built. */
export interface Kept<R> {
  /** When it was judged (ms since the epoch). */
  at: number;
  record?: R;
}

/** What a `since=` gets: the kept records judged at or after it, and how far back they are complete. */
export interface AuditReplay<R> {
  records: R[];
  /** Every record judged at or after this time is in the replay (or was, when younger than `since`). */
  from: Date;
  /** `since` is at or after `from`: nothing judged since then is missing. */
  complete: boolean;
  /** The log's bounds, for the client's message when `complete` is false. */
  keeps: { records: number; seconds: number };
}

/**
 * Generic in the record (judge-sink.ts's AuditRecord), so that module and this one do not import
 * each other. An entry holds only what its record is built from: the judge keeps the connect's own
 * few fields and references to its cached per-edge judgement, not the connect (a storm of findings
 * would otherwise keep 4,096 connects alive for the garbage collector to carry).
 */
export class AuditLog<K extends Kept<R>, R> {
  private readonly ring: Ring<K>;
  /** Every record judged at or after this time is still kept (before the age bound): the log's start, then just after the newest record pushed out. */
  private keptFrom: number;

  constructor(
    private readonly build: (kept: K) => R,
    private readonly maxRecords = AUDIT_REPLAY_RECORDS,
    private readonly maxAgeMs = AUDIT_REPLAY_SECONDS * 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.ring = new Ring(maxRecords);
    this.keptFrom = now();
  }

  /** Keeps a finding judged at `kept.at`; its record is built when first read. */
  push(kept: K): void {
    const evicted = this.ring.push(kept);
    // Records share milliseconds: one pushed out at `at` may have siblings still kept, but from the
    // next millisecond on every record is.
    if (evicted) this.keptFrom = Math.max(this.keptFrom, evicted.at + 1);
  }

  /** The record of a kept finding, built once. */
  read(kept: K): R {
    return (kept.record ??= this.build(kept));
  }

  /** The records judged at or after `since`, oldest first, and whether that reaches back far enough. */
  since(since: Date): AuditReplay<R> {
    const oldest = this.now() - this.maxAgeMs;
    const from = Math.max(this.keptFrom, oldest);
    const start = Math.max(since.getTime(), oldest);
    const records: R[] = [];
    for (const k of this.ring) if (k.at >= start) records.push(this.read(k));
    return { records, from: new Date(from), complete: since.getTime() >= from, keeps: { records: this.maxRecords, seconds: this.maxAgeMs / 1000 } };
  }

  get length(): number {
    return this.ring.length;
  }
}
