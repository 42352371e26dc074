/**
 * `netpol diff`: every recorded flow with the verdict a set of policies gives it, denied first, and
 * (with --live) drift between the cluster's NetworkPolicies and the files. Exit 0 when nothing is
 * denied, 1 when something is, 2 on bad input — like `kubectl diff`.
 */
import { Command, Option } from 'commander';
import type { V1NetworkPolicy } from '../cluster/objects.js';
import { readFlows } from '../flows/jsonl.js';
import type { ClusterIndex } from '../cluster/lookup.js';
import { edgeIdentity } from '../flows/edges.js';
import type { LocatedFlow } from '../flows/record.js';
import { auditExitCode } from '../policy/audit.js';
import { auditFlows, type Auditor } from '../policy/auditor.js';
import { compilePolicies, type PolicySet } from '../policy/evaluate.js';
import { explainFlow } from '../policy/explain.js';
import { resolveFlow } from '../policy/traffic.js';
import { explanationText } from './shared/explanation-text.js';
import { loadPolicies } from '../policy/load.js';
import { openClusterView } from './inputs.js';
import { clusterFilesFor, requireClusterForAudit } from './recorded-cluster.js';
import { collect } from './options.js';
import { FLOW_AUDIT_COLUMNS } from './report/columns.js';
import { auditJson, auditTable, parseAuditOutput, summaryLine } from './shared/audit-output.js';

interface DiffFlags {
  flows?: string[];
  policies?: string[];
  cluster?: string[];
  live?: boolean;
  kubeconfig?: string;
  context?: string;
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

async function runDiff(flags: DiffFlags): Promise<number> {
  if (flags.live) {
    // Loaded on use: it brings the Kubernetes client.
    const { runLiveDiff } = await import('./diff-live.js');
    return runLiveDiff(flags);
  }
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

export function diffCommand(): Command {
  return new Command('diff')
    .summary('show which recorded flows a set of policies would deny')
    .description(
      'Judges every recorded flow against NetworkPolicies with Kubernetes semantics (egress and ingress\n' +
        'gates, Service DNAT to the targetPort, named ports, ipBlock/except) and prints denied flows first,\n' +
        'with the policies and rules that decided. Exit 0: nothing denied; 1: something denied; 2: bad input.',
    )
    .requiredOption('--flows <file...>', 'recorded flows, JSONL v1 (repeatable; - for stdin)', collect)
    .option('--policies <path...>', 'policy files or directories to judge with (default: the cluster snapshot\'s own policies)', collect)
    .option('--cluster <file...>', 'cluster snapshot YAML (pods, services, namespaces...)', collect)
    .option('--live', 'compare with the live cluster: its NetworkPolicies vs --policies files (drift), and flows either would deny')
    .option('--kubeconfig <file>', 'kubeconfig for --live')
    .option('--context <name>', 'kubeconfig context for --live')
    .addOption(
      new Option('-o, --output <format>', `table, json, or columns=a,b (${FLOW_AUDIT_COLUMNS.map((c) => c.name).join(', ')}); the table groups a connection's flows into one row with their COUNT, JSON lists every flow`)
        .argParser(parseAuditOutput)
        .default(parseAuditOutput('table'), 'table'),
    )
    .option('--denied-only', 'print only denied flows (the summary still counts all)')
    .option('--explain', 'after the table, explain each denied connection: every gate, policy and rule, and why it did not match')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  netpol diff --flows fixtures/demo/flows-later.jsonl --policies policies/ --cluster fixtures/demo/cluster.yaml\n' +
        '  netpol diff --flows rec.jsonl --cluster cluster.yaml -o json | jq \'.flows[] | select(.verdict=="denied")\'\n' +
        '  netpol diff --live --flows rec.jsonl --policies policies/',
    )
    .action(async (flags: DiffFlags) => {
      process.exitCode = await runDiff(flags);
    });
}
