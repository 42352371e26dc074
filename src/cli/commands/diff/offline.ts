/** `netpol diff` on a recording and a cluster snapshot: each flow judged, denied first, optionally explained. */
import type { V1NetworkPolicy } from '../../../cluster/objects.js';
import type { ClusterIndex } from '../../../cluster/lookup.js';
import { edgeIdentity } from '../../../flows/edges.js';
import { readFlows } from '../../../flows/jsonl.js';
import type { LocatedFlow } from '../../../flows/record.js';
import { auditExitCode } from '../../../policy/audit.js';
import { auditFlows, type Auditor } from '../../../policy/auditor.js';
import { compilePolicies, type PolicySet } from '../../../policy/evaluate.js';
import { explainFlow } from '../../../policy/explain.js';
import { loadPolicies } from '../../../policy/load.js';
import { resolveFlow } from '../../../policy/traffic.js';
import { auditJson, auditTable, summaryLine } from '../../shared/audit-output.js';
import { explanationText } from '../../shared/explanation-text.js';
import { openClusterView } from '../../shared/inputs.js';
import { clusterFilesFor, requireClusterForAudit } from '../../shared/recorded-cluster.js';

/** The flags the offline diff reads (a subset of the command's). */
export interface OfflineDiffFlags {
  flows?: string[];
  policies?: string[];
  cluster?: string[];
  output: { format: 'table' | 'json'; columns: string[] };
  deniedOnly?: boolean;
  explain?: boolean;
}

/** The policies to judge with: the files when given, else the cluster's own. */
export function policiesFor(files: string[] | undefined, clusterPolicies: V1NetworkPolicy[]): V1NetworkPolicy[] {
  return files && files.length > 0 ? loadPolicies(files) : clusterPolicies;
}

/** Passes flows through, keeping them when --explain will need them again. */
async function* keepDenied(flows: AsyncIterable<LocatedFlow>, into: LocatedFlow[], keep: boolean): AsyncGenerator<LocatedFlow> {
  for await (const f of flows) {
    if (keep) into.push(f);
    yield f;
  }
}

/** `diff --explain`: the full explanation (src/policy/explain.ts) of each distinct denied connection. */
function explainDenied(set: PolicySet, index: ClusterIndex, auditor: Auditor, flows: LocatedFlow[]): string {
  const byEdge = new Map<string, { flow: LocatedFlow; count: number }>();
  auditor.audits.forEach((a, i) => {
    if (a.verdict !== 'denied') return;
    const flow = flows[i]!;
    const key = edgeIdentity(flow);
    const seen = byEdge.get(key);
    if (seen) seen.count++;
    else byEdge.set(key, { flow, count: 1 });
  });
  return [...byEdge.values()].map(({ flow, count }) => '\n' + explanationText(explainFlow(set, resolveFlow(flow, index)), count)).join('');
}

export async function runOfflineDiff(flags: OfflineDiffFlags): Promise<number> {
  const cluster = clusterFilesFor(flags.cluster, flags.flows ?? []);
  if (!cluster) requireClusterForAudit('diff');
  const view = await openClusterView({ cluster }, 'snapshot');
  try {
    const set = compilePolicies(policiesFor(flags.policies, view.objects().networkPolicies));
    const flows: LocatedFlow[] = [];
    const auditor = await auditFlows(keepDenied(readFlows(flags.flows ?? []), flows, flags.explain === true), set, view.index());
    const shown = auditor.sorted().filter((a) => !flags.deniedOnly || a.verdict !== 'allowed');
    if (flags.output.format === 'json') {
      process.stdout.write(JSON.stringify(auditJson(shown, auditor.summary), null, 2) + '\n');
    } else {
      if (shown.length > 0) process.stdout.write(auditTable(shown, flags.output.columns));
      if (flags.explain) process.stdout.write(explainDenied(set, view.index(), auditor, flows));
      process.stdout.write(`\n${summaryLine(auditor.summary)}\n`);
    }
    return auditExitCode(auditor.summary);
  } finally {
    await view.close();
  }
}
