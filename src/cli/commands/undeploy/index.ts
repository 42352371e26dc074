/**
 * `netpol undeploy` (`kubectl netpol undeploy`): removes what `netpol deploy` installed — every
 * object of the packaged base, the DaemonSet and its namespace included — and waits until they and
 * the agent pods are gone. The CRDs stay unless --include-crds: deleting a CRD deletes every object
 * of it (the learned traffic profiles, staged policies).
 */
import type { Command } from 'commander';
import { waitTimeoutOption } from '../../shared/duration.js';
import { addKubeconfigFileFlags } from '../../shared/cluster-flags.js';
import { addExamples, declareCommand, runsWithExitCode } from '../../shared/command-help.js';

export interface UndeployOptions {
  includeCrds?: boolean;
  timeout: number;
  kubeconfig?: string;
  context?: string;
}

export async function runUndeploy(opts: UndeployOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  const { loadKustomization, packagedBaseDir, deleteManifests } = await import('../../../cluster/deploy.js');
  const { loadKubeconfig } = await import('../../../cluster/kubeconfig.js');
  const manifests = loadKustomization(packagedBaseDir());
  const { kc, description } = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context });
  const log = (line: string) => io.stderr.write(`${line}\n`);
  log(`removing the netpol agent from ${description}`);
  const start = Date.now();
  const n = await deleteManifests(kc, manifests, { includeCrds: opts.includeCrds === true, timeoutMs: opts.timeout, log });
  io.stdout.write(n === 0 ? 'netpol agent was not deployed: nothing to remove\n' : `netpol agent removed (${n} objects) in ${((Date.now() - start) / 1000).toFixed(1)}s\n`);
  return 0;
}

export function undeployCommand(): Command {
  const cmd = declareCommand(
    'undeploy',
    'remove the netpol agent from the cluster (CRDs only with --include-crds)',
    'Remove what `netpol deploy` installed (the netpol-agent DaemonSet, its namespace netpol-system, ServiceAccount, RBAC and Service) ' +
      "and wait until it and the agent pods are gone. netpol's CRDs and the data in them (traffic profiles, staged policies) stay unless " +
      '--include-crds.',
  )
    .option('--include-crds', "also delete netpol's CRDs, and with them every traffic profile and staged policy")
    .addOption(waitTimeoutOption('for everything to go'));
  addExamples(addKubeconfigFileFlags(cmd), ['netpol undeploy', 'netpol undeploy --include-crds --timeout 5m']);
  return runsWithExitCode(cmd, (o: UndeployOptions) => runUndeploy(o, { stdout: process.stdout, stderr: process.stderr }));
}
