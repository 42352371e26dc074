/** The command tree: one file per command, assembled here (kept apart from main.ts so tests and completion can build it). */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { checkCommand } from './check.js';
import { completionCommand } from './completion.js';
import { diffCommand } from './diff.js';
import { explainCommand } from './explain.js';
import { graphCommand } from './graph.js';
import { learnCommand } from './learn.js';
import { probeCommand } from './probe.js';
import { traceCommand } from './trace.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(name = 'netpol'): Command {
  const program = new Command(name)
    .description('Least-privilege Kubernetes NetworkPolicy from what workloads actually do on the network.')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false });
  program.addCommand(traceCommand());
  program.addCommand(learnCommand());
  program.addCommand(diffCommand());
  program.addCommand(checkCommand());
  program.addCommand(explainCommand());
  program.addCommand(graphCommand());
  program.addCommand(probeCommand());
  program.addCommand(completionCommand(program));
  reflowDescriptions(program);
  return program;
}

/**
 * Descriptions are written as source-code-wide lines; commander wraps them to the terminal, so a
 * line break inside a paragraph would leave ragged lines. Paragraphs (blank-line separated) stay.
 */
function reflowDescriptions(cmd: Command): void {
  const text = cmd.description();
  if (text) cmd.description(text.split(/\n{2,}/).map((p) => p.replace(/\s*\n\s*/g, ' ')).join('\n\n'));
  cmd.commands.forEach(reflowDescriptions);
}
