/**
 * The command tree of the node agent's process: `netpol agent` alone. Bundled on its own
 * (agent-main.ts → dist/bundle/agent.js), so it must not import the other commands: each would
 * bring its libraries (ink, the whole Kubernetes API) into the agent's memory.
 */
import { Command } from 'commander';
import { agentCommand } from './commands/agent/index.js';
import { finishProgram } from './conventions.js';

export function buildAgentProgram(name = 'netpol'): Command {
  const program = new Command(name).description('Least-privilege Kubernetes NetworkPolicy from what workloads actually do on the network.');
  program.addCommand(agentCommand());
  finishProgram(program, name);
  return program;
}
