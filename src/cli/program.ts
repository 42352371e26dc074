/** The command tree: one file per command, assembled here (kept apart from main.ts so tests and completion can build it). */
import { Command } from 'commander';
import { agentCommand } from './commands/agent/index.js';
import { auditCommand } from './commands/audit/index.js';
import { checkCommand } from './commands/check/index.js';
import { completionCommand } from './commands/completion/index.js';
import { deployCommand } from './commands/deploy/index.js';
import { diffCommand } from './commands/diff/index.js';
import { explainCommand } from './commands/explain/index.js';
import { graphCommand } from './commands/graph/index.js';
import { learnCommand } from './commands/learn/index.js';
import { probeCommand } from './commands/probe/index.js';
import { promoteCommand } from './commands/promote/index.js';
import { stageCommand } from './commands/stage/index.js';
import { statusCommand } from './commands/status/index.js';
import { traceCommand } from './commands/trace/index.js';
import { undeployCommand } from './commands/undeploy/index.js';
import { unstageCommand } from './commands/unstage/index.js';
import { CLIENT_VERSION, versionCommand } from './commands/version/index.js';
import { finishProgram } from './conventions.js';

export function buildProgram(name = 'netpol'): Command {
  const program = new Command(name)
    .description('Least-privilege Kubernetes NetworkPolicy from what workloads actually do on the network.')
    .version(CLIENT_VERSION)
    .configureHelp({ sortSubcommands: false });
  program.addCommand(traceCommand());
  program.addCommand(learnCommand());
  program.addCommand(diffCommand());
  program.addCommand(checkCommand());
  program.addCommand(explainCommand());
  program.addCommand(graphCommand());
  program.addCommand(probeCommand());
  program.addCommand(deployCommand());
  program.addCommand(undeployCommand());
  program.addCommand(agentCommand());
  program.addCommand(statusCommand());
  program.addCommand(stageCommand());
  program.addCommand(unstageCommand());
  program.addCommand(promoteCommand());
  program.addCommand(auditCommand());
  program.addCommand(completionCommand(program));
  program.addCommand(versionCommand());
  finishProgram(program, name);
  return program;
}
