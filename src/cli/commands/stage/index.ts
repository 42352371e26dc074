/**
 * `netpol stage DIR|FILE…`: store NetworkPolicies in the cluster as StagedNetworkPolicies — judged
 * live by the node agents, enforced by nothing. The files are read and validated as every policy
 * loader reads them (errors name file, line and field, exit 2); the API server then dry-runs every
 * staged object before any is written, so a rejected one leaves the cluster untouched.
 */
import { Command } from 'commander';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { stagedKey, fromNetworkPolicy, type StagedNetworkPolicy } from '../../../cluster/staged/types.js';
import { InputError } from '../../../errors.js';
import { loadPolicyFiles } from '../../../policy/load.js';
import { addClusterFlags, type ClusterFlags } from '../../shared/cluster-flags.js';
import { addExamples } from '../../shared/command-help.js';

export interface StageOptions extends ClusterFlags {
  namespace?: string;
  dryRun?: boolean;
}

/** Stages the policies of `paths`; returns the exit code. */
export async function runStage(paths: string[], opts: StageOptions, io: { stdout: NodeJS.WritableStream }): Promise<number> {
  if (paths.length === 0) throw new InputError('DIR|FILE', 'give at least one policy file or directory');
  const resolved = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  const loaded = loadPolicyFiles(paths, { defaultNamespace: resolved.namespace });
  if (loaded.length === 0) throw new InputError(paths.join(', '), 'no NetworkPolicy found');
  const { applyStaged, getStaged, stagedApiError } = await import('../../../cluster/staged/client.js');
  const { rawRequest } = await import('../../../cluster/live.js');
  const kc = resolved.kc;
  const planned: Array<{ staged: StagedNetworkPolicy; before?: StagedNetworkPolicy; from: string; replaces: boolean }> = [];
  try {
    for (const l of loaded) {
      const staged = fromNetworkPolicy(l.policy);
      const ns = staged.metadata!.namespace!;
      const name = staged.metadata!.name!;
      const before = await getStaged(kc, ns, name);
      await applyStaged(kc, staged, { dryRun: true });
      // A staged policy named like an enforced one replaces it when promoted: say so now.
      const enforced = await rawRequest(kc, `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/networkpolicies/${encodeURIComponent(name)}`).catch(() => undefined);
      planned.push({ staged, ...(before ? { before } : {}), from: `${l.file}:${l.line}`, replaces: enforced !== undefined });
    }
    for (const p of planned) {
      const after = opts.dryRun ? p.staged : await applyStaged(kc, p.staged);
      const action = !p.before ? 'created' : JSON.stringify(p.before.spec) === JSON.stringify(after.spec) && sameMeta(p.before, after) ? 'unchanged' : 'configured';
      const note = p.replaces ? `; replaces the enforced NetworkPolicy ${stagedKey(p.staged)} when promoted` : '';
      io.stdout.write(`stagednetworkpolicy.netpol.io/${p.staged.metadata!.name} ${action}${opts.dryRun ? ' (dry run)' : ''}  (namespace ${p.staged.metadata!.namespace}, from ${p.from}${note})\n`);
    }
  } catch (err) {
    throw stagedApiError(err, 'cannot stage policies', kc);
  }
  return 0;
}

function sameMeta(a: StagedNetworkPolicy, b: StagedNetworkPolicy): boolean {
  return JSON.stringify(a.metadata?.labels ?? {}) === JSON.stringify(b.metadata?.labels ?? {});
}

export function stageCommand(): Command {
  const cmd = new Command('stage')
    .description(
      'store NetworkPolicies as StagedNetworkPolicies: the node agents judge every connect against them (kubectl netpol audit --staged-only) without enforcing them, until kubectl netpol promote',
    )
    .argument('<path...>', 'NetworkPolicy YAML files or directories (e.g. the output of netpol learn --out)')
    .option('-n, --namespace <ns>', "namespace of policies that name none (default: the context's)")
    .option('--dry-run', 'validate with the API server (server-side dry run) and write nothing');
  return addExamples(addClusterFlags(cmd), [
    'netpol learn -n shop -l app=web --duration 1h --out policies/',
    'netpol stage policies/',
    'netpol stage policies/shop/web.yaml --dry-run',
    'kubectl get stagednetworkpolicies -A',
  ]).action(async (paths: string[], o: StageOptions) => {
      process.exitCode = await runStage(paths, o, { stdout: process.stdout });
    });
}
