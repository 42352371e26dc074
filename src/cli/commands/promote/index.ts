/**
 * `netpol promote [NAME…|--all] [--quiet-for 24h] [--force]`: turn staged policies into enforced
 * NetworkPolicies — only those whose evidence (status.nodes, written by the node agents' live judge)
 * shows nothing it would deny within the window, and covers the window. Prints the evidence and the
 * policy it applies; a refused policy names the flows it would deny and the command exits 1. The
 * staged object is removed after promotion (only if it did not change meanwhile).
 */
import { Command } from 'commander';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { quietFor, type QuietVerdict } from '../../../cluster/staged/evidence.js';
import { asNetworkPolicy, stagedKey, type StagedNetworkPolicy } from '../../../cluster/staged/types.js';
import { InputError } from '../../../errors.js';
import { applyPolicies, formatApplyOutcomes } from '../../../policy/live-diff.js';
import { addClusterFlags, type ClusterFlags } from '../../shared/cluster-flags.js';
import { addExamples } from '../../shared/command-help.js';
import { DURATION_SYNTAX, parseDuration } from '../../shared/duration.js';

export interface PromoteOptions extends ClusterFlags {
  namespace?: string;
  allNamespaces?: boolean;
  all?: boolean;
  /** Milliseconds. */
  quietFor?: number;
  force?: boolean;
  dryRun?: boolean;
}

function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  let rest = Math.round(ms);
  let out = '';
  for (const [u, size] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${u}`;
      rest %= size;
    }
  }
  return out || `${ms}ms`;
}

/** The evidence, as printed for every policy whether promoted or refused. */
export function evidenceText(staged: StagedNetworkPolicy, v: QuietVerdict, windowMs?: number): string {
  const lines: string[] = [];
  const window = windowMs === undefined ? 'since it was staged' : `in the last ${formatDuration(windowMs)}`;
  lines.push(`evidence for staged policy ${stagedKey(staged)} (generation ${staged.metadata?.generation ?? '?'}):`);
  lines.push(`  judged by ${v.nodes.length} node(s)${v.nodes.length > 0 ? `: ${v.nodes.join(', ')}` : ''}${v.judgedSince ? `, since ${v.judgedSince}` : ''}`);
  lines.push(`  would-be-denied connects: ${v.wouldDeny} in total; ${v.flows.length} flow(s) ${window}`);
  for (const f of v.flows) {
    lines.push(`    ${f.source} → ${f.peer} ${f.protocol ?? 'TCP'} (${f.gate}) ×${f.count}, last ${f.lastSeen} on ${f.node}`);
  }
  if (v.unlisted > 0) lines.push(`    and ${v.unlisted} connect(s) of flows the bounded examples no longer list`);
  return lines.join('\n') + '\n';
}

export async function runPromote(names: string[], opts: PromoteOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  if (opts.all && names.length > 0) throw new InputError('--all', 'give names or --all, not both');
  if (!opts.all && names.length === 0) throw new InputError('NAME', 'give the staged policies to promote, or --all');
  if (opts.allNamespaces && !opts.all) throw new InputError('-A', '--all-namespaces goes with --all');
  if (opts.allNamespaces && opts.namespace) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const resolved = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  const { deleteStaged, getStaged, listStaged, stagedApiError } = await import('../../../cluster/staged/client.js');
  const kc = resolved.kc;
  let staged: StagedNetworkPolicy[];
  try {
    if (opts.all) {
      staged = await listStaged(kc, opts.allNamespaces ? undefined : resolved.namespace);
    } else {
      staged = [];
      const missing: string[] = [];
      for (const name of names) {
        const s = await getStaged(kc, resolved.namespace, name);
        if (s) staged.push(s);
        else missing.push(`${resolved.namespace}/${name}`);
      }
      if (missing.length > 0) throw new InputError('NAME', `no such StagedNetworkPolicy: ${missing.join(', ')}`);
    }
  } catch (err) {
    throw stagedApiError(err, 'cannot read staged policies', kc);
  }
  if (staged.length === 0) {
    io.stdout.write(`no staged policies${opts.allNamespaces ? '' : ` in namespace ${resolved.namespace}`}\n`);
    return 0;
  }
  const now = new Date();
  let refused = 0;
  for (const s of staged) {
    const verdict = quietFor(s, now, opts.quietFor);
    io.stdout.write(evidenceText(s, verdict, opts.quietFor));
    if (!verdict.quiet && !opts.force) {
      refused++;
      io.stdout.write(`refused: not promoting ${stagedKey(s)}: ${verdict.reasons.join('; ')} (--force promotes anyway)\n\n`);
      continue;
    }
    if (!verdict.quiet) io.stdout.write(`--force: promoting despite: ${verdict.reasons.join('; ')}\n`);
    const policy = asNetworkPolicy(s);
    // What is applied is shown as the diff against the cluster's policy of that name (all of it when new).
    io.stdout.write(`applying NetworkPolicy ${stagedKey(s)}${opts.dryRun ? ' (server dry run)' : ''}:\n`);
    const outcomes = await applyPolicies(kc, [policy], { dryRun: opts.dryRun });
    io.stdout.write(formatApplyOutcomes(outcomes, opts.dryRun ?? false));
    if (opts.dryRun) {
      io.stdout.write('\n');
      continue;
    }
    try {
      // Only the version judged: a spec changed since it was read stays staged (and says so).
      await deleteStaged(kc, s.metadata!.namespace!, s.metadata!.name!, { resourceVersion: s.metadata?.resourceVersion });
      io.stdout.write(`stagednetworkpolicy.netpol.io/${s.metadata!.name} promoted and removed  (namespace ${s.metadata!.namespace})\n\n`);
    } catch (err) {
      const e = err as { statusCode?: number };
      if (e.statusCode === 409) {
        io.stderr.write(`warning: ${stagedKey(s)} changed while it was promoted; the staged object is kept (unstage it when done)\n`);
        refused++;
      } else {
        throw stagedApiError(err, `promoted ${stagedKey(s)} but cannot remove the staged object`, kc);
      }
    }
  }
  return refused > 0 ? 1 : 0;
}

export function promoteCommand(): Command {
  const cmd = new Command('promote')
    .description(
      "apply staged policies as real NetworkPolicies, only when the node agents' evidence shows nothing they would deny (within --quiet-for, which the evidence must cover); otherwise refuse, naming the flows, exit 1",
    )
    .argument('[name...]', 'staged policies of the namespace')
    .option('--all', 'every staged policy of the namespace (with -A: of the cluster)')
    .option('--quiet-for <duration>', `require no would-be-denied connect within this window (${DURATION_SYNTAX}; default: none since staged)`, parseDuration)
    .option('--force', 'promote even when the evidence shows would-be-denied connects or does not cover the window')
    .option('--dry-run', 'print the evidence and the server-side dry run; change nothing')
    .option('-n, --namespace <ns>', "namespace (default: the context's)")
    .option('-A, --all-namespaces', 'with --all: every namespace');
  return addExamples(addClusterFlags(cmd), ['netpol promote web -n shop --quiet-for 24h', 'netpol promote --all -n shop --dry-run', 'netpol promote web -n shop --force'])
    .action(async (names: string[], o: PromoteOptions) => {
      process.exitCode = await runPromote(names, o, { stdout: process.stdout, stderr: process.stderr });
    });
}
