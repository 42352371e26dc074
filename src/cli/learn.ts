/**
 * `netpol learn`: recorded (or observed) connections → least-privilege NetworkPolicy.
 * Offline from a recording and a snapshot; `--local` observes this host (src/cli/learn-local.ts);
 * `-l/--selector` without `--flows` observes a live cluster's pods (src/cli/learn-live.ts).
 */
import { Command, Option } from 'commander';
import { totalBytes } from '../flows/jsonl.js';
import { aggregateFiles } from '../flows/parallel.js';
import { learnFromEdges, type LearnOutcome } from '../policy/learn.js';
import { renderPolicies } from '../policy/render.js';
import { parseSelector } from '../policy/selector.js';
import { INGRESS_MODES, type IngressMode, type SynthesisOptions } from '../policy/synthesize/index.js';
import { writePolicyTree, type WriteResult } from '../policy/write.js';
import type { ClusterView } from '../cluster/view.js';
import { openClusterView, podScope } from './inputs.js';
import { DURATION_SYNTAX, parseDuration } from './duration.js';
import { clusterFilesFor } from './recorded-cluster.js';
import { collect, oneOf, parseIntInRange } from './options.js';
import { InputError } from '../errors.js';

/** Flags that shape synthesis; `check` accepts the same ones so its drift check regenerates alike. */
export interface SynthesisFlags {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  dns: boolean;
  dnsNamespace?: string;
  dnsSelector?: string;
  ingress: IngressMode;
  aggregateCidr?: boolean | number;
  aggregateCidr6?: number;
  portRanges?: boolean | number;
  includeFailed?: boolean;
  learnDnsWorkload?: boolean;
}

export function addSynthesisOptions(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <ns>', 'only learn policies for workloads in this namespace (default: all namespaces)')
    .option('-A, --all-namespaces', 'learn policies for workloads in every namespace (the default offline)')
    .option('-l, --selector <selector>', 'only learn policies for pods matching this label selector (e.g. run=mypod, app in (a,b))')
    .option('--no-dns', 'do not allow egress to the cluster DNS pods on UDP/TCP 53')
    .option('--dns-namespace <ns>', 'namespace of the cluster DNS pods', 'kube-system')
    .option('--dns-selector <selector>', 'label selector of the cluster DNS pods (default: found from the kube-dns Service, else k8s-app=kube-dns)')
    .addOption(
      new Option('--ingress <mode>', 'observed: Ingress only for workloads with observed inbound traffic; strict: every workload (no inbound observed = none allowed); none: egress only')
        .choices(INGRESS_MODES as string[])
        .default('observed'),
    )
    .option('--aggregate-cidr [prefix]', 'widen: merge addresses into exact covering CIDRs, and with a prefix (e.g. 24) collapse addresses sharing that IPv4 block (reported)', parseIntInRange(1, 32))
    .option('--aggregate-cidr6 <prefix>', 'widen: IPv6 floor prefix for --aggregate-cidr (e.g. 64)', parseIntInRange(1, 128))
    .option('--learn-dns-workload', 'also learn a policy for the cluster DNS pods (left out by default: their UDP clients are not observed)')
    .option('--include-failed', 'also learn connects nobody answered (outcome timeout, closed or error); by default they are left out and counted')
    .option('--port-ranges [gap]', 'widen: contiguous ports become port/endPort ranges; with a gap, ranges may bridge that many unobserved ports (reported)', parseIntInRange(0, 65535));
}

export function synthesisOptions(flags: SynthesisFlags): SynthesisOptions {
  const scope = podScope(flags);
  const options: SynthesisOptions = {
    ingress: flags.ingress,
    dns: flags.dns,
    scope: (pod) => scope(pod),
  };
  if (flags.dnsNamespace) options.dnsNamespace = flags.dnsNamespace;
  if (flags.dnsSelector) options.dnsSelector = parseSelector(flags.dnsSelector, '--dns-selector');
  if (flags.aggregateCidr6 !== undefined && flags.aggregateCidr === undefined) {
    throw new InputError('--aggregate-cidr6', 'needs --aggregate-cidr');
  }
  if (flags.aggregateCidr !== undefined) {
    const floors: { floorV4?: number; floorV6?: number } = {};
    if (typeof flags.aggregateCidr === 'number') floors.floorV4 = flags.aggregateCidr;
    if (flags.aggregateCidr6 !== undefined) floors.floorV6 = flags.aggregateCidr6;
    options.aggregateCidr = Object.keys(floors).length > 0 ? floors : true;
  }
  if (flags.includeFailed) options.includeFailed = true;
  if (flags.learnDnsWorkload) options.learnDnsWorkload = true;
  if (flags.portRanges !== undefined) options.portRanges = typeof flags.portRanges === 'number' ? { gap: flags.portRanges } : true;
  return options;
}

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

/** Human summary of a learn run, on stderr so stdout stays the policy YAML. */
export function reportOutcome(outcome: LearnOutcome, written?: WriteResult, outDir?: string): string {
  const lines: string[] = [];
  const { result } = outcome;
  lines.push(`learned ${result.policies.length} ${result.policies.length === 1 ? 'policy' : 'policies'} from ${outcome.flows} flows (${outcome.edges} distinct connections)`);
  if (outcome.unanswered > 0) {
    lines.push(`left out ${outcome.unanswered} ${outcome.unanswered === 1 ? 'flow' : 'flows'} whose connect nobody answered (timeout, closed or error); --include-failed learns them too`);
  }
  for (const w of result.widened) {
    lines.push(`widened ${w.policy} ${w.direction} ${w.kind}: ${w.from.join(', ')} → ${w.to} (${w.scope}): ${w.reason}`);
  }
  for (const w of result.warnings) lines.push(`warning: ${w}`);
  if (written) {
    const prefix = outDir ? `${outDir.replace(/\/+$/, '')}/` : '';
    for (const f of written.files) if (f.status === 'written') lines.push(`wrote ${prefix}${f.path}`);
    const unchanged = written.files.filter((f) => f.status === 'unchanged').length;
    if (unchanged > 0) lines.push(`${unchanged} file(s) unchanged`);
    for (const f of written.stale) lines.push(`stale: ${prefix}${f} was generated by netpol before but is no longer learned (left in place; delete it if the workload is gone)`);
  }
  return lines.join('\n') + '\n';
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
