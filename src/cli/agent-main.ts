/**
 * The entry of the node agent's bundle (dist/bundle/agent.js, built by scripts/bundle-agent.mjs):
 * main.ts hands `netpol agent` here. Only the agent's command tree, so the bundle carries only the
 * code the agent runs.
 */
import { buildAgentProgram } from './agent-program.js';
import { runCli } from './run.js';

await runCli(process.argv, { build: async (name) => buildAgentProgram(name) });
