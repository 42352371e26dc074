/**
 * Aggregation of flows into edges: identical (source, destination address, port, protocol, outcome) flows
 * collapse into one edge with a count and first/last seen, before anything is resolved against a
 * cluster. A million flows of a chatty workload become a handful of edges, so resolution and
 * synthesis cost per edge, not per flow.
 */
import { parseFlowLine, serializeFlow } from './jsonl.js';
import { latin1, type FlowLineScanner } from './line-scan.js';
import type { FlowRecord, LocatedFlow } from './record.js';

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

/**
 * The identity of an edge: who connected (pod, else address), to which address, port and protocol,
 * and how it ended — a connect nobody answered is not the same fact as one that was established.
 */
export function edgeKey(flow: LocatedFlow): string {
  const src = flow.src;
  const who = typeof src.namespace === 'string' && typeof src.pod === 'string' ? `p/${src.namespace}/${src.pod}` : `r/${src.ip}`;
  return `${who}|${flow.dst.ip}|${flow.dst.port}|${flow.proto}|${flow.outcome ?? ''}`;
}

/**
 * Orders RFC 3339 timestamps as instants. Two UTC (`Z`) stamps of the same length sort as text,
 * which is the common case and much cheaper than Date.parse; anything else (offsets, different
 * fraction lengths) is parsed.
 */
export function compareTimestamps(a: string, b: string): number {
  if (a.length === b.length && a.endsWith('Z') && b.endsWith('Z')) return a < b ? -1 : a > b ? 1 : 0;
  return Date.parse(a) - Date.parse(b);
}

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

// FNV-1a over the identity, the same for a record's strings and a line's bytes (the fast path only
// accepts ASCII in these fields, where the two agree).
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ 0xff, FNV_PRIME);
}

function hashBytes(h: number, buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return Math.imul(h ^ 0xff, FNV_PRIME);
}

function finishHash(h: number, portKey: number): number {
  return Math.imul(h ^ portKey, FNV_PRIME) | 0;
}

/**
 * Compares a timestamp in a line's bytes with one kept as text, like compareTimestamps; in place
 * for two UTC stamps of the same length (the common case), else through the strings.
 */
function compareTimestampBytes(buf: Uint8Array, start: number, end: number, kept: string): number {
  const len = end - start;
  if (len === kept.length && buf[end - 1] === 0x5a && kept.charCodeAt(len - 1) === 0x5a) {
    for (let i = 0; i < len; i++) {
      const d = buf[start + i]! - kept.charCodeAt(i);
      if (d !== 0) return d;
    }
    return 0;
  }
  return compareTimestamps(latin1(buf, start, end), kept);
}

const POD = 1;
const ADDRESS = 2;

/** Per edge in `meta`: hash, port key, count, offset of the identity in `keys`. */
const META = 4;
/** Room per edge for its last timestamp: a length byte, then up to STAMP_ROOM - 1 bytes. */
const STAMP_ROOM = 40;

/** UTF-16 code units as text (in slices: an argument list has a length limit). */
function unitsToString(units: Uint16Array, start: number, end: number): string {
  let text = '';
  for (let at = start; at < end; at += 4096) text += String.fromCharCode(...units.subarray(at, Math.min(end, at + 4096)));
  return text;
}

/** An edge's sample not yet made a record: its line. */
class SampleLine {
  constructor(
    readonly text: string,
    readonly file: string,
    readonly line: number,
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

/**
 * An edge's identity as text: kind, then each part with its length in front (so no character
 * inside a part can make two identities equal), then the port key. What merging the edges of
 * several readers keys on; the same code units the aggregator compares.
 */
export function edgeIdentity(flow: FlowRecord): string {
  const src = flow.src;
  const isPod = typeof src.namespace === 'string' && typeof src.pod === 'string';
  const part = (p: string) => String.fromCharCode(p.length & 0xffff, p.length >>> 16) + p;
  const who = isPod ? part(src.namespace as string) + part(src.pod as string) : part(String(src.ip));
  const portKey = (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
  return String.fromCharCode(isPod ? POD : ADDRESS) + who + part(flow.dst.ip) + String.fromCharCode(portKey & 0xffff, portKey >>> 16);
}

/**
 * Edges in one open-addressing hash table held in typed arrays. Records and fast-path lines (see
 * line-scan.ts) land in the same table, so a recording may mix both.
 *
 * Why typed arrays: a large recording hits tens of thousands of edges in random order, and every
 * separate object a lookup touches (a Map bucket, an entry, its key strings, the edge, its
 * timestamp string) was a cache miss — most of the cost of a flow. Here a lookup touches the slot
 * array, one `meta` row, the identity's code units and one timestamp room. An edge's identity
 * (see edgeIdentity) is compared in full, so a hash collision never merges two edges. A fast-path
 * line's timestamp is kept as bytes (recordings are in time order, so nearly every flow is a new
 * last seen) and made text once, when the edges are asked for; the line that starts an edge is
 * kept as text and made a record only when asked for (worker threads send the text instead).
 * No string is made per flow.
 */
export class EdgeAggregator {
  /** Open addressing: edge index + 1 per slot, 0 when free. Size a power of two, under half full. */
  private slots = new Int32Array(1 << 12);
  private meta = new Float64Array(1024 * META);
  private keys = new Uint16Array(1 << 16);
  private keysUsed = 0;
  private stamps = new Uint8Array(1024 * STAMP_ROOM);
  // Per edge, in first-seen order.
  private readonly samples: (LocatedFlow | SampleLine)[] = [];
  private readonly firstSeen: (string | undefined)[] = [];
  /** The last timestamp as text when `stamps` does not hold it (length byte 0). */
  private readonly lastText: (string | undefined)[] = [];
  private readonly ids: string[][] = [];
  flows = 0;

  /** Edges so far. */
  get size(): number {
    return this.samples.length;
  }

  add(flow: LocatedFlow): void {
    this.flows++;
    const src = flow.src;
    const isPod = typeof src.namespace === 'string' && typeof src.pod === 'string';
    const who = isPod ? (src.namespace as string) : String(src.ip);
    const pod = isPod ? (src.pod as string) : '';
    const dstIp = flow.dst.ip;
    const portKey = (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
    let h = hashString(isPod ? FNV_OFFSET : ~FNV_OFFSET, who);
    if (isPod) h = hashString(h, pod);
    h = finishHash(hashString(h, dstIp), portKey);
    const mask = this.slots.length - 1;
    let i = h & mask;
    let e = -1;
    for (let n = this.slots[i]!; n !== 0; i = (i + 1) & mask, n = this.slots[i]!) {
      const m = (n - 1) * META;
      if (this.meta[m] === h && this.meta[m + 1] === portKey && this.identityIs(this.meta[m + 3]!, isPod, who, pod, dstIp)) {
        e = n - 1;
        break;
      }
    }
    if (e < 0) {
      const at = this.reserveKey(1 + 2 * 3 + who.length + pod.length + dstIp.length);
      let p = at;
      const k = this.keys;
      k[p++] = isPod ? POD : ADDRESS;
      for (const part of isPod ? [who, pod, dstIp] : [who, dstIp]) {
        k[p++] = part.length & 0xffff;
        k[p++] = part.length >>> 16;
        for (let c = 0; c < part.length; c++) k[p++] = part.charCodeAt(c);
      }
      this.keysUsed = p;
      this.place(i, h, portKey, at, flow, flow.ts, flow.id ? [flow.id] : []);
      return;
    }
    this.meta[e * META + 2]!++;
    const ts = flow.ts;
    if (ts !== undefined) {
      // Recordings are mostly in time order: a new last is the common case, and then it cannot be
      // a new first (first <= last).
      const last = this.lastOf(e);
      const first = this.firstSeen[e];
      if (last === undefined || compareTimestamps(ts, last) > 0) {
        this.lastText[e] = ts;
        this.stamps[e * STAMP_ROOM] = 0;
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
    const isPod = line.srcIsPod;
    let h: number;
    if (isPod) h = hashBytes(hashBytes(FNV_OFFSET, buf, line.nsStart, line.nsEnd), buf, line.podStart, line.podEnd);
    else h = hashBytes(~FNV_OFFSET, buf, line.srcIpStart, line.srcIpEnd);
    h = finishHash(hashBytes(h, buf, line.dstIpStart, line.dstIpEnd), portKey);
    const mask = this.slots.length - 1;
    let i = h & mask;
    let e = -1;
    for (let n = this.slots[i]!; n !== 0; i = (i + 1) & mask, n = this.slots[i]!) {
      const m = (n - 1) * META;
      if (this.meta[m] === h && this.meta[m + 1] === portKey && this.lineHasIdentity(this.meta[m + 3]!, line, buf)) {
        e = n - 1;
        break;
      }
    }
    const s = line.tsStart;
    if (e < 0) {
      const parts = isPod
        ? [line.nsStart, line.nsEnd, line.podStart, line.podEnd, line.dstIpStart, line.dstIpEnd]
        : [line.srcIpStart, line.srcIpEnd, line.dstIpStart, line.dstIpEnd];
      let need = 1;
      for (let q = 0; q < parts.length; q += 2) need += 2 + parts[q + 1]! - parts[q]!;
      const at = this.reserveKey(need);
      let p = at;
      const k = this.keys;
      k[p++] = isPod ? POD : ADDRESS;
      for (let q = 0; q < parts.length; q += 2) {
        const from = parts[q]!;
        const to = parts[q + 1]!;
        k[p++] = (to - from) & 0xffff;
        k[p++] = (to - from) >>> 16;
        for (let c = from; c < to; c++) k[p++] = buf[c]!;
      }
      this.keysUsed = p;
      const sample = new SampleLine(buf.toString('utf8', start, end), file, lineNo);
      const id = line.idStart >= 0 && line.idEnd > line.idStart ? [latin1(buf, line.idStart, line.idEnd)] : [];
      this.place(i, h, portKey, at, sample, s >= 0 ? latin1(buf, s, line.tsEnd) : undefined, id);
      return;
    }
    this.meta[e * META + 2]!++;
    if (s >= 0) {
      const end = line.tsEnd;
      const room = e * STAMP_ROOM;
      const kept = this.stamps[room]!;
      const last = kept > 0 ? undefined : this.lastText[e];
      const first = this.firstSeen[e];
      if ((kept > 0 ? this.compareWithStamp(buf, s, end, room) : last === undefined ? 1 : compareTimestampBytes(buf, s, end, last)) > 0) {
        if (end - s < STAMP_ROOM) {
          this.stamps[room] = end - s;
          for (let k = s, r = room + 1; k < end; k++, r++) this.stamps[r] = buf[k]!;
        } else {
          this.stamps[room] = 0;
          this.lastText[e] = latin1(buf, s, end);
        }
        if (first === undefined) this.firstSeen[e] = latin1(buf, s, end);
      } else if (first === undefined || compareTimestampBytes(buf, s, end, first) < 0) {
        this.firstSeen[e] = latin1(buf, s, end);
      }
    }
    if (line.idStart >= 0 && line.idEnd > line.idStart) {
      const ids = this.ids[e]!;
      if (ids.length < MAX_IDS_PER_EDGE) ids.push(latin1(buf, line.idStart, line.idEnd));
    }
  }

  /** Whether the identity at `at` in `keys` is the one given as strings. */
  private identityIs(at: number, isPod: boolean, who: string, pod: string, dstIp: string): boolean {
    const k = this.keys;
    if (k[at] !== (isPod ? POD : ADDRESS)) return false;
    let p = this.partIsString(at + 1, who);
    if (p >= 0 && isPod) p = this.partIsString(p, pod);
    if (p >= 0) p = this.partIsString(p, dstIp);
    return p >= 0;
  }

  private partIsString(at: number, s: string): number {
    const k = this.keys;
    if ((k[at]! | (k[at + 1]! << 16)) !== s.length) return -1;
    at += 2;
    for (let i = 0; i < s.length; i++, at++) if (k[at] !== s.charCodeAt(i)) return -1;
    return at;
  }

  /** Whether the identity at `at` in `keys` is the scanned line's. */
  private lineHasIdentity(at: number, line: FlowLineScanner, buf: Uint8Array): boolean {
    let p: number;
    if (line.srcIsPod) {
      if (this.keys[at] !== POD) return false;
      p = this.partIsBytes(at + 1, buf, line.nsStart, line.nsEnd);
      if (p >= 0) p = this.partIsBytes(p, buf, line.podStart, line.podEnd);
    } else {
      if (this.keys[at] !== ADDRESS) return false;
      p = this.partIsBytes(at + 1, buf, line.srcIpStart, line.srcIpEnd);
    }
    if (p >= 0) p = this.partIsBytes(p, buf, line.dstIpStart, line.dstIpEnd);
    return p >= 0;
  }

  private partIsBytes(at: number, buf: Uint8Array, start: number, end: number): number {
    const k = this.keys;
    if ((k[at]! | (k[at + 1]! << 16)) !== end - start) return -1;
    at += 2;
    for (let i = start; i < end; i++, at++) if (k[at] !== buf[i]) return -1;
    return at;
  }

  /** A line's timestamp against the last one kept as bytes at `room`, like compareTimestamps. */
  private compareWithStamp(buf: Uint8Array, start: number, end: number, room: number): number {
    const len = end - start;
    const kept = this.stamps;
    const keptLen = kept[room]!;
    if (len === keptLen && buf[end - 1] === 0x5a && kept[room + len] === 0x5a) {
      for (let i = 0; i < len; i++) {
        const d = buf[start + i]! - kept[room + 1 + i]!;
        if (d !== 0) return d;
      }
      return 0;
    }
    return compareTimestamps(latin1(buf, start, end), latin1(kept, room + 1, room + 1 + keptLen));
  }

  /** The last timestamp of edge `e` as text. */
  private lastOf(e: number): string | undefined {
    const room = e * STAMP_ROOM;
    const len = this.stamps[room]!;
    return len === 0 ? this.lastText[e] : latin1(this.stamps, room + 1, room + 1 + len);
  }

  /** Room for an identity of `units` code units at the end of `keys`; its offset. */
  private reserveKey(units: number): number {
    if (this.keysUsed + units > this.keys.length) {
      const keys = new Uint16Array(Math.max(this.keys.length * 2, this.keysUsed + units));
      keys.set(this.keys);
      this.keys = keys;
    }
    return this.keysUsed;
  }

  /** A new edge whose identity was just written at `keyAt`, in table slot `slot`. */
  private place(slot: number, hash: number, portKey: number, keyAt: number, sample: LocatedFlow | SampleLine, ts: string | undefined, ids: string[]): void {
    const e = this.samples.length;
    this.samples.push(sample);
    this.firstSeen.push(ts);
    this.lastText.push(ts);
    this.ids.push(ids);
    if ((e + 1) * META > this.meta.length) {
      const meta = new Float64Array(this.meta.length * 2);
      meta.set(this.meta);
      this.meta = meta;
      const stamps = new Uint8Array(this.stamps.length * 2);
      stamps.set(this.stamps);
      this.stamps = stamps;
    }
    const m = e * META;
    this.meta[m] = hash;
    this.meta[m + 1] = portKey;
    this.meta[m + 2] = 1;
    this.meta[m + 3] = keyAt;
    this.slots[slot] = e + 1;
    if ((e + 1) * 2 > this.slots.length) this.rehash();
  }

  /** Doubles the slot array and places every edge again. */
  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.samples.length; e++) {
      let i = this.meta[e * META]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = e + 1;
    }
    this.slots = slots;
  }

  /** The sample of edge `e` as a record (made from its line the first time). */
  private sampleOf(e: number): LocatedFlow {
    const s = this.samples[e]!;
    if (!(s instanceof SampleLine)) return s;
    // The fast path accepted this text: it parses.
    const rec = parseFlowLine(s.text, s.file, s.line)!;
    this.samples[e] = rec;
    return rec;
  }

  /** Edges in the order they were first seen (deterministic for a given input order). */
  result(): FlowEdge[] {
    return this.samples.map((_, e) => ({
      sample: this.sampleOf(e),
      count: this.meta[e * META + 2]!,
      firstSeen: this.firstSeen[e],
      lastSeen: this.lastOf(e),
      ids: this.ids[e]!,
    }));
  }

  /** The edges as flat arrays for another thread, samples as text (see EdgeExport). */
  export(): EdgeExport {
    const n = this.samples.length;
    const out: EdgeExport = { keys: [], counts: [], firstSeen: [], lastSeen: [], ids: this.ids, samples: [], sampleLines: [] };
    for (let e = 0; e < n; e++) {
      const at = this.meta[e * META + 3]!;
      const end = e + 1 < n ? this.meta[(e + 1) * META + 3]! : this.keysUsed;
      const portKey = this.meta[e * META + 1]!;
      out.keys.push(unitsToString(this.keys, at, end) + String.fromCharCode(portKey & 0xffff, portKey >>> 16));
      out.counts.push(this.meta[e * META + 2]!);
      out.firstSeen.push(this.firstSeen[e] ?? null);
      out.lastSeen.push(this.lastOf(e) ?? null);
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
}

export async function aggregateFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>): Promise<FlowEdge[]> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return agg.result();
}
