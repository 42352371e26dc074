/**
 * Edge aggregation of large recordings on every core. A plain file is cut into byte ranges at line
 * boundaries; a worker per range parses, validates and aggregates its lines; the partial edge sets
 * are merged in range order, so the result — counts, first/last seen, sample flows, ids, and any
 * error's line number — is the same as reading the file from start to end on one thread.
 * Compressed files and stdin cannot be split and are read on this thread.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { EdgeAggregator, edgeIdentity, MAX_IDS_PER_EDGE, type FlowEdge } from './edges.js';
import { eachLine, parseFlowLine, type FileRange, type ReadOptions } from './jsonl.js';
import { aggregateLine, type RangeResult } from './range-aggregate.js';
import { compareTimestamps } from './timestamp.js';

/** Below this size one thread is faster than starting workers. */
const DEFAULT_MIN_PARALLEL_BYTES = 32 << 20;

export interface AggregateOptions extends ReadOptions {
  /** Worker threads for splittable files (default: available cores). */
  threads?: number;
  /** Files smaller than this are read on this thread. */
  minParallelBytes?: number;
}

export interface AggregateResult {
  edges: FlowEdge[];
  flows: number;
}

/** Byte offsets that cut `file` into `parts` ranges, each starting right after a newline. */
export function splitAtLines(file: string, size: number, parts: number): FileRange[] {
  const cuts = [0];
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let k = 1; k < parts; k++) {
      let pos = Math.max(Math.floor((size * k) / parts), cuts[cuts.length - 1]!);
      let found = -1;
      while (found < 0 && pos < size) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        const i = buf.subarray(0, n).indexOf(10);
        if (i >= 0) found = pos + i + 1;
        else pos += n;
      }
      if (found < 0 || found >= size) break;
      if (found > cuts[cuts.length - 1]!) cuts.push(found);
    }
  } finally {
    closeSync(fd);
  }
  return cuts.map((start, i) => ({ start, end: cuts[i + 1] ?? size }));
}

function runWorker(file: string, range: FileRange): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./edge-worker.js', import.meta.url), { workerData: { file, range } });
    worker.once('message', (m: RangeResult) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`edge worker for ${file} exited with code ${code}`));
    });
  });
}

/** Folds `e` into `into`; `e` comes later in the input, so an edge already there keeps its sample and ids first. */
function mergeEdge(into: Map<string, FlowEdge>, key: string, e: FlowEdge): void {
  const have = into.get(key);
  if (!have) {
    into.set(key, e);
    return;
  }
  have.count += e.count;
  if (e.firstSeen !== undefined && (have.firstSeen === undefined || compareTimestamps(e.firstSeen, have.firstSeen) < 0)) have.firstSeen = e.firstSeen;
  if (e.lastSeen !== undefined && (have.lastSeen === undefined || compareTimestamps(e.lastSeen, have.lastSeen) > 0)) have.lastSeen = e.lastSeen;
  for (const id of e.ids) if (have.ids.length < MAX_IDS_PER_EDGE) have.ids.push(id);
}

function mergeEdges(into: Map<string, FlowEdge>, from: FlowEdge[]): void {
  for (const e of from) mergeEdge(into, edgeIdentity(e.sample), e);
}

/**
 * Aggregates `file` on worker threads into `merged` (the edges of earlier files, by edgeIdentity:
 * the workers' keys are the same); returns the number of flows.
 */
async function aggregateSplittable(file: string, size: number, threads: number, merged: Map<string, FlowEdge>): Promise<number> {
  const ranges = splitAtLines(file, size, threads);
  const results = await Promise.all(ranges.map((r) => runWorker(file, r)));
  let flows = 0;
  let linesBefore = 0;
  for (const res of results) {
    if (res.error) {
      const e = res.error;
      throw new InputError(e.source, e.detail, e.line === undefined ? undefined : e.line + linesBefore, e.field);
    }
    res.keys.forEach((key, i) => {
      const have = merged.get(key);
      const firstSeen = res.firstSeen[i] ?? undefined;
      const lastSeen = res.lastSeen[i] ?? undefined;
      if (have) {
        mergeEdge(merged, key, { sample: have.sample, count: res.counts[i]!, firstSeen, lastSeen, ids: res.ids[i]! });
        return;
      }
      // The same text the worker accepted: it parses again to the record the worker had.
      const sample = parseFlowLine(res.samples[i]!, file, res.sampleLines[i]! + linesBefore)!;
      merged.set(key, { sample, count: res.counts[i]!, firstSeen, lastSeen, ids: res.ids[i]! });
    });
    flows += res.flows;
    linesBefore += res.lines;
  }
  return flows;
}

/** Edges of all files, in file order; large plain files on all cores. */
export async function aggregateFiles(files: string[], options: AggregateOptions = {}): Promise<AggregateResult> {
  const threads = options.threads ?? availableParallelism();
  const minBytes = options.minParallelBytes ?? Number(process.env.NETPOL_PARALLEL_MIN_BYTES ?? DEFAULT_MIN_PARALLEL_BYTES);
  const merged = new Map<string, FlowEdge>();
  let flows = 0;
  for (const file of files) {
    let size = -1;
    if (file !== '-' && !file.endsWith('.gz')) {
      try {
        const st = statSync(file);
        size = st.isFile() ? st.size : -1;
      } catch {
        size = -1; // the reader below reports it with the usual message
      }
    }
    if (threads > 1 && size >= minBytes) {
      flows += await aggregateSplittable(file, size, threads, merged);
      options.onProgress?.({ bytes: size, flows });
      continue;
    }
    const agg = new EdgeAggregator();
    await eachLine([file], options, (f) => aggregateLine(f, agg));
    mergeEdges(merged, agg.result());
    flows += agg.flows;
  }
  return { edges: [...merged.values()], flows };
}
