import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explainCommand } from '../../src/cli/commands/explain/index.js';
import { writeScreensFixture } from './support/screens-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-explain-'));
const f = writeScreensFixture(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ out: string; code: number }> {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.exitCode = undefined;
  try {
    await explainCommand().exitOverride().parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, code };
}

const base = () => ['--flows', f.flows, '--cluster', f.cluster, '--policies', f.policies];

describe('netpol explain', () => {
  it('--id: the gates, the policy, each rule with peers and ports; exit 1 when denied', async () => {
    const { out, code } = await run([...base(), '--id', 'seed-3']);
    expect(code).toBe(1);
    expect(out).toBe(
      [
        `flow seed-3  ${f.flows}:3`,
        '  p/default/mypod:40000 → r/1.0.0.1:80 TCP',
        '  DENIED: denied by default/mypod: egress of default/mypod: denied — isolated by default/mypod and its one rule does not match',
        '',
        '  ✗ egress of default/mypod: denied — isolated by default/mypod and its one rule does not match',
        '      policy default/mypod (podSelector run=mypod): no rule matches',
        '        ✗ egress[0]: peer mismatch — 1.0.0.1 is not in 1.1.1.1/32',
        '            peers: ✗ ipBlock 1.1.1.1/32 — 1.0.0.1 is not in 1.1.1.1/32',
        '            ports: ✓ 80/TCP — port 80 is 80',
        '                   ✗ 443/TCP — port 80, not 443',
        '  ✓ r/1.0.0.1 is not a pod of the cluster: no ingress gate',
        '',
      ].join('\n'),
    );
  });

  it('--line and exit 0 for an allowed flow through a Service', async () => {
    const { out, code } = await run([...base(), '--line', '4']);
    expect(code).toBe(0);
    expect(out).toContain('flow web-1');
    expect(out).toContain(' via s/shop/api:80 to p/shop/api-0:8080 TCP: allowed');
    expect(out).toContain('  ✓ ingress of shop/api-0: allowed by shop/api ingress[0]');
    expect(out).toContain('ports: ✓ http/TCP — "http" is 8080 on p/shop/api-0');
  });

  it('with no selection explains every denied connection, as JSON', async () => {
    const { out, code } = await run([...base(), '-o', 'json']);
    expect(code).toBe(1);
    const json = JSON.parse(out) as { flows: { id: string; verdict: string; droppedBy: string[]; count: number }[] };
    expect(json.flows.map((x) => [x.id, x.verdict, x.droppedBy, x.count])).toEqual([
      ['seed-3', 'denied', ['default/mypod'], 1],
      ['api-1', 'denied', ['payments/ledger'], 1],
    ]);
  });

  it('--src/--dst: a hypothetical connection, no recording needed', async () => {
    const { out, code } = await run(['--cluster', f.cluster, '--policies', f.policies, '--src', 'p/default/mypod', '--dst', 's/shop/api:80']);
    expect(code).toBe(1);
    expect(out.split('\n')[0]).toBe('hypothetical connection');
    expect(out).toContain('  p/default/mypod → s/shop/api:80 TCP');
    expect(out).toContain('denied by default/mypod, shop/api');
    expect(out).toContain('✗ ingress[0]: peer mismatch — namespace mismatch: pod is in default, the peer means shop');
    const ok = await run(['--cluster', f.cluster, '--policies', f.policies, '--src', 'p/default/mypod', '--dst', '1.1.1.1:443']);
    expect(ok.code).toBe(0);
  });

  it('bad input is an InputError (exit 2 in main)', async () => {
    await expect(run([...base(), '--id', 'nope'])).rejects.toThrow(/no flow with id nope/);
    await expect(run(['--cluster', f.cluster, '--src', 'p/default/ghost', '--dst', '1.1.1.1:80'])).rejects.toThrow(/no pod default\/ghost/);
    await expect(run(['--cluster', f.cluster, '--src', 'p/default/mypod', '--dst', '1.1.1.1'])).rejects.toThrow(/with a port/);
    await expect(run([...base(), '--id', 'a', '--line', '2'])).rejects.toThrow(/choose one of/);
  });
});
