/**
 * A writable that takes one write, then needs a drain that only release() gives: a client socket
 * that reads slowly, for the agent's stream writers (their queues, lost counts and replay bounds).
 */
import { Writable } from 'node:stream';

export class SlowSocket extends Writable {
  /** Every line written so far (complete lines, in order). */
  readonly lines: string[] = [];
  private held: Array<() => void> = [];
  constructor() {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
    this.held.push(done);
  }
  /** Lets the writes taken so far complete (the next drain comes). */
  release(): void {
    const h = this.held;
    this.held = [];
    for (const done of h) done();
  }
}
