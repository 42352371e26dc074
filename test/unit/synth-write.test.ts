import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderPolicy } from '../../src/policy/render.js';
import { synthesize, type SynthesisResult } from '../../src/policy/synthesize/index.js';
import { writePolicyTree } from '../../src/policy/write.js';
import { learnFromFlows } from '../../src/policy/learn.js';
import { loadPolicies } from '../../src/policy/load.js';
import * as f from './support/synth-factory.js';

function learn(extra = false): SynthesisResult {
  const web = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
  const db = f.statefulSet('db', { namespace: 'data', labels: { app: 'db' }, ips: ['10.0.2.1'] });
  const index = f.cluster(web, db);
  const flows = [f.flow(`default/${web.pods[0]!.metadata!.name}`, '10.0.2.1', 5432)];
  if (extra) flows.push(f.flow(`default/${web.pods[0]!.metadata!.name}`, '192.0.2.1', 443));
  return synthesize(f.edges(index, flows), index, {});
}

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

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'netpol-write-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('writePolicyTree', () => {
  it('writes <ns>/<workload>.yaml per policy and a sorted kustomization.yaml', async () => {
    const result = learn();
    const out = join(dir, 'policies');
    const written = await writePolicyTree(out, result);
    expect(written.files).toEqual([
      { path: 'data/db.yaml', status: 'written' },
      { path: 'default/web.yaml', status: 'written' },
      { path: 'kustomization.yaml', status: 'written' },
    ]);
    expect(written.stale).toEqual([]);
    const files = tree(out);
    expect(Object.keys(files).sort()).toEqual(['data/db.yaml', 'default/web.yaml', 'kustomization.yaml']);
    expect(files['default/web.yaml']).toBe(renderPolicy(result.policies.find((p) => p.path === 'default/web.yaml')!.policy));
    expect(files['kustomization.yaml']).toContain('resources:\n  - data/db.yaml\n  - default/web.yaml\n');
  });

  it('leaves unchanged files untouched on a second run', async () => {
    const out = join(dir, 'p');
    await writePolicyTree(out, learn());
    const before = statSync(join(out, 'default/web.yaml')).mtimeMs;
    const again = await writePolicyTree(out, learn());
    expect(again.files.every((x) => x.status === 'unchanged')).toBe(true);
    expect(statSync(join(out, 'default/web.yaml')).mtimeMs).toBe(before);
  });

  it('rewrites only what changed', async () => {
    const out = join(dir, 'p');
    await writePolicyTree(out, learn());
    const next = await writePolicyTree(out, learn(true));
    expect(next.files).toEqual([
      { path: 'data/db.yaml', status: 'unchanged' },
      { path: 'default/web.yaml', status: 'written' },
      { path: 'kustomization.yaml', status: 'unchanged' },
    ]);
  });

  it('removes nothing: a policy it generated earlier that is no longer learned is reported stale', async () => {
    const out = join(dir, 'p');
    await writePolicyTree(out, learn());
    const onlyWeb = learn();
    onlyWeb.policies = onlyWeb.policies.filter((p) => p.path === 'default/web.yaml');
    writeFileSync(join(out, 'data', 'notes.yaml'), 'someone: else\n');
    const result = await writePolicyTree(out, onlyWeb);
    expect(result.stale).toEqual(['data/db.yaml']);
    expect(tree(out)['data/db.yaml']).toBeDefined();
    expect(tree(out)['data/notes.yaml']).toBe('someone: else\n');
    expect(tree(out)['kustomization.yaml']).not.toContain('data/db.yaml');
  });

  it('refuses to overwrite files it did not generate, and writes nothing then', async () => {
    const out = join(dir, 'p');
    mkdirSync(join(out, 'default'), { recursive: true });
    writeFileSync(join(out, 'default', 'web.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n');
    await expect(writePolicyTree(out, learn())).rejects.toThrow(/refusing to overwrite .*default\/web\.yaml/);
    expect(Object.keys(tree(out))).toEqual(['default/web.yaml']);

    const out2 = join(dir, 'q');
    mkdirSync(out2);
    writeFileSync(join(out2, 'kustomization.yaml'), 'resources: [mine.yaml]\n');
    await expect(writePolicyTree(out2, learn())).rejects.toThrow(/refusing to overwrite .*kustomization\.yaml/);
    expect(Object.keys(tree(out2))).toEqual(['kustomization.yaml']);
  });

  it('is all or nothing: a failure part-way leaves the previous tree as it was', async () => {
    const out = join(dir, 'p');
    await writePolicyTree(out, learn());
    const before = tree(out);
    // A new namespace directory that cannot be created (a file is in the way) fails mid-write.
    const broken = learn(true);
    broken.policies.push({ ...broken.policies[0]!, path: 'blocked/x.yaml' });
    writeFileSync(join(out, 'blocked'), 'not a directory');
    await expect(writePolicyTree(out, broken)).rejects.toThrow(/could not write policies/);
    const after = tree(out);
    expect(after).toEqual({ ...before, blocked: 'not a directory' });
  });

  it('fails with a clear error, writing nothing, when a policy path is taken by a directory', async () => {
    const out = join(dir, 'p');
    mkdirSync(join(out, 'default', 'web.yaml'), { recursive: true });
    await expect(writePolicyTree(out, learn())).rejects.toThrow(/cannot read .*default\/web\.yaml/);
    expect(Object.keys(tree(out))).toEqual([]);
  });

  it('rejects paths that would escape the output directory', async () => {
    const bad = learn();
    bad.policies[0] = { ...bad.policies[0]!, path: '../evil.yaml' };
    await expect(writePolicyTree(join(dir, 'p'), bad)).rejects.toThrow(/outside/);
  });

  it('never writes a policy to a file kustomize would read as a kustomization, and diff/check load it back', async () => {
    const w = f.deployment('kustomization', { namespace: 'shop', labels: { app: 'k' }, pods: [{ ip: '10.0.1.1' }] });
    const index = f.cluster(w);
    const outcome = await learnFromFlows([f.flow(`shop/${w.pods[0]!.metadata!.name}`, '198.51.100.7', 443)], index, {});
    expect(outcome.result.policies.map((p) => p.path)).toEqual(['shop/kustomization_networkpolicy.yaml']);
    const out = join(dir, 'k');
    await writePolicyTree(out, outcome.result);
    expect(Object.keys(tree(out)).sort()).toEqual(['kustomization.yaml', 'shop/kustomization_networkpolicy.yaml']);
    expect(tree(out)['kustomization.yaml']).toContain('- shop/kustomization_networkpolicy.yaml');
    expect(loadPolicies([out]).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual(['shop/kustomization']);
    // A result synthesized without the learn pipeline gets the same name from the writer.
    const raw = synthesize(f.edges(index, [f.flow(`shop/${w.pods[0]!.metadata!.name}`, '198.51.100.7', 443)]), index, {});
    const out2 = join(dir, 'k2');
    await writePolicyTree(out2, raw);
    expect(Object.keys(tree(out2)).sort()).toEqual(['kustomization.yaml', 'shop/kustomization_networkpolicy.yaml']);
  });

  it('puts the old tree back when a run died between the two renames of the no-exchange fallback', async () => {
    const out = join(dir, 'p');
    await writePolicyTree(out, learn());
    const before = tree(out);
    // What such a run leaves: the old tree under the sibling name, no out, the new tree beside it.
    renameSync(out, join(dir, '.p.netpol-old-999999999-x'));
    mkdirSync(join(dir, '.p.netpol-new-999999999-x', 'default'), { recursive: true });
    writeFileSync(join(dir, '.p.netpol-new-999999999-x', 'default', 'web.yaml'), 'half');
    const again = await writePolicyTree(out, learn());
    expect(again.files.every((x) => x.status === 'unchanged')).toBe(true);
    expect(tree(out)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['p']);
  });
});
