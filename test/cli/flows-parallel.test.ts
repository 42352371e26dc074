import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EdgeAggregator } from '../../src/flows/edges.js';
import { readFlows } from '../../src/flows/jsonl.js';
import { aggregateRange, splitAtLines } from '../../src/flows/parallel.js';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-par-'));
const line = (i: number) =>
  JSON.stringify({ v: 1, id: `f${i}`, ts: new Date(Date.UTC(2026, 10, 24, 10, 0, 0, i)).toISOString(), proto: 'TCP', src: { namespace: 'default', pod: 'mypod', ip: '10.244.0.12', port: i % 60000 }, dst: { ip: `203.0.113.${i % 7}`, port: 443 + (i % 3) } });

describe('parallel edge aggregation', () => {
  const file = join(dir, 'rec.jsonl');
  beforeAll(() => writeFileSync(file, Array.from({ length: 5000 }, (_, i) => line(i)).join('\n') + '\n\n'));

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
    const parts = await Promise.all(splitAtLines(file, size, 3).map((r) => aggregateRange(file, r)));
    expect(parts.reduce((n, p) => n + p.flows, 0)).toBe(5000);
    expect(parts.reduce((n, p) => n + p.lines, 0)).toBe(5001);
    const counts = new Map<string, number>();
    for (const p of parts) for (const e of p.edges) counts.set(`${e.sample.dst.ip}:${e.sample.dst.port}`, (counts.get(`${e.sample.dst.ip}:${e.sample.dst.port}`) ?? 0) + e.count);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(seq.result().map((e) => [`${e.sample.dst.ip}:${e.sample.dst.port}`, e.count])));
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
