/**
 * `netpol learn`: recorded (or observed) connections → least-privilege NetworkPolicy.
 * Offline from a recording and a snapshot; `--local` observes this host (src/cli/learn-local.ts);
 * `-l/--selector` without `--flows` observes a live cluster's pods (src/cli/learn-live.ts).
 */
import { Command, Option } from 'commander';
import { totalBytes } from '../flows/jsonl.js';
import { aggregateFiles } from '../flows/parallel.js';
import { learnFromEdges } from '../policy/learn.js';
import { renderPolicies } from '../policy/render.js';
import { writePolicyTree } from '../policy/write.js';
import type { ClusterView } from '../cluster/view.js';
import { openClusterView } from './inputs.js';
import { DURATION_SYNTAX, parseDuration } from './duration.js';
import { clusterFilesFor } from './recorded-cluster.js';
import { reportOutcome } from './shared/learn-report.js';
import { addSynthesisOptions, synthesisOptions, type SynthesisFlags } from './shared/synthesis-flags.js';
import { collect } from './options.js';
import { InputError } from '../errors.js';

interface LearnFlags extends SynthesisFlags {
  flows?: string[];
  cluster?: string[];
  out?: string;
  output: 'yaml' | 'json';
  local?: boolean;
  containername?: string;
  duration?: number;
  record?: string;
  latency?: boolean;
  host?: boolean;
  connectErrors?: boolean;
  apply?: boolean;
  kubeconfig?: string;
  context?: string;
}

async function learnOffline(flags: LearnFlags): Promise<number> {
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
      const written = writePolicyTree(flags.out, outcome.result);
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

/** A progress bar on a terminal for big recordings (src/cli/views/progress), nothing on a pipe. */
async function startProgress(bytes: number): Promise<{ update: (p: { bytes: number; flows: number }) => void; done: () => void } | undefined> {
  if (!process.stderr.isTTY || bytes < 8 << 20) return undefined;
  try {
    const mod = (await import('./views/progress.js')) as { createProgress?: (total: number) => { update: (p: { bytes: number; flows: number }) => void; done: () => void } };
    return mod.createProgress?.(bytes);
  } catch {
    return undefined;
  }
}

export function learnCommand(): Command {
  const cmd = new Command('learn')
    .summary('learn least-privilege NetworkPolicy from observed connections')
    .description(
      'Turns connections into one NetworkPolicy per workload: egress to exactly the peers and ports seen\n' +
        '(pods by their workload selector, Services as their backing pods on the targetPort, outside\n' +
        'addresses as /32 or /128), ingress for observed inbound traffic, and DNS.',
    )
    .option('--flows <file...>', 'recorded flows, JSONL v1 (repeatable; - for stdin; .gz read transparently)', collect)
    .option('--cluster <file...>', 'cluster snapshot YAML (repeatable)', collect)
    .option('--out <dir>', 'write <dir>/<namespace>/<workload>.yaml and kustomization.yaml (atomically) instead of printing');
  addSynthesisOptions(cmd);
  cmd
    .addOption(new Option('-o, --output <format>', 'printed format when --out is not given').choices(['yaml', 'json']).default('yaml'))
    .option('--local', 'observe connections on this host (containers and processes) with eBPF')
    .option('-c, --containername <name>', 'with --local: only this container')
    .option('--duration <duration>', `observe for this long (${DURATION_SYNTAX}), then write; default until q/Ctrl-C`, parseDuration)
    .option('--record <file>', 'append observed flows to this JSONL recording as they arrive')
    .option('--no-latency', 'with --local/-l: leave connect latency out of the recording')
    .option('--host', 'with --local: also observe host processes (recorded by address; they get no policy)')
    .option('--connect-errors', 'with --local: also record connect() calls that failed before sending anything (costs every syscall a little)')
    .option('--apply', 'live: apply the learned policies (server-side dry-run first, then apply, showing a diff)')
    .option('--kubeconfig <file>', 'kubeconfig to use (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .addHelpText(
      'after',
      '\nModes:\n' +
        '  offline  --flows F... --cluster S   a recording and a `kubectl get ... -o yaml` snapshot\n' +
        '  host     --local [-c NAME]          observe this host with eBPF (needs root)\n' +
        '  cluster  -l SELECTOR [-n NS]        observe this node, enrich through the API server\n' +
        '\nExamples:\n' +
        '  netpol learn --flows fixtures/demo/flows.jsonl --cluster fixtures/demo/cluster.yaml\n' +
        '  netpol learn --flows rec.jsonl --cluster cluster.yaml -n shop --out policies/\n' +
        '  netpol learn --flows rec.jsonl --cluster cluster.yaml -l run=mypod --no-dns --aggregate-cidr 24\n' +
        '  sudo netpol learn --local -c test-tcp-connect --duration 30s --record rec.jsonl --out policies/\n' +
        '  netpol learn -l run=mypod -n default --duration 5m --out policies/ --apply',
    )
    .action(async (flags: LearnFlags) => {
      process.exitCode = await runLearn(flags);
    });
  return cmd;
}

async function runLearn(flags: LearnFlags): Promise<number> {
  if (flags.local) {
    if (flags.flows) throw new InputError('--local', 'observes this host; it cannot be combined with --flows');
    const { learnLocal } = await import('./learn-local.js');
    return learnLocal(flags);
  }
  if (flags.flows && flags.flows.length > 0) {
    if (flags.apply) throw new InputError('--apply', 'applies to live learning (-l without --flows); apply offline results with `kubectl apply -k DIR`');
    return learnOffline(flags);
  }
  if (flags.selector || flags.namespace || flags.kubeconfig || flags.context) {
    // Loaded lazily: the live path pulls in @kubernetes/client-node, which offline runs never need.
    const live = './learn-live.js';
    const { learnLive } = (await import(live)) as { learnLive: (f: LearnFlags) => Promise<number> };
    return learnLive(flags);
  }
  throw new InputError('learn', 'nothing to learn from: give --flows F --cluster S (offline), --local (this host) or -l SELECTOR (live cluster); see `netpol learn --help`');
}
