/**
 * Output lines of one batch, encoded into a buffer as they come, written with one write per batch
 * (`trace` writes a batch per ring-buffer drain). Encoding each line at once lets it die young: a
 * batch kept as one appended string held every line's pieces (a string of ~40 parts each) until the
 * write, through the young generation's collections, and was then flattened and encoded in one go —
 * in a connect storm that string, its copying and its encoding were the largest costs after the
 * kernel's. The chunks handed to write() are never reused, so a stream that writes later (a pipe)
 * gets what was written.
 */
const CHUNK_BYTES = 64 * 1024;

/**
 * Buffer#utf8Write(string, offset): what Buffer#write(string, offset) calls after normalizing its
 * arguments (offset, length, encoding), which cost as much as the encoding of a short line. Not in
 * @types/node, present in every Node release.
 */
type Utf8Writer = Buffer & { utf8Write(text: string, offset: number): number };

export class LineBatch {
  private chunk: Utf8Writer | undefined;
  private at = 0;
  /** Filled chunks of this batch, before `chunk`. */
  private done: Buffer[] = [];

  /** Appends `text` and a newline. */
  add(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
    const most = text.length * 3 + 1;
    let chunk = this.chunk;
    if (chunk === undefined || chunk.length - this.at < most) {
      if (chunk !== undefined && this.at > 0) this.done.push(chunk.subarray(0, this.at));
      chunk = this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, most)) as Utf8Writer;
      this.at = 0;
    }
    this.at += chunk.utf8Write(text, this.at);
    chunk[this.at++] = 10;
  }

  get empty(): boolean {
    return this.at === 0 && this.done.length === 0;
  }

  /** The batch's bytes (undefined when empty); the batch starts over. */
  take(): Buffer | undefined {
    if (this.empty) return undefined;
    const last = this.chunk!.subarray(0, this.at);
    const out = this.done.length === 0 ? last : Buffer.concat([...this.done, last]);
    // The taken chunk now belongs to the writer; the next line starts a new one.
    this.chunk = undefined;
    this.at = 0;
    this.done = [];
    return out;
  }
}
