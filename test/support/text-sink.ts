import { Writable } from 'node:stream';

/** A stdout/stderr stand-in for in-process command runs: a real Writable that keeps what was written as text. */
export class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}
