/** The text view of a flow explanation (src/policy/explain.ts), shared by `explain` and `diff --explain`. */
import type { FlowExplanation, GateExplanation, MatchCheck } from '../../policy/explain.js';
import { printable } from '../output/escape.js';

const mark = (ok: boolean) => (ok ? '✓' : '✗');

function checkLines(label: string, checks: MatchCheck[] | null, indent: string): string[] {
  if (checks === null) return [`${indent}${label}: any`];
  return checks.map((c, i) => `${indent}${i === 0 ? `${label}:` : ' '.repeat(label.length + 1)} ${mark(c.matched)} ${c.entry} — ${c.why}`);
}

function gateLines(g: GateExplanation): string[] {
  const out = [`  ${mark(g.allowed)} ${g.summary}`];
  for (const p of g.policies) {
    const sel = p.podSelector === '' ? 'all pods' : p.podSelector;
    if (!p.isolates) {
      out.push(`      policy ${p.policy} (podSelector ${sel}) selects the pod but does not isolate ${g.direction}`);
      continue;
    }
    out.push(`      policy ${p.policy} (podSelector ${sel}): ${p.rules.length === 0 ? `no ${g.direction} rules — allows nothing` : p.allows ? 'allows' : 'no rule matches'}`);
    for (const r of p.rules) {
      out.push(`        ${mark(r.outcome === 'matches')} ${r.summary}`);
      out.push(...checkLines('peers', r.peers, '            '));
      out.push(...checkLines('ports', r.ports, '            '));
    }
  }
  return out;
}

/** The text view of one explanation. */
export function explanationText(e: FlowExplanation, count = 1): string {
  const out: string[] = [];
  const where = e.origin ? `  ${e.origin.file}:${e.origin.line}` : '';
  const title = e.id !== undefined ? `flow ${e.id}` : e.origin ? 'flow' : 'hypothetical connection';
  out.push(`${title}${where}${count > 1 ? `  (and ${count - 1} more like it)` : ''}`);
  out.push(`  ${e.src} → ${e.dst} ${e.proto}`);
  out.push(`  ${e.verdict === 'denied' ? 'DENIED' : 'ALLOWED'}: ${e.summary}`);
  if (e.problem) return out.map(printable).join('\n') + '\n';
  for (const t of e.targets) {
    out.push('');
    if (e.targets.length > 1 || t.via) out.push(` ${t.via ? `via ${t.via} ` : ''}to ${t.dst} ${t.proto}: ${t.verdict}`);
    out.push(...gateLines(t.egress));
    out.push(...gateLines(t.ingress));
  }
  // Names and ids are input: each line's control characters shown as escapes.
  return out.map(printable).join('\n') + '\n';
}
