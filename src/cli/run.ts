/**
 * Running a command tree as the netpol CLI, and the one place that maps errors to messages and exit
 * codes: 0 ok · 1 something is denied / drifted (diff, check) · 2 bad input or usage · 3 environment
 * (not root, no BTF, no cluster) · 4 a bug in netpol. Shared by the CLI's entry (main.ts, the whole
 * tree) and the node agent's (agent-main.ts, bundled with the agent command only).
 */
import { basename } from 'node:path';
import { CommanderError, type Command } from 'commander';
import { NetpolError } from '../errors.js';
import { printableLines } from './output/escape.js';
import { exitQuietlyOnClosedPipe, exitWhenDrained } from './exit.js';

function programName(argv1: string | undefined): string {
  const bin = basename(argv1 ?? 'netpol').replace(/\.js$/, '');
  return bin === 'kubectl-netpol' ? 'kubectl netpol' : 'netpol';
}

/** The tree's builder, and what answers `__complete` (the agent's own tree has none). */
export interface CliParts {
  build: (name: string) => Promise<Command>;
  complete?: (program: Command, words: string[]) => Promise<string>;
}

export async function main(argv: string[], { build, complete }: CliParts): Promise<number> {
  // React (under ink) reads NODE_ENV when it loads, and without it runs its slow development build:
  // set it before the command tree (and so ink) is imported.
  process.env.NODE_ENV ??= 'production';
  // `netpol ... | head` closes the pipe early: that is the reader's choice, not an error.
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  const program = await build(programName(argv[1]));
  // `netpol __complete <words...>`: dynamic completion for the shell scripts (cobra's protocol).
  if (argv[2] === '__complete' && complete) {
    const words = argv.slice(3);
    process.stdout.write(await complete(program, words.length > 0 ? words : ['']));
    return 0;
  }
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
      // Messages quote input (names, lines of a file): its control characters are shown, not sent.
      process.stderr.write(`error: ${printableLines(err.message)}\n`);
      return err.exitCode;
    }
    process.stderr.write(`netpol: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 4;
  }
}

/** Runs `argv` through the tree `parts.build` returns, then exits with its code once the output is out. */
export async function runCli(argv: string[], parts: CliParts): Promise<void> {
  const code = await main(argv, parts);
  // Exit only once stdout and stderr reached the OS (a pipe's reader may be slow); the explicit exit
  // then ends handles some commands (trace) leave behind.
  if (process.env.NETPOL_NO_FORCE_EXIT !== '1') await exitWhenDrained(code);
  else process.exitCode = code;
}
