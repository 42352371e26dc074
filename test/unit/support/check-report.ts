/** A CheckReport fixture for the report writers: the seed scenario's denied flow, an allowed one, and drift. */
import type { CheckReport, FlowAudit } from '../../../src/policy/audit.js';
import type { GateResult } from '../../../src/policy/verdict.js';

export const NO_GATE: GateResult = { applies: false, isolated: false, isolatedBy: [], allowedBy: [], allowed: true };
export const OPEN_GATE: GateResult = { applies: true, isolated: false, isolatedBy: [], allowedBy: [], allowed: true };

export function deniedSeedFlow(over: Partial<FlowAudit> = {}): FlowAudit {
  return {
    id: 'seed-3',
    origin: { file: 'fixtures/seed/flows.jsonl', line: 3 },
    src: 'p/default/mypod:46781',
    dst: 'r/1.0.0.1:80',
    proto: 'TCP',
    verdict: 'denied',
    reason: 'egress of default/mypod is isolated by default/mypod and no rule allows r/1.0.0.1:80',
    egress: { applies: true, isolated: true, isolatedBy: ['default/mypod'], allowedBy: [], allowed: false },
    ingress: NO_GATE,
    count: 1,
    ...over,
  };
}

export function allowedSeedFlow(over: Partial<FlowAudit> = {}): FlowAudit {
  return {
    id: 'seed-1',
    origin: { file: 'fixtures/seed/flows.jsonl', line: 1 },
    src: 'p/default/mypod:46779',
    dst: 'r/1.1.1.1:80',
    proto: 'TCP',
    verdict: 'allowed',
    reason: 'allowed by default/mypod egress[0]',
    egress: {
      applies: true,
      isolated: true,
      isolatedBy: ['default/mypod'],
      allowedBy: [{ policy: 'default/mypod', direction: 'egress', rule: 0 }],
      allowed: true,
    },
    ingress: NO_GATE,
    count: 2,
    ...over,
  };
}

export function seedReport(over: Partial<CheckReport> = {}): CheckReport {
  const flows = over.flows ?? [deniedSeedFlow(), allowedSeedFlow()];
  const drift = over.drift ?? [
    {
      path: 'default/mypod.yaml',
      kind: 'changed' as const,
      detail: '--- committed\n+++ generated\n@@ egress @@\n-    - ipBlock: {cidr: 1.0.0.1/32}\n+    - ipBlock: {cidr: 1.1.1.1/32}\n',
    },
    { path: 'web/frontend.yaml', kind: 'missing' as const, detail: 'learn generates web/frontend.yaml; it is not committed' },
  ];
  const denied = flows.filter((f) => f.verdict === 'denied').length;
  return {
    flows,
    drift,
    summary: { total: flows.length, allowed: flows.length - denied, denied, unjudged: 0, drifted: drift.length },
    inputs: { flows: ['fixtures/seed/flows.jsonl'], policies: ['policies'], cluster: 'snapshot fixtures/seed/cluster.yaml' },
    ...over,
  };
}

export function cleanReport(): CheckReport {
  return seedReport({ flows: [allowedSeedFlow()], drift: [] });
}
