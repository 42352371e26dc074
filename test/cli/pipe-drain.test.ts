// Every command's large output through a slow pipe reader is the same, byte for byte, as the same
// output written to a file: the CLI must not exit before stdout and stderr have drained (it used to
// exit with up to 64 KiB still in the pipe and the rest lost), on exit 0 and on exit 1 alike, and a
// reader that leaves early (`| head`) ends it quietly.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCluster, makeFlows } from '../../bench/synthetic.mjs';
import { CLI, ensureBuilt, netpol } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-pipe-'));
const CLUSTER = join(dir, 'c.yaml');
const FLOWS = join(dir, 'big.jsonl');
const POLICIES = join(dir, 'policies');
/** A cluster of many small workloads, so `learn` writes a long YAML stream and a long list of files. */
const WIDE_CLUSTER = join(dir, 'wide.yaml');
const WIDE_FLOWS = join(dir, 'wide.jsonl');

const jsonl = (flows: Iterable<object>) => [...flows].map((f) => JSON.stringify(f)).join('\n') + '\n';

beforeAll(() => {
  ensureBuilt();
  const { list, deployments } = makeCluster({ pods: 1000, perDeployment: 5, namespaces: 5 });
  writeFileSync(CLUSTER, yaml.dump(list));
  writeFileSync(FLOWS, jsonl(makeFlows(deployments, 20_000)));
  // Policies learned from the first flows only: later flows to new peers are denied (exit 1).
  writeFileSync(join(dir, 'first.jsonl'), jsonl(makeFlows(deployments, 100)));
  const learned = netpol(['learn', '--flows', join(dir, 'first.jsonl'), '--cluster', CLUSTER, '--out', POLICIES]);
  expect(learned.code).toBe(0);
  const wide = makeCluster({ pods: 3500, perDeployment: 1, namespaces: 20 });
  writeFileSync(WIDE_CLUSTER, yaml.dump(wide.list));
  writeFileSync(WIDE_FLOWS, jsonl(makeFlows(wide.deployments, 8_000)));
}, 300_000);

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface Run {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs the CLI with stdout and stderr each into a pipe whose reader starts a second late (so the
 * writer fills the 64 KiB pipe and must wait), or straight into files when `slow` is false.
 */
async function run(args: string[], slow: boolean, before?: () => void): Promise<Run> {
  before?.();
  const out = join(dir, 'out');
  const err = join(dir, 'err');
  const rc = join(dir, 'rc');
  const cmd = `${sq(process.execPath)} ${sq(CLI)} ${args.map(sq).join(' ')}`;
  const script = slow
    ? `{ { ${cmd}; echo $? > ${sq(rc)}; } 2>&1 1>&3 | (sleep 1; cat > ${sq(err)}); } 3>&1 | (sleep 1; cat > ${sq(out)})`
    : `${cmd} > ${sq(out)} 2> ${sq(err)}; echo $? > ${sq(rc)}`;
  // Asynchronous, so the test worker stays responsive while a command runs for seconds.
  const status = await new Promise<number | null>((resolve) => spawn('bash', ['-c', script], { cwd: dir, stdio: 'ignore' }).on('close', resolve));
  expect(status).toBe(0);
  return { code: Number(readFileSync(rc, 'utf8')), stdout: readFileSync(out), stderr: readFileSync(err) };
}

const cases: { name: string; args: () => string[]; code: number; minStdout: number; minStderr?: number; before?: () => void }[] = [
  { name: 'diff (table)', args: () => ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES], code: 1, minStdout: 256 << 10 },
  { name: 'diff -o json', args: () => ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '-o', 'json'], code: 1, minStdout: 4 << 20 },
  { name: 'diff -o columns=', args: () => ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '-o', 'columns=verdict,src,dst,count,where,id'], code: 1, minStdout: 1 << 20 },
  { name: 'diff --explain', args: () => ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '--explain'], code: 1, minStdout: 256 << 10 },
  { name: 'check (text)', args: () => ['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, '--no-drift'], code: 1, minStdout: 256 << 10 },
  { name: 'check -o json', args: () => ['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, '-o', 'json'], code: 1, minStdout: 4 << 20 },
  { name: 'check --github', args: () => ['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, '--no-drift', '--github'], code: 1, minStdout: 1 << 20 },
  { name: 'explain --all', args: () => ['explain', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '--all'], code: 1, minStdout: 1 << 20 },
  { name: 'graph -o html', args: () => ['graph', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '-o', 'html'], code: 0, minStdout: 100_000 },
  { name: 'learn (YAML on stdout)', args: () => ['learn', '--flows', WIDE_FLOWS, '--cluster', WIDE_CLUSTER], code: 0, minStdout: 1 << 20 },
  {
    name: 'learn --out (the files written, on stderr)',
    args: () => ['learn', '--flows', WIDE_FLOWS, '--cluster', WIDE_CLUSTER, '--out', join(dir, 'learned')],
    code: 0,
    minStdout: 0,
    minStderr: 128 << 10,
    before: () => rmSync(join(dir, 'learned'), { recursive: true, force: true }),
  },
];

describe('a slow reader gets every byte', () => {
  for (const c of cases) {
    it(`${c.name}: pipe output equals file output`, async () => {
      const file = await run(c.args(), false, c.before);
      expect(file.code).toBe(c.code);
      expect(file.stdout.length).toBeGreaterThanOrEqual(c.minStdout);
      expect(file.stderr.length).toBeGreaterThanOrEqual(c.minStderr ?? 0);
      const piped = await run(c.args(), true, c.before);
      expect(piped.code).toBe(c.code);
      // Lengths first: a cut output shows as a short length rather than a megabyte-wide diff.
      expect(piped.stdout.length).toBe(file.stdout.length);
      expect(piped.stderr.length).toBe(file.stderr.length);
      expect(piped.stdout.equals(file.stdout)).toBe(true);
      expect(piped.stderr.equals(file.stderr)).toBe(true);
    }, 120_000);
  }

  it('an error exit (2) with a long message on stderr is not cut either', async () => {
    // A policy file that is one long invalid name: the error quotes it.
    const bad = join(dir, 'bad-policy.yaml');
    writeFileSync(bad, `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${'x'.repeat(300_000)}\n  namespace: default\nspec:\n  podSelector: {}\n`);
    const args = ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', bad];
    const file = await run(args, false);
    const piped = await run(args, true);
    expect(file.code).toBe(2);
    expect(piped.code).toBe(2);
    expect(piped.stderr.equals(file.stderr)).toBe(true);
  }, 120_000);

  it('a reader that leaves early (| head) ends the command quietly, with its own exit code', () => {
    const res = spawnSync('bash', ['-c', `set -o pipefail; ${sq(process.execPath)} ${sq(CLI)} diff --flows ${sq(FLOWS)} --cluster ${sq(CLUSTER)} -o json | head -c 100 > /dev/null; echo "rc=\${PIPESTATUS[0]}"`], {
      encoding: 'utf8',
    });
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('rc=0');
  }, 60_000);
});
