/**
 * Runs the real CLI (dist/cli/main.js, built from src when out of date) as a child process, the
 * way a user or CI runs it: exit codes, stdout and stderr are what the tests assert on.
 */
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** Builds dist/ when any source file is newer than the CLI entry (a fresh clone, or an edit). */
export function ensureBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
}

/** Every directory from `path` up to / lets others through (o+x): what an unprivileged user needs to reach it. */
function traversableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

let userCliPath: string | undefined;

/**
 * The CLI for a test that runs it as an unprivileged user (uid 65534, a workstation user with only a
 * kubeconfig). A checkout under a directory others may not enter (mktemp -d is 0700: where CI may
 * clone) is out of that user's reach, so the installed package's files (package.json, dist,
 * node_modules, deploy) are copied once to a directory of its own under the temp dir, as `npm i -g`
 * would put them somewhere readable. Call after ensureBuilt().
 */
export function userCli(): string {
  if (userCliPath) return userCliPath;
  if (traversableByOthers(ROOT)) return (userCliPath = CLI);
  const copy = mkdtempSync(join(tmpdir(), 'netpol-user-cli-'));
  chmodSync(copy, 0o755);
  for (const part of ['package.json', 'dist', 'node_modules', 'deploy']) {
    execFileSync('cp', ['-a', join(ROOT, part), copy]);
  }
  process.once('exit', () => rmSync(copy, { recursive: true, force: true }));
  return (userCliPath = join(copy, 'dist/cli/main.js'));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function netpol(args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; bin?: string } = {}): CliResult {
  const res: SpawnSyncReturns<string> = spawnSync(process.execPath, [opts.bin ?? CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    input: opts.input,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/**
 * The real CLI as a child process that does not block the test's event loop (for tests that talk to
 * a cluster or a node meanwhile); resolves with its exit code and output.
 */
export function netpolAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}
