/** What a trace writes to and is told through, in each mode (local.ts: this host, cluster.ts: pods). */
import type { Writable } from 'node:stream';

export interface TraceStreams<Summary> {
  /**
   * Where the lines go. Its write callback must mean the bytes were written or copied (a file, pipe,
   * TTY or socket): `-o json` reuses a chunk's memory once the callback for it ran (ByteBatch), so a
   * Transform whose reader lags behind would see later lines in earlier chunks.
   */
  stdout: Writable;
  stderr: Writable;
  /** Aborting stops the trace like Ctrl-C does. */
  signal?: AbortSignal;
  /** Called once the programs are attached (and, in cluster mode, the cluster view synced): tests start their traffic then. */
  onReady?: () => void;
  /** Called with the counts when tracing ends. */
  onSummary?: (s: Summary) => void;
}
