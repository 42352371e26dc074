/**
 * `netpol trace tcpconnect --host -o json > FILE` run inside a bench's own process, as the storm
 * benches run it: stdout is the file written synchronously (what process.stdout on a file does),
 * its lines counted so the bench knows when the tracer has caught up with the storm.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runTrace } from '../src/cli/commands/trace/local.js';

export interface TraceToFile {
  /** Lines written so far. */
  lines: number;
  /** The trace's closing summary, once it has stopped. */
  summary: { shown: number; lost: number; untracked: number; received: number };
  /** Stops the trace and closes the file. */
  stop(): Promise<void>;
}

/** Starts the trace (`baseline`: another checkout's, by its directory) and resolves once it is attached. */
export async function traceToFile(file: string, baseline = ''): Promise<TraceToFile> {
  const run = baseline ? ((await import(join(baseline, 'src/cli/commands/trace/local.ts'))) as { runTrace: typeof runTrace }).runTrace : runTrace;
  const fd = openSync(file, 'w');
  const abort = new AbortController();
  const t: TraceToFile = {
    lines: 0,
    summary: { shown: 0, lost: 0, untracked: 0, received: 0 },
    stop: async () => {
      abort.abort();
      await done;
      closeSync(fd);
    },
  };
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writeSync(fd, chunk);
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) t.lines++;
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
