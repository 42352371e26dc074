import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { completionCommand, completionModel, completionScript } from '../../src/cli/commands/completion/index.js';
import { buildProgram } from '../../src/cli/program.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function program() {
  const p = buildProgram();
  // Once main's tree has it, it is not added twice.
  if (!p.commands.some((c) => c.name() === 'completion')) p.addCommand(completionCommand(p));
  return p;
}

const has = (bin: string) => spawnSync(bin, ['--version']).status === 0;

/** Runs the bash completion function for a command line (cursor at its end), returns COMPREPLY. */
function bashComplete(line: string): string[] {
  const file = join(dir, 'netpol.bash');
  writeFileSync(file, completionScript(program(), 'bash'));
  const words = line.split(' ');
  const script = `source ${file}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_netpol
printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

describe('completion model', () => {
  it('has every command and option of the tree, with argument kinds', () => {
    const model = completionModel(program());
    const paths = model.map((c) => c.path.join(' '));
    expect(paths).toEqual(expect.arrayContaining(['', 'learn', 'diff', 'check', 'explain', 'graph', 'trace', 'trace tcpconnect', 'completion']));
    const root = model.find((c) => c.path.length === 0)!;
    expect(root.subcommands.map((s) => s.name)).toEqual(expect.arrayContaining(['learn', 'graph', 'completion', 'help']));
    const graph = model.find((c) => c.path.join(' ') === 'graph')!;
    expect(graph.options.find((o) => o.long === '--output')).toMatchObject({ short: '-o', arg: { kind: 'choices', choices: ['mermaid', 'dot', 'html', 'json'] } });
    expect(graph.options.find((o) => o.long === '--flows')).toMatchObject({ arg: { kind: 'file' }, repeatable: true });
    expect(graph.options.find((o) => o.long === '--namespace')).toMatchObject({ arg: { kind: 'dynamic' } });
    expect(model.find((c) => c.path.join(' ') === 'completion')!.subcommands.map((s) => s.name)).toEqual(['bash', 'zsh', 'fish']);
  });
});

describe.skipIf(!has('bash'))('bash', () => {
  it('completes commands, nested commands, options, choices and files', () => {
    expect(bashComplete('netpol ')).toEqual(['agent', 'check', 'completion', 'deploy', 'diff', 'explain', 'graph', 'help', 'learn', 'probe', 'status', 'trace', 'undeploy', 'version']);
    expect(bashComplete('netpol gr')).toEqual(['graph']);
    expect(bashComplete('netpol trace ')).toEqual(['tcpconnect', 'udp']);
    expect(bashComplete('netpol graph --o')).toEqual(['--out', '--output']);
    expect(bashComplete('netpol graph -o ')).toEqual(['dot', 'html', 'json', 'mermaid']);
    expect(bashComplete('netpol explain --proto ')).toEqual(['SCTP', 'TCP', 'UDP']);
    expect(bashComplete('netpol completion ')).toEqual(['bash', 'fish', 'zsh']);
    writeFileSync(join(dir, 'flows-a.jsonl'), '');
    expect(bashComplete('netpol learn --flows flows-')).toEqual(['flows-a.jsonl']);
    expect(bashComplete('kubectl-netpol diff --den')).toEqual(['--denied-only']);
  });
});

describe.skipIf(!has('zsh'))('zsh', () => {
  it('is a valid zsh script defining the completion function', () => {
    const file = join(dir, '_netpol');
    writeFileSync(file, completionScript(program(), 'zsh'));
    expect(execFileSync('zsh', ['-n', file], { encoding: 'utf8' })).toBe('');
    // Loaded into a zsh with the completion system, it registers itself for both names.
    const out = execFileSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D && source ${file} && print -r -- $_comps[netpol] $_comps[kubectl-netpol]`], { encoding: 'utf8' });
    expect(out.trim()).toBe('_netpol _netpol');
  });
});

describe.skipIf(!has('fish'))('fish', () => {
  function fishComplete(line: string): string[] {
    const file = join(dir, 'netpol.fish');
    writeFileSync(file, completionScript(program(), 'fish'));
    const out = execFileSync('fish', ['--no-config', '-c', `source ${file}; complete -C '${line}'`], { cwd: dir, encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!).sort();
  }

  it('completes commands, nested commands, options and choices', () => {
    expect(fishComplete('netpol ')).toEqual(['agent', 'check', 'completion', 'deploy', 'diff', 'explain', 'graph', 'help', 'learn', 'probe', 'status', 'trace', 'undeploy', 'version']);
    expect(fishComplete('netpol trace ')).toEqual(['tcpconnect', 'udp']);
    expect(fishComplete('netpol graph --output ')).toEqual(['dot', 'html', 'json', 'mermaid']);
    expect(fishComplete('netpol graph --ou')).toEqual(['--out', '--output']);
    expect(fishComplete('kubectl-netpol gr')).toEqual(['graph']);
  });
});
