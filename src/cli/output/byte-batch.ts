/**
 * Output bytes of one batch, written in place: what `trace tcpconnect -o json` writes its lines
 * into (./trace-json.ts says why they are written as bytes, not built as strings). One write per
 * batch, as LineBatch (./line-batch.ts) does for text lines.
 *
 * The bytes handed out by take() are never written again, so a stream that writes later (a pipe)
 * gets what was written: the next lines go on after them in the same chunk until it is full.
 * A full chunk is written again only once every piece taken from it was given back (release(), from
 * the stream's write callback): a storm writes ~10 MB a second, and a new chunk per megabyte was
 * memory V8 counts as external, a fresh page-faulted mapping each, and a full garbage collection
 * every second or two (`trace -o json` in bench/trace-cost-split.ts, seen with node --trace-gc).
 */

/** Bytes a chunk holds at least (a 20 ms drain of a connect storm writes ~200 KB). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Buffer#utf8Write(string, offset): what Buffer#write(string, offset) calls after normalizing its
 * arguments. Not in @types/node, present in every Node release.
 */
type Utf8Writer = Buffer & { utf8Write(text: string, offset: number): number };

/** Full chunks kept for writing again once their pieces are released (a pipe's stream may hold a few). */
const SPARE_CHUNKS = 4;

/** Copies of this many bytes or fewer are a loop rather than set() (a native call's overhead). */
const SHORT_COPY = 16;

export class ByteBatch {
  private chunk: Utf8Writer = Buffer.allocUnsafeSlow(CHUNK_BYTES) as Utf8Writer;
  /** Where the bytes not yet taken start in `chunk`, and where the next byte goes. */
  private start = 0;
  private at = 0;
  /** Filled pieces of this batch, before `chunk`'s. */
  private done: Buffer[] = [];
  /** Where the line being written began (see begin/abort). */
  private markChunk: Utf8Writer = this.chunk;
  private markStart = 0;
  private markAt = 0;
  private markDone = 0;

  /** Pieces handed out by take() and not released, per chunk (its memory); absent: none. */
  private readonly out = new Map<ArrayBufferLike, number>();
  /** Full chunks (their memory) this batch left; written again once none of their pieces is out. */
  private readonly left = new Set<ArrayBufferLike>();
  /** Left chunks with no piece out: the next chunk comes from here first. */
  private spare: ArrayBufferLike[] = [];

  /** Room for `n` more bytes: a new chunk when this one is full (what is in it stays for take()). */
  private room(n: number): Utf8Writer {
    if (this.at + n <= this.chunk.length) return this.chunk;
    if (this.at > this.start) this.done.push(this.chunk.subarray(this.start, this.at));
    else this.leave(this.chunk.buffer);
    const mem = this.spare.length > 0 && this.spare[this.spare.length - 1]!.byteLength >= n ? this.spare.pop() : undefined;
    // A chunk is a whole allocation (allocUnsafeSlow: not from the pool), so its memory is the chunk.
    this.chunk = (mem ? Buffer.from(mem) : Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, n))) as Utf8Writer;
    this.start = this.at = 0;
    return this.chunk;
  }

  /** A chunk this batch no longer writes into: spare once none of its pieces is out or waiting in `done`. */
  private leave(mem: ArrayBufferLike): void {
    if (this.out.has(mem) || this.done.some((d) => d.buffer === mem)) {
      this.left.add(mem);
      return;
    }
    this.left.delete(mem);
    if (this.spare.length < SPARE_CHUNKS) this.spare.push(mem);
  }

  /**
   * Gives back bytes that take() handed out, once they are written (a stream's write callback): their
   * chunk may be written again when nothing else of it is out. Other bytes are ignored.
   */
  release(bytes: Buffer): void {
    const mem = bytes.buffer;
    const n = this.out.get(mem);
    if (n === undefined) return;
    if (n > 1) this.out.set(mem, n - 1);
    else {
      this.out.delete(mem);
      if (this.left.has(mem)) this.leave(mem);
      // All of the chunk being written into was written out, nothing new in it since: start over at
      // its beginning. A file's writes are released at once, so a storm's batches all go through
      // the same few hundred KB, which stay in the CPU's cache, instead of through every megabyte.
      else if (mem === this.chunk.buffer && this.start === this.at) this.start = this.at = 0;
    }
  }

  /** Marks the start of a line: abort() drops what was written since (a writer that threw). */
  begin(): void {
    this.markChunk = this.chunk;
    this.markStart = this.start;
    this.markAt = this.at;
    this.markDone = this.done.length;
  }

  abort(): void {
    this.chunk = this.markChunk;
    this.start = this.markStart;
    this.at = this.markAt;
    this.done.length = this.markDone;
    // Written into again: the chunk may have been left (and spared) when the line ran past it.
    const mem = this.chunk.buffer;
    this.left.delete(mem);
    this.spare = this.spare.filter((m) => m !== mem);
  }

  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    const chunk = this.room(n);
    if (n <= SHORT_COPY) {
      const at = this.at;
      for (let i = 0; i < n; i++) chunk[at + i] = bytes[i]!;
    } else chunk.set(bytes, this.at);
    this.at += n;
  }

  /** Text as UTF-8. */
  text(s: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
    const chunk = this.room(s.length * 3);
    this.at += chunk.utf8Write(s, this.at);
  }

  /**
   * A number as JSON.stringify (and String) writes it: the digits of a non-negative integer by
   * hand, anything else through String (JSON's null for NaN and the infinities).
   */
  number(n: number): void {
    if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) this.smallUint(n);
    else if (n >= 0 && Number.isSafeInteger(n)) this.safeUint(n);
    else this.text(Number.isFinite(n) ? String(n) : 'null');
  }

  private smallUint(n: number): void {
    const len = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
    const chunk = this.room(len);
    let p = this.at + len;
    this.at = p;
    do {
      const q = (n / 10) | 0;
      chunk[--p] = 48 + (n - q * 10);
      n = q;
    } while (n !== 0);
  }

  private safeUint(n: number): void {
    let len = 10;
    for (let x = Math.floor(n / 1e10); x > 0; x = Math.floor(x / 10)) len++;
    const chunk = this.room(len);
    let p = this.at + len;
    this.at = p;
    do {
      const q = Math.floor(n / 10);
      chunk[--p] = 48 + (n - q * 10);
      n = q;
    } while (n !== 0);
  }

  get empty(): boolean {
    return this.at === this.start && this.done.length === 0;
  }

  /**
   * The bytes written since the last take (undefined when none), as the pieces of the chunks they
   * were written into, in order; the batch starts over. Each piece is released on its own. What
   * the trace writes: a batch that ran into a new chunk was copied into one buffer by take(), a
   * fresh allocation of a few hundred KB every few batches of a storm (page faults, and memory
   * returned to the system again), where two writes do.
   */
  takePieces(): Buffer[] | undefined {
    if (this.empty) return undefined;
    const pieces = this.done;
    this.done = [];
    if (this.at > this.start) pieces.push(this.chunk.subarray(this.start, this.at));
    // The taken bytes now belong to the writer: the next lines go after them.
    this.start = this.at;
    for (const p of pieces) this.out.set(p.buffer, (this.out.get(p.buffer) ?? 0) + 1);
    // The full chunks it ran through: spare again once their pieces are released.
    for (let i = 0; i < pieces.length; i++) if (pieces[i]!.buffer !== this.chunk.buffer) this.leave(pieces[i]!.buffer);
    return pieces;
  }

  /** The bytes written since the last take() (undefined when none), in one buffer; the batch starts over. */
  take(): Buffer | undefined {
    const pieces = this.takePieces();
    if (pieces === undefined || pieces.length === 1) return pieces?.[0];
    // Copied, so the chunks it ran through are free again (once nothing else of them is out).
    const out = Buffer.concat(pieces);
    for (const p of pieces) this.release(p);
    return out;
  }

}
