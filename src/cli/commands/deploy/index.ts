/**
 * `netpol deploy` (`kubectl netpol deploy`): installs the node agent — the kustomize base shipped in
 * this package (deploy/base: namespace netpol-system, ServiceAccount, read-only RBAC, the
 * netpol-agent DaemonSet, the metrics Service, the CRDs) — by server-side apply with field manager
 * netpol, then waits until an agent is Ready on every node, saying which are not and why.
 * --dry-run prints the exact manifests instead (-o yaml|json) and talks to no cluster.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { InputError } from '../../../errors.js';
import { waitTimeoutOption } from '../../shared/duration.js';
import { addKubeconfigFileFlags } from '../../shared/cluster-flags.js';
import { addExamples, declareCommand, runsWithExitCode } from '../../shared/command-help.js';

export interface DeployOptions {
  image?: string;
  dryRun?: boolean;
  output?: 'yaml' | 'json';
  timeout: number;
  wait: boolean;
  kubeconfig?: string;
  context?: string;
}

/** An image reference as a container spec takes it: no spaces, no scheme, something before any tag. */
function imageRef(value: string): string {
  if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(value) || value.includes('://')) {
    throw new InvalidArgumentError(`"${value}" is not an image reference (e.g. docker.io/netpol/netpol:v0.1.0 or registry.example.com/netpol@sha256:…)`);
  }
  return value;
}

export async function runDeploy(opts: DeployOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  if (opts.output && !opts.dryRun) throw new InputError('-o/--output', 'prints manifests only with --dry-run (netpol deploy --dry-run -o yaml)');
  const { defaultImage, loadKustomization, packagedBaseDir, withImage, applyManifests, waitForAgents } = await import('../../../cluster/deploy.js');
  const image = opts.image ?? defaultImage();
  const manifests = withImage(loadKustomization(packagedBaseDir()), image);
  if (opts.dryRun) {
    io.stdout.write(
      opts.output === 'json'
        ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2) + '\n'
        : manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n'),
    );
    return 0;
  }
  const { loadKubeconfig } = await import('../../../cluster/kubeconfig.js');
  const { kc, description } = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context });
  const log = (line: string) => io.stderr.write(`${line}\n`);
  log(`deploying the netpol agent (${image}) to ${description}`);
  await applyManifests(kc, manifests, log);
  if (!opts.wait) return 0;
  const start = Date.now();
  const states = await waitForAgents(kc, { timeoutMs: opts.timeout, log });
  io.stdout.write(`netpol agent ready on ${states.length} node(s) in ${((Date.now() - start) / 1000).toFixed(1)}s: ${states.map((s) => s.node).join(', ')}\n`);
  return 0;
}

export function deployCommand(): Command {
  const cmd = declareCommand(
    'deploy',
    'install the netpol agent on every node (DaemonSet) and wait until it is ready',
    "Install netpol's node agent into the cluster: namespace netpol-system, its ServiceAccount and read-only RBAC, the netpol-agent " +
      "DaemonSet and its metrics Service, and netpol's CRDs — the kustomize base shipped in this package (deploy/base), server-side " +
      'applied with field manager "netpol". Then wait until an agent is Ready on every node, printing progress; at the timeout, name ' +
      "every node whose agent is not ready and why (the container's waiting reason, its last exit and log lines, failing probes), and exit 3.\n\n" +
      'The agent runs with capabilities BPF, PERFMON, NET_ADMIN and DAC_READ_SEARCH only, a read-only root filesystem and read-only host paths.',
  )
    .option('--image <ref>', 'the agent image (default: docker.io/netpol/netpol:v<this version>)', imageRef)
    .option('--dry-run', 'print the manifests that would be applied (-o yaml|json) and change nothing')
    .addOption(new Option('-o, --output <format>', 'with --dry-run: yaml or json').choices(['yaml', 'json']))
    .addOption(waitTimeoutOption('for the agents'))
    .option('--no-wait', 'apply and return without waiting for the agents');
  addExamples(addKubeconfigFileFlags(cmd), [
    'netpol deploy',
    'netpol deploy --image registry.example.com/netpol/netpol:v0.1.0 --timeout 5m',
    'netpol deploy --dry-run -o yaml',
  ]);
  return runsWithExitCode(cmd, (o: DeployOptions & { timeout: number }) => runDeploy(o, { stdout: process.stdout, stderr: process.stderr }));
}
