/**
 * Flow JSONL v1 reading and writing. Reading streams chunk by chunk (a multi-GB recording never sits
 * in memory) and fails on the first malformed line, naming file and line. Writing is append-only
 * and durable: every batch reaches the file with one write(2), so Ctrl-C loses nothing written.
 */
import { closeSync, createReadStream, fdatasyncSync, fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.js';
import { parseFlowRecord, type FlowOrigin, type FlowRecord, type LocatedFlow } from './record.js';

export interface ReadProgress {
  /** Bytes read so far across all files (compressed bytes for .gz). */
  bytes: number;
  flows: number;
}

export interface ReadOptions {
  /** Called every few thousand flows, for progress bars. */
  onProgress?: (p: ReadProgress) => void;
}

/** Total input size, for progress bars (0 for stdin). */
export function totalBytes(files: string[]): number {
  return files.reduce((sum, f) => {
    if (f === '-') return sum;
    try {
      return sum + statSync(f).size;
    } catch {
      return sum;
    }
  }, 0);
}

function openInput(file: string): NodeJS.ReadableStream & { bytesRead?: number } {
  if (file === '-') return process.stdin;
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  return file.endsWith('.gz') ? stream.pipe(createGunzip()) : stream;
}

function describeReadError(file: string, err: unknown): InputError {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
  return new InputError(file, `cannot read flows: ${why}`);
}

/** A byte range of one file (for parallel readers); lines are numbered from 1 within the range. */
export interface FileRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * The bytes of a recording (a file, stdin, a .gz) chunk by chunk; a failure to read names the file.
 */
async function* chunksOf(file: string): AsyncGenerator<Buffer> {
  const input = openInput(file);
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  } catch (err) {
    throw describeReadError(file, err);
  } finally {
    (input as { destroy?: () => void }).destroy?.();
  }
}

/** Progress across the files of one read, reported every few thousand flows. */
function progressOf(options: ReadOptions): { progress: ReadProgress; tick: () => void; done: () => void } {
  const progress: ReadProgress = { bytes: 0, flows: 0 };
  let reported = 0;
  return {
    progress,
    tick: () => {
      if (options.onProgress && progress.flows - reported >= 8192) {
        reported = progress.flows;
        options.onProgress(progress);
      }
    },
    done: () => options.onProgress?.(progress),
  };
}

/**
 * Flows in batches (one per chunk read), so consumers loop synchronously instead of paying an
 * await per flow. Lines are cut as bytes (ByteLineSplitter, as for aggregation) and each decoded
 * whole, so a multi-byte character across a chunk boundary stays whole.
 */
export async function* readFlowBatches(files: string[], options: ReadOptions = {}): AsyncGenerator<LocatedFlow[]> {
  const { progress, tick, done } = progressOf(options);
  for (const file of files) {
    const splitter = new ByteLineSplitter();
    let batch: LocatedFlow[] = [];
    const collect: ByteLineHandler = (buf, start, end, line) => {
      const flow = parseFlowLine(buf.toString('utf8', start, end), file, line);
      if (flow) batch.push(flow);
    };
    for await (const chunk of chunksOf(file)) {
      progress.bytes += chunk.length;
      splitter.push(chunk, collect);
      progress.flows += batch.length;
      tick();
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
    splitter.end(collect);
    if (batch.length > 0) {
      progress.flows += batch.length;
      yield batch;
    }
  }
  done();
}

/** One line of a recording as bytes: buf[start, end), without its newline, numbered from 1. */
export type ByteLineHandler = (buf: Buffer, start: number, end: number, line: number) => void;

/**
 * Cuts byte chunks into lines without decoding them (the aggregation fast path reads bytes; see
 * line-scan.ts), numbering them across chunks. The line rules: LF or CRLF (the CR is left to the
 * parser, which takes it as white space), a last line without newline.
 */
class ByteLineSplitter {
  /** The start of a line not yet ended: copies (readers reuse their buffers), joined once it ends. */
  private rest: Buffer[] = [];
  line = 0;

  push(chunk: Buffer, each: ByteLineHandler): void {
    let nl = chunk.indexOf(10);
    if (nl < 0) {
      // Still inside one (long) line: keep the piece, join when the line ends (no quadratic copying).
      if (chunk.length > 0) this.rest.push(Buffer.from(chunk));
      return;
    }
    let buf = chunk;
    if (this.rest.length > 0) {
      const head = this.rest.reduce((n, b) => n + b.length, 0);
      buf = Buffer.concat([...this.rest, chunk]);
      this.rest = [];
      nl += head;
    }
    let start = 0;
    while (nl >= 0) {
      each(buf, start, nl, ++this.line);
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    if (start < buf.length) this.rest.push(Buffer.from(buf.subarray(start)));
  }

  /** The last line, when the input does not end with a newline. */
  end(each: ByteLineHandler): void {
    const rest = this.rest.length === 1 ? this.rest[0]! : Buffer.concat(this.rest);
    this.rest = [];
    if (rest.length > 0) each(rest, 0, rest.length, ++this.line);
  }
}

/**
 * The lines of one byte range of a plain file, read synchronously (a worker thread has nothing
 * else to do, and no await per chunk is cheaper). Returns the number of lines in the range, blank
 * ones included, to number the lines of the next range.
 */
export function readRangeLinesSync(file: string, range: FileRange, each: ByteLineHandler): number {
  const splitter = new ByteLineSplitter();
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw describeReadError(file, err);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = range.start; pos < range.end; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, range.end - pos), pos);
      if (n <= 0) break;
      pos += n;
      splitter.push(buf.subarray(0, n), each);
    }
    splitter.end(each);
    return splitter.line;
  } finally {
    closeSync(fd);
  }
}

/**
 * Every line of the given files as bytes, streamed (stdin and .gz too); the handler made for each
 * file says whether a line was a flow, for progress.
 */
export async function eachLine(
  files: string[],
  options: ReadOptions,
  handlerFor: (file: string) => (buf: Buffer, start: number, end: number, line: number) => boolean,
): Promise<void> {
  const { progress, tick, done } = progressOf(options);
  for (const file of files) {
    const splitter = new ByteLineSplitter();
    const perLine = handlerFor(file);
    const counting: ByteLineHandler = (buf, start, end, line) => {
      if (perLine(buf, start, end, line)) progress.flows++;
    };
    for await (const chunk of chunksOf(file)) {
      progress.bytes += chunk.length;
      splitter.push(chunk, counting);
      tick();
    }
    splitter.end(counting);
  }
  done();
}

/**
 * Every flow of the given files in order, each with its origin. Blank lines are allowed (editors add
 * them); anything else that is not a v1 flow record is an InputError.
 */
export async function* readFlows(files: string[], options: ReadOptions = {}): AsyncGenerator<LocatedFlow> {
  for await (const batch of readFlowBatches(files, options)) yield* batch;
}

/**
 * One line as a flow record with its origin; undefined for a blank line; an InputError naming file
 * and line for anything that is not a v1 flow.
 */
export function parseFlowLine(line: string, file: string, lineNo: number): LocatedFlow | undefined {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (trimmed.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    throw new InputError(file, `not valid JSON: ${(err as Error).message}`, lineNo);
  }
  const rec = parseFlowRecord(value, file, lineNo) as LocatedFlow & { origin?: FlowOrigin };
  // A plain property (defineProperty per record costs more than the parse); serializeFlow drops it.
  rec.origin = { file, line: lineNo };
  return rec;
}

/** All flows in memory; for tests and small inputs only. */
export async function readAllFlows(files: string[]): Promise<LocatedFlow[]> {
  const out: LocatedFlow[] = [];
  for await (const f of readFlows(files)) out.push(f);
  return out;
}

export function serializeFlow(rec: FlowRecord): string {
  if (!('origin' in rec)) return JSON.stringify(rec);
  const { origin: _origin, ...rest } = rec as LocatedFlow;
  return JSON.stringify(rest);
}

/**
 * Append-only recording. `write` buffers in memory; `flush` hands the batch to the kernel in one
 * write(2) (the agent flushes after every ring-buffer batch, so a killed process loses nothing it
 * had accepted); `close` also fdatasyncs so a crashed machine keeps it too.
 */
export class FlowWriter {
  private fd: number;
  private pending: string[] = [];
  private written = 0;
  private flushScheduled = false;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'a', 0o644);
      if (!fstatSync(this.fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    } catch (err) {
      throw new InputError(path, `cannot open recording for writing: ${(err as Error).message}`);
    }
  }

  /** Flows written so far (flushed or not). */
  get count(): number {
    return this.written + this.pending.length;
  }

  write(rec: FlowRecord): void {
    this.pending.push(serializeFlow(rec));
  }

  /**
   * write, then flush once the current batch of callbacks is done (setImmediate): an agent
   * delivering a ring-buffer batch pays one write(2) for the batch, and a killed process loses
   * nothing it had accepted.
   */
  append(rec: FlowRecord): void {
    this.write(rec);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  flush(): void {
    if (this.pending.length === 0 || this.fd < 0) return;
    const data = this.pending.join('\n') + '\n';
    this.written += this.pending.length;
    this.pending = [];
    const buf = Buffer.from(data);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
