// Every NetworkPolicy the synthesizer writes anywhere in the test suite is accepted by the real API
// server (server-side dry-run), and a policy the API server rejects gives an error that names the
// policy and the offending fields.
//
// "Anywhere in the test suite": the unit suites run again in a child vitest with synthesize()
// wrapped (test/cluster/capture/), which records each generated policy and the test that made it;
// the demo fixtures are learned with every synthesis option on top.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPolicies, PolicyRejectedError } from '../../src/policy/live-diff.js';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import { SnapshotView } from '../../src/cluster/snapshot.js';
import { readFlows } from '../../src/flows/jsonl.js';
import { learnFromFlows } from '../../src/policy/learn.js';
import type { SynthesisOptions } from '../../src/policy/synthesize/index.js';
import { ensureCluster, type TestCluster } from './support/cluster.js';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '..', '..');

interface Captured {
  test: string;
  policy: V1NetworkPolicy;
}

async function ensureNamespaces(c: TestCluster, names: Iterable<string>): Promise<void> {
  for (const name of new Set(names)) {
    await c.core.createNamespace({ body: { metadata: { name } } }).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  }
}

/** Dry-runs each policy on its own (a few at a time), so one rejection does not hide the others. */
async function rejections(c: TestCluster, captured: Captured[]): Promise<string[]> {
  await ensureNamespaces(c, captured.map((x) => x.policy.metadata?.namespace ?? 'default'));
  const failures: string[] = [];
  const queue = [...captured];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      try {
        await applyPolicies(c.kc, [next.policy], { dryRun: true });
      } catch (err) {
        failures.push(`${next.test}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return failures.sort();
}

function unique(captured: Captured[]): Captured[] {
  const seen = new Map<string, Captured>();
  for (const x of captured) {
    const key = JSON.stringify(x.policy);
    if (!seen.has(key)) seen.set(key, x);
  }
  return [...seen.values()];
}

describe('server-side dry-run of generated policies', () => {
  let c: TestCluster;
  let work: string;

  beforeAll(async () => {
    c = await ensureCluster();
    work = mkdtempSync(join(tmpdir(), 'netpol-dry-run-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('accepts every policy the unit suites synthesize', async () => {
    // Never from inside a capture run (the child runs unit suites only; this guards against recursion).
    expect(process.env.NETPOL_CAPTURE_POLICIES).toBeUndefined();
    const out = join(work, 'captured.jsonl');
    const env: NodeJS.ProcessEnv = { ...process.env, NETPOL_CAPTURE_POLICIES: out };
    delete env.NETPOL_CLUSTER_DIR; // the child run must never touch this run's cluster
    await run(process.execPath, [join(repo, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '-c', 'test/cluster/capture/vitest.config.ts'], {
      cwd: repo,
      env,
      maxBuffer: 64 << 20,
    }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`the unit suites failed while capturing policies:\n${(err.stdout ?? err.message).slice(-4000)}`);
    });
    const captured = unique(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Captured),
    );
    // The synthesizer's own suites alone generate dozens of distinct policies.
    expect(captured.length).toBeGreaterThan(20);
    expect(await rejections(c, captured)).toEqual([]);
  }, 600_000);

  it('accepts what learn writes for the demo recording under every synthesis option', async () => {
    const view = new SnapshotView([join(repo, 'fixtures/demo/cluster.yaml')]);
    const variants: Array<[string, SynthesisOptions]> = [
      ['defaults', {}],
      ['--ingress strict', { ingress: 'strict' }],
      ['--ingress none --no-dns', { ingress: 'none', dns: false }],
      ['--aggregate-cidr 24 --aggregate-cidr6 64', { aggregateCidr: { floorV4: 24, floorV6: 64 } }],
      ['--port-ranges 10', { portRanges: { gap: 10 } }],
    ];
    const captured: Captured[] = [];
    for (const [name, options] of variants) {
      for (const file of ['flows.jsonl', 'flows-later.jsonl']) {
        const outcome = await learnFromFlows(readFlows([join(repo, 'fixtures/demo', file)]), view.index(), options);
        for (const p of outcome.result.policies) captured.push({ test: `demo ${file} ${name} ${p.path}`, policy: p.policy });
      }
    }
    expect(captured.length).toBeGreaterThan(0);
    expect(await rejections(c, unique(captured))).toEqual([]);
  });

  it('names the policy and the fields the API server rejects, and writes nothing', async () => {
    await ensureNamespaces(c, ['dry-run-errors']);
    const good: V1NetworkPolicy = { metadata: { name: 'good', namespace: 'dry-run-errors' }, spec: { podSelector: {}, policyTypes: ['Egress'] } };
    const bad: V1NetworkPolicy = {
      metadata: { name: 'bad', namespace: 'dry-run-errors' },
      spec: {
        podSelector: { matchLabels: { run: 'mypod' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '1.1.1.1/33' } }], ports: [{ protocol: 'TCP', port: 70000 }] }],
      },
    };
    const err = await applyPolicies(c.kc, [good, bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyRejectedError);
    const message = (err as Error).message;
    expect(message).toMatch(/^the API server rejected NetworkPolicy dry-run-errors\/bad: /);
    expect(message).toMatch(/\n {2}spec\.egress\[0\]\.ports\[0\]\.port: Invalid value: 70000/);
    expect(message).toMatch(/\n {2}spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: Invalid value: "1\.1\.1\.1\/33"/);
    // All policies are dry-run before any is written: the good one was not applied either.
    await expect(c.networking.readNamespacedNetworkPolicy({ name: 'good', namespace: 'dry-run-errors' })).rejects.toMatchObject({ code: 404 });

    const missingNs = await applyPolicies(c.kc, [{ ...good, metadata: { name: 'x', namespace: 'no-such-namespace' } }], { dryRun: true }).catch((e: unknown) => e);
    expect((missingNs as Error).message).toBe('the API server rejected NetworkPolicy no-such-namespace/x: namespace no-such-namespace does not exist');
  });
});
