/**
 * Every example line of every command's --help is run, as a user would paste it, in a directory
 * holding the repository's demo files under the names the examples use (flows.jsonl, rec.jsonl,
 * cluster.yaml, c.yaml, policies/). Offline examples must exit 0 (or 1 where the command documents
 * it for denied flows); examples that trace this host run on the real kernel and are stopped with
 * Ctrl-C (SIGINT) as their help says, exit 0. Examples that need a Kubernetes cluster with the
 * workloads they name (--live, observing pods through the API server) are parsed by the real
 * command tree, with their actions stubbed: every flag and value must be accepted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { CLI, ensureBuilt, ROOT } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';

const sandbox = mkdtempSync(join(tmpdir(), 'netpol-examples-'));
const bin = join(sandbox, '.bin');

/** The commands of the tree, as argument paths: [['trace'], ['trace', 'tcpconnect'], ['learn'], ...]. */
function commandPaths(cmd: Command, path: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...path, c.name()], ...commandPaths(c, [...path, c.name()])]);
}

/** Example lines of a help text: `netpol ...`, `sudo netpol ...` or `... <(netpol ...)`, continuation lines joined. */
function exampleLines(help: string): string[] {
  const out: string[] = [];
  const lines = help.split('\n');
  const start = lines.findIndex((l) => /^Examples:/.test(l));
  if (start < 0) return out;
  for (let i = start + 1; i < lines.length; i++) {
    let line = lines[i]!;
    if (!/^\s+(sudo )?netpol |<\(netpol /.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.trim();
    out.push(line.trim());
  }
  return out;
}

const helpOf = (path: string[]) => spawnSync(process.execPath, [CLI, ...path, '--help'], { encoding: 'utf8' }).stdout;

type Kind = 'offline' | 'kernel' | 'cluster';
function kindOf(example: string): Kind {
  const args = example.replace(/^sudo /, '');
  if (/--live\b|--apply\b/.test(args) || /^netpol (probe|agent|status|stage|unstage|promote|audit)\b/.test(args)) return 'cluster';
  if (/^netpol (un)?deploy\b/.test(args) && !/--dry-run/.test(args)) return 'cluster';
  if (/ trace (tcpconnect|udp) /.test(` ${args} `)) return /(^| )(-n|-A|--podname|-l|--selector|--node|--kubeconfig|--context)( |$)/.test(args) ? 'cluster' : 'kernel';
  if (/ learn /.test(args) && !/--flows/.test(args)) return /--local/.test(args) ? 'kernel' : 'cluster';
  return 'offline';
}

let all: { command: string; example: string; kind: Kind }[] | undefined;
/** Every example of every command (read once from the built CLI's help). */
function examples(kind?: Kind): { command: string; example: string; kind: Kind }[] {
  all ??= commandPaths(buildProgram()).flatMap((path) => exampleLines(helpOf(path)).map((example) => ({ command: path.join(' '), example, kind: kindOf(example) })));
  const chosen = all.filter((e) => kind === undefined || e.kind === kind);
  expect(chosen.length, `examples of kind ${kind}`).toBeGreaterThan(0);
  return chosen;
}

beforeAll(() => {
  ensureBuilt();
  ensureBpfBuilt();
  symlinkSync(join(ROOT, 'fixtures'), join(sandbox, 'fixtures'));
  cpSync(join(ROOT, 'policies'), join(sandbox, 'policies'), { recursive: true });
  for (const name of ['flows.jsonl', 'rec.jsonl']) copyFileSync(join(ROOT, 'fixtures/demo/flows.jsonl'), join(sandbox, name));
  for (const name of ['cluster.yaml', 'c.yaml']) copyFileSync(join(ROOT, 'fixtures/demo/cluster.yaml'), join(sandbox, name));
  mkdirSync(join(sandbox, '.zfunc'));
  mkdirSync(bin);
  writeFileSync(join(bin, 'netpol'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
  chmodSync(join(bin, 'netpol'), 0o755);
}, 300_000);

const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: join(sandbox, 'summary.md') });

function runOffline(example: string): { code: number | null; stderr: string } {
  // zsh and fish examples run in their shell (zsh writing into a scratch $fpath), the rest in bash.
  const [shell, script] = / completion zsh/.test(example)
    ? ['zsh', `fpath=(${sandbox}/.zfunc); ${example}`]
    : / completion fish/.test(example)
      ? ['fish', example]
      : ['bash', `set -o pipefail; ${example}`];
  const res = spawnSync(shell, ['-c', script], { cwd: sandbox, env: env(), encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, stderr: res.stderr };
}

async function runKernel(example: string): Promise<{ code: number | null; stderr: string }> {
  const command = example.replace(/^sudo /, '');
  // Own mount namespace, tracefs mounted there if the host has not; Ctrl-C after a few seconds.
  const child = spawn('unshare', ['-m', 'bash', '-c', `mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; exec ${command}`], {
    cwd: sandbox,
    env: env(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 4000));
  child.kill('SIGINT');
  return { code: await closed, stderr };
}

async function parseOnly(example: string): Promise<void> {
  const program = buildProgram();
  const stub = (c: Command): void => {
    c.exitOverride();
    c.action(() => undefined);
    c.commands.forEach(stub);
  };
  stub(program);
  const words = spawnSync('bash', ['-c', `for w in ${example.replace(/^sudo /, '').replace(/^netpol /, '')}; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
  await program.parseAsync(words, { from: 'user' });
}

describe('every example in every --help works', () => {
  it('finds the examples of every command', () => {
    for (const path of commandPaths(buildProgram())) {
      // `trace` only groups tcpconnect, which has the examples.
      if (path.join(' ') !== 'trace') expect(exampleLines(helpOf(path)).length, `netpol ${path.join(' ')} --help has examples`).toBeGreaterThan(0);
    }
    expect(examples('offline').length).toBeGreaterThan(10);
    expect(examples('kernel').length).toBeGreaterThan(3);
  });

  it('offline examples exit 0, or 1 where denied flows are the documented outcome', () => {
    for (const { command, example } of examples('offline')) {
      const { code, stderr } = runOffline(example);
      const allowed = ['diff', 'check', 'explain'].includes(command) ? [0, 1] : [0];
      expect(allowed, `${example}\n${stderr}`).toContain(code);
      expect(stderr, example).not.toMatch(/^error:|internal error/m);
    }
  }, 300_000);

  it('examples that trace this host run on the kernel and end with exit 0 on Ctrl-C', async () => {
    for (const { example } of examples('kernel')) {
      const { code, stderr } = await runKernel(example);
      expect(code, `${example}\n${stderr}`).toBe(0);
      expect(stderr, example).not.toMatch(/^error:|internal error/m);
    }
  }, 300_000);

  it('examples that need a cluster parse with every flag and value accepted', async () => {
    for (const { example } of examples('cluster')) await expect(parseOnly(example), example).resolves.toBeUndefined();
  });
});
