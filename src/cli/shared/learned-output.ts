/**
 * Where a cluster learn run's policies go (shared by learn's live mode and its TrafficProfiles
 * mode): the --out tree, or stdout as YAML/JSON; the summary on stderr; then --apply.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { LearnOutcome } from '../../policy/learn.js';
import { applyPolicies, formatApplyOutcomes } from '../../policy/live-diff.js';
import { renderPolicies } from '../../policy/render.js';
import { writePolicyTree } from '../../policy/write.js';
import { reportOutcome } from './learn-report.js';

export interface LearnedOutputOptions {
  out?: string;
  output?: string;
  apply?: boolean;
}

export async function emitLearned(
  outcome: LearnOutcome,
  opts: LearnedOutputOptions,
  kc: KubeConfig,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<void> {
  const policies = outcome.result.policies.map((p) => p.policy);
  if (opts.out) {
    const written = await writePolicyTree(opts.out, outcome.result);
    io.stderr.write(reportOutcome(outcome, written, opts.out));
  } else {
    io.stdout.write(opts.output === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }, null, 2) + '\n' : renderPolicies(policies));
    io.stderr.write(reportOutcome(outcome));
  }
  if (opts.apply && policies.length > 0) {
    const outcomes = await applyPolicies(kc, policies);
    io.stderr.write(formatApplyOutcomes(outcomes, false));
  }
}
