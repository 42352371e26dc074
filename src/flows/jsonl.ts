/**
 * Flow JSONL v1 reading and writing. Reading streams chunk by chunk (a multi-GB recording never sits
 * in memory) and fails on the first malformed line, naming file and line. Writing is append-only
 * and durable: every batch reaches the file with one write(2), so Ctrl-C loses nothing written.
 */
import { closeSync, constants, createReadStream, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
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
    const splitter = new ByteLineSplitter(file);
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
  private restBytes = 0;
  /** Bytes pushed so far: the byte offset of a torn last line. */
  private consumed = 0;
  line = 0;

  /** `base`: the byte offset of the first byte pushed (a range's start). */
  constructor(
    private readonly file: string,
    private readonly maxLine: number = maxLineBytes(),
    private readonly base = 0,
  ) {}

  private tooLong(): never {
    throw new InputError(
      this.file,
      `line longer than ${this.maxLine} bytes (a flow record is a few hundred): not a flow recording, or a corrupted one; ` +
        `${MAX_LINE_ENV} raises the limit`,
      this.line + 1,
    );
  }

  push(chunk: Buffer, each: ByteLineHandler): void {
    this.consumed += chunk.length;
    let nl = chunk.indexOf(10);
    if (nl < 0) {
      // Still inside one (long) line: keep the piece, join when the line ends (no quadratic copying).
      // Bounded: a line of gigabytes would be held (and joined) whole before anything could reject it.
      this.restBytes += chunk.length;
      if (this.restBytes > this.maxLine) this.tooLong();
      if (chunk.length > 0) this.rest.push(Buffer.from(chunk));
      return;
    }
    let buf = chunk;
    if (this.rest.length > 0) {
      const head = this.restBytes;
      buf = Buffer.concat([...this.rest, chunk]);
      this.rest = [];
      this.restBytes = 0;
      nl += head;
    }
    let start = 0;
    while (nl >= 0) {
      if (nl - start > this.maxLine) this.tooLong();
      each(buf, start, nl, ++this.line);
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    if (start < buf.length) {
      this.restBytes = buf.length - start;
      if (this.restBytes > this.maxLine) this.tooLong();
      this.rest.push(Buffer.from(buf.subarray(start)));
    }
  }

  /**
   * The last line, when the input does not end with a newline. Every line netpol writes ends with
   * one, so a last line without it that is not a flow is a write cut short (disk full, power loss,
   * a kill mid-write): said as such, with the offset to truncate at, rather than as bad JSON.
   */
  end(each: ByteLineHandler): void {
    const rest = this.rest.length === 1 ? this.rest[0]! : Buffer.concat(this.rest);
    this.rest = [];
    this.restBytes = 0;
    if (rest.length === 0) return;
    const line = ++this.line;
    try {
      each(rest, 0, rest.length, line);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      throw new TornTailError(this.file, line, this.base + this.consumed - rest.length, rest.length, err.detail);
    }
  }
}

/**
 * The last line of a recording is cut short (no newline, not a flow): the reader stops rather than
 * guess. `learn --record` onto the file repairs it (moves the fragment aside); by hand,
 * `truncate -s <offset> FILE` drops it.
 */
export class TornTailError extends InputError {
  constructor(
    file: string,
    line: number,
    readonly offset: number,
    readonly bytes: number,
    parseDetail: string,
  ) {
    super(
      file,
      `torn last line: ${bytes} bytes at byte offset ${offset} without a newline, not a flow (${parseDetail}); ` +
        `the recording was cut mid-write (disk full, power loss, kill). Every line before it is intact: ` +
        `drop the fragment with \`truncate -s ${offset} ${file}\`, or record onto the file again (netpol moves it aside)`,
      line,
    );
  }
}

/** Environment variable that sets the longest line a flow file may have, in bytes. */
export const MAX_LINE_ENV = 'NETPOL_MAX_LINE_BYTES';
/** A flow record is a few hundred bytes; 1 MiB leaves room for long names and unknown fields. */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

/** The line limit: NETPOL_MAX_LINE_BYTES when set to a positive integer, else 1 MiB. */
export function maxLineBytes(): number {
  const text = process.env[MAX_LINE_ENV];
  if (text === undefined || text === '') return DEFAULT_MAX_LINE_BYTES;
  const n = Number(text);
  // Past ~512 MiB a line no longer fits a JavaScript string once decoded: the cap stays below.
  if (!Number.isInteger(n) || n < 1 || n > 256 * 2 ** 20) {
    throw new InputError(MAX_LINE_ENV, `must be a whole number of bytes from 1 to ${256 * 2 ** 20}, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return n;
}

/**
 * The lines of one byte range of a plain file, read synchronously (a worker thread has nothing
 * else to do, and no await per chunk is cheaper). Returns the number of lines in the range, blank
 * ones included, to number the lines of the next range.
 */
export function readRangeLinesSync(file: string, range: FileRange, each: ByteLineHandler): number {
  const splitter = new ByteLineSplitter(file, maxLineBytes(), range.start);
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
    const splitter = new ByteLineSplitter(file);
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

export interface TornTailRepair {
  /** Where the fragment started (the file's new size). */
  offset: number;
  bytes: number;
  /** The file the fragment was saved to, beside the recording. */
  savedTo: string;
}

/**
 * When the file does not end with a newline, saves the bytes after its last newline to
 * `<path>.torn-<offset>` (never overwriting) and truncates the file there. Nothing is parsed: a
 * fragment is evidence of a cut write, kept for whoever wants to look, never a record.
 */
function repairTornTail(fd: number, path: string): TornTailRepair | undefined {
  const size = fstatSync(fd).size;
  if (size === 0) return undefined;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  if (last[0] === 10) return undefined;
  // The last newline, read backwards in blocks, at most one line's limit back (a fragment is at
  // most one line; a file without a newline for longer is no recording to append to).
  const limit = maxLineBytes();
  const block = Buffer.allocUnsafe(1 << 16);
  let offset = -1;
  for (let end = size; end > 0 && size - end <= limit; ) {
    const start = Math.max(0, end - block.length);
    const n = readSync(fd, block, 0, end - start, start);
    const nl = block.subarray(0, n).lastIndexOf(10);
    if (nl >= 0) {
      offset = start + nl + 1;
      break;
    }
    end = start;
    if (end === 0) offset = 0;
  }
  if (offset < 0 || size - offset > limit) {
    throw new InputError(path, `does not end with a newline and its last line is over ${limit} bytes: not a flow recording; refusing to append to it`);
  }
  const fragment = Buffer.allocUnsafe(size - offset);
  readSync(fd, fragment, 0, fragment.length, offset);
  let savedTo = `${path}.torn-${offset}`;
  for (let i = 1; ; i++) {
    try {
      // Exclusive and not through a link, like the recording itself.
      const out = openSync(savedTo, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for (let off = 0; off < fragment.length; ) off += writeSync(out, fragment, off);
        fdatasyncSync(out);
      } finally {
        closeSync(out);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 100) throw err;
      savedTo = `${path}.torn-${offset}.${i}`;
    }
  }
  ftruncateSync(fd, offset);
  fdatasyncSync(fd);
  return { offset, bytes: fragment.length, savedTo };
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

  /** The torn tail found (and moved aside) when the recording was opened, if any. */
  readonly repaired?: TornTailRepair;

  /**
   * Opens `path` for appending. A symlink is refused (O_NOFOLLOW): a recording path in a shared or
   * world-writable directory must not let someone else's link redirect the writes. A torn last
   * line is moved aside first, so new records never continue a fragment.
   */
  constructor(
    readonly path: string,
    options: { warn?: (message: string) => void } = {},
  ) {
    try {
      this.fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new InputError(path, 'is a symbolic link: refusing to record through it (give the real file)');
      throw new InputError(path, `cannot open recording for writing: ${(err as Error).message}`);
    }
    try {
      if (!fstatSync(this.fd).isFile()) throw new InputError(path, 'cannot open recording for writing: not a regular file');
      const repaired = repairTornTail(this.fd, path);
      if (repaired) {
        this.repaired = repaired;
        const warn = options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
        warn(
          `${path}: the last line was torn (${repaired.bytes} bytes at byte offset ${repaired.offset} without a newline, ` +
            `cut mid-write); moved it to ${repaired.savedTo} and recording continues after the last whole line`,
        );
      }
    } catch (err) {
      closeSync(this.fd);
      throw err instanceof InputError ? err : new InputError(path, `cannot open recording for writing: ${(err as Error).message}`);
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
