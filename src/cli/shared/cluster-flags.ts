/** The flags every command that talks to the API server takes, as kubectl spells them. */
import type { Command } from 'commander';

export interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
}

export function addClusterFlags(cmd: Command): Command {
  return cmd.option('--kubeconfig <file>', 'kubeconfig to use (default $KUBECONFIG or ~/.kube/config)').option('--context <name>', 'kubeconfig context to use');
}

/** The same pair as deploy, undeploy and probe spell it (their help text says "kubeconfig file"). */
export function addKubeconfigFileFlags(cmd: Command): Command {
  return cmd.option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)').option('--context <name>', 'kubeconfig context');
}
