/** Worker thread of src/flows/parallel.ts: aggregates one byte range of a recording. */
import { parentPort, workerData } from 'node:worker_threads';
import { aggregateRange } from './range-aggregate.js';
import type { FileRange } from './jsonl.js';

const { file, range } = workerData as { file: string; range: FileRange };
// Flat arrays of strings and numbers (see RangeResult): cheap to clone, unlike an object per edge.
parentPort!.postMessage(aggregateRange(file, range));
