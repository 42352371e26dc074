/**
 * What every netpol command tree gets once assembled (the full CLI in program.ts, the agent's own in
 * agent-program.ts): descriptions reflowed and kubectl's conventions.
 */
import type { Command, Option } from 'commander';

/** Reflows descriptions and applies kubectl's conventions to `program` and every command under it. */
export function finishProgram(program: Command, name: string): void {
  reflowDescriptions(program);
  applyConventions(program, name);
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

/** The full invocation of a command: `kubectl netpol trace tcpconnect`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * kubectl's conventions on every command (addCommand does not pass settings down, so they are set
 * on each): a usage error names the command's own help the way the user invoked it, unknown flags
 * get a suggestion, defaults show as `(default: table)`, and invoked as the kubectl plugin the help
 * examples say `kubectl netpol`.
 */
function applyConventions(cmd: Command, programName: string): void {
  cmd.showHelpAfterError(`See '${commandPath(cmd)} --help' for usage.`);
  cmd.showSuggestionAfterError(true);
  for (const o of cmd.options) plainDefault(o);
  deferRequiredOptions(cmd);
  if (programName !== 'netpol') {
    // Examples are written as `netpol ...` (and `sudo netpol ...`); show them as invoked.
    const rename = (text: string) => text.replace(/^(\s*(?:sudo )?|.*<\()netpol /gm, `$1${programName} `);
    cmd.configureOutput({ writeOut: (s) => process.stdout.write(rename(s)), writeErr: (s) => process.stderr.write(rename(s)) });
  }
  cmd.commands.forEach((c) => applyConventions(c, programName));
}

/** `(default: table)`, not `(default: "table")`, as kubectl prints it. */
function plainDefault(o: Option): void {
  if (o.defaultValueDescription === undefined && typeof o.defaultValue === 'string') o.defaultValueDescription = o.defaultValue;
}

/**
 * Commander reports a missing required option before an unknown one, so `--polices x` said
 * "required option '--policies' not specified" instead of "did you mean --policies?". Required
 * options are therefore checked just before the action, after unknown options were reported.
 */
function deferRequiredOptions(cmd: Command): void {
  const required = cmd.options.filter((o) => o.mandatory);
  if (required.length === 0) return;
  for (const o of required) o.mandatory = false;
  cmd.hook('preAction', (_this, action) => {
    if (action !== cmd) return;
    for (const o of required) {
      if (cmd.getOptionValue(o.attributeName()) === undefined) {
        cmd.error(`error: required option '${o.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: 2 });
      }
    }
  });
}
