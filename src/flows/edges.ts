/**
 * Aggregation of flows into edges: identical (source, destination address, port, protocol, outcome) flows
 * collapse into one edge with a count and first/last seen, before anything is resolved against a
 * cluster. A million flows of a chatty workload become a handful of edges, so resolution and
 * synthesis cost per edge, not per flow.
 */
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
 * The exact identity of a flow's edge as text (the parts with their lengths in front, so no
 * character inside a part can make two identities equal): what merging edges of several readers
 * keys on. edgeKey is the readable form.
 */
export function edgeIdentity(flow: FlowRecord): string {
  const src = flow.src;
  const who = typeof src.namespace === 'string' && typeof src.pod === 'string' ? `p${src.namespace.length}:${src.namespace}${src.pod.length}:${src.pod}` : `r${String(src.ip).length}:${String(src.ip)}`;
  const portKey = (flow.dst.port * 4 + protocolIndex(flow.proto)) * 8 + outcomeIndex(flow.outcome);
  return `${who}${flow.dst.ip.length}:${flow.dst.ip}${portKey}`;
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

/**
 * Edges in one open-addressing hash table held in typed arrays. Records and fast-path lines (see
 * line-scan.ts) land in the same table, so a recording may mix both.
 *
 * Why typed arrays: a large recording hits tens of thousands of edges in random order, and every
 * separate object a lookup touches (a Map bucket, an entry, its key strings, the edge, its
 * timestamp string) was a cache miss — most of the cost of a flow. Here a lookup touches the slot
 * array, one `meta` row, the identity's code units and one timestamp room. An edge's identity
 * (kind, then each part with its length in front, so no character inside a part can make two
 * identities equal) is compared in full, so a hash collision never merges two edges. A fast-path
 * line's timestamp is kept as bytes (recordings are in time order, so nearly every flow is a new
 * last seen) and made text once, when the edges are asked for. No string is made per flow.
 */
export class EdgeAggregator {
  /** Open addressing: edge index + 1 per slot, 0 when free. Size a power of two, under half full. */
  private slots = new Int32Array(1 << 12);
  private meta = new Float64Array(1024 * META);
  private keys = new Uint16Array(1 << 16);
  private keysUsed = 0;
  private stamps = new Uint8Array(1024 * STAMP_ROOM);
  private readonly edges: FlowEdge[] = [];
  /** Per edge: the last timestamp as text when `stamps` does not hold it (length byte 0). */
  private readonly lastText: (string | undefined)[] = [];
  flows = 0;

  /** Edges so far. */
  get size(): number {
    return this.edges.length;
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
      this.insert(i, h, portKey, flow, isPod, who, pod, dstIp);
      return;
    }
    this.meta[e * META + 2]!++;
    const edge = this.edges[e]!;
    const ts = flow.ts;
    if (ts !== undefined) {
      // Recordings are mostly in time order: a new last is the common case, and then it cannot be
      // a new first (first <= last).
      const last = this.lastOf(e);
      if (last === undefined || compareTimestamps(ts, last) > 0) {
        this.lastText[e] = ts;
        this.stamps[e * STAMP_ROOM] = 0;
        if (edge.firstSeen === undefined) edge.firstSeen = ts;
      } else if (edge.firstSeen === undefined || compareTimestamps(ts, edge.firstSeen) < 0) {
        edge.firstSeen = ts;
      }
    }
    if (flow.id && edge.ids.length < MAX_IDS_PER_EDGE) edge.ids.push(flow.id);
  }

  /**
   * A line the fast path has accepted (`line` scanned `buf`): the same as `add` of its record,
   * which is built (`record()`) only when the line starts a new edge and becomes its sample.
   */
  addScanned(line: FlowLineScanner, buf: Uint8Array, record: () => LocatedFlow): void {
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
    if (e < 0) {
      const flow = record();
      const src = flow.src;
      this.insert(i, h, portKey, flow, isPod, isPod ? (src.namespace as string) : String(src.ip), isPod ? (src.pod as string) : '', flow.dst.ip);
      return;
    }
    this.meta[e * META + 2]!++;
    const s = line.tsStart;
    if (s >= 0) {
      const end = line.tsEnd;
      const room = e * STAMP_ROOM;
      const kept = this.stamps[room]!;
      const last = kept > 0 ? undefined : this.lastText[e];
      if ((kept > 0 ? this.compareWithStamp(buf, s, end, room) : last === undefined ? 1 : compareTimestampBytes(buf, s, end, last)) > 0) {
        if (end - s < STAMP_ROOM) {
          this.stamps[room] = end - s;
          for (let k = s, r = room + 1; k < end; k++, r++) this.stamps[r] = buf[k]!;
        } else {
          this.stamps[room] = 0;
          this.lastText[e] = latin1(buf, s, end);
        }
        const edge = this.edges[e]!;
        if (edge.firstSeen === undefined) edge.firstSeen = latin1(buf, s, end);
      } else {
        const edge = this.edges[e]!;
        if (edge.firstSeen === undefined || compareTimestampBytes(buf, s, end, edge.firstSeen) < 0) edge.firstSeen = latin1(buf, s, end);
      }
    }
    if (line.idStart >= 0 && line.idEnd > line.idStart) {
      const ids = this.edges[e]!.ids;
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

  private insert(slot: number, hash: number, portKey: number, flow: LocatedFlow, isPod: boolean, who: string, pod: string, dstIp: string): void {
    const e = this.edges.length;
    this.edges.push({ sample: flow, count: 1, firstSeen: flow.ts, lastSeen: undefined, ids: flow.id ? [flow.id] : [] });
    this.lastText.push(flow.ts);
    if ((e + 1) * META > this.meta.length) {
      const meta = new Float64Array(this.meta.length * 2);
      meta.set(this.meta);
      this.meta = meta;
      const stamps = new Uint8Array(this.stamps.length * 2);
      stamps.set(this.stamps);
      this.stamps = stamps;
    }
    const need = 1 + 2 * 3 + who.length + pod.length + dstIp.length;
    if (this.keysUsed + need > this.keys.length) {
      const keys = new Uint16Array(Math.max(this.keys.length * 2, this.keysUsed + need));
      keys.set(this.keys);
      this.keys = keys;
    }
    const at = this.keysUsed;
    const k = this.keys;
    let p = at;
    k[p++] = isPod ? POD : ADDRESS;
    for (const part of isPod ? [who, pod, dstIp] : [who, dstIp]) {
      k[p++] = part.length & 0xffff;
      k[p++] = part.length >>> 16;
      for (let i = 0; i < part.length; i++) k[p++] = part.charCodeAt(i);
    }
    this.keysUsed = p;
    const m = e * META;
    this.meta[m] = hash;
    this.meta[m + 1] = portKey;
    this.meta[m + 2] = 1;
    this.meta[m + 3] = at;
    this.slots[slot] = e + 1;
    if ((e + 1) * 2 > this.slots.length) this.rehash();
  }

  /** Doubles the slot array and places every edge again. */
  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.edges.length; e++) {
      let i = this.meta[e * META]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = e + 1;
    }
    this.slots = slots;
  }

  /** Edges in the order they were first seen (deterministic for a given input order). */
  result(): FlowEdge[] {
    return this.edges.map((edge, e) => {
      edge.count = this.meta[e * META + 2]!;
      edge.lastSeen = this.lastOf(e);
      return edge;
    });
  }
}

export async function aggregateFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>): Promise<FlowEdge[]> {
  const agg = new EdgeAggregator();
  for await (const f of flows) agg.add(f);
  return agg.result();
}
