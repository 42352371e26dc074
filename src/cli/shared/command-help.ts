/**
 * How a command declaration ends, the same for every command: its examples after the options (the
 * help-examples test runs them), and an action whose number becomes the exit code (main.ts exits
 * once the output has drained).
 */
import type { Command } from 'commander';

/**
 * `Examples:` after the options, one command a line (indented by two spaces), after `preface`
 * (a section such as learn's `Modes:`).
 */
export function addExamples(cmd: Command, examples: readonly string[], preface = ''): Command {
  return cmd.addHelpText('after', `${preface}\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
}

/** The command's action: `run` says the exit code. */
export function runsWithExitCode<F>(cmd: Command, run: (flags: F) => Promise<number>): Command {
  return cmd.action(async (flags: F) => {
    process.exitCode = await run(flags);
  });
}
