/**
 * The Markdown step summary (`$GITHUB_STEP_SUMMARY`, also fine as a PR comment): a verdict line,
 * the counts, the denied flows as a table (columns from FLOW_AUDIT_COLUMNS) and each drifted
 * policy file with its difference folded in a <details> block.
 */
import type { CheckReport } from '../../../policy/audit.js';
import { markdownCell, printable, printableLines } from '../escape.js';
import { FLOW_AUDIT_COLUMNS } from './columns.js';
import { selectColumns } from '../columns/model.js';
import { markdownTable } from '../columns/table.js';
import { deniedFlows, describeGates, failingFlows, driftPath, DRIFT_TITLES, flowLabel, reportFailed, reportPath, type ReportOptions } from './common.js';

export interface MarkdownOptions extends ReportOptions {
  /** Denied flows listed in the table before "… and N more" (the step summary is capped at 1 MiB). */
  maxRows?: number;
}

/** Mermaid text inside `"..."`. */
function mermaidText(text: string): string {
  return printable(text).replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/**
 * The denied connections as a small Mermaid flowchart (GitHub renders it in step summaries and
 * comments): source workloads (without the ephemeral port) to what they dialled, in red.
 */
export function deniedFlowchart(report: CheckReport, maxEdges = 30): string | undefined {
  const edges = new Map<string, { src: string; dst: string; proto: string; count: number }>();
  for (const f of deniedFlows(report)) {
    const src = f.src.replace(/:\d+$/, '');
    const key = `${src}|${f.dst}|${f.proto}`;
    const e = edges.get(key);
    if (e) e.count += f.count;
    else edges.set(key, { src, dst: f.dst, proto: f.proto, count: f.count });
  }
  if (edges.size === 0) return undefined;
  const ids = new Map<string, string>();
  const id = (name: string) => {
    let v = ids.get(name);
    if (!v) ids.set(name, (v = `n${ids.size}`));
    return v;
  };
  const list = [...edges.values()].slice(0, maxEdges);
  const lines = ['```mermaid', 'flowchart LR'];
  for (const e of list) {
    lines.push(`  ${id(e.src)}["${mermaidText(e.src)}"] -->|"${e.proto} ×${e.count} denied"| ${id(e.dst)}["${mermaidText(e.dst)}"]`);
  }
  lines.push(`  linkStyle ${list.map((_, i) => i).join(',')} stroke:#c62828,stroke-width:2px,color:#c62828`);
  lines.push('```');
  if (edges.size > maxEdges) lines.push(`\n… and ${edges.size - maxEdges} more denied connections.`);
  return lines.join('\n');
}

function fence(text: string): string {
  // A fence longer than any run of backticks inside, so a diff cannot close it early.
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}diff\n${printableLines(text).replace(/\n$/, '')}\n${f}`;
}

export function renderMarkdownSummary(report: CheckReport, opts: MarkdownOptions = {}): string {
  const maxRows = opts.maxRows ?? 200;
  const { total, allowed, denied, unjudged, drifted } = report.summary;
  const failed = reportFailed(report);
  const out: string[] = [];
  out.push(`## netpol check: ${failed ? '❌ failed' : '✅ passed'}`);
  out.push('');
  const problems: string[] = [];
  if (denied > 0) problems.push(`${denied} observed flow${denied === 1 ? '' : 's'} would be denied`);
  if (unjudged > 0) problems.push(`${unjudged} observed flow${unjudged === 1 ? '' : 's'} could not be judged (the cluster snapshot does not know what ${unjudged === 1 ? 'it' : 'they'} reached)`);
  if (drifted > 0) problems.push(`${drifted} policy file${drifted === 1 ? '' : 's'} drifted from what \`netpol learn\` generates`);
  out.push(failed ? `${problems.join('; ')}.` : 'Every observed flow is allowed and the committed policies match what `netpol learn` generates.');
  out.push('');
  // The unjudged column appears when there is something in it (most reports have none).
  if (unjudged > 0) {
    out.push('| flows | allowed | denied | unjudged | drifted files |');
    out.push('| ---: | ---: | ---: | ---: | ---: |');
    out.push(`| ${total} | ${allowed} | ${denied} | ${unjudged} | ${drifted} |`);
  } else {
    out.push('| flows | allowed | denied | drifted files |');
    out.push('| ---: | ---: | ---: | ---: |');
    out.push(`| ${total} | ${allowed} | ${denied} | ${drifted} |`);
  }
  out.push('');
  const inputs = [
    ...report.inputs.flows.map((f) => `flows \`${markdownCell(reportPath(f, opts.baseDir))}\``),
    ...report.inputs.policies.map((p) => `policies \`${markdownCell(reportPath(p, opts.baseDir))}\``),
    `cluster ${markdownCell(report.inputs.cluster)}`,
  ];
  out.push(`<sub>${inputs.join(' · ')}</sub>`);

  const unjudgedList = failingFlows(report).filter((f) => f.verdict === 'unjudged');
  if (unjudgedList.length > 0) {
    out.push('');
    out.push('### Flows that could not be judged');
    out.push('');
    out.push(markdownTable(unjudgedList.slice(0, maxRows), selectColumns(FLOW_AUDIT_COLUMNS, ['src', 'dst', 'proto', 'count', 'reason', 'where'])));
    if (unjudgedList.length > maxRows) out.push(`\n… and ${unjudgedList.length - maxRows} more (see the JUnit or SARIF report).`);
  }

  const deniedList = deniedFlows(report);
  if (deniedList.length > 0) {
    out.push('');
    out.push('### Denied flows');
    out.push('');
    const cols = selectColumns(FLOW_AUDIT_COLUMNS, ['src', 'dst', 'proto', 'count', 'dropped-by', 'reason', 'where']);
    out.push(markdownTable(deniedList.slice(0, maxRows), cols));
    if (deniedList.length > maxRows) out.push(`\n… and ${deniedList.length - maxRows} more denied flows (see the JUnit or SARIF report).`);
    const chart = deniedFlowchart(report);
    if (chart) {
      out.push('');
      out.push(chart);
    }
    out.push('');
    out.push('<details><summary>Gates of each denied flow</summary>');
    out.push('');
    for (const f of deniedList.slice(0, maxRows)) {
      out.push(`- \`${markdownCell(flowLabel(f))}\`: ${describeGates(f).map(markdownCell).join('; ')}`);
    }
    out.push('');
    out.push('</details>');
  }

  if (report.drift.length > 0) {
    out.push('');
    out.push('### Policy drift');
    out.push('');
    for (const d of report.drift) {
      out.push(`<details><summary><code>${markdownCell(driftPath(report, d, opts.baseDir))}</code>: ${markdownCell(DRIFT_TITLES[d.kind])}</summary>`);
      out.push('');
      out.push(fence(d.detail));
      out.push('');
      out.push('</details>');
      out.push('');
    }
    out.push('Run `netpol learn --out DIR` to regenerate the policies, review the difference and commit it.');
  }
  return out.join('\n').replace(/\n+$/, '') + '\n';
}
