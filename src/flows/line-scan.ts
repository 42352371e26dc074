/**
 * The fast path of reading flow lines for aggregation. Learning a large recording is mostly
 * reading the same few thousand connections again and again; building a record object per line
 * (decoding, JSON.parse, validation, then hashing its fresh strings into maps) cost several times
 * more than the reading. The scanner reads a line's bytes in place, checks them as strictly as
 * JSON.parse + parseFlowRecord would, and notes where the fields aggregation keys on (the
 * identity's parts below, port, protocol, outcome) and keeps (time, id) are, without making a string.
 *
 * It is conservative by construction: whatever it is not sure about — an escape or a non-ASCII
 * byte in a field it reads, a number it would have to convert, a duplicate key, a field of an
 * unexpected type — makes `scan` return false, and the caller takes the ordinary path (decode,
 * JSON.parse, parseFlowRecord), which gives the record or the precise error. So accepting a line is
 * the only thing that must be exact: a line is accepted only when it is valid JSON and a valid v1
 * flow, and the fields noted here hold what the ordinary path's record would. The unit tests check
 * this against the ordinary path on generated and mutated lines.
 */
import { isIP } from 'node:net';
import { OUTCOMES, type Outcome, type Protocol } from './record.js';
import { daysInMonth } from './timestamp.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * The fields that make a flow's edge: everything resolution reads (the source's names and address,
 * the destination's address and the names it falls back on). Order of FlowLineScanner.parts.
 */
export const IDENTITY_PARTS = ['src.namespace', 'src.pod', 'src.ip', 'dst.ip', 'dst.namespace', 'dst.pod', 'dst.service'] as const;
export const SRC_NAMESPACE = 0;
export const SRC_POD = 1;
export const SRC_IP = 2;
export const DST_IP = 3;
export const DST_NAMESPACE = 4;
export const DST_POD = 5;
export const DST_SERVICE = 6;

/** Bytes a plain string may hold as they are: printable ASCII but the quote and the backslash. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) PLAIN[c] = c === 0x22 || c === 0x5c ? 0 : 1;

/** Nesting deeper than this in fields the scanner skips is left to JSON.parse. */
const MAX_DEPTH = 32;

function bytesOf(names: readonly string[]): Uint8Array[] {
  return names.map((n) => Buffer.from(n, 'latin1'));
}

const TOP_KEYS = bytesOf(['v', 'id', 'ts', 'proto', 'src', 'dst', 'outcome', 'latencyNs', 'observed']);
const SRC_KEYS = bytesOf(['ip', 'port', 'namespace', 'pod', 'container', 'comm']);
const DST_KEYS = bytesOf(['ip', 'port', 'namespace', 'pod', 'service']);
/**
 * The fields the scanner reads, numbered across the three objects in the order of TOP_KEYS, SRC_KEYS
 * and DST_KEYS (a const enum: its numbers are literals in the compiled switch, which V8 makes a jump table).
 */
const enum Field {
  V, Id, Ts, Proto, Src, Dst, Outcome, LatencyNs, Observed,
  SrcIp, SrcPort, SrcNamespace, SrcPod, SrcContainer, SrcComm,
  DstIp, DstPort, DstNamespace, DstPod, DstService,
}
/** The identity part (IDENTITY_PARTS) a name field is, by Field. */
const NAME_PART = new Int8Array(Field.DstService + 1);
NAME_PART[Field.SrcNamespace] = SRC_NAMESPACE;
NAME_PART[Field.SrcPod] = SRC_POD;
NAME_PART[Field.DstNamespace] = DST_NAMESPACE;
NAME_PART[Field.DstPod] = DST_POD;
NAME_PART[Field.DstService] = DST_SERVICE;
const PROTOCOL_NAMES: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const PROTOCOL_BYTES = bytesOf(PROTOCOL_NAMES);
const OUTCOME_BYTES = bytesOf(OUTCOMES);
const NULL = Buffer.from('null', 'latin1');
const TRUE = Buffer.from('true', 'latin1');
const FALSE = Buffer.from('false', 'latin1');

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Whether buf[start, end) is a dotted-quad IPv4 address as node:net's isIP accepts it (decimal
 * octets 0-255 without leading zeros).
 */
function isIPv4Bytes(buf: Uint8Array, start: number, end: number): boolean {
  let octets = 0;
  let i = start;
  while (i < end) {
    const first = i;
    let value = 0;
    while (i < end && isDigit(buf[i]!)) value = value * 10 + (buf[i++]! - ZERO);
    const digits = i - first;
    if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && buf[first] === ZERO)) return false;
    octets++;
    if (i === end) break;
    if (buf[i] !== DOT || octets === 4) return false;
    i++;
    if (i === end) return false;
  }
  return octets === 4;
}

/** The text of buf[start, end), one character per byte. */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  // Buffer's own latin1Slice (what toString('latin1') ends in, without its argument checks), else a view.
  const own = (buf as { latin1Slice?: (s: number, e: number) => string }).latin1Slice;
  return own ? own.call(buf, start, end) : Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

function digitsIn(buf: Uint8Array, at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (!isDigit(buf[i]!)) return false;
  return true;
}

/** Two digits at `at` as a number (the caller checked they are digits). */
function twoDigits(buf: Uint8Array, at: number): number {
  return (buf[at]! - ZERO) * 10 + (buf[at + 1]! - ZERO);
}

/**
 * The RFC 3339 date-time grammar of timestamp.ts's isRfc3339, on bytes (kept by hand, in place,
 * for speed: no string per line): YYYY-MM-DD, T or t, hh:mm:ss (60 for a leap second), an
 * optional fraction, Z, z or ±hh:mm. test/unit/timestamp.test.ts holds the table of cases both
 * must agree on; a change to the grammar is a change to both and to that table.
 */
export function isRfc3339Bytes(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start < 20) return false;
  const b = buf;
  const s = start;
  if (!digitsIn(b, s, 4) || b[s + 4] !== MINUS || !digitsIn(b, s + 5, 2) || b[s + 7] !== MINUS || !digitsIn(b, s + 8, 2)) return false;
  const month = twoDigits(b, s + 5);
  const day = twoDigits(b, s + 8);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth((b[s]! - ZERO) * 1000 + (b[s + 1]! - ZERO) * 100 + twoDigits(b, s + 2), month)) return false;
  if (b[s + 10] !== 0x54 && b[s + 10] !== 0x74) return false;
  if (!digitsIn(b, s + 11, 2) || b[s + 13] !== COLON || !digitsIn(b, s + 14, 2) || b[s + 16] !== COLON || !digitsIn(b, s + 17, 2)) return false;
  if (twoDigits(b, s + 11) > 23 || twoDigits(b, s + 14) > 59 || twoDigits(b, s + 17) > 60) return false;
  let i = s + 19;
  if (b[i] === DOT) {
    const first = ++i;
    while (i < end && isDigit(b[i]!)) i++;
    if (i === first) return false;
  }
  const zone = b[i];
  if (zone === 0x5a || zone === 0x7a) return i + 1 === end;
  if (zone !== PLUS && zone !== MINUS) return false;
  if (end - i !== 6 || !digitsIn(b, i + 1, 2) || b[i + 3] !== COLON || !digitsIn(b, i + 4, 2)) return false;
  return twoDigits(b, i + 1) <= 23 && twoDigits(b, i + 4) <= 59;
}

/** `seen` with member `k` marked (-1 for a name not looked for: nothing), or -1 when it was already. */
function mark(seen: number, k: number): number {
  if (k < 0) return seen;
  return seen & (1 << k) ? -1 : seen | (1 << k);
}

/**
 * Reads flow lines in place. One scanner per reader: it keeps where the fields of the last line
 * accepted are (no object per line) and remembers the IPv6 addresses it has validated.
 */
export class FlowLineScanner {
  /**
   * Where the identity's parts are (see IDENTITY_PARTS): [start, end) byte offsets per part at
   * 2 × part; start -1 when the field is absent or null (and then end means nothing).
   */
  readonly parts = new Int32Array(2 * IDENTITY_PARTS.length);
  // Where the last accepted line's other fields are: [start, end), -1 when absent.
  tsStart = -1;
  tsEnd = -1;
  idStart = -1;
  idEnd = -1;
  dstPort = 0;
  proto: Protocol = 'TCP';
  outcome: Outcome | undefined;

  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private readonly validIPv6 = new Set<string>();

  /** Whether the source is a pod (namespace and pod given) rather than an address. */
  get srcIsPod(): boolean {
    return this.parts[2 * SRC_NAMESPACE]! >= 0 && this.parts[2 * SRC_POD]! >= 0;
  }

  /** Notes a part's range: the plain string that was just read. */
  private note(part: number, start: number): void {
    this.parts[2 * part] = start;
    this.parts[2 * part + 1] = this.pos - 1;
  }

  /** Whether buf[start, end) is a v1 flow the fast path vouches for; its fields are then noted. */
  scan(buf: Uint8Array, start: number, end: number): boolean {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    const parts = this.parts;
    for (let q = 0; q < parts.length; q += 2) parts[q] = -1;
    this.tsStart = this.idStart = -1;
    this.outcome = undefined;
    const seen = this.members(TOP_KEYS, Field.V, 0);
    if (seen < 0) return false;
    this.skipSpace();
    if (this.pos !== this.end) return false;
    // v, proto, src and dst are required; a source needs an address or a namespace and a pod.
    if ((seen & 0b111001) !== 0b111001) return false;
    const ip = this.parts[2 * SRC_IP]!;
    return (ip >= 0 && this.parts[2 * SRC_IP + 1]! > ip) || this.srcIsPod;
  }

  /**
   * Past an object whose members named in `keys` are fields `first + i` (read and noted here) and
   * whose other members are skipped at `depth`: which of `keys` it holds (bit i for keys[i]), or -1
   * when it is not an object the fast path vouches for. One loop for the line, its source and its
   * destination; the fields' switch stays inside it: a call per field measured 8% more CPU per
   * line (bench/scan-bench.mjs), this shape the same as the three loops it replaced.
   */
  private members(keys: readonly Uint8Array[], first: number, depth: number): number {
    if (!this.past(LBRACE)) return -1;
    if (this.past(RBRACE)) return 0;
    let seen = 0;
    for (;;) {
      this.skipSpace();
      const k = this.key(keys);
      // A duplicate: JSON.parse keeps the last one, not worth following here.
      if (k === -2 || (seen = mark(seen, k)) < 0) return -1;
      const f = k < 0 ? -1 : ((first + k) as Field);
      switch (f) {
        case Field.V:
          if (!this.isOne()) return -1;
          break;
        case Field.Id:
          if ((this.idStart = this.plainString()) < 0) return -1;
          this.idEnd = this.pos - 1;
          break;
        case Field.Ts:
          if ((this.tsStart = this.plainString()) < 0) return -1;
          this.tsEnd = this.pos - 1;
          if (!this.isTimestamp(this.tsStart, this.tsEnd)) return -1;
          break;
        case Field.Proto: {
          const p = this.oneOf(PROTOCOL_BYTES);
          if (p < 0) return -1;
          this.proto = PROTOCOL_NAMES[p]!;
          break;
        }
        case Field.Src:
          if (this.members(SRC_KEYS, Field.SrcIp, 1) < 0) return -1;
          break;
        case Field.Dst: {
          // ip and port are required
          const dst = this.members(DST_KEYS, Field.DstIp, 1);
          if (dst < 0 || (dst & 0b11) !== 0b11) return -1;
          break;
        }
        case Field.Outcome: {
          const o = this.oneOf(OUTCOME_BYTES);
          if (o < 0) return -1;
          this.outcome = OUTCOMES[o];
          break;
        }
        case Field.LatencyNs: // a non-negative number
          if (this.uint() < 0) return -1;
          break;
        case Field.Observed: // a list of protocols (parseFlowRecord checks it the same way)
          if (!this.protocolList()) return -1;
          break;
        case Field.SrcIp: {
          // an address; "" or null for none
          if (this.null()) break;
          const s = this.plainString();
          if (s < 0 || (this.pos - 1 > s && !this.isAddress(s, this.pos - 1))) return -1;
          this.note(SRC_IP, s);
          break;
        }
        case Field.SrcPort:
          if (!this.null() && this.port() < 0) return -1;
          break;
        case Field.SrcNamespace:
        case Field.SrcPod:
        case Field.DstNamespace:
        case Field.DstPod:
        case Field.DstService: {
          // Names: the source's, and the destination's that resolution falls back on for an address it does not know.
          if (this.null()) break;
          const s = this.plainString();
          if (s < 0) return -1;
          this.note(NAME_PART[f]!, s);
          break;
        }
        case Field.SrcContainer:
        case Field.SrcComm:
          if (!this.null() && !this.skipString()) return -1;
          break;
        case Field.DstIp: {
          const s = this.plainString();
          if (s < 0 || !this.isAddress(s, this.pos - 1)) return -1;
          this.note(DST_IP, s);
          break;
        }
        case Field.DstPort:
          if ((this.dstPort = this.port()) < 0) return -1;
          break;
        default: // a member this path does not read
          if (!this.skipValue(depth)) return -1;
      }
      const more = this.afterMember(RBRACE);
      if (more <= 0) return more === 0 ? seen : -1;
    }
  }

  /** An IP address as node:net's isIP takes it (checked in place for IPv4, the common case). */
  private isAddress(start: number, end: number): boolean {
    if (end === start) return false;
    if (isIPv4Bytes(this.buf, start, end)) return true;
    const text = latin1(this.buf, start, end);
    if (this.validIPv6.has(text)) return true;
    // A zone id (`fe80::1%eth0`) passes isIP but not parseFlowRecord: left to it for the error.
    if (isIP(text) === 0 || text.includes('%')) return false;
    if (this.validIPv6.size >= 65536) this.validIPv6.clear(); // a cache, not a record of every address
    this.validIPv6.add(text);
    return true;
  }

  /** RFC 3339, checked as parseFlowRecord does (by the same grammar, in place). */
  private isTimestamp(start: number, end: number): boolean {
    return isRfc3339Bytes(this.buf, start, end);
  }

  /** Past white space and then the byte `c` when it comes next: whether it did. */
  private past(c: number): boolean {
    this.skipSpace();
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  /**
   * Past what follows a member's value or an element: 1 for a comma (another one follows), 0 for
   * `close` (the object's or array's end), -1 else.
   */
  private afterMember(close: number): number {
    this.skipSpace();
    const c = this.peek();
    this.pos++;
    return c === COMMA ? 1 : c === close ? 0 : -1;
  }

  private peek(): number {
    return this.pos < this.end ? this.buf[this.pos]! : -1;
  }

  private skipSpace(): void {
    const b = this.buf;
    while (this.pos < this.end) {
      const c = b[this.pos]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  /** Whether the bytes at `at` spell `word`, within the line. */
  private spells(word: Uint8Array, at: number, len: number): boolean {
    if (len !== word.length) return false;
    const b = this.buf;
    for (let i = 0; i < len; i++) if (b[at + i] !== word[i]) return false;
    return true;
  }

  /**
   * A member name and its colon: the index of the name in `names`, -1 for another name, -2 when
   * the name is not a plain string (escapes are left to JSON.parse).
   */
  private key(names: readonly Uint8Array[]): number {
    const start = this.plainString();
    if (start < 0) return -2;
    const len = this.pos - 1 - start;
    if (!this.past(COLON)) return -2;
    this.skipSpace();
    for (let i = 0; i < names.length; i++) if (this.spells(names[i]!, start, len)) return i;
    return -1;
  }

  /**
   * Past a string of printable ASCII without escapes (so its bytes are its text): the offset of its
   * first character, or -1 when the next value is anything else.
   */
  private plainString(): number {
    const b = this.buf;
    if (this.peek() !== QUOTE) return -1;
    const start = this.pos + 1;
    const end = this.end;
    let i = start;
    while (i < end && PLAIN[b[i]!] === 1) i++;
    if (i === end || b[i] !== QUOTE) return -1;
    this.pos = i + 1;
    return start;
  }

  /** Past an array of protocol names (`["TCP","UDP"]`, possibly empty); false for anything else. */
  private protocolList(): boolean {
    if (this.peek() !== LBRACKET) return false;
    this.pos++;
    if (this.past(RBRACKET)) return true;
    for (;;) {
      if (this.oneOf(PROTOCOL_BYTES) < 0) return false;
      const more = this.afterMember(RBRACKET);
      if (more <= 0) return more === 0;
      this.skipSpace();
    }
  }

  /** Which of `names` the next value is (a plain string equal to one of them), or -1. */
  private oneOf(names: readonly Uint8Array[]): number {
    const start = this.plainString();
    if (start < 0) return -1;
    const len = this.pos - 1 - start;
    for (let i = 0; i < names.length; i++) if (this.spells(names[i]!, start, len)) return i;
    return -1;
  }

  private literal(word: Uint8Array): boolean {
    if (this.end - this.pos >= word.length && this.spells(word, this.pos, word.length)) {
      this.pos += word.length;
      return true;
    }
    return false;
  }

  private null(): boolean {
    return this.literal(NULL);
  }

  /** The literal number 1 (what `v` must be); other spellings of one are left to JSON.parse. */
  private isOne(): boolean {
    if (this.peek() !== 0x31) return false;
    this.pos++;
    return !this.continuesNumber();
  }

  /** A non-negative integer in plain digits, or -1. */
  private uint(): number {
    const b = this.buf;
    const start = this.pos;
    let n = 0;
    while (this.pos < this.end) {
      const c = b[this.pos]!;
      if (!isDigit(c)) break;
      n = n * 10 + (c - ZERO);
      this.pos++;
    }
    const digits = this.pos - start;
    if (digits === 0 || (digits > 1 && b[start] === ZERO) || digits > 15) return -1;
    return this.continuesNumber() ? -1 : n;
  }

  private port(): number {
    const n = this.uint();
    return n > 65535 ? -1 : n;
  }

  /** A fraction or exponent follows: a number this path does not convert. */
  private continuesNumber(): boolean {
    const c = this.peek();
    return c === DOT || c === 0x65 || c === 0x45 || isDigit(c);
  }

  /**
   * Past a JSON string (escapes checked, not decoded); false when it is not one. Bytes of 0x80 and
   * above pass: the line is decoded as UTF-8 before JSON.parse sees it, and malformed sequences
   * become U+FFFD there rather than errors.
   */
  private skipString(): boolean {
    const b = this.buf;
    if (this.peek() !== QUOTE) return false;
    for (let i = this.pos + 1; i < this.end; i++) {
      const c = b[i]!;
      if (c === QUOTE) {
        this.pos = i + 1;
        return true;
      }
      if (c < 0x20) return false;
      if (c === BACKSLASH) {
        const e = b[++i];
        if (e === 0x75) {
          // \uXXXX
          if (i + 4 >= this.end) return false;
          for (let k = 1; k <= 4; k++) if (!isHex(b[i + k]!)) return false;
          i += 4;
        } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
          return false;
        }
      }
    }
    return false;
  }

  /** Past a JSON number (the grammar of RFC 8259). */
  private skipNumber(): boolean {
    const b = this.buf;
    if (this.peek() === MINUS) this.pos++;
    const intStart = this.pos;
    while (isDigit(this.peek())) this.pos++;
    const intLen = this.pos - intStart;
    if (intLen === 0 || (intLen > 1 && b[intStart] === ZERO)) return false;
    if (this.peek() === DOT) {
      this.pos++;
      const s = this.pos;
      while (isDigit(this.peek())) this.pos++;
      if (this.pos === s) return false;
    }
    const e = this.peek();
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sign = this.peek();
      if (sign === PLUS || sign === MINUS) this.pos++;
      const s = this.pos;
      while (isDigit(this.peek())) this.pos++;
      if (this.pos === s) return false;
    }
    return true;
  }

  /** Past any JSON value (a field this path does not read). */
  private skipValue(depth: number): boolean {
    const c = this.peek();
    if (c === QUOTE) return this.skipString();
    if (c === MINUS || isDigit(c)) return this.skipNumber();
    if (c === 0x74) return this.literal(TRUE);
    if (c === 0x66) return this.literal(FALSE);
    if (c === 0x6e) return this.literal(NULL);
    if (depth >= MAX_DEPTH) return false;
    if (c === LBRACE) return this.skipMembers(depth + 1, RBRACE, true);
    if (c === LBRACKET) return this.skipMembers(depth + 1, RBRACKET, false);
    return false;
  }

  /** Past an object's members or an array's elements and the closing bracket. */
  private skipMembers(depth: number, close: number, named: boolean): boolean {
    this.pos++;
    if (this.past(close)) return true;
    for (;;) {
      this.skipSpace();
      if (named) {
        if (!this.skipString()) return false;
        if (!this.past(COLON)) return false;
        this.skipSpace();
      }
      if (!this.skipValue(depth)) return false;
      const more = this.afterMember(close);
      if (more <= 0) return more === 0;
    }
  }
}
