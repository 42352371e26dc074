/**
 * How a command declaration begins and ends, the same for every command: its name with the one-line
 * summary (the parent's command list), the description (its own --help) and the recorded inputs it
 * reads (input-options.ts); its examples after the
 * options (the help-examples test runs them), and an action whose number becomes the exit code
 * (main.ts exits once the output has drained).
 */
import { Command } from 'commander';
import { addRecordedInputs, type RecordedInputs } from './input-options.js';

/**
 * A command with its summary (one line, in the parent's list), its description (its --help: a
 * paragraph that program.ts reflows, so the source's line breaks do not show) and, when it reads a
 * recording, its recorded inputs (--flows, --cluster, --policies) first among its options.
 */
export function declareCommand(name: string, summary: string, description: string, inputs?: RecordedInputs): Command {
  const cmd = new Command(name).summary(summary).description(description);
  return inputs ? addRecordedInputs(cmd, inputs) : cmd;
}

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
