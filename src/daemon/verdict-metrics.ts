/**
 * `netpol_judge_verdicts_total{verdict, policy, gate}` with bounded cardinality: at most `maxSeries`
 * label sets of their own (policies come and go; a cluster can have thousands), plus at most one
 * `_other` series per verdict and gate (6). Past the cap a new series is not
 * created: its count goes to the `policy="_other"` series of its verdict and gate, and every such
 * connect is also counted in netpol_judge_verdict_series_overflow_total, so the sum stays exact and
 * the overflow is visible.
 */
import type { MetricFamily } from './sink.js';
import type { Gate, LiveVerdict } from './live-judge.js';

export const OTHER_POLICY = '_other';

export class VerdictMetrics {
  private readonly series = new Map<string, { verdict: LiveVerdict; policy: string; gate: Gate; value: number }>();
  private overflow = 0;

  constructor(private readonly maxSeries = 500) {}

  add(verdict: LiveVerdict, policy: string, gate: Gate): void {
    let key = `${verdict}\u0000${policy}\u0000${gate}`;
    let s = this.series.get(key);
    if (!s && this.series.size >= this.maxSeries) {
      this.overflow++;
      key = `${verdict}\u0000${OTHER_POLICY}\u0000${gate}`;
      s = this.series.get(key);
      policy = OTHER_POLICY;
    }
    if (!s) this.series.set(key, (s = { verdict, policy, gate, value: 0 }));
    s.value++;
  }

  families(): MetricFamily[] {
    return [
      {
        name: 'netpol_judge_verdicts_total',
        help: 'Connects denied by an enforced NetworkPolicy (verdict="denied"), dropped by one (no answer, "dropped"), or that a staged policy would deny ("would_deny"), by policy (namespace/name) and gate.',
        type: 'counter',
        samples: [...this.series.values()].map((s) => ({ labels: { verdict: s.verdict.replace('-', '_'), policy: s.policy, gate: s.gate }, value: s.value })),
      },
      {
        name: 'netpol_judge_verdict_series_overflow_total',
        help: `Verdicts counted under policy="${OTHER_POLICY}" because the series cap (${this.maxSeries}) was reached.`,
        type: 'counter',
        samples: [{ value: this.overflow }],
      },
    ];
  }
}
