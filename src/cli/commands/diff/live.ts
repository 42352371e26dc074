/**
 * `netpol diff --live`: the cluster's NetworkPolicies against the files (semantic drift, from
 * src/policy/live-diff.ts) and the recorded flows judged by each, printed as `netpol diff` prints.
 */
import type { V1NetworkPolicy } from '../../../cluster/objects.js';
import { liveDiff } from '../../../policy/live-diff.js';
import { formatSemanticDiff } from '../../../policy/semantic-diff.js';
import { auditJson, auditTable, summaryLine } from '../../shared/audit-output.js';
import { auditExitCode } from '../../../policy/audit.js';

/** The flags `netpol diff --live` passes (src/cli/commands/diff/index.ts's DiffFlags). */
export interface LiveDiffFlags {
  flows?: string[];
  policies?: string[];
  kubeconfig?: string;
  context?: string;
  live?: boolean;
  output: { format: 'table' | 'json'; columns: string[] };
  deniedOnly?: boolean;
  /** Compare policies in every namespace, not only those the files cover. */
  allNamespaces?: boolean;
}

/**
 * `netpol diff --live`: drift between the cluster's NetworkPolicies and the files (semantic), then
 * every recorded flow judged by the cluster's policies and, when files are given, by the files.
 * Exit 1 when there is drift or anything is denied or unjudged, 0 otherwise.
 */
export async function runLiveDiff(flags: LiveDiffFlags, io: { stdout?: NodeJS.WritableStream } = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const [{ LiveClusterView }, { loadPolicies }, { compilePolicies }, { auditFlows }, { readFlows }] = await Promise.all([
    import('../../../cluster/live.js'),
    import('../../../policy/load.js'),
    import('../../../policy/evaluate.js'),
    import('../../../policy/auditor.js'),
    import('../../../flows/jsonl.js'),
  ]);
  const view = await LiveClusterView.connect({ kubeconfig: flags.kubeconfig, context: flags.context });
  try {
    const clusterPolicies = view.objects().networkPolicies;
    const files = flags.policies && flags.policies.length > 0 ? loadPolicies(flags.policies) : undefined;
    const drift = files ? liveDiff(clusterPolicies, files, { allNamespaces: flags.allNamespaces }) : undefined;
    const judged: Array<{ title: string; key: string; auditor: Awaited<ReturnType<typeof auditFlows>> }> = [];
    const judge = async (title: string, key: string, policies: V1NetworkPolicy[]): Promise<void> => {
      const auditor = await auditFlows(readFlows(flags.flows ?? []), compilePolicies(policies), view.index());
      judged.push({ title, key, auditor });
    };
    if (flags.flows && flags.flows.length > 0) {
      await judge(`flows judged by the cluster's NetworkPolicies (${view.description})`, 'cluster', clusterPolicies);
      if (files) await judge(`flows judged by the policy files (${flags.policies!.join(', ')})`, 'files', files);
    }
    const hasDrift = drift !== undefined && drift.added.length + drift.removed.length + drift.changed.length > 0;
    if (flags.output.format === 'json') {
      const json: Record<string, unknown> = {};
      if (drift) json.drift = { namespaces: drift.namespaces, added: drift.added, removed: drift.removed, changed: drift.changed };
      for (const j of judged) {
        const shown = j.auditor.sorted().filter((a) => !flags.deniedOnly || a.verdict !== 'allowed');
        json[j.key] = auditJson(shown, j.auditor.summary);
      }
      stdout.write(JSON.stringify(json, null, 2) + '\n');
    } else {
      if (drift) {
        const scope = drift.namespaces === 'all' ? 'all namespaces' : drift.namespaces.join(', ');
        stdout.write(
          hasDrift
            ? `NetworkPolicy drift, cluster → files (${scope}):\n${formatSemanticDiff(drift, { before: 'the cluster', after: 'the files' })}`
            : `no drift: the cluster's NetworkPolicies in ${scope} match the files\n`,
        );
      }
      for (const j of judged) {
        const shown = j.auditor.sorted().filter((a) => !flags.deniedOnly || a.verdict !== 'allowed');
        stdout.write(`\n${j.title}:\n`);
        if (shown.length > 0) stdout.write(auditTable(shown, flags.output.columns));
        stdout.write(`${summaryLine(j.auditor.summary)}\n`);
      }
    }
    // Unjudged flows fail like denied ones: never a pass for what was not judged.
    const denied = judged.some((j) => auditExitCode(j.auditor.summary) !== 0);
    return hasDrift || denied ? 1 : 0;
  } finally {
    await view.close();
  }
}
