/**
 * Ending the process without cutting its output. Through a pipe, process.stdout and process.stderr
 * write asynchronously: what the reader has not taken yet sits in the stream's buffer, and
 * `process.exit` throws that away (a slow reader got the first 64 KiB). So the CLI exits only once
 * both streams have handed everything to the OS — on every exit code, errors included — and a
 * reader that leaves early (`| head`, EPIPE) ends the process quietly instead.
 */

/** Exits at once, quietly, when the reader of a standard stream went away; other errors are real. */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

/**
 * Resolves once everything written to the stream so far has been flushed to the OS. A write's
 * callback runs after the writes queued before it (a Writable keeps order), so an empty write
 * marks the end of what is queued now; a failed write (EPIPE) also ends the wait.
 */
export function drained(stream: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean; writable?: boolean }): Promise<void> {
  if (stream.destroyed || stream.writable === false) return Promise.resolve();
  return new Promise((resolve) => {
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

/** Waits for stdout and stderr to drain, then exits with `code` (handles such as a BPF ring buffer poll never keep us alive). */
export async function exitWhenDrained(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
