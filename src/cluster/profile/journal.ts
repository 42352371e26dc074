/**
 * The writer's write-ahead journal: every observation the profile writer accepts is appended here
 * and counted in memory. Appends are buffered and written by sync() in one write(2) per batch (one
 * per connect cost ~40 % of the agent's CPU in a connect storm); the agent syncs before the kernel
 * ring frees a batch's records (a record is settled only once its line was written) and the writer
 * syncs before it writes to the API server, so an agent SIGKILLed with lines still buffered loses
 * nothing: their records are still in the pinned ring, and the next agent reads them again. What was
 * written survives the process in the page cache, and the next agent on the node (the DaemonSet's
 * hostPath, e.g. /var/lib/netpol/<node>/profile) replays it.
 *
 * Every connect gets a sequence number. A profile object records the highest one its content
 * includes (status.journal.seq, with this journal's id), and a node's writes to one object always
 * include a prefix of its sequence numbers, so replay adds exactly what the API server does not
 * hold yet: no connect is counted twice and none is missed.
 *
 * Lines (NDJSON), in segments seg-<n>.ndjson:
 *   {"d":id,"o":owner,"e":edge}                      defines pair `id` (a workload and one edge)
 *   {"c":[id,...],"s":seq,"t":time}                  one connect
 *   {"a":id,"n":count,"f":first,"l":last,"s":seq}    an aggregate written by compaction
 *   {"r":ring,"p":pos}                                the kernel ring's position journaled so far
 * A connect read from a pinned ring (src/agent/pins.ts) carries "p", its record's end in the ring
 * named by the last "r" line: the next agent skips the ring's records up to the last such position,
 * so a record journaled just before a SIGKILL (before the ring was told) is not delivered twice.
 * Compaction starts a new segment holding only what is not yet written (aggregated), then deletes
 * the older segments: the journal's size is bounded by the backlog, not by the traffic.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RingMark } from '../../agent/pins.js';
import { writeFileAtomic } from '../../flows/atomic-file.js';
import type { EdgeObservation, WorkloadIdentity } from './types.js';
import { edgeKey, workloadIdentityKey } from './types.js';

/** One replayed contribution: `count` connects of an edge, all with sequence numbers ≤ seq. */
export interface JournalEntry {
  owner: WorkloadIdentity;
  edge: EdgeObservation;
  count: number;
  first: string;
  last: string;
  seq: number;
}

export interface ReplayResult {
  entries: JournalEntry[];
  /** Lines that could not be read: a torn last line (killed mid-write) or damage. Counted as lost. */
  unreadable: number;
  /** The last ring position journaled, if any connect came from a pinned ring. */
  mark?: RingMark;
}

const SEGMENT = /^seg-(\d+)\.ndjson$/;

export class Journal {
  private fd: number;
  private segment: number;
  private bytes = 0;
  private nextSeq: number;
  private readonly pairs = new Map<string, number>();
  /** The ring of the last "r" line written in the current segment, and the last position journaled. */
  private ring: string | undefined;
  mark: RingMark | undefined;
  /** Lines appended and not yet written (sync()). */
  private buffered = '';
  /** What a failed or partial write left unwritten (bytes: a write may end inside a character). */
  private unwritten: Buffer | undefined;
  /** Segments of earlier runs, still on disk until the next compaction. */
  olderSegments = 0;

  private constructor(
    readonly dir: string,
    readonly id: string,
    segment: number,
    nextSeq: number,
  ) {
    this.segment = segment;
    this.nextSeq = nextSeq;
    this.fd = openSync(this.segmentPath(segment), 'a');
    this.bytes = statSync(this.segmentPath(segment)).size;
  }

  /** Opens (or creates) the journal in `dir` and reads back everything in it. */
  static open(dir: string): { journal: Journal; replay: ReplayResult } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const idFile = join(dir, 'journal.id');
    let id: string;
    if (existsSync(idFile)) id = readFileSync(idFile, 'utf8').trim();
    else {
      id = randomUUID();
      writeFileAtomic(idFile, id + '\n');
    }
    const segments = Journal.segments(dir);
    const replay: ReplayResult = { entries: [], unreadable: 0 };
    let maxSeq = 0;
    for (const n of segments) {
      const text = readFileSync(join(dir, `seg-${n}.ndjson`), 'utf8');
      const defs = new Map<number, { o: WorkloadIdentity; e: EdgeObservation }>();
      let ring: string | undefined;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let rec: { d?: number; o?: WorkloadIdentity; e?: EdgeObservation; c?: number[]; s?: number; t?: string; a?: number; n?: number; f?: string; l?: string; r?: string; p?: number };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch {
          replay.unreadable++;
          continue;
        }
        if (rec.d !== undefined && rec.o && rec.e) defs.set(rec.d, { o: rec.o, e: rec.e });
        else if (rec.r !== undefined) {
          ring = rec.r;
          if (rec.p !== undefined) replay.mark = { ring, pos: rec.p };
        } else if (rec.c && rec.s !== undefined && rec.t) {
          maxSeq = Math.max(maxSeq, rec.s);
          if (rec.p !== undefined && ring !== undefined) replay.mark = { ring, pos: rec.p };
          for (const id of rec.c) {
            const def = defs.get(id);
            if (def) replay.entries.push({ owner: def.o, edge: def.e, count: 1, first: rec.t, last: rec.t, seq: rec.s });
            else replay.unreadable++;
          }
        } else if (rec.a !== undefined && rec.n !== undefined && rec.f && rec.l && rec.s !== undefined) {
          maxSeq = Math.max(maxSeq, rec.s);
          const def = defs.get(rec.a);
          if (def) replay.entries.push({ owner: def.o, edge: def.e, count: rec.n, first: rec.f, last: rec.l, seq: rec.s });
          else replay.unreadable++;
        } else replay.unreadable++;
      }
    }
    const last = segments.at(-1) ?? 0;
    // A new segment per start: the torn tail of the last one is never appended to.
    const journal = new Journal(dir, id, last + 1, maxSeq + 1);
    journal.olderSegments = segments.length;
    journal.mark = replay.mark;
    return { journal, replay };
  }

  private static segments(dir: string): number[] {
    return readdirSync(dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private segmentPath(n: number): string {
    return join(this.dir, `seg-${n}.ndjson`);
  }

  /** Bytes in the current segment, buffered lines included. */
  get size(): number {
    return this.bytes + Buffer.byteLength(this.buffered) + (this.unwritten?.length ?? 0);
  }

  /** Whether lines are buffered (sync() has something to write). */
  get dirty(): boolean {
    return this.buffered !== '' || this.unwritten !== undefined;
  }

  /** The sequence number the last record() got (0 before any). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  private pairId(owner: WorkloadIdentity, edge: EdgeObservation, out: string[]): number {
    const key = `${workloadIdentityKey(owner)}\u0000${edgeKey(edge)}`;
    let id = this.pairs.get(key);
    if (id === undefined) {
      id = this.pairs.size;
      this.pairs.set(key, id);
      out.push(JSON.stringify({ d: id, o: owner, e: edge }));
    }
    return id;
  }

  /**
   * Appends one connect (its definitions first, when new) to the buffer; returns its sequence
   * number. Durable once sync() has returned.
   */
  record(owner: WorkloadIdentity, edges: EdgeObservation[], time: string, cursor?: RingMark): number {
    const lines: string[] = [];
    const ids = edges.map((e) => this.pairId(owner, e, lines));
    const seq = this.nextSeq++;
    if (cursor && cursor.ring !== this.ring) lines.push(JSON.stringify({ r: cursor.ring }));
    lines.push(JSON.stringify(cursor ? { c: ids, s: seq, t: time, p: cursor.pos } : { c: ids, s: seq, t: time }));
    this.buffered += lines.join('\n') + '\n';
    if (cursor) {
      this.ring = cursor.ring;
      this.mark = cursor;
    }
    return seq;
  }

  /**
   * Appends `count` connects of one observation at once (connects the kernel counted instead of
   * reporting each, src/daemon/kernel-dedup.ts) as an aggregate line, the form compaction writes
   * and replay reads; returns its sequence number. Durable once sync() has returned.
   */
  recordRepeats(owner: WorkloadIdentity, edges: EdgeObservation[], count: number, first: string, last: string): number {
    const lines: string[] = [];
    const ids = edges.map((e) => this.pairId(owner, e, lines));
    const seq = this.nextSeq++;
    for (const id of ids) lines.push(JSON.stringify({ a: id, n: count, f: first, l: last, s: seq }));
    this.buffered += lines.join('\n') + '\n';
    return seq;
  }

  /**
   * Writes the buffered lines (one write(2) for them all). On failure they stay buffered: the next
   * sync() tries again, and nothing was freed in the ring meanwhile (the caller's error says why).
   */
  sync(): void {
    if (!this.dirty) return;
    const text = Buffer.from(this.buffered);
    const buf = this.unwritten ? Buffer.concat([this.unwritten, text]) : text;
    this.buffered = '';
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off);
    } finally {
      // A failed write keeps only the unwritten rest (the written part is in the file).
      this.bytes += off;
      this.unwritten = off === buf.length ? undefined : buf.subarray(off);
    }
  }

  /**
   * Starts a new segment holding `pending` (what the API server does not hold yet), made durable
   * before the older segments are deleted.
   */
  compact(pending: JournalEntry[]): void {
    // Buffered lines are in `pending` already; written first, they go with the old segment (a
    // buffer written after the swap would count its connects twice on replay).
    this.sync();
    const next = this.segment + 1;
    const path = this.segmentPath(next);
    const defs = new Map<string, number>();
    const lines: string[] = [];
    for (const p of pending) {
      const key = `${workloadIdentityKey(p.owner)}\u0000${edgeKey(p.edge)}`;
      let id = defs.get(key);
      if (id === undefined) {
        id = defs.size;
        defs.set(key, id);
        lines.push(JSON.stringify({ d: id, o: p.owner, e: p.edge }));
      }
      lines.push(JSON.stringify({ a: id, n: p.count, f: p.first, l: p.last, s: p.seq }));
    }
    // The resume point survives compaction (the connect lines that carried it do not).
    if (this.mark) lines.push(JSON.stringify({ r: this.mark.ring, p: this.mark.pos }));
    const text = lines.length > 0 ? lines.join('\n') + '\n' : '';
    // Written whole and flushed before it is renamed in place (flows/atomic-file.ts), so a crash
    // leaves the old segments or the complete new one; only then are the old ones deleted.
    writeFileAtomic(path, text);
    closeSync(this.fd);
    for (const n of Journal.segments(this.dir)) if (n < next) unlinkSync(this.segmentPath(n));
    this.segment = next;
    this.olderSegments = 0;
    this.fd = openSync(path, 'a');
    this.bytes = Buffer.byteLength(text);
    this.pairs.clear();
    for (const [key, id] of defs) this.pairs.set(key, id);
    this.ring = this.mark?.ring;
  }

  close(): void {
    try {
      this.sync();
      fsyncSync(this.fd);
    } catch {
      /* closing anyway */
    }
    closeSync(this.fd);
  }
}
