/**
 * Aggregation of flows into edges: flows alike in everything resolution reads (the source's names
 * and address, the destination's address and the names it falls back on, port, protocol) and in
 * how they ended collapse into one edge with a count and first/last seen, before anything is
 * resolved against a cluster. A million flows of a chatty workload become a handful of edges, so
 * resolution and synthesis cost per edge, not per flow.
 */
import { parseFlowLine, serializeFlow } from './jsonl.js';
import { IDENTITY_PARTS, latin1, type FlowLineScanner } from './line-scan.js';
import type { FlowRecord, LocatedFlow } from './record.js';
import { compareTimestamps, compareUtcStampWithBytes, compareUtcStampWithText } from './timestamp.js';

export interface FlowEdge {
  /** The first flow seen for this edge; resolution and reports use it. */
  sample: LocatedFlow;
  count: number;
  firstSeen?: string;
  lastSeen?: string;

  /** Ids of the flows folded into this edge (only when the input carries ids; capped). */
  ids: string[];
}

/** Ids kept per edge: enough to point at examples without making memory grow with the input. */
export const MAX_IDS_PER_EDGE = 16;

// Comparisons, not a lookup table: a keyed load with a fresh string per flow is the slower path.
function protocolIndex(proto: string): number {
  return proto === 'TCP' ? 0 : proto === 'UDP' ? 1 : proto === 'SCTP' ? 2 : 3;
}

function outcomeIndex(outcome: string | undefined): number {
  if (outcome === undefined) return 0;
  switch (outcome) {
    case 'established':
      return 1;
    case 'refused':
      return 2;
    case 'timeout':
      return 3;
    case 'closed':
      return 4;
    case 'error':
      return 5;
    default:
      return 6;
  }
}

// FNV-1a over the identity's parts, the same for a record's strings and a line's bytes (the fast
// path only accepts ASCII in these fields, where the two agree); an absent part mixes in a value
// no character gives.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const ABSENT_HASH = 0x1ff;

function hashParts(parts: readonly (string | undefined)[], portKey: number): number {
  let h = FNV_OFFSET;
  for (const part of parts) {
    if (part === undefined) {
      h = Math.imul(h ^ ABSENT_HASH, FNV_PRIME);
      continue;
    }
    for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), FNV_PRIME);
    h = Math.imul(h ^ 0xff, FNV_PRIME);
  }
  return Math.imul(h ^ portKey, FNV_PRIME) | 0;
}

function hashLine(line: FlowLineScanner, buf: Uint8Array, portKey: number): number {
  const ranges = line.parts;
  let h = FNV_OFFSET;
  for (let q = 0; q < ranges.length; q += 2) {
    const start = ranges[q]!;
    if (start < 0) {
      h = Math.imul(h ^ ABSENT_HASH, FNV_PRIME);
      continue;
    }
    for (let i = start, end = ranges[q + 1]!; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    h = Math.imul(h ^ 0xff, FNV_PRIME);
  }
  return Math.imul(h ^ portKey, FNV_PRIME) | 0;
}

/**
 * Compares a timestamp in a line's bytes with one kept as text, like compareTimestamps; in place
 * for two UTC stamps of the same length (the common case), else through the strings.
 */
function compareTimestampBytes(buf: Uint8Array, start: number, end: number, kept: string): number {
  const len = end - start;
  return (len === kept.length ? compareUtcStampWithText(buf, start, kept, len) : undefined) ?? compareTimestamps(latin1(buf, start, end), kept);
}

/**
 * An edge's row: everything a flow updates or compares, side by side (ROW bytes, in first-seen
 * order, so the rows a recording touches are packed together). Offsets in bytes:
 */
const ROW = 184;
/** Port, protocol and outcome folded into one number (int32). */
const R_PORT = 0;
/** Length of the identity kept in the row, or -1 when it is kept as text in `longKeys` (int32). */
const R_KEYLEN = 4;
/** Flows seen (float64: exact far beyond int32). */
const R_COUNT = 8;
/** Length of the last timestamp kept in the row, 0 when `lastText` holds it (uint8), then its bytes. */
const R_STAMP = 16;
const STAMP_ROOM = 31;
/** The identity in the row: each part as a length byte (ABSENT_PART when absent) and its bytes (ASCII only). */
const R_KEY = 48;
const KEY_ROOM = ROW - R_KEY;
const ABSENT_PART = 255;

/**
 * An edge's sample as its line: what export() sends (JSON of a record is not always the same record
 * again: 1e400 reads as Infinity), made a record the first time the edges are asked for.
 */
class SampleLine {
  constructor(
    readonly text: string,
    readonly file: string,
    readonly line: number,
    public record?: LocatedFlow,
  ) {}
}

/** The edges of an aggregator as flat arrays, cheap to send to another thread (see parallel.ts). */
export interface EdgeExport {
  /** edgeIdentity of each edge. */
  keys: string[];
  counts: number[];
  firstSeen: (string | null)[];
  lastSeen: (string | null)[];
  ids: string[][];
  /** Each sample as its line's text (a record made from a record: its JSON), and its line number. */
  samples: string[];
  sampleLines: number[];
}

/** The identity's parts of a record (see IDENTITY_PARTS): each string field, undefined when it is not one. */
function identityOf(flow: FlowRecord): (string | undefined)[] {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const { src, dst } = flow;
  return [str(src.namespace), str(src.pod), str(src.ip), dst.ip, str(dst.namespace), str(dst.pod), str(dst.service)];
}

/** The parts as one text: each with its length in front, or a length no string has when absent. */
function identityText(parts: readonly (string | undefined)[]): string {
  let text = '';
  for (const p of parts) text += p === undefined ? '\uffff\uffff' : String.fromCharCode(p.length & 0xffff, p.length >>> 16) + p;
  return text;
}

function portKeyText(portKey: number): string {
  return String.fromCharCode(portKey & 0xffff, portKey >>> 16);
}

function portKeyOf(flow: FlowRecord): number {
  return (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
}

/**
 * A flow's edge identity as text: every field resolution reads (IDENTITY_PARTS), then port,
 * protocol and outcome. Two flows have the same identity exactly when they are the same edge: what
 * merging the edges of several readers keys on, and what caches of resolved flows key on.
 */
export function edgeIdentity(flow: FlowRecord): string {
  return identityText(identityOf(flow)) + portKeyText(portKeyOf(flow));
}

/** Whether the parts fit in a row: short, ASCII. */
function fitsInRow(parts: readonly (string | undefined)[]): boolean {
  let size = 0;
  for (const p of parts) {
    size++;
    if (p === undefined) continue;
    if (p.length >= ABSENT_PART) return false;
    size += p.length;
    for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) > 0x7f) return false;
  }
  return size <= KEY_ROOM;
}

/**
 * Edges in an open-addressing hash table over typed arrays. Records and fast-path lines (see
 * line-scan.ts) land in the same table, so a recording may mix both.
 *
 * Why typed arrays: a large recording hits tens of thousands of edges in random order, and every
 * separate object a lookup touches (a Map bucket, an entry, its key strings, the edge, its
 * timestamp string) was a cache and TLB miss — most of the cost of a flow. Here a flow reads a
 * small dense slot array (edge and hash) and then one row: port key, identity, count and last
 * timestamp side by side, rows packed in first-seen order. The identity is compared in full, so a
 * hash collision never merges two edges (identities that do not fit in a row are kept as text and
 * compared as text). A fast-path line's timestamp is kept as bytes (recordings are in time order,
 * so nearly every flow is a new last seen) and made text once, when the edges are asked for; the
 * line that starts an edge is kept as text and made a record only when asked for
 * (worker threads send the text instead). No string is made per flow.
 */
export class EdgeAggregator {
  /**
   * Open addressing over pairs (edge + 1, hash of its identity), 0 for a free slot: a probe reads
   * this small dense array and touches a row only for a hash that matches. A power of two in
   * size, at most half full.
   */
  private slots = new Int32Array(2 << 12);
  private mask = (1 << 12) - 1;
  // Per edge, in first-seen order: its row (see ROW) and the rest.
  private rows = new ArrayBuffer(ROW << 10);
  private i32 = new Int32Array(this.rows);
  private f64 = new Float64Array(this.rows);
  private u8 = new Uint8Array(this.rows);
  private readonly samples: (LocatedFlow | SampleLine)[] = [];
  private readonly firstSeen: (string | undefined)[] = [];
  /** The last timestamp as text when the row does not hold it. */
  private readonly lastText: (string | undefined)[] = [];
  private readonly ids: string[][] = [];
  /** Identities that do not fit in a row (identityText), by edge. */
  private readonly longKeys = new Map<number, string>();
  flows = 0;

  /** Edges so far. */
  get size(): number {
    return this.samples.length;
  }

  /**
   * One flow. `text`, the line it was read from, is what export() sends for it when it starts an
   * edge (JSON of the record is not always the same record again: 1e400 reads as Infinity).
   */
  add(flow: LocatedFlow, text?: string): void {
    this.flows++;
    const parts = identityOf(flow);
    const portKey = portKeyOf(flow);
    const h = hashParts(parts, portKey);
    const inRow = fitsInRow(parts);
    const long = inRow ? '' : identityText(parts);
    const slots = this.slots;
    let slot = h & this.mask;
    let e = -1;
    for (let n = slots[2 * slot]!; n !== 0; slot = (slot + 1) & this.mask, n = slots[2 * slot]!) {
      if (slots[2 * slot + 1] !== h) continue;
      const at = (n - 1) * ROW;
      if (this.i32[(at + R_PORT) >> 2] !== portKey) continue;
      const keyLen = this.i32[(at + R_KEYLEN) >> 2]!;
      if (inRow ? keyLen >= 0 && this.rowKeyIs(at, parts) : keyLen < 0 && this.longKeys.get(n - 1) === long) {
        e = n - 1;
        break;
      }
    }
    if (e < 0) {
      const at = this.newRow();
      const i32 = this.i32;
      if (inRow) {
        const u8 = this.u8;
        let p = at + R_KEY;
        for (const part of parts) {
          if (part === undefined) {
            u8[p++] = ABSENT_PART;
            continue;
          }
          u8[p++] = part.length;
          for (let c = 0; c < part.length; c++) u8[p++] = part.charCodeAt(c);
        }
        i32[(at + R_KEYLEN) >> 2] = p - at - R_KEY;
      } else {
        i32[(at + R_KEYLEN) >> 2] = -1;
        this.longKeys.set(this.samples.length, long);
      }
      const sample = text === undefined ? flow : new SampleLine(text, flow.origin?.file ?? '', flow.origin?.line ?? 0, flow);
      this.place(slot, h, at, portKey, sample, flow.ts, flow.id ? [flow.id] : []);
      return;
    }
    const at = e * ROW;
    this.f64[(at + R_COUNT) >> 3]!++;
    const ts = flow.ts;
    if (ts !== undefined) {
      // Recordings are mostly in time order: a new last is the common case, and then it cannot be
      // a new first (first <= last).
      const last = this.lastOf(e, at);
      const first = this.firstSeen[e];
      if (last === undefined || compareTimestamps(ts, last) > 0) {
        this.lastText[e] = ts;
        this.u8[at + R_STAMP] = 0;
        if (first === undefined) this.firstSeen[e] = ts;
      } else if (first === undefined || compareTimestamps(ts, first) < 0) {
        this.firstSeen[e] = ts;
      }
    }
    const ids = this.ids[e]!;
    if (flow.id && ids.length < MAX_IDS_PER_EDGE) ids.push(flow.id);
  }

  /**
   * A line the fast path has accepted: `line` scanned buf[start, end), line `lineNo` of `file`. The
   * same as `add` of its record; the record is made only if the line starts an edge, and then
   * only when the edges are asked for.
   */
  addScanned(line: FlowLineScanner, buf: Buffer, start: number, end: number, file: string, lineNo: number): void {
    this.flows++;
    const portKey = (line.dstPort * 4 + protocolIndex(line.proto)) * 8 + outcomeIndex(line.outcome);
    const h = hashLine(line, buf, portKey);
    const slots = this.slots;
    let slot = h & this.mask;
    let e = -1;
    for (let n = slots[2 * slot]!; n !== 0; slot = (slot + 1) & this.mask, n = slots[2 * slot]!) {
      if (slots[2 * slot + 1] === h && this.i32[((n - 1) * ROW + R_PORT) >> 2] === portKey && this.rowHasLine(n - 1, line, buf)) {
        e = n - 1;
        break;
      }
    }
    const s = line.tsStart;
    if (e < 0) {
      const at = this.newRow();
      this.keyFromLine(at, line, buf);
      const sample = new SampleLine(buf.toString('utf8', start, end), file, lineNo);
      const id = line.idStart >= 0 && line.idEnd > line.idStart ? [latin1(buf, line.idStart, line.idEnd)] : [];
      this.place(slot, h, at, portKey, sample, s >= 0 ? latin1(buf, s, line.tsEnd) : undefined, id);
      return;
    }
    const at = e * ROW;
    this.f64[(at + R_COUNT) >> 3]!++;
    if (s >= 0) {
      const tsEnd = line.tsEnd;
      const u8 = this.u8;
      const kept = u8[at + R_STAMP]!;
      const last = kept > 0 ? undefined : this.lastText[e];
      const first = this.firstSeen[e];
      if ((kept > 0 ? this.compareWithStamp(buf, s, tsEnd, at) : last === undefined ? 1 : compareTimestampBytes(buf, s, tsEnd, last)) > 0) {
        if (tsEnd - s <= STAMP_ROOM) {
          u8[at + R_STAMP] = tsEnd - s;
          for (let k = s, r = at + R_STAMP + 1; k < tsEnd; k++, r++) u8[r] = buf[k]!;
        } else {
          u8[at + R_STAMP] = 0;
          this.lastText[e] = latin1(buf, s, tsEnd);
        }
        if (first === undefined) this.firstSeen[e] = latin1(buf, s, tsEnd);
      } else if (first === undefined || compareTimestampBytes(buf, s, tsEnd, first) < 0) {
        this.firstSeen[e] = latin1(buf, s, tsEnd);
      }
    }
    if (line.idStart >= 0 && line.idEnd > line.idStart) {
      const ids = this.ids[e]!;
      if (ids.length < MAX_IDS_PER_EDGE) ids.push(latin1(buf, line.idStart, line.idEnd));
    }
  }

  /** Writes a new row's identity from a scanned line (in the row when it fits, else as text). */
  private keyFromLine(at: number, line: FlowLineScanner, buf: Buffer): void {
    const ranges = line.parts;
    let size = 0;
    let fits = true;
    for (let q = 0; q < ranges.length; q += 2) {
      size++;
      if (ranges[q]! < 0) continue;
      const len = ranges[q + 1]! - ranges[q]!;
      if (len >= ABSENT_PART) fits = false;
      size += len;
    }
    if (fits && size <= KEY_ROOM) {
      const u8 = this.u8;
      let p = at + R_KEY;
      for (let q = 0; q < ranges.length; q += 2) {
        const start = ranges[q]!;
        if (start < 0) {
          u8[p++] = ABSENT_PART;
          continue;
        }
        const end = ranges[q + 1]!;
        u8[p++] = end - start;
        for (let c = start; c < end; c++) u8[p++] = buf[c]!;
      }
      this.i32[(at + R_KEYLEN) >> 2] = p - at - R_KEY;
      return;
    }
    // Lines the fast path accepts are ASCII in these fields: bytes are the characters.
    const parts: (string | undefined)[] = [];
    for (let q = 0; q < ranges.length; q += 2) parts.push(ranges[q]! < 0 ? undefined : latin1(buf, ranges[q]!, ranges[q + 1]!));
    this.i32[(at + R_KEYLEN) >> 2] = -1;
    this.longKeys.set(this.samples.length, identityText(parts));
  }

  /** Whether the row's identity (in the row) is the one given as strings. */
  private rowKeyIs(at: number, parts: readonly (string | undefined)[]): boolean {
    const u8 = this.u8;
    let p = at + R_KEY;
    for (const part of parts) {
      if (part === undefined) {
        if (u8[p++] !== ABSENT_PART) return false;
        continue;
      }
      if (u8[p++] !== part.length) return false;
      for (let c = 0; c < part.length; c++) if (u8[p++] !== part.charCodeAt(c)) return false;
    }
    return true;
  }

  /** Whether the row's identity is a scanned line's. */
  private rowHasLine(e: number, line: FlowLineScanner, buf: Uint8Array): boolean {
    const at = e * ROW;
    if (this.i32[(at + R_KEYLEN) >> 2]! < 0) return this.longKeyHasLine(e, line, buf);
    const u8 = this.u8;
    const ranges = line.parts;
    let p = at + R_KEY;
    for (let q = 0; q < ranges.length; q += 2) {
      const start = ranges[q]!;
      if (start < 0) {
        if (u8[p++] !== ABSENT_PART) return false;
        continue;
      }
      const end = ranges[q + 1]!;
      if (u8[p++] !== end - start) return false;
      for (let i = start; i < end; i++, p++) if (u8[p] !== buf[i]) return false;
    }
    return true;
  }

  /** Whether an identity kept as text is a scanned line's. */
  private longKeyHasLine(e: number, line: FlowLineScanner, buf: Uint8Array): boolean {
    const key = this.longKeys.get(e)!;
    const ranges = line.parts;
    let k = 0;
    for (let q = 0; q < ranges.length; q += 2) {
      const start = ranges[q]!;
      const len = start < 0 ? -1 : ranges[q + 1]! - start;
      const keptLen = key.charCodeAt(k) | (key.charCodeAt(k + 1) << 16); // -1 for an absent part
      k += 2;
      if (keptLen !== len) return false;
      for (let i = 0; i < len; i++, k++) if (key.charCodeAt(k) !== buf[start + i]) return false;
    }
    return k === key.length;
  }

  /** A line's timestamp against the last one kept in the row at `at`, like compareTimestamps. */
  private compareWithStamp(buf: Uint8Array, start: number, end: number, at: number): number {
    const len = end - start;
    const u8 = this.u8;
    const keptLen = u8[at + R_STAMP]!;
    const kept = at + R_STAMP + 1;
    return (len === keptLen ? compareUtcStampWithBytes(buf, start, u8, kept, len) : undefined) ?? compareTimestamps(latin1(buf, start, end), latin1(u8, kept, kept + keptLen));
  }


  /** The last timestamp of edge `e` (in the row at `at`) as text. */
  private lastOf(e: number, at: number): string | undefined {
    const len = this.u8[at + R_STAMP]!;
    return len === 0 ? this.lastText[e] : latin1(this.u8, at + R_STAMP + 1, at + R_STAMP + 1 + len);
  }

  /** The row of the next edge (its offset), the rows grown when full. */
  private newRow(): number {
    const at = this.samples.length * ROW;
    if (at + ROW > this.rows.byteLength) {
      const old = this.u8;
      this.rows = new ArrayBuffer(this.rows.byteLength * 2);
      this.i32 = new Int32Array(this.rows);
      this.f64 = new Float64Array(this.rows);
      this.u8 = new Uint8Array(this.rows);
      this.u8.set(old);
    }
    return at;
  }

  /** A new edge in row `at` (its identity written), entered in table slot `slot`. */
  private place(slot: number, hash: number, at: number, portKey: number, sample: LocatedFlow | SampleLine, ts: string | undefined, ids: string[]): void {
    const e = this.samples.length;
    this.samples.push(sample);
    this.firstSeen.push(ts);
    this.lastText.push(ts);
    this.ids.push(ids);
    this.i32[(at + R_PORT) >> 2] = portKey;
    this.f64[(at + R_COUNT) >> 3] = 1;
    this.u8[at + R_STAMP] = 0;
    this.slots[2 * slot] = e + 1;
    this.slots[2 * slot + 1] = hash;
    if ((e + 1) * 2 > this.mask + 1) this.rehash();
  }

  /** Doubles the slot array (fourfold while small) and enters every edge again. */
  private rehash(): void {
    const old = this.slots;
    const size = (this.mask + 1) * (this.mask + 1 < 1 << 15 ? 4 : 2);
    const slots = new Int32Array(2 * size);
    const mask = size - 1;
    for (let q = 0; q < old.length; q += 2) {
      if (old[q] === 0) continue;
      let slot = old[q + 1]! & mask;
      while (slots[2 * slot] !== 0) slot = (slot + 1) & mask;
      slots[2 * slot] = old[q]!;
      slots[2 * slot + 1] = old[q + 1]!;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** The sample of edge `e` as a record (made from its line the first time). */
  private sampleOf(e: number): LocatedFlow {
    const s = this.samples[e]!;
    if (!(s instanceof SampleLine)) return s;
    // The fast path accepted this text: it parses.
    return (s.record ??= parseFlowLine(s.text, s.file, s.line)!);
  }

  /** Edges in the order they were first seen (deterministic for a given input order). */
  result(): FlowEdge[] {
    return this.samples.map((_, e) => {
      const at = e * ROW;
      return {
        sample: this.sampleOf(e),
        count: this.f64[(at + R_COUNT) >> 3]!,
        firstSeen: this.firstSeen[e],
        lastSeen: this.lastOf(e, at),
        ids: this.ids[e]!,
      };
    });
  }

  /** The edges as flat arrays for another thread, samples as text (see EdgeExport). */
  export(): EdgeExport {
    const out: EdgeExport = { keys: [], counts: [], firstSeen: [], lastSeen: [], ids: this.ids, samples: [], sampleLines: [] };
    for (let e = 0; e < this.samples.length; e++) {
      const at = e * ROW;
      out.keys.push(this.identityTextOf(e, at) + portKeyText(this.i32[(at + R_PORT) >> 2]!));
      out.counts.push(this.f64[(at + R_COUNT) >> 3]!);
      out.firstSeen.push(this.firstSeen[e] ?? null);
      out.lastSeen.push(this.lastOf(e, at) ?? null);
      const s = this.samples[e]!;
      if (s instanceof SampleLine) {
        out.samples.push(s.text);
        out.sampleLines.push(s.line);
      } else {
        out.samples.push(serializeFlow(s));
        out.sampleLines.push(s.origin?.line ?? 0);
      }
    }
    return out;
  }

  /** identityText of edge `e`. */
  private identityTextOf(e: number, at: number): string {
    if (this.i32[(at + R_KEYLEN) >> 2]! < 0) return this.longKeys.get(e)!;
    const u8 = this.u8;
    let p = at + R_KEY;
    const parts: (string | undefined)[] = [];
    for (let n = 0; n < IDENTITY_PARTS.length; n++) {
      const len = u8[p++]!;
      if (len === ABSENT_PART) {
        parts.push(undefined);
        continue;
      }
      parts.push(latin1(u8, p, p + len));
      p += len;
    }
    return identityText(parts);
  }

}

export async function aggregateFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>): Promise<FlowEdge[]> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return agg.result();
}
