/** `netpol unstage NAME…|--all`: delete staged policies (nothing enforced changes). */
import { Command } from 'commander';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { stagedKey } from '../../../cluster/staged/types.js';
import { InputError } from '../../../errors.js';
import { addClusterFlags, type ClusterFlags } from '../../shared/cluster-flags.js';

export interface UnstageOptions extends ClusterFlags {
  namespace?: string;
  allNamespaces?: boolean;
  all?: boolean;
}

export async function runUnstage(names: string[], opts: UnstageOptions, io: { stdout: NodeJS.WritableStream }): Promise<number> {
  if (opts.all && names.length > 0) throw new InputError('--all', 'give names or --all, not both');
  if (!opts.all && names.length === 0) throw new InputError('NAME', 'give the staged policies to remove, or --all');
  if (opts.allNamespaces && !opts.all) throw new InputError('-A', '--all-namespaces goes with --all');
  if (opts.allNamespaces && opts.namespace) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const resolved = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  const { deleteStaged, listStaged, stagedApiError } = await import('../../../cluster/staged/client.js');
  const kc = resolved.kc;
  try {
    const targets = opts.all
      ? (await listStaged(kc, opts.allNamespaces ? undefined : resolved.namespace)).map((s) => ({ namespace: s.metadata!.namespace!, name: s.metadata!.name! }))
      : names.map((name) => ({ namespace: resolved.namespace, name }));
    if (opts.all && targets.length === 0) {
      io.stdout.write(`no staged policies${opts.allNamespaces ? '' : ` in namespace ${resolved.namespace}`}\n`);
      return 0;
    }
    const missing: string[] = [];
    for (const t of targets) {
      if (await deleteStaged(kc, t.namespace, t.name)) io.stdout.write(`stagednetworkpolicy.netpol.io/${t.name} deleted  (namespace ${t.namespace})\n`);
      else missing.push(stagedKey({ metadata: t }));
    }
    if (missing.length > 0) throw new InputError('NAME', `no such StagedNetworkPolicy: ${missing.join(', ')}`);
  } catch (err) {
    throw stagedApiError(err, 'cannot unstage', kc);
  }
  return 0;
}

export function unstageCommand(): Command {
  const cmd = new Command('unstage')
    .description('delete staged policies (kubectl netpol stage); what is enforced does not change')
    .argument('[name...]', 'staged policies of the namespace')
    .option('--all', 'every staged policy of the namespace (with -A: of the cluster)')
    .option('-n, --namespace <ns>', "namespace (default: the context's)")
    .option('-A, --all-namespaces', 'with --all: every namespace');
  return addClusterFlags(cmd)
    .addHelpText('after', '\nExamples:\n  netpol unstage web -n shop\n  netpol unstage --all -n shop\n  netpol unstage --all -A')
    .action(async (names: string[], o: UnstageOptions) => {
      process.exitCode = await runUnstage(names, o, { stdout: process.stdout });
    });
}
