/**
 * What every CI report says about a flow or a drift entry, in one place: the flow's label, where it
 * came from, and a sentence per gate. JUnit, SARIF, GitHub annotations and Markdown are views of
 * the same CheckReport and use these so they never disagree.
 */
import { isAbsolute, relative, sep } from 'node:path';
import type { CheckReport, DriftEntry, FlowAudit } from '../../../policy/audit.js';
import type { GateResult, RuleRef } from '../../../policy/verdict.js';

export interface ReportOptions {
  /**
   * Paths in reports are made relative to this directory (the repository root in CI, so GitHub
   * can attach annotations to files). Default: leave paths as they are in the report.
   */
  baseDir?: string;
  /** Tool version shown in SARIF and JUnit headers. */
  toolVersion?: string;
}

/** A path as CI systems want it: relative to baseDir when possible, forward slashes. */
export function reportPath(path: string, baseDir?: string): string {
  let p = path;
  if (baseDir && isAbsolute(p)) {
    const rel = relative(baseDir, p);
    if (!rel.startsWith('..') && !isAbsolute(rel)) p = rel;
  }
  return sep === '/' ? p : p.split(sep).join('/');
}

/** `p/default/mypod:0 → r/1.0.0.1:80 TCP`, with the flow's id when it has one. */
export function flowLabel(f: FlowAudit): string {
  const base = `${f.src} → ${f.dst} ${f.proto}`;
  return f.id ? `${base} [${f.id}]` : base;
}

/** ASCII variant for places that dislike non-ASCII (JUnit names read by old tools). */
export function flowName(f: FlowAudit): string {
  const base = `${f.src} -> ${f.dst} ${f.proto}`;
  return f.id ? `${base} [${f.id}]` : base;
}

/** `fixtures/seed/flows.jsonl:3`, or undefined when the flow has no origin. */
export function flowWhere(f: FlowAudit, baseDir?: string): string | undefined {
  if (!f.origin) return undefined;
  return `${reportPath(f.origin.file, baseDir)}:${f.origin.line}`;
}

export function ruleRefText(r: RuleRef): string {
  return `${r.policy} ${r.direction}[${r.rule}]`;
}

/** One sentence per gate: why that side let the flow through or not. */
export function describeGate(name: 'egress' | 'ingress', g: GateResult): string {
  if (!g.applies) return `${name}: no gate (that side is not a pod of the cluster, or NetworkPolicy cannot block this traffic: self, own node)`;
  if (!g.isolated) return `${name}: allowed (no policy isolates the pod for ${name})`;
  if (g.allowedBy.length > 0) return `${name}: allowed by ${g.allowedBy.map(ruleRefText).join(', ')}`;
  return `${name}: denied (isolated by ${g.isolatedBy.join(', ')}; no rule allows it)`;
}

/** Both gates, for a report's long text. */
export function describeGates(f: FlowAudit): string[] {
  return [describeGate('egress', f.egress), describeGate('ingress', f.ingress)];
}

/** The policies that isolated and did not allow: "which policy dropped this". */
export function droppedBy(f: FlowAudit): string[] {
  const out: string[] = [];
  for (const g of [f.egress, f.ingress]) {
    if (g.applies && g.isolated && g.allowedBy.length === 0) out.push(...g.isolatedBy);
  }
  return [...new Set(out)];
}

export function deniedFlows(report: CheckReport): FlowAudit[] {
  return report.flows.filter((f) => f.verdict === 'denied');
}

/**
 * The flows a gate fails on: denied ones, and unjudged ones (the cluster view did not know what they
 * reached). Every report lists both: a report never shows as passing what netpol could not judge.
 */
export function failingFlows(report: CheckReport): FlowAudit[] {
  return report.flows.filter((f) => f.verdict === 'denied' || f.verdict === 'unjudged');
}

/** One sentence on why a failing flow fails, the same in every report. */
export function flowProblem(f: FlowAudit): string {
  if (f.verdict === 'unjudged') return `${flowLabel(f)} could not be judged: ${f.reason}`;
  const by = droppedBy(f);
  return `${flowLabel(f)} would be denied: ${f.reason}${by.length > 0 ? ` (dropped by ${by.join(', ')})` : ''}`;
}

export const DRIFT_TITLES: Record<DriftEntry['kind'], string> = {
  missing: 'learn generates this file but it is not committed',
  extra: 'committed file that learn no longer generates',
  changed: 'committed file differs from what learn generates',
};

/** Where a drift entry points: the policies directory joined with the entry's relative path. */
export function driftPath(report: CheckReport, d: DriftEntry, baseDir?: string): string {
  const dir = report.inputs.policies.length === 1 ? report.inputs.policies[0]! : undefined;
  const joined = dir && !dir.endsWith('.yaml') && !dir.endsWith('.yml') ? `${dir.replace(/\/+$/, '')}/${d.path}` : d.path;
  return reportPath(joined, baseDir);
}

/** True when check should fail: something denied, unjudged or drifted. */
export function reportFailed(report: CheckReport): boolean {
  return report.summary.denied > 0 || report.summary.unjudged > 0 || report.summary.drifted > 0;
}
