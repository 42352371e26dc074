/**
 * The audit model: what `diff` and `check` found, as data. The table, JSON, JUnit, SARIF, GitHub
 * annotations and Markdown reports are all views of these types (src/cli/report/*).
 */
import type { FlowOrigin, Protocol } from '../flows/record.js';
import type { GateResult, VerdictKind } from './verdict.js';

/**
 * An audit's verdict on a flow: the evaluator's, or `unjudged` when the flow could not be judged
 * (the record names a pod or Service the cluster view does not hold). Never `allowed` for what was
 * not judged: an unjudged flow fails a gate like a denied one.
 */
export type AuditVerdict = VerdictKind | 'unjudged';

export interface FlowAudit {
  /** The input flow's `id`, echoed when it had one. */
  id?: string;
  origin?: FlowOrigin;
  /** Seed notation: `p/default/mypod:46779`, `r/10.0.0.1:46779`. */
  src: string;
  /** Seed notation: `r/1.1.1.1:80`, `s/default/nginx:80`, `p/ns/pod:8080`. */
  dst: string;
  proto: Protocol;
  verdict: AuditVerdict;
  /** A sentence saying why, for denied flows especially. */
  reason: string;
  /** Gates as judged (for a Service, the first denied backend's, else the first backend's). */
  egress: GateResult;
  ingress: GateResult;
  /** Number of identical flows this entry stands for (after dedup), 1 when not deduplicated. */
  count: number;
}

export type DriftKind = 'missing' | 'extra' | 'changed';

/** A difference between committed policy files and what `learn` generates now. */
export interface DriftEntry {
  /** Path relative to the policies directory, e.g. `default/mypod.yaml`. */
  path: string;
  kind: DriftKind;
  /** Unified-diff-like text or a sentence. */
  detail: string;
}

export interface AuditSummary {
  total: number;
  allowed: number;
  denied: number;
  /** Flows that could not be judged (see AuditVerdict). */
  unjudged: number;
}

export interface CheckReport {
  flows: FlowAudit[];
  drift: DriftEntry[];
  summary: AuditSummary & { drifted: number };
  /** Inputs, for report headers: flow files, policy paths, cluster description. */
  inputs: { flows: string[]; policies: string[]; cluster: string };
}

/** Exit 1 when something was denied or could not be judged: a gate never passes on what it did not judge. */
export function auditExitCode(s: AuditSummary): number {
  return s.denied > 0 || s.unjudged > 0 ? 1 : 0;
}
