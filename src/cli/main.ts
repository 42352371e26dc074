#!/usr/bin/env node
/**
 * The netpol CLI entry. Installed as `netpol` and as `kubectl-netpol`, so `kubectl netpol ...` works
 * as a plugin. Errors and exit codes: run.ts.
 *
 * `netpol agent` (the DaemonSet's long-running process) runs from dist/bundle/agent.js instead: the
 * agent command alone bundled by esbuild (scripts/bundle-agent.mjs, part of `npm run build`), with
 * the unused part of @kubernetes/client-node shaken out. Loading the package's modules costs ≈ 60 MiB
 * of RSS whatever is imported from it (its KubeConfig module imports the whole generated API, 55 MB
 * of JavaScript whose source text V8 keeps); the bundle holds 3 MB of it. NETPOL_AGENT_UNBUNDLED=1
 * runs the same command from the compiled modules (readable stack traces, no bundle needed).
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCli } from './run.js';

const argv = process.argv;
if (argv[2] === 'agent' && process.env.NETPOL_AGENT_UNBUNDLED !== '1') {
  const bundle = new URL('../bundle/agent.js', import.meta.url);
  if (!existsSync(bundle)) {
    process.stderr.write(`netpol: ${fileURLToPath(bundle)} is missing: build with \`npm run build\` (or set NETPOL_AGENT_UNBUNDLED=1)\n`);
    process.exit(4);
  }
  // `tsc` alone rebuilds the modules but not the bundle: say so rather than run yesterday's agent.
  // (An image's files share one time, so this never fires there.)
  const compiled = new URL('./agent-main.js', import.meta.url);
  if (existsSync(compiled) && statSync(bundle).mtimeMs < statSync(compiled).mtimeMs) {
    process.stderr.write(`netpol: warning: ${fileURLToPath(bundle)} is older than the compiled modules: rebuild it with \`npm run build\`\n`);
  }
  await import(bundle.href);
} else if (argv[2] === 'agent') {
  await runCli(argv, { build: async (name) => (await import('./agent-program.js')).buildAgentProgram(name) });
} else {
  await runCli(argv, {
    build: async (name) => (await import('./program.js')).buildProgram(name),
    complete: async (program, words) => {
      const { complete, formatCompletion } = await import('./commands/completion/complete.js');
      return formatCompletion(await complete(program, words));
    },
  });
}
