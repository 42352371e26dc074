/**
 * The live judge's verdicts, without I/O: every connect judged against the enforced NetworkPolicies
 * and, for each staged policy that could concern it, against the enforced ones with that staged
 * policy added (replacing an enforced policy of the same name, as promotion would) — with the very
 * evaluator and attribution `netpol diff` uses (resolveFlow + judgeResolved of src/policy). Each
 * staged policy is judged on its own, so its evidence is what promoting that one policy would do.
 *
 *   denied      an enforced policy denies the connect (a failing gate names the policies isolating it)
 *   dropped     the same, and the connect timed out or was closed unanswered: the dataplane dropped it
 *   would-deny  the enforced policies allow it, and they would deny it with the staged policy promoted
 *
 * Verdicts depend only on the edge (edgeIdentity, what resolution reads) and on the policies and the
 * cluster index, so they are cached per edge until any of those change.
 */
import type { V1NetworkPolicy } from '../cluster/objects.js';
import type { ClusterIndex } from '../cluster/lookup.js';
import { asNetworkPolicy, stagedKey, type StagedNetworkPolicy } from '../cluster/staged/types.js';
import { formatEndpoint } from '../cluster/endpoint-notation.js';
import { workloadKey } from '../cluster/workload.js';
import { edgeIdentity } from '../flows/edges.js';
import type { FlowRecord, Protocol } from '../flows/record.js';
import { judgeResolved } from '../policy/auditor.js';
import { compilePolicies, type PolicySet } from '../policy/evaluate.js';
import { resolveFlow, sourceName, type PodEndpoint, type ResolvedFlow } from '../policy/traffic.js';
import { validateNetworkPolicy } from '../policy/validate.js';

export type Gate = 'egress' | 'ingress';
export type LiveVerdict = 'denied' | 'dropped' | 'would-deny';

/** The judgement `judgeResolved` gives, as `netpol diff` shows it. */
export type Judged = ReturnType<typeof judgeResolved>;

/** One finding about one connect, before time and node are stamped on it. */
export interface Finding {
  verdict: LiveVerdict;
  staged: boolean;
  /** The staged policy, or the first enforced policy isolating the failing gate. */
  policy: string;
  /** Every policy isolating the failing gate (the staged one alone for would-deny). */
  policies: string[];
  gate: Gate;
  /** diff's sentence for the judgement the finding comes from. */
  reason: string;
  /** The workload whose gate closes (egress: the source's, ingress: the destination pod's), for Events. */
  gateWorkload?: PodEndpoint;
}

/** What one connect's edge was judged as (cached per edge). */
export interface EdgeJudgement {
  src: string;
  /** namespace/Kind/name of the source workload, or the source notation when it is no pod. */
  sourceWorkload: string;
  sourcePod?: PodEndpoint;
  /** The destination pod (the first backend that is one, for a Service). */
  dstPod?: PodEndpoint;
  dst: string;
  proto: Protocol;
  enforced: Judged;
  /** Findings before the connect's outcome is known ('denied' never says 'dropped' here). */
  findings: Finding[];
  /** Staged policies that were judged for this edge (their namespace is one of its ends'). */
  stagedJudged: string[];
}

/** The failing gate of a denied judgement and the policies isolating it; undefined when nothing policy-made failed. */
export function failingGate(j: Judged): { gate: Gate; policies: string[] } | undefined {
  if (j.verdict !== 'denied') return undefined;
  if (j.egress.applies && !j.egress.allowed) return { gate: 'egress', policies: [...j.egress.isolatedBy] };
  if (j.ingress.applies && !j.ingress.allowed) return { gate: 'ingress', policies: [...j.ingress.isolatedBy] };
  return undefined;
}

/** A staged policy the judge could not use, and why (e.g. it fails the API server's NetworkPolicy validation). */
export interface StagedProblem {
  key: string;
  problem: string;
}

interface StagedEntry {
  staged: StagedNetworkPolicy;
  key: string;
  namespace: string;
  set?: PolicySet;
  problem?: string;
}

/**
 * The policies a judge uses, compiled: the enforced set once, each staged policy's set (the enforced
 * ones plus it) when a connect first concerns its namespace. Kept while the policies stay the same,
 * across cluster-index changes (pods come and go far more often than policies).
 */
export class JudgePolicies {
  readonly enforcedSet: PolicySet;
  readonly stagedByNs = new Map<string, StagedEntry[]>();
  readonly problems: StagedProblem[] = [];
  readonly stagedCount: number;

  constructor(
    readonly enforced: readonly V1NetworkPolicy[],
    readonly staged: readonly StagedNetworkPolicy[],
  ) {
    this.enforcedSet = compilePolicies(enforced);
    for (const s of staged) {
      const key = stagedKey(s);
      const namespace = s.metadata?.namespace ?? 'default';
      const entry: StagedEntry = { staged: s, key, namespace };
      try {
        // Staged specs passed the CRD's schema, not the API server's NetworkPolicy validation: check it here.
        validateNetworkPolicy(asNetworkPolicy(s), { file: `StagedNetworkPolicy ${key}` });
      } catch (err) {
        entry.problem = (err as Error).message;
        this.problems.push({ key, problem: entry.problem });
      }
      const list = this.stagedByNs.get(namespace);
      if (list) list.push(entry);
      else this.stagedByNs.set(namespace, [entry]);
    }
    this.stagedCount = staged.length;
  }

  /** The enforced policies with this staged one added, replacing an enforced policy of the same name. */
  stagedSet(entry: StagedEntry): PolicySet | undefined {
    if (entry.problem !== undefined) return undefined;
    if (!entry.set) {
      const policy = asNetworkPolicy(entry.staged);
      entry.set = compilePolicies([...this.enforced.filter((p) => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}` !== entry.key), policy]);
    }
    return entry.set;
  }
}

export class LiveJudge {
  private readonly cache = new Map<string, EdgeJudgement>();

  constructor(
    readonly policies: JudgePolicies,
    readonly index: ClusterIndex,
    private readonly maxCache = 50_000,
  ) {}

  /** Judges one connect's edge (cached); undefined fields of the record are as diff would see them. */
  judge(record: FlowRecord): EdgeJudgement {
    const key = edgeIdentity(record);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const resolved = resolveFlow(record, this.index);
    const judgement = this.judgeResolved(resolved);
    if (this.cache.size >= this.maxCache) this.cache.clear();
    this.cache.set(key, judgement);
    return judgement;
  }

  private judgeResolved(resolved: ResolvedFlow): EdgeJudgement {
    const enforced = judgeResolved(this.policies.enforcedSet, resolved);
    const source = sourceName(resolved);
    const sourcePod = resolved.src.kind === 'pod' ? resolved.src : undefined;
    const dstPod = resolved.targets.map((t) => t.dst).find((d): d is PodEndpoint => d.kind === 'pod');
    const gateWorkload = (gate: Gate): PodEndpoint | undefined => (gate === 'egress' ? sourcePod : dstPod);
    const findings: Finding[] = [];
    const fail = failingGate(enforced);
    if (fail && fail.policies.length > 0) {
      const wl = gateWorkload(fail.gate);
      findings.push({ verdict: 'denied', staged: false, policy: fail.policies[0]!, policies: fail.policies, gate: fail.gate, reason: enforced.reason, ...(wl ? { gateWorkload: wl } : {}) });
    }
    // Staged policies of either end's namespace: a policy governs only pods of its own namespace.
    const namespaces = new Set<string>();
    if (sourcePod) namespaces.add(sourcePod.namespace);
    for (const t of resolved.targets) if (t.dst.kind === 'pod') namespaces.add(t.dst.namespace);
    const stagedJudged: string[] = [];
    if (enforced.verdict === 'allowed' && resolved.unidentified === undefined) {
      for (const ns of namespaces) {
        for (const entry of this.policies.stagedByNs.get(ns) ?? []) {
          const set = this.policies.stagedSet(entry);
          if (!set) continue;
          stagedJudged.push(entry.key);
          const withStaged = judgeResolved(set, resolved);
          if (withStaged.verdict !== 'denied') continue;
          // Only this staged policy changed: whatever gate now fails, promoting it would close it —
          // even one the staged policy does not isolate, when it replaces an enforced policy whose
          // rule was what let the connect through.
          const gate = failingGate(withStaged)?.gate ?? (withStaged.egress.allowed ? 'ingress' : 'egress');
          const wl = gateWorkload(gate);
          findings.push({ verdict: 'would-deny', staged: true, policy: entry.key, policies: [entry.key], gate, reason: withStaged.reason, ...(wl ? { gateWorkload: wl } : {}) });
        }
      }
    }
    return {
      src: formatEndpoint(source),
      sourceWorkload: sourcePod ? workloadKey(sourcePod.workload) : formatEndpoint(source),
      ...(sourcePod ? { sourcePod } : {}),
      ...(dstPod ? { dstPod } : {}),
      dst: enforced.dst,
      proto: enforced.proto,
      enforced,
      findings,
      stagedJudged,
    };
  }
}

/** A connect that got no answer: timed out, or closed before any. */
export function unanswered(outcome: FlowRecord['outcome']): boolean {
  return outcome === 'timeout' || outcome === 'closed';
}
