/**
 * How audited flows are printed by `netpol diff`, `diff --live` and `check`: the table, the JSON
 * shape documented in the README, the -o parser and the summary line.
 */
import { InvalidArgumentError } from 'commander';
import type { AuditSummary, FlowAudit } from '../../policy/audit.js';
import type { GateResult } from '../../policy/verdict.js';
import { DEFAULT_AUDIT_COLUMNS, FLOW_AUDIT_COLUMNS, groupedTextTable } from '../output/report/columns.js';
import { selectColumns } from '../output/columns/model.js';

/** The JSON shape documented in the README: flows (denied first) and a summary. */
export function auditJson(audits: FlowAudit[], summary: AuditSummary): object {
  const gate = (g: GateResult) => ({
    applies: g.applies,
    isolated: g.isolated,
    isolatedBy: g.isolatedBy,
    allowedBy: g.allowedBy,
    allowed: g.allowed,
  });
  return {
    flows: audits.map((a) => ({
      ...(a.id !== undefined ? { id: a.id } : {}),
      src: a.src,
      dst: a.dst,
      proto: a.proto,
      verdict: a.verdict,
      reason: a.reason,
      egress: gate(a.egress),
      ingress: gate(a.ingress),
      ...(a.origin ? { file: a.origin.file, line: a.origin.line } : {}),
    })),
    summary,
  };
}

export { DEFAULT_AUDIT_COLUMNS };

export function auditTable(audits: FlowAudit[], columns: string[] = DEFAULT_AUDIT_COLUMNS): string {
  return groupedTextTable(audits, selectColumns(FLOW_AUDIT_COLUMNS, columns)) + '\n';
}

/** `table`, `json` or `columns=verdict,src,dst,...` (the names of FLOW_AUDIT_COLUMNS). */
export function parseAuditOutput(value: string): { format: 'table' | 'json'; columns: string[] } {
  if (value === 'table' || value === 'json') return { format: value, columns: DEFAULT_AUDIT_COLUMNS };
  if (value.startsWith('columns=')) {
    const columns = value.slice('columns='.length).split(',').filter(Boolean);
    try {
      selectColumns(FLOW_AUDIT_COLUMNS, columns);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    return { format: 'table', columns };
  }
  throw new InvalidArgumentError('expected table, json or columns=a,b,...');
}

export function summaryLine(s: AuditSummary): string {
  const unjudged = s.unjudged > 0 ? `, ${s.unjudged} unjudged (the cluster view does not know what they reached)` : '';
  return `${s.total} ${s.total === 1 ? 'flow' : 'flows'}: ${s.allowed} allowed, ${s.denied} denied${unjudged}`;
}
