/**
 * `netpol diff`: every recorded flow with the verdict a set of policies gives it, denied first, and
 * (with --live) drift between the cluster's NetworkPolicies and the files. Exit 0 when nothing is
 * denied, 1 when something is, 2 on bad input — like `kubectl diff`.
 */
import { Command, Option } from 'commander';
import { FLOW_AUDIT_COLUMNS } from '../../output/report/columns.js';
import { parseAuditOutput } from '../../shared/audit-output.js';
import { runOfflineDiff, type OfflineDiffFlags } from './offline.js';
import { addKubeconfigOptions } from '../../shared/input-options.js';
import { addExamples, declareCommand, runsWithExitCode } from '../../shared/command-help.js';

interface DiffFlags extends OfflineDiffFlags {
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

async function runDiff(flags: DiffFlags): Promise<number> {
  if (flags.live) {
    // Loaded on use: it brings the Kubernetes client.
    const { runLiveDiff } = await import('./live.js');
    return runLiveDiff(flags);
  }
  return runOfflineDiff(flags);
}

export function diffCommand(): Command {
  const cmd = declareCommand(
    'diff',
    'show which recorded flows a set of policies would deny',
    `Judges every recorded flow against NetworkPolicies with Kubernetes semantics (egress and ingress
    gates, Service DNAT to the targetPort, named ports, ipBlock/except) and prints denied flows first,
    with the policies and rules that decided. Exit 0: nothing denied; 1: something denied; 2: bad input.`,
    {
      flows: { help: 'recorded flows, JSONL v1 (repeatable; - for stdin)', required: true },
      cluster: { help: 'cluster snapshot YAML (pods, services, namespaces...)' },
      policies: { help: "policy files or directories to judge with (default: the cluster snapshot's own policies)" },
    },
  );
  cmd.option('--live', 'compare with the live cluster: its NetworkPolicies vs --policies files (drift), and flows either would deny');
  addKubeconfigOptions(cmd, 'for --live');
  cmd
    .addOption(
      new Option('-o, --output <format>', `table, json, or columns=a,b (${FLOW_AUDIT_COLUMNS.map((c) => c.name).join(', ')}); the table groups a connection's flows into one row with their COUNT, JSON lists every flow`)
        .argParser(parseAuditOutput)
        .default(parseAuditOutput('table'), 'table'),
    )
    .option('--denied-only', 'print only denied flows (the summary still counts all)')
    .option('--explain', 'after the table, explain each denied connection: every gate, policy and rule, and why it did not match');
  addExamples(cmd, [
    'netpol diff --flows fixtures/demo/flows-later.jsonl --policies policies/ --cluster fixtures/demo/cluster.yaml',
    'netpol diff --flows rec.jsonl --cluster cluster.yaml -o json | jq \'.flows[] | select(.verdict=="denied")\'',
    'netpol diff --live --flows rec.jsonl --policies policies/',
  ]);
  return runsWithExitCode(cmd, runDiff);
}
