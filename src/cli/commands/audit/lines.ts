/**
 * `netpol audit`'s view of the agents' `GET /v1/audit` stream: decoding a line (an audit record,
 * {"lost":N} when this client read too slowly, or the {"replay":…} head of a resumed stream), which
 * records the flags select, and the text line.
 */
import type { WireReplay } from '../../../daemon/audit-stream.js';
import type { AuditRecord } from '../../../daemon/judge-sink.js';
import type { LabelPredicate } from '../../../policy/selector.js';

export type AuditLine =
  | { kind: 'record'; record: AuditRecord }
  | { kind: 'lost'; lost: number }
  | { kind: 'replay'; replay: WireReplay['replay'] }
  | { kind: 'malformed'; problem: string };

const VERDICTS = new Set(['denied', 'dropped', 'would-deny']);

export function decodeAuditLine(line: string): AuditLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { kind: 'malformed', problem: `not JSON: ${(err as Error).message}` };
  }
  if (!value || typeof value !== 'object') return { kind: 'malformed', problem: 'not a JSON object' };
  const o = value as Record<string, unknown>;
  if (typeof o.lost === 'number') return { kind: 'lost', lost: o.lost };
  if (o.replay !== undefined) {
    const r = o.replay as Record<string, unknown> | null;
    if (!r || typeof r !== 'object' || typeof r.since !== 'string' || typeof r.from !== 'string' || !Number.isSafeInteger(r.records) || (r.records as number) < 0 || typeof r.complete !== 'boolean') {
      return { kind: 'malformed', problem: 'replay head without since, from, records or complete' };
    }
    return { kind: 'replay', replay: r as unknown as WireReplay['replay'] };
  }
  if (o.v !== 1) return { kind: 'malformed', problem: `unknown version ${JSON.stringify(o.v)}` };
  for (const f of ['ts', 'node', 'verdict', 'policy', 'gate', 'src', 'dst', 'proto'] as const) {
    if (typeof o[f] !== 'string') return { kind: 'malformed', problem: `field ${f} missing or not a string` };
  }
  if (!VERDICTS.has(o.verdict as string)) return { kind: 'malformed', problem: `unknown verdict ${JSON.stringify(o.verdict)}` };
  return { kind: 'record', record: value as AuditRecord };
}

export interface AuditFilter {
  /** Records with an end (source or destination pod) in this namespace; undefined: every namespace. */
  namespace?: string;
  /** Records with an end whose pod labels match. */
  selector?: LabelPredicate;
  stagedOnly?: boolean;
}

export function selects(f: AuditFilter, r: AuditRecord): boolean {
  if (f.stagedOnly && !r.staged) return false;
  const ends: Array<{ ns?: string; labels?: Record<string, string> }> = [
    { ns: r.namespace, labels: r.labels },
    { ns: r.dstNamespace, labels: r.dstLabels },
  ].filter((e) => e.ns !== undefined);
  if (f.namespace !== undefined || f.selector !== undefined) {
    return ends.some((e) => (f.namespace === undefined || e.ns === f.namespace) && (f.selector === undefined || f.selector(e.labels ?? {})));
  }
  return true;
}

/** One line: `TIME NODE SRC → DST PROTO  <verdict> by POLICY (gate)  WORKLOAD`. */
export function auditText(r: AuditRecord): string {
  const what = r.verdict === 'would-deny' ? `would be denied by staged ${r.policy}` : `${r.verdict} by ${r.policies.length > 1 ? r.policies.join(', ') : r.policy}`;
  return `${r.ts}  ${r.node}  ${r.src} → ${r.dst} ${r.proto}  ${what} (${r.gate})  ${r.workload}${r.outcome ? `  [${r.outcome}]` : ''}`;
}
