import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphCommand } from '../../src/cli/commands/graph/index.js';
import type { ConnectivityGraph } from '../../src/cli/commands/graph/model.js';
import { writeScreensFixture } from './support/screens-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-graph-cli-'));
const f = writeScreensFixture(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<string> {
  let out = '';
  const write = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((c: string) => ((out += c), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await graphCommand().exitOverride().parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
    process.stderr.write = err;
  }
  return out;
}

const inputs = () => ['--flows', f.flows, '--cluster', f.cluster];

describe('netpol graph', () => {
  it('prints Mermaid by default and JSON of the model with -o json', async () => {
    expect((await run(inputs())).split('\n')[0]).toBe('flowchart LR');
    const g = JSON.parse(await run([...inputs(), '--policies', f.policies, '-o', 'json'])) as ConnectivityGraph;
    expect(g.judged).toBe(true);
    expect(g.edges.filter((e) => e.status === 'denied').map((e) => e.id)).toEqual([
      'w/default/Pod/mypod->x/1.0.0.1',
      'w/shop/Pod/api-0->w/payments/Pod/ledger-0',
    ]);
  });

  it('takes the format from --out and filters with -n', async () => {
    await run([...inputs(), '--out', join(dir, 'g.dot')]);
    expect(readFileSync(join(dir, 'g.dot'), 'utf8')).toMatch(/^digraph netpol \{/);
    await run([...inputs(), '--out', join(dir, 'g.html'), '-n', 'payments']);
    const html = readFileSync(join(dir, 'g.html'), 'utf8');
    expect(html).toContain('data-id="w/payments/Pod/ledger-0"');
    expect(html).not.toContain('data-id="x/1.1.1.1"');
  });

  it('bad input names the problem', async () => {
    await expect(run(['--cluster', f.cluster])).rejects.toThrow(/at least one flow recording/);
    await expect(run([...inputs(), '-o', 'png'])).rejects.toThrow();
  });

  it.skipIf(spawnSync('dot', ['-V']).status !== 0)('the DOT output is accepted by Graphviz', async () => {
    const dot = await run([...inputs(), '--policies', f.policies, '-o', 'dot']);
    const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('<title>w/shop/Deployment/web&#45;&gt;w/shop/Pod/api&#45;0</title>');
    expect(r.stdout).toContain('cluster_ns_payments');
  });
});
