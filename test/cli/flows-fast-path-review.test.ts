// Review of parallel aggregation (src/flows/parallel.ts): worker ranges merged in range order must
// give what one thread reading the file from start to end gives.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-par-review-'));

/** aggregateFiles of the build: worker threads run dist/flows/edge-worker.js. */
async function aggregateFiles(files: string[], options: { threads?: number; minParallelBytes?: number }) {
  const built = (await import(join(ROOT, 'dist/flows/parallel.js'))) as typeof import('../../src/flows/parallel.js');
  return built.aggregateFiles(files, options);
}

async function bothWays(name: string, lines: string[]) {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  const one = await aggregateFiles([file], { threads: 1 });
  const parallel = await aggregateFiles([file], { threads: 2, minParallelBytes: 1 });
  return { one, parallel };
}

describe('parallel aggregation vs one thread (review)', () => {
  beforeAll(() => ensureBuilt(), 300_000);

  it('samples that came through JSON.parse survive the trip from the worker (1e400, -0)', async () => {
    // Lines the scanner leaves to the ordinary path (lower-case proto) and that start edges, in both ranges.
    const lines = Array.from({ length: 200 }, (_, i) =>
      i % 4 === 0
        ? `{"v":1,"proto":"tcp","src":{"ip":"10.0.0.${i % 8}"},"dst":{"ip":"10.1.0.${i}","port":80},"latencyNs":1e400,"x":-0,"y":[1e999]}`
        : `{"v":1,"ts":"2026-11-24T10:00:${String(i % 60).padStart(2, '0')}Z","proto":"TCP","src":{"ip":"10.0.0.${i % 8}"},"dst":{"ip":"10.1.0.${i % 50}","port":80}}`,
    );
    const { one, parallel } = await bothWays('inf.jsonl', lines);
    expect(parallel.flows).toBe(one.flows);
    expect(parallel.edges).toEqual(one.edges);
  });

  // compareTimestamps must be a total order (it was not: text for same-length UTC stamps, Date.parse
  // with millisecond precision and NaN for a leap second otherwise), or folding one edge's stamps
  // depends on how they were grouped, and merged ranges differ from one sequential pass.
  it('first/last seen do not depend on where the ranges are cut (leap second)', async () => {
    const pad = 'p'.repeat(400);
    const flow = (ts: string, extra = '') => `{"v":1,"ts":"${ts}","proto":"TCP","src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2","port":80}${extra}}`;
    // Two ranges: [A] and [leap, B] (the cut falls inside the long first line).
    const lines = [flow('2016-12-31T23:59:59.1239Z', `,"pad":"${pad}"`), flow('2016-12-31T23:59:60Z'), flow('2016-12-31T23:59:59.1231Z')];
    const { one, parallel } = await bothWays('leap.jsonl', lines);
    expect(parallel.edges.map((e) => [e.firstSeen, e.lastSeen])).toEqual(one.edges.map((e) => [e.firstSeen, e.lastSeen]));
  });

  it('first/last seen do not depend on where the ranges are cut (sub-millisecond fractions)', async () => {
    const pad = 'p'.repeat(600);
    const flow = (ts: string, extra = '') => `{"v":1,"ts":"${ts}","proto":"TCP","src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2","port":80}${extra}}`;
    const lines = [
      flow('2016-12-31T23:59:59.1231Z', `,"pad":"${pad}"`),
      flow('2016-12-31T23:59:59.12345Z'),
      flow('2016-12-31T23:59:59.1239Z'),
      flow('2016-12-31T23:59:58Z'),
      flow('2016-12-31T23:59:59z'),
    ];
    const { one, parallel } = await bothWays('frac.jsonl', lines);
    expect(parallel.edges.map((e) => [e.firstSeen, e.lastSeen])).toEqual(one.edges.map((e) => [e.firstSeen, e.lastSeen]));
  });
});
