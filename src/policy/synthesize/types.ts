/**
 * The synthesizer's public types: what goes in (edges, options) and what comes out (policies,
 * widenings, warnings). Kept apart from the code so callers read the contract in one place.
 */
import type { Workload } from '../../cluster/lookup.js';
import type { LabelSelector, V1NetworkPolicy, V1Pod } from '../../cluster/objects.js';
import type { CidrAggregateOptions } from '../cidr-aggregate.js';
import type { ResolvedFlow } from '../traffic.js';

/** An aggregated, resolved flow: what `learn` feeds the synthesizer (one per distinct connection). */
export type LearnEdge = ResolvedFlow & { count: number; firstSeen?: string; lastSeen?: string };

/**
 * Which workloads get the Ingress policy type.
 * - `observed` (default): a workload is ingress-isolated only when inbound traffic to it was
 *   observed, and then exactly those sources and ports are allowed. A workload nobody was seen
 *   connecting to keeps only `Egress` in policyTypes, so learning from a recording that missed its
 *   clients does not silently cut them off.
 * - `strict`: every learned workload gets Ingress; no observed inbound traffic means deny all inbound.
 * - `none`: egress policies only.
 * Egress is always isolated for a learned workload: the agent records every connect a pod makes,
 * so what a workload did not connect to in the recording is what least privilege denies.
 */
export type IngressMode = 'observed' | 'strict' | 'none';
export const INGRESS_MODES: readonly IngressMode[] = ['observed', 'strict', 'none'];

export interface SynthesisOptions {
  /** Default `observed`. */
  ingress?: IngressMode;
  /** Allow egress to the cluster DNS pods on UDP and TCP 53. Default true. */
  dns?: boolean;
  /** Namespace of the DNS pods. Default `kube-system`. */
  dnsNamespace?: string;
  /**
   * Selector of the DNS pods. Default: the workload selector of the pods behind the `kube-dns`
   * Service of dnsNamespace (or of its pods labelled `k8s-app: kube-dns`) when the cluster view has
   * them, else `k8s-app: kube-dns`.
   */
  dnsSelector?: LabelSelector;
  /** Which workloads get a policy (the CLI's -n/-A/-l). Default: every pod workload seen in an edge. */
  scope?: (pod: V1Pod, workload: Workload) => boolean;
  /** Opt-in: aggregate ipBlocks (exact cover, then the floors given). `true` = exact cover only. */
  aggregateCidr?: boolean | CidrAggregateOptions;
  /** Opt-in: contiguous ports become port/endPort ranges; `gap` missing ports may be bridged. */
  portRanges?: boolean | { gap?: number };
  /** Read by the learn pipeline (src/policy/learn.ts): also learn connects nobody answered. */
  includeFailed?: boolean;
  /** Learn a policy for the cluster DNS workload too (default: left out, with a warning). */
  learnDnsWorkload?: boolean;
}

export interface GeneratedPolicy {
  workload: Workload;
  policy: V1NetworkPolicy;
  /** Where it goes in a policy tree: `<namespace>/<policy name>.yaml`. */
  path: string;
}

/** One opt-in widening: what became what, and why. */
export interface Widening {
  /** `namespace/name` of the policy. */
  policy: string;
  direction: 'egress' | 'ingress';
  kind: 'cidr' | 'port-range';
  /** What was observed: host CIDRs for `cidr`, `PROTO/port` for `port-range`. */
  from: string[];
  /** What is allowed now: a CIDR, or `PROTO/port-endPort`. */
  to: string;
  /** The peer (port ranges) or the ports (CIDRs) the widening applies to. */
  scope: string;
  reason: string;
}

export interface SynthesisResult {
  /** Sorted by path. */
  policies: GeneratedPolicy[];
  widened: Widening[];
  /** Everything skipped or approximated, with the number of flows concerned; never dropped silently. */
  warnings: string[];
  /**
   * How each policy's DNS egress came about (policy refs `ns/name`, see DnsOrigin in dns.ts):
   * learned from observed lookups, left out because UDP was observed and no lookup was, or assumed
   * (added) because the workload's flows were recorded without UDP. `target`: the DNS pods
   * (`namespace/selector`). Absent when no policy was learned.
   */
  dns?: { observed: string[]; notObserved: string[]; assumed: string[]; target: string };
}
