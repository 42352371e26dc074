/**
 * `netpol agent` runs from its bundle (dist/bundle/agent.js, scripts/bundle-agent.mjs): the agent
 * command alone, without the unused generated API of @kubernetes/client-node, whose modules cost
 * ≈ 55 MiB of RSS however little of them is used. The bundle must be the same command as the
 * compiled modules (NETPOL_AGENT_UNBUNDLED=1), and it must stay small: the memory the process takes
 * just to load is its floor for the days it runs (the target: under 150 MiB in all).
 * The agent's behaviour from the bundle is tested on the real node (node-agent.test.ts runs
 * `netpol agent` through dist/cli/main.js, so through the bundle).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const main = join(repo, 'dist/cli/main.js');
// The process's peak RSS, told on stderr as it exits.
const PEAK = 'data:text/javascript,process.on("exit",()=>process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\\n`))';

function agent(args: string[], env: Record<string, string> = {}): { stdout: string; stderr: string; status: number | null; peakMiB: number } {
  const r = spawnSync(process.execPath, ['--import', PEAK, main, 'agent', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  const peak = /peak-rss-kib (\d+)/.exec(r.stderr);
  return { stdout: r.stdout, stderr: r.stderr.replace(/peak-rss-kib \d+\n/, ''), status: r.status, peakMiB: peak ? Number(peak[1]) / 1024 : NaN };
}

beforeAll(() => {
  // CI builds in scripts/setup.sh; a bare checkout gets one build here.
  if (!existsSync(main)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'inherit' });
}, 300_000);

describe('the agent bundle', () => {
  it('is built with the rest, and is the same command as the compiled modules', () => {
    expect(existsSync(join(repo, 'dist/bundle/agent.js'))).toBe(true);
    const bundled = agent(['--help']);
    const compiled = agent(['--help'], { NETPOL_AGENT_UNBUNDLED: '1' });
    expect(bundled.status).toBe(0);
    expect(bundled.stdout).toMatch(/^Usage: netpol agent \[options\]/);
    expect(bundled.stdout).toBe(compiled.stdout);
    // Usage errors map to exit 2 with the same words (the error mapping is shared: src/cli/run.ts).
    const bad = agent(['--pods', 'everything']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("argument 'everything' is invalid");
    expect(bad.stderr).toBe(agent(['--pods', 'everything'], { NETPOL_AGENT_UNBUNDLED: '1' }).stderr);
  });

  it('loads in well under the memory of the whole client library', () => {
    // Measured: 70 MiB from the bundle; 110 MiB from the compiled agent command, 124 MiB through the
    // whole command tree (before the bundle), whatever the machine's load.
    const bundled = agent(['--help']);
    const compiled = agent(['--help'], { NETPOL_AGENT_UNBUNDLED: '1' });
    expect(bundled.peakMiB).toBeLessThan(90);
    expect(compiled.peakMiB - bundled.peakMiB).toBeGreaterThan(25);
  });

  it('warns when the bundle is older than the compiled modules (a build by tsc alone)', () => {
    const bundle = join(repo, 'dist/bundle/agent.js');
    const { atime, mtime } = statSync(bundle);
    const compiled = statSync(join(repo, 'dist/cli/agent-main.js')).mtime;
    try {
      utimesSync(bundle, atime, new Date(compiled.getTime() - 3_600_000));
      const stale = agent(['--help']);
      expect(stale.status).toBe(0);
      expect(stale.stderr).toMatch(/warning: .*dist\/bundle\/agent\.js is older than the compiled modules: rebuild it with `npm run build`/);
    } finally {
      utimesSync(bundle, atime, mtime);
    }
    expect(agent(['--help']).stderr).toBe('');
  });
});
