/**
 * The options several commands share, declared once so that a flag has one spelling, one value
 * syntax and one parser everywhere: the recorded inputs (--flows, --cluster, --policies, each
 * repeatable or comma-separated) and the kubeconfig pair (--kubeconfig, --context). A command says
 * which it takes, which it cannot run without, and what they are for in it.
 */
import { Option, type Command } from 'commander';
import { collect } from './options.js';

export interface InputOption {
  /** What the option is for in this command (help text). */
  help: string;
  /** The command refuses to run without it. */
  required?: boolean;
}

export interface RecordedInputs {
  flows?: InputOption;
  cluster?: InputOption;
  policies?: InputOption;
  /** The short forms -f (--flows) and -p (--policies). */
  short?: boolean;
}

/** Declares --flows, --cluster and --policies (in that order) as far as `inputs` names them. */
export function addRecordedInputs(cmd: Command, inputs: RecordedInputs): Command {
  const declare = (flags: string, o: InputOption | undefined) => {
    if (o) cmd.addOption(new Option(flags, o.help).argParser(collect).makeOptionMandatory(o.required ?? false));
  };
  declare(`${inputs.short ? '-f, ' : ''}--flows <file...>`, inputs.flows);
  declare('--cluster <file...>', inputs.cluster);
  declare(`${inputs.short ? '-p, ' : ''}--policies <path...>`, inputs.policies);
  return cmd;
}

/** --cluster's help in the commands that read a recording with the snapshot taken beside it. */
const SNAPSHOT_HELP = 'cluster snapshot (kubectl get ... -o yaml); repeatable';

/**
 * The inputs of the commands that view a recording (explain, graph): -f/--flows, the snapshot
 * and -p/--policies, none required; the helps say what flows and policies are for in the command.
 */
export function addRecordingViewInputs(cmd: Command, flowsHelp: string, policiesHelp: string): Command {
  return addRecordedInputs(cmd, { short: true, flows: { help: flowsHelp }, cluster: { help: SNAPSHOT_HELP }, policies: { help: policiesHelp } });
}

/** Declares --kubeconfig and --context; `scope` says when they apply (`for --live`). */
export function addKubeconfigOptions(cmd: Command, scope?: string): Command {
  const suffix = scope ? ` ${scope}` : '';
  return cmd
    .option('--kubeconfig <file>', `kubeconfig to use${suffix} (default $KUBECONFIG or ~/.kube/config)`)
    .option('--context <name>', `kubeconfig context to use${suffix}`);
}
