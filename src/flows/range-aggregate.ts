/**
 * Aggregating one byte range of a recording into edges: what each worker of parallel.ts runs
 * (edge-worker.ts) and what parallel.ts runs on its own thread for files it does not split. Its own
 * module so that the worker entry and parallel.ts both import it and neither imports the other.
 */
import { InputError } from '../errors.js';
import { EdgeAggregator, type EdgeExport } from './edges.js';
import { parseFlowLine, readRangeLinesSync, type FileRange } from './jsonl.js';
import { FlowLineScanner } from './line-scan.js';

/**
 * What a worker sends back for its range: its edges as flat arrays (cheap to copy between threads,
 * unlike an object per edge), each sample as its line's text — the main thread makes a record
 * only for an edge no earlier range has.
 */
export interface RangeResult extends EdgeExport {
  flows: number;
  /** Lines in the range, to number the next range's lines. */
  lines: number;
  error?: { detail: string; line?: number; field?: string; source: string };
}

/**
 * Feeds the lines of `file` to `agg`: through the fast path when it vouches for a line (see
 * line-scan.ts), else as a parsed record, which also raises the error of a bad line. The handler
 * says whether the line was a flow (blank lines are not).
 */
export function aggregateLine(file: string, agg: EdgeAggregator): (buf: Buffer, start: number, end: number, line: number) => boolean {
  const scanner = new FlowLineScanner();
  return (buf, start, end, line) => {
    if (scanner.scan(buf, start, end)) {
      agg.addScanned(scanner, buf, start, end, file, line);
      return true;
    }
    const text = buf.toString('utf8', start, end);
    const flow = parseFlowLine(text, file, line);
    if (!flow) return false;
    agg.add(flow, text);
    return true;
  };
}

/** Aggregates one range on this thread (what each worker runs). */
export function aggregateRange(file: string, range: FileRange): RangeResult {
  const agg = new EdgeAggregator();
  try {
    const perLine = aggregateLine(file, agg);
    const lines = readRangeLinesSync(file, range, (buf, start, end, line) => void perLine(buf, start, end, line));
    return { flows: agg.flows, lines, ...agg.export() };
  } catch (err) {
    if (err instanceof InputError) {
      const error = { detail: err.detail, line: err.line, field: err.field, source: err.source };
      return { flows: 0, lines: 0, keys: [], counts: [], firstSeen: [], lastSeen: [], ids: [], sampleLines: [], samples: [], error };
    }
    throw err;
  }
}
