/** The flags every command that talks to the API server takes, as kubectl spells them. */
import type { Command } from 'commander';

export interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
}

export function addClusterFlags(cmd: Command): Command {
  return cmd.option('--kubeconfig <file>', 'kubeconfig to use (default $KUBECONFIG or ~/.kube/config)').option('--context <name>', 'kubeconfig context to use');
}
