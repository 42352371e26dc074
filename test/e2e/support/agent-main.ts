/**
 * Runs `learn --local` or `trace tcpconnect` in a process of its own (for tests that send it
 * signals): agent-main.ts learn|trace '<options as JSON>'. Exits with the command's exit code.
 */
import { learnLocal } from '../../../src/cli/commands/learn/local.js';
import { runTrace } from '../../../src/cli/commands/trace/local.js';
import { NetpolError } from '../../../src/errors.js';

const [command, json] = process.argv.slice(2);
const opts = JSON.parse(json ?? '{}') as Record<string, unknown>;
try {
  process.exitCode =
    command === 'learn'
      ? await learnLocal(opts, { onReady: () => process.stderr.write('READY\n') })
      : await runTrace(opts, { stdout: process.stdout, stderr: process.stderr, onReady: () => process.stderr.write('READY\n') });
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = err instanceof NetpolError ? err.exitCode : 4;
}
