// Issue 9: `learn --out` is all or nothing under SIGKILL. A real `netpol learn` child is killed at
// every file-system step of a write (NETPOL_TEST_KILL_AT_STEP, deterministic) and at random delays;
// after each kill the tree is entirely the old one or entirely the new one, and the next run
// removes what the killed one left.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, netpol, ROOT } from '../support/cli.js';

const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const FLOWS = join(ROOT, 'fixtures/demo/flows.jsonl');
const LATER = join(ROOT, 'fixtures/demo/flows-later.jsonl');
const tmp = mkdtempSync(join(tmpdir(), 'netpol-atomic-'));

/** The old tree's learn (A) and the new one's (B): B changes every policy file (no DNS rule) and adds flows. */
const A = ['learn', '--flows', FLOWS, '--cluster', CLUSTER];
const B = ['learn', '--flows', FLOWS, '--flows', LATER, '--cluster', CLUSTER, '--no-dns'];

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[relative(dir, full)] = readFileSync(full, 'utf8');
    }
  };
  walk(dir);
  return out;
}

let oldTree: Record<string, string>;
let newTree: Record<string, string>;

/** A fresh `<parent>/out` holding tree A plus files netpol did not write (they must survive). */
function freshOld(name: string): { parent: string; out: string } {
  const parent = join(tmp, name);
  rmSync(parent, { recursive: true, force: true });
  mkdirSync(parent, { recursive: true });
  const out = join(parent, 'out');
  cpSync(join(tmp, 'ref-old'), out, { recursive: true });
  return { parent, out };
}

beforeAll(() => {
  ensureBuilt();
  for (const [name, args] of [['ref-old', A], ['ref-new', B]] as const) {
    const out = join(tmp, name);
    if (name === 'ref-old') {
      mkdirSync(join(out, 'docs'), { recursive: true });
      writeFileSync(join(out, 'docs', 'README.md'), 'ours, not netpol\'s\n');
    } else {
      cpSync(join(tmp, 'ref-old'), out, { recursive: true });
    }
    const r = netpol([...args, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
  }
  oldTree = tree(join(tmp, 'ref-old'));
  newTree = tree(join(tmp, 'ref-new'));
}, 300_000);

function isOldOrNew(out: string): 'old' | 'new' {
  const now = tree(out);
  if (JSON.stringify(now) === JSON.stringify(oldTree)) return 'old';
  if (JSON.stringify(now) === JSON.stringify(newTree)) return 'new';
  throw new Error(`mixed tree at ${out}:\n${JSON.stringify(now, null, 1)}`);
}

describe('learn --out under SIGKILL', () => {
  it('the two trees differ in every policy file and keep the foreign file', () => {
    const changed = Object.keys(newTree).filter((k) => oldTree[k] !== newTree[k]);
    expect(changed.length).toBeGreaterThanOrEqual(4);
    expect(newTree['docs/README.md']).toBe('ours, not netpol\'s\n');
  });

  it('killed after every file-system step (deterministic): entirely old or entirely new, and the next run cleans up', () => {
    const outcomes: string[] = [];
    for (let k = 1; k < 200; k++) {
      const { parent, out } = freshOld(`step-${k}`);
      const r = spawnSync(process.execPath, [CLI, ...B, '--out', out], { env: { ...process.env, NETPOL_TEST_KILL_AT_STEP: String(k) }, encoding: 'utf8' });
      const killed = r.signal === 'SIGKILL';
      outcomes.push(`${k}:${killed ? isOldOrNew(out) : 'done'}`);
      if (!killed) {
        expect(r.status, r.stderr).toBe(0);
        expect(isOldOrNew(out)).toBe('new');
        break;
      }
      // The next run finishes the job and leaves nothing of the killed one behind.
      const again = netpol([...B, '--out', out]);
      expect(again.code, again.stderr).toBe(0);
      expect(isOldOrNew(out)).toBe('new');
      expect(readdirSync(parent)).toEqual(['out']);
      rmSync(parent, { recursive: true, force: true });
    }
    // Every step was reached, the write completed at the last one, and both sides were seen.
    expect(outcomes.at(-1)).toMatch(/done$/);
    expect(outcomes.some((o) => o.endsWith(':old'))).toBe(true);
    expect(outcomes.some((o) => o.endsWith(':new'))).toBe(true);
    console.log(`kill steps: ${outcomes.join(' ')}`);
  }, 300_000);

  it('killed at 50 random moments: entirely old or entirely new', async () => {
    const seen = { old: 0, new: 0 };
    let killed = 0;
    // Seeded, so a failure can be replayed.
    let seed = 9;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const started = Date.now();
    const full = netpol([...B, '--out', join(tmp, 'timing')]);
    expect(full.code).toBe(0);
    const runMs = Date.now() - started;
    // The write is the end of a run: kill in its later part. The machine's speed varies (other
    // work shares it), so the window follows what happens: shorter after a run that finished first.
    let upper = runMs;
    for (let i = 0; i < 50; i++) {
      const { out } = freshOld(`random-${i}`);
      const child = spawn(process.execPath, [CLI, ...B, '--out', out], { stdio: 'ignore' });
      const exited = new Promise<string | null>((r) => child.on('exit', (_code, signal) => r(signal)));
      const delay = Math.floor(upper * (0.4 + 0.6 * random()));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      if ((await exited) === 'SIGKILL') {
        killed++;
        upper *= 1.03;
      } else {
        upper *= 0.85;
      }
      seen[isOldOrNew(out)]++;
    }
    console.log(`random kills over ${runMs} ms: ${killed} killed; ${seen.old} old, ${seen.new} new, 0 mixed`);
    expect(seen.old + seen.new).toBe(50);
    expect(killed).toBeGreaterThan(10);
  }, 300_000);

  it('removes *.netpol-tmp-* files the old per-file writer left, and refuses a symlinked --out', () => {
    const { parent, out } = freshOld('leftovers');
    writeFileSync(join(out, 'shop', 'web.yaml.netpol-tmp-4242-lz3k9'), 'half a policy');
    writeFileSync(join(out, 'kustomization.yaml.netpol-tmp-4242-lz3k9'), 'half');
    expect(netpol([...B, '--out', out]).code).toBe(0);
    expect(isOldOrNew(out)).toBe('new');

    const link = join(parent, 'link');
    symlinkSync(out, link);
    const r = netpol([...A, '--out', link]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/symbolic link/);
    expect(isOldOrNew(out)).toBe('new');
    expect(existsSync(join(parent, 'link'))).toBe(true);
  });
});
