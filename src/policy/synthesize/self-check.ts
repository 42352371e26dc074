/**
 * The synthesizer's two self-checks. API validation: the API server must accept every object
 * netpol writes (labels taken from a hand-written snapshot can still be invalid), so a problem is
 * an error the user can act on. Evaluation: every observed flow that became rules must be allowed
 * by the learned set on both gates; a miss would be a synthesizer bug, reported, never hidden.
 */
import type { V1NetworkPolicy } from '../../cluster/objects.js';
import type { Workload } from '../../cluster/lookup.js';
import { NetpolError } from '../../errors.js';
import { compilePolicies, evaluate, explainVerdict, isAllowed } from '../evaluate.js';
import { formatFieldPath, networkPolicyProblems } from '../validate.js';
import { verdictClassifier } from '../verdict-class.js';
import { egressRule, ingressRule, type BuiltRule } from './render.js';
import type { SynthesisState } from './state.js';
import type { GeneratedPolicy } from './types.js';
import { workloadLabel } from './warnings.js';

/**
 * Throws NetpolError, naming the field paths, when the API server would reject `policy`.
 * API validation checks each peer on its own, so a peer already checked (the same rendered object
 * in an earlier policy, see state.checkedPeers) is left out of the view that is checked: on large
 * learns the same peers recur in hundreds of policies. On a problem, the whole policy is checked
 * again so the reported field paths are the real ones.
 */
export function checkAccepted(state: SynthesisState, workload: Workload, policy: V1NetworkPolicy, ingress: BuiltRule[], egress: BuiltRule[]): void {
  const unchecked = (rules: BuiltRule[]) =>
    rules.map((r) => {
      const peers = r.peers.filter((_, i) => {
        const key = r.peerKeys[i]!;
        if (state.checkedPeers.has(key)) return false;
        state.checkedPeers.add(key);
        return true;
      });
      return { peers: peers.length > 0 ? peers : r.peers.slice(0, 1), ports: r.ports };
    });
  const spec = policy.spec!;
  const view = {
    ...policy,
    spec: {
      ...spec,
      ...(spec.ingress ? { ingress: unchecked(ingress).map(ingressRule) } : {}),
      ...(spec.egress ? { egress: unchecked(egress).map(egressRule) } : {}),
    },
  };
  if (networkPolicyProblems(view).length > 0) {
    const problems = networkPolicyProblems(policy);
    throw new NetpolError(
      `the policy learned for ${workloadLabel(workload)} would be rejected by the API server: ${problems
        .map((p) => `${formatFieldPath(p.path)}: ${p.detail}`)
        .join('; ')}`,
    );
  }
}

/**
 * Warns about every observed Traffic (state.verifyTraffic) the learned policies do not allow.
 * Traffic the evaluator provably judges alike (same verdict class, see verdict-class.ts for the
 * argument: same port and protocol, same self/own-node relations, ends alike in everything the
 * evaluator reads) shares one evaluation: a Service edge fans out to every backend pod, and the
 * backends of a workload differ only in name, address and node. A Traffic found not allowed is
 * evaluated again on its own, so each warning names its own traffic.
 */
export function checkAllowed(state: SynthesisState, policies: GeneratedPolicy[]): void {
  const learnedSet = compilePolicies(policies.map((g) => g.policy));
  const classOf = verdictClassifier(learnedSet);
  const allowedByClass: boolean[] = [];
  const { verifyTraffic, verifyCount } = state;
  for (let i = 0; i < verifyTraffic.length; i++) {
    const traffic = verifyTraffic[i]!;
    const id = classOf(traffic);
    let allowed = allowedByClass[id];
    if (allowed === undefined) {
      allowed = isAllowed(learnedSet, traffic);
      allowedByClass[id] = allowed;
    }
    if (allowed) continue;
    const verdict = evaluate(learnedSet, traffic);
    if (verdict.verdict !== 'allowed') {
      state.warnings.add(`internal: the learned policies do not allow this observed traffic: ${explainVerdict(traffic, verdict)}; please report it`, verifyCount[i]!);
    }
  }
}
