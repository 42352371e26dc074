import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EdgeAggregator } from '../../src/flows/edges.js';
import { readFlows } from '../../src/flows/jsonl.js';
import { splitAtLines } from '../../src/flows/parallel.js';
import { aggregateRange } from '../../src/flows/range-aggregate.js';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-par-'));
const line = (i: number) =>
  JSON.stringify({ v: 1, id: `f${i}`, ts: new Date(Date.UTC(2026, 10, 24, 10, 0, 0, i)).toISOString(), proto: 'TCP', src: { namespace: 'default', pod: 'mypod', ip: '10.244.0.12', port: i % 60000 }, dst: { ip: `203.0.113.${i % 7}`, port: 443 + (i % 3) } });

/** aggregateFiles of the build: worker threads run dist/flows/edge-worker.js. */
async function aggregateFiles(files: string[], options: { threads?: number; minParallelBytes?: number }) {
  const built = (await import(join(ROOT, 'dist/flows/parallel.js'))) as typeof import('../../src/flows/parallel.js');
  return built.aggregateFiles(files, options);
}

describe('parallel edge aggregation', () => {
  const file = join(dir, 'rec.jsonl');
  beforeAll(() => {
    ensureBuilt();
    writeFileSync(file, Array.from({ length: 5000 }, (_, i) => line(i)).join('\n') + '\n\n');
  }, 300_000);

  it('cuts files only at line starts', () => {
    const ranges = splitAtLines(file, statSync(file).size, 4);
    expect(ranges.length).toBe(4);
    expect(ranges[0]!.start).toBe(0);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end);
  });

  it('merging ranges gives what one sequential pass gives', async () => {
    const seq = new EdgeAggregator();
    for await (const f of readFlows([file])) seq.add(f);
    const size = statSync(file).size;
    const parts = splitAtLines(file, size, 3).map((r) => aggregateRange(file, r));
    expect(parts.reduce((n, p) => n + p.flows, 0)).toBe(5000);
    expect(parts.reduce((n, p) => n + p.lines, 0)).toBe(5001);
    const merged = await aggregateFiles([file], { threads: 3, minParallelBytes: 1 });
    expect(merged.flows).toBe(5000);
    expect(merged.edges).toEqual(seq.result());
  });

  it('gives the same edges as one thread on lines the fast path leaves to JSON.parse, out of time order', async () => {
    // Every third line spelled so the scanner leaves it (escapes, a duplicate key, an offset stamp).
    const mixed = join(dir, 'mixed.jsonl');
    const lines = Array.from({ length: 4000 }, (_, i) => {
      const base = JSON.parse(line(i)) as Record<string, unknown> & { src: Record<string, unknown> };
      if (i % 7 === 0) base.ts = new Date(Date.UTC(2026, 10, 24, 9, 0, 0, 4000 - i)).toISOString();
      if (i % 5 === 0) base.id = `f${i % 3}`;
      let text = JSON.stringify(base);
      if (i % 3 === 1) text = text.replace('"pod":"mypod"', '"pod":"my\\u0070od"');
      if (i % 3 === 2) text = text.replace(/"ts":"([^"]+)Z"/, '"ts":"$1+00:00"');
      return text;
    });
    writeFileSync(mixed, lines.join('\r\n') + '\n');
    const records = new EdgeAggregator();
    for await (const f of readFlows([mixed])) records.add(f);
    const one = await aggregateFiles([mixed], { threads: 1 });
    const many = await aggregateFiles([mixed], { threads: 4, minParallelBytes: 1 });
    expect(one.edges).toEqual(records.result());
    expect(many).toEqual(one);
    expect(one.flows).toBe(4000);
    expect(one.edges.reduce((n, e) => n + e.count, 0)).toBe(4000);
  });
});

describe('learn on worker threads (the built CLI)', () => {
  beforeAll(() => ensureBuilt(), 300_000);
  const env = { NETPOL_PARALLEL_MIN_BYTES: '1' };

  it('learns the same policies as one thread', () => {
    const flows = join(ROOT, 'fixtures/demo/flows.jsonl');
    const cluster = join(ROOT, 'fixtures/demo/cluster.yaml');
    const one = netpol(['learn', '--flows', flows, '--cluster', cluster]);
    const many = netpol(['learn', '--flows', flows, '--cluster', cluster], { env });
    expect(many.code).toBe(0);
    expect(many.stdout).toBe(one.stdout);
    expect(many.stderr).toBe(one.stderr);
  });

  it('reports a bad line with its line number in the whole file', () => {
    const bad = join(dir, 'bad.jsonl');
    const lines = Array.from({ length: 3000 }, (_, i) => line(i));
    lines[2500] = '{"v":1,"proto":"TCP"';
    writeFileSync(bad, lines.join('\n') + '\n');
    const r = netpol(['learn', '--flows', bad, '--cluster', join(ROOT, 'fixtures/demo/cluster.yaml')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:2501: not valid JSON`);
  });
});
