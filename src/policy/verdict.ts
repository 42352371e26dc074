/**
 * What the evaluator returns: evidence, not a boolean. Each gate says whether it applies, which
 * policies isolate the pod in that direction and which policy rules allowed the traffic.
 */

/** A rule of a policy, by position: `egress[1]` of default/web is { policy: 'default/web', direction: 'egress', rule: 1 }. */
export interface RuleRef {
  /** namespace/name of the NetworkPolicy. */
  policy: string;
  direction: 'egress' | 'ingress';
  rule: number;
}

export interface GateResult {
  /** False when there is no such gate: the endpoint on that side is not a pod of the cluster. */
  applies: boolean;
  /** True when a policy selecting the pod has this direction in its policyTypes. */
  isolated: boolean;
  /** namespace/name of every policy that selects the pod and isolates it in this direction, sorted. */
  isolatedBy: string[];
  /** Every rule that allows the traffic, in policy order. */
  allowedBy: RuleRef[];
  /** !applies || !isolated || allowedBy.length > 0 */
  allowed: boolean;
}

export type VerdictKind = 'allowed' | 'denied';

export interface Verdict {
  verdict: VerdictKind;
  egress: GateResult;
  ingress: GateResult;
}
