/**
 * `netpol learn -l SELECTOR [-n NS|-A] [--since 3d] [--out DIR] [--apply]` from the cluster's
 * TrafficProfiles: what the agents on every node observed, merged per workload, learned through
 * the same synthesizer as the other modes. Needs only a kubeconfig that may list TrafficProfiles
 * (and, with --apply, write NetworkPolicies): no root, no kernel, from any workstation.
 *
 * Every namespace's profiles are read even for `-n NS`, because a workload's inbound traffic is in
 * its clients' profiles; when only NS may be listed, that is said (inbound traffic from other
 * namespaces is then missing). What the profiles could not hold (a size bound's overflow) and
 * what --since left out are reported, never silently cut.
 */
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { buildIndex, type ClusterIndex } from '../../../cluster/lookup.js';
import { profilesServed } from '../../../cluster/profile/client.js';
import { learningContext, readProfiles, type ProfileReading } from '../../../cluster/profile/reader.js';
import { workloadIdentityKey } from '../../../cluster/profile/types.js';
import { EnvironmentError, InputError } from '../../../errors.js';
import { learnFromResolved, type LearnOutcome } from '../../../policy/learn.js';
import { profileLearnEdges } from '../../../policy/profile-edges.js';
import { DEFAULT_DNS_NAMESPACE, type SynthesisOptions } from '../../../policy/synthesize/index.js';
import { emitLearned } from '../../shared/learned-output.js';
import { synthesisOptions, type SynthesisFlags } from '../../shared/synthesis-flags.js';

export interface LearnProfilesOptions extends Partial<SynthesisFlags> {
  /** --since in milliseconds: only edges last seen within it. */
  since?: number;
  out?: string;
  output?: 'yaml' | 'json';
  apply?: boolean;
  kubeconfig?: string;
  context?: string;
}

export interface LearnProfilesIO {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** The clock (tests). */
  now?: () => number;
}

export async function learnFromProfiles(opts: LearnProfilesOptions, io: LearnProfilesIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const { kc, description, namespace, contextNamespace } = await connectProfileLearning(opts);
  const now = io.now?.() ?? Date.now();
  const t0 = Date.now();
  // The profiles and the little else learning needs are read at once: listing 12,000 profiles is
  // seconds of waiting for the API server, and the context's requests need not queue behind it.
  const [context, read] = await Promise.allSettled([
    learningContext(kc, opts.dnsNamespace ?? DEFAULT_DNS_NAMESPACE),
    readProfiles(kc, { sinceMs: opts.since !== undefined ? now - opts.since : undefined, fallbackNamespace: namespace ?? contextNamespace }),
  ]);
  // Both are waited for (nothing left in flight); a failure of the context is said first, as when it was read first.
  if (context.status === 'rejected') throw context.reason;
  if (read.status === 'rejected') throw read.reason;
  const reading = read.value;
  const index = buildIndex(context.value);
  const synthesis = profileSynthesisOptions(opts, namespace);
  const outcome = learnFromReading(reading, index, synthesis, opts, now);
  const nodes = new Set(reading.profiles.flatMap((p) => p.nodes));
  stderr.write(
    `read ${reading.objects} TrafficProfiles (${reading.profiles.length} workloads, ${nodes.size} nodes) through ${description} in ${Date.now() - t0} ms` +
      `; learning ${opts.selector ? `pods matching ${opts.selector}` : 'all workloads'} in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}\n`,
  );
  await emitLearned(outcome, opts, kc, { stdout, stderr });
  return 0;
}

/**
 * What learning from profiles needs besides them, for learn -A and learn --watch alike: the
 * kubeconfig (the CRD must be served), the namespace learned, the cluster context (namespace
 * labels, the DNS pods) and the synthesis options.
 */
export async function prepareProfileLearning(opts: LearnProfilesOptions) {
  const connection = await connectProfileLearning(opts);
  const index = buildIndex(await learningContext(connection.kc, opts.dnsNamespace ?? DEFAULT_DNS_NAMESPACE));
  return { ...connection, index, synthesis: profileSynthesisOptions(opts, connection.namespace) };
}

/** The kubeconfig, once the API server is known to serve TrafficProfiles, and the namespace learned (undefined: all). */
async function connectProfileLearning(opts: LearnProfilesOptions) {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const { kc, namespace: contextNamespace, description } = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  if (!(await profilesServed(kc))) {
    throw new EnvironmentError(
      `the API server at ${description} serves no TrafficProfiles (trafficprofiles.netpol.io)`,
      'install the agents (kubectl netpol deploy, or kubectl apply -f deploy/crds/trafficprofiles.yaml), or learn on a node with --source node',
    );
  }
  const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? contextNamespace);
  return { kc, description, namespace, contextNamespace };
}

function profileSynthesisOptions(opts: LearnProfilesOptions, namespace: string | undefined): SynthesisOptions {
  return synthesisOptions({ ...opts, namespace, dns: opts.dns ?? true, ingress: opts.ingress ?? 'observed' } as SynthesisFlags);
}

/**
 * Profiles read → the learn outcome, with what they could not tell said as warnings: profiles over
 * their size bound, edges --since left out, a listing narrowed to one namespace. Shared with
 * `learn --watch` (./watch.ts), which calls it again whenever a profile changes.
 */
export function learnFromReading(reading: ProfileReading, index: ClusterIndex, synthesis: SynthesisOptions, opts: Pick<LearnProfilesOptions, 'includeFailed' | 'since'>, now: number): LearnOutcome {
  const pe = profileLearnEdges(reading.profiles, index, { includeFailed: opts.includeFailed });
  const outcome = learnFromResolved(pe.edges, pe.connects, pe.unanswered, index, synthesis);
  const w = outcome.result.warnings;
  const overflowing = reading.profiles.filter((p) => p.overflow.connects > 0);
  for (const p of overflowing.slice(0, 5)) {
    w.push(`profile of ${p.workload.kind} ${workloadIdentityKey(p.workload)} is incomplete: ${p.overflow.connects} connects (${p.overflow.edges} edges) did not fit its size bound and are not learned (raise NETPOL_PROFILE_MAX_EDGES on the agents)`);
  }
  if (overflowing.length > 5) w.push(`${overflowing.length - 5} more profiles are incomplete (size bound); see kubectl get trafficprofiles -A`);
  if (reading.older.edges > 0) w.push(`--since left out ${reading.older.edges} edges (${reading.older.connects} connects) last seen before ${new Date(now - opts.since!).toISOString()}`);
  w.push(...dnsAssumedReasons(outcome.result, pe.udpUnobserved));
  if (reading.narrowedTo) w.push(`only namespace ${reading.narrowedTo}'s TrafficProfiles could be listed: inbound traffic from other namespaces is not learned`);
  return outcome;
}

/**
 * Why the DNS rule was assumed for policies learned from profiles: each names the workload and the
 * node whose agent did not observe UDP for all its connects (a handful, then how many more).
 */
function dnsAssumedReasons(result: LearnOutcome['result'], reasons: Map<string, string>): string[] {
  const assumed = new Set(result.dns?.assumed ?? []);
  const lines: string[] = [];
  for (const p of result.policies) {
    if (!assumed.has(`${p.policy.metadata?.namespace}/${p.policy.metadata?.name}`)) continue;
    const reason = reasons.get(workloadIdentityKey(p.workload));
    if (reason) lines.push(`dns: assumed for ${p.workload.kind} ${p.workload.namespace}/${p.workload.name}: ${reason}`);
  }
  return lines.length <= 5 ? lines : [...lines.slice(0, 5), `dns: assumed for ${lines.length - 5} more workloads whose profiles were not written while UDP was observed`];
}
