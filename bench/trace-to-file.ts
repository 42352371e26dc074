/**
 * `netpol trace tcpconnect --host -o json > FILE` run inside a bench's own process, as the storm
 * benches run it: stdout is the file written synchronously (what process.stdout on a file does).
 *
 * The bench must know when the tracer has caught up with the storm, without charging the tracer
 * for finding out (its CPU is this process's): caughtUp() makes one more connect after the storm
 * (refused, to a closed loopback port: the sentinel) and waits for its line, looked for only in
 * the chunks written after it was made (one memmem a chunk); the ring delivers in order, so every
 * storm connect's line is written by then. Counting the newlines of every chunk as it was written
 * cost ~0.07 µs a line, charged to the tracer. The lines are counted once the trace has stopped.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runTrace } from '../src/cli/commands/trace/local.js';
import { closedPort } from '../test/support/closed-port.js';

export interface TraceToFile {
  /** Lines in the file, counted once the trace has stopped (stop()). */
  lines: number;
  /** The trace's closing summary, once it has stopped. */
  summary: { shown: number; lost: number; untracked: number; received: number };
  /** Resolves once the line of a connect made now is written (so every earlier connect's is), or after `timeoutMs`. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops the trace and closes the file. */
  stop(): Promise<void>;
}

/** Starts the trace (`baseline`: another checkout's, by its directory) and resolves once it is attached. */
export async function traceToFile(file: string, baseline = ''): Promise<TraceToFile> {
  const run = baseline ? ((await import(join(baseline, 'src/cli/commands/trace/local.ts'))) as { runTrace: typeof runTrace }).runTrace : runTrace;
  const fd = openSync(file, 'w');
  const abort = new AbortController();
  /** The sentinel's destination as its line writes it, while one is awaited. */
  let watch: Buffer | undefined;
  let seen = false;
  const t: TraceToFile = {
    lines: 0,
    summary: { shown: 0, lost: 0, untracked: 0, received: 0 },
    caughtUp: async (timeoutMs = 10_000) => {
      const port = await closedPort();
      seen = false;
      watch = Buffer.from(`"dst":{"addr":"127.0.0.1","port":${port}}`);
      await new Promise<void>((resolve) => net.connect(port, '127.0.0.1').on('error', () => resolve()).on('connect', function (this: net.Socket) {
        this.destroy();
        resolve();
      }));
      const deadline = Date.now() + timeoutMs;
      while (!seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      watch = undefined;
      // Never a figure that silently includes the wait: a trace that did not catch up fails the bench.
      if (!seen) throw new Error('the trace did not write the sentinel connect\'s line within the deadline (lost, or far behind)');
    },
    stop: async () => {
      abort.abort();
      await done;
      closeSync(fd);
      const text = readFileSync(file);
      for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) t.lines++;
    },
  };
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writeSync(fd, chunk);
      if (watch && !seen && chunk.indexOf(watch) >= 0) seen = true;
      cb();
    },
  });
  let ready!: () => void;
  const attached = new Promise<void>((r) => (ready = r));
  const done = run({ host: true, output: 'json' }, { stdout, stderr: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (t.summary = s) });
  done.catch(() => ready());
  await attached;
  return t;
}
