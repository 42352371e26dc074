// The CI share of the fuzz harness (bench/fuzz.mjs runs 10,000+ per kind): a fixed seed, a few
// hundred mutated flow files, snapshots and policy files through the built CLI's command tree,
// in-process. None may be an internal error (exit 4) or take 10 s.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the benchmarks, no types
import { fuzzKind, inProcessRunner } from '../../bench/fuzz-core.mjs';
import { ensureBuilt } from '../support/cli.js';

const PER_KIND = 250;
const SEED = 20261206;
const dir = mkdtempSync(join(tmpdir(), 'netpol-fuzz-ci-'));

interface KindResult {
  inputs: number;
  codes: Record<string, number>;
  maxMs: number;
  failures: { i: number; code: number; ms: number; stderr: string; saved?: string }[];
}

beforeAll(() => ensureBuilt(), 300_000);

describe('fuzzed inputs (fixed seed)', () => {
  for (const kind of ['flows', 'snapshot', 'policies']) {
    it(`${PER_KIND} mutated ${kind} inputs: exit 0, 1 or 2, none over 10 s`, async () => {
      const run = await inProcessRunner();
      const r = (await fuzzKind({ kind, seed: SEED, count: PER_KIND, run, dir: join(dir, kind), saveDir: join(dir, 'failures') })) as KindResult;
      expect(r.failures).toEqual([]);
      expect(r.inputs).toBe(PER_KIND);
      expect(r.codes['4'] ?? 0).toBe(0);
      expect(r.maxMs).toBeLessThan(10_000);
      // The mutations reach past the parsers: some inputs are accepted, not only rejected.
      expect((r.codes['0'] ?? 0) + (r.codes['1'] ?? 0)).toBeGreaterThan(0);
    }, 300_000);
  }
});
