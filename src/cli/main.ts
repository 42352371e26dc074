#!/usr/bin/env node
/**
 * The netpol CLI entry, and the one place that maps errors to messages and exit codes:
 *   0 ok · 1 something is denied / drifted (diff, check) · 2 bad input or usage ·
 *   3 environment (not root, no BTF, no cluster) · 4 a bug in netpol.
 * Installed as `netpol` and as `kubectl-netpol`, so `kubectl netpol ...` works as a plugin.
 */
import { basename } from 'node:path';
import { Command, CommanderError } from 'commander';
import { NetpolError } from '../errors.js';

function programName(argv1: string | undefined): string {
  const bin = basename(argv1 ?? 'netpol').replace(/\.js$/, '');
  return bin === 'kubectl-netpol' ? 'kubectl netpol' : 'netpol';
}

export async function main(argv: string[]): Promise<number> {
  // React (under ink) reads NODE_ENV when it loads, and without it runs its slow development build:
  // set it before the command tree (and so ink) is imported.
  process.env.NODE_ENV ??= 'production';
  // `netpol ... | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const { buildProgram } = await import('./program.js');
  const program: Command = buildProgram(programName(argv[1]));
  // Subcommands do not inherit exitOverride: set it on the whole tree so usage errors reach us.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; usage mistakes are bad input (2), like kubectl.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof NetpolError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`netpol: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 4;
  }
}

const code = await main(process.argv);
// Let streams drain; some commands (trace) keep handles we deliberately close ourselves.
process.exitCode = code;
if (process.env.NETPOL_NO_FORCE_EXIT !== '1') setImmediate(() => process.exit(code));
