/**
 * Which learned workloads get a policy, and what is said about those that do not or that may be
 * learned from too little. The cluster DNS and workloads without stable labels are left out (a
 * policy for them would cut off unseen clients or select a whole namespace); a workload seen only
 * as a destination gets a policy with a warning that its egress was never observed.
 */
import { isEmptySelector } from '../selector.js';
import { cmp } from './compare.js';
import { isDnsWorkload, type DnsTarget } from './dns.js';
import type { LearnedWorkload, SynthesisState } from './state.js';
import { workloadLabel } from './warnings.js';

/** The learned workloads that get a policy, sorted by workload key; the others are warned about. */
export function selectableWorkloads(state: SynthesisState, dns: DnsTarget): LearnedWorkload[] {
  const { warnings } = state;
  return [...state.learned.values()]
    .filter((l) => {
      // The cluster DNS serves every pod and node, mostly over UDP, which connect tracing never
      // sees: a policy learned for it would cut off every client that was not recorded, and its
      // own upstream resolvers. It is learned only when asked for by name.
      if (!state.options.learnDnsWorkload && isDnsWorkload(state.index, dns, l)) {
        warnings.add(
          `no policy for ${workloadLabel(l.workload)}: it is the cluster DNS, whose clients (mostly UDP) connect tracing does not see; a learned policy would cut them off. --learn-dns-workload learns it anyway`,
        );
        return false;
      }
      if (!isEmptySelector(l.workload.selector)) return true;
      warnings.add(
        `no policy for ${workloadLabel(l.workload)}: it has no stable labels to select it by, and a podSelector {} would select every pod in namespace ${l.workload.namespace}; label its pods and learn again`,
      );
      return false;
    })
    .sort((a, b) => cmp(a.key, b.key));
}

/**
 * Egress is isolated for every learned workload (least privilege: what was not seen is denied).
 * That is only right if the workload's pods were traced; say so where nothing outbound was seen.
 */
export function warnEgressUnobserved(state: SynthesisState, selectable: LearnedWorkload[]): void {
  for (const l of selectable) {
    if (!l.outbound) {
      state.warnings.add(
        `${workloadLabel(l.workload)} was seen only as a destination: its policy allows no egress${state.options.dns ? ' but DNS' : ''}; if the recording did not trace its pods, leave it out of scope (-l/-n)`,
      );
    }
  }
}
