/**
 * netpol as a kubectl plugin: the `kubectl-netpol` bin name makes the CLI call itself
 * `kubectl netpol`, and the krew archive built by scripts/krew-manifest.mjs is self-contained
 * (apart from Node.js) and matches the sha256 in the manifest it writes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeScreensFixture } from '../unit/support/screens-fixture.js';

const repo = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'netpol-plugin-'));
const main = join(repo, 'dist/cli/main.js');

function run(bin: string, args: string[], pathDirs: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, PATH: `${pathDirs.join(':')}:${process.env.PATH}` } });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

beforeAll(() => {
  // CI builds in scripts/setup.sh; a bare checkout gets one build here.
  if (!existsSync(main)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' });
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kubectl plugin', () => {
  it('the kubectl-netpol bin name makes the CLI `kubectl netpol`', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // npm links package bins as symlinks, as here.
    symlinkSync(main, join(bin, 'kubectl-netpol'));
    symlinkSync(main, join(bin, 'netpol'));
    const plugin = run('kubectl-netpol', ['--help'], [bin]);
    expect(plugin.status).toBe(0);
    expect(plugin.stdout).toMatch(/^Usage: kubectl netpol \[options\] \[command\]/);
    expect(plugin.stdout).toContain('explain');
    const sub = run('kubectl-netpol', ['graph', '--help'], [bin]);
    expect(sub.stdout).toMatch(/^Usage: kubectl netpol graph \[options\]/);
    expect(run('netpol', ['--help'], [bin]).stdout).toMatch(/^Usage: netpol \[options\] \[command\]/);
    // With kubectl on the machine, the plugin mechanism itself.
    if (spawnSync('kubectl', ['version', '--client']).status === 0) {
      expect(run('kubectl', ['netpol', '--help'], [bin]).stdout).toMatch(/^Usage: kubectl netpol/);
    }
  });

  it('the krew archive matches its manifest and runs on its own', () => {
    const manifestPath = join(dir, 'netpol.yaml');
    const out = JSON.parse(
      execFileSync('node', [join(repo, 'scripts/krew-manifest.mjs'), '--out', manifestPath, '--archive-dir', join(dir, 'archive')], { encoding: 'utf8' }),
    ) as { archive: string; sha256: string };
    const manifest = parse(readFileSync(manifestPath, 'utf8')) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string };
      spec: { version: string; platforms: { uri: string; sha256: string; bin: string; selector: { matchLabels: Record<string, string> } }[] };
    };
    expect(manifest.apiVersion).toBe('krew.googlecontainertools.github.com/v1alpha2');
    expect(manifest.kind).toBe('Plugin');
    expect(manifest.metadata.name).toBe('netpol');
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(manifest.spec.version).toBe(`v${pkg.version}`);
    const sha = createHash('sha256').update(readFileSync(out.archive)).digest('hex');
    expect(manifest.spec.platforms).toHaveLength(1);
    expect(manifest.spec.platforms[0]).toMatchObject({ sha256: sha, bin: 'kubectl-netpol', selector: { matchLabels: { os: 'linux', arch: 'amd64' } } });
    expect(readFileSync(manifestPath, 'utf8')).toContain('# PLACEHOLDER URL');

    // Install it the way krew does: unpack, link the bin into a PATH directory.
    const install = join(dir, 'krew-store');
    mkdirSync(install);
    execFileSync('tar', ['-xzf', out.archive, '-C', install]);
    const bin = join(dir, 'krew-bin');
    mkdirSync(bin);
    symlinkSync(join(install, 'kubectl-netpol'), join(bin, 'kubectl-netpol'));
    const help = run('kubectl-netpol', ['--help'], [bin]);
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/^Usage: kubectl netpol/);
    // Its own dependencies load: a real command end to end from the unpacked archive.
    const f = writeScreensFixture(join(dir, 'fixture'));
    const graph = run('kubectl-netpol', ['graph', '--flows', f.flows, '--cluster', f.cluster, '--policies', f.policies, '-o', 'mermaid'], [bin]);
    expect(graph.stderr).toBe('');
    expect(graph.stdout).toMatch(/^flowchart LR/);
    expect(graph.stdout).toContain('8080/TCP ×3');
  }, 180_000);
});
