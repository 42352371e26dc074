/** `netpol learn --flows F --cluster S`: a recording and a snapshot → policies, printed or written to --out. */
import { totalBytes } from '../../../flows/jsonl.js';
import { aggregateFiles } from '../../../flows/parallel.js';
import { learnFromEdges } from '../../../policy/learn.js';
import { renderPolicies } from '../../../policy/render.js';
import { writePolicyTree } from '../../../policy/write.js';
import type { ClusterView } from '../../../cluster/view.js';
import { openClusterView } from '../../shared/inputs.js';
import { clusterFilesFor } from '../../shared/recorded-cluster.js';
import { reportOutcome } from '../../shared/learn-report.js';
import { synthesisOptions, type SynthesisFlags } from '../../shared/synthesis-flags.js';

/** The flags the offline mode reads (a subset of the command's). */
export interface OfflineLearnFlags extends SynthesisFlags {
  flows?: string[];
  cluster?: string[];
  out?: string;
  output: 'yaml' | 'json';
}

export async function learnOffline(flags: OfflineLearnFlags): Promise<number> {
  const flowFiles = flags.flows ?? [];
  const cluster = clusterFilesFor(flags.cluster, flowFiles);
  if (!cluster) await openClusterView({}, 'snapshot'); // says how to make one
  const options = synthesisOptions(flags);
  const progress = await startProgress(totalBytes(flowFiles));
  // Worker threads read the recording while this thread parses the snapshot and builds its index.
  const aggregation = aggregateFiles(flowFiles, { onProgress: progress?.update });
  aggregation.catch(() => {}); // awaited below; a snapshot error must not leave it unhandled
  let view: ClusterView;
  try {
    view = await openClusterView({ cluster }, 'snapshot');
    view.index();
  } catch (err) {
    await aggregation.catch(() => {});
    throw err;
  }
  try {
    const { edges, flows } = await aggregation;
    const outcome = learnFromEdges(edges, flows, view.index(), options);
    progress?.done();
    if (flags.out) {
      const written = await writePolicyTree(flags.out, outcome.result);
      process.stderr.write(reportOutcome(outcome, written, flags.out));
      return 0;
    }
    const policies = outcome.result.policies.map((p) => p.policy);
    process.stdout.write(flags.output === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }, null, 2) + '\n' : renderPolicies(policies));
    process.stderr.write(reportOutcome(outcome));
    return 0;
  } finally {
    await view.close();
  }
}

/** A progress bar on a terminal for big recordings (src/cli/views/progress.ts), nothing on a pipe. */
async function startProgress(bytes: number): Promise<{ update: (p: { bytes: number; flows: number }) => void; done: () => void } | undefined> {
  if (!process.stderr.isTTY || bytes < 8 << 20) return undefined;
  try {
    const mod = (await import('../../views/progress.js')) as { createProgress?: (total: number) => { update: (p: { bytes: number; flows: number }) => void; done: () => void } };
    return mod.createProgress?.(bytes);
  } catch {
    return undefined;
  }
}
