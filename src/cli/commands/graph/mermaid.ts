/**
 * `netpol graph -o mermaid`: a flowchart GitHub and GitLab render inline in Markdown. Namespaces are
 * subgraphs, outside peers share one; edges carry ports and counts; linkStyle colours them by verdict.
 */
import { edgeLabel, STATUS_COLORS, type ConnectivityGraph, type EdgeStatus, type GraphNode } from './model.js';

/** Mermaid text inside `"..."`: quotes and markup as entity codes (Mermaid's `#quot;` form). */
function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

function nodeLine(id: string, n: GraphNode): string {
  const text = `${mermaidText(n.label)}<br/><small>${mermaidText(n.detail)}</small>`;
  // Workloads are rounded boxes, outside peers hexagon-free plain boxes, backend-less Services stadiums.
  if (n.kind === 'workload') return `${id}("${text}")`;
  if (n.kind === 'service') return `${id}(["${text}"])`;
  return `${id}["${text}"]`;
}

export function renderMermaid(graph: ConnectivityGraph): string {
  const ids = new Map(graph.nodes.map((n, i) => [n.id, `n${i}`]));
  const out: string[] = ['flowchart LR'];
  graph.namespaces.forEach((ns, i) => {
    out.push(`  subgraph ns${i}["namespace ${mermaidText(ns)}"]`);
    for (const n of graph.nodes) if (n.namespace === ns) out.push(`    ${nodeLine(ids.get(n.id)!, n)}`);
    out.push('  end');
  });
  const outside = graph.nodes.filter((n) => n.namespace === undefined);
  if (outside.length > 0) {
    out.push('  subgraph outside["outside the cluster"]');
    for (const n of outside) out.push(`    ${nodeLine(ids.get(n.id)!, n)}`);
    out.push('  end');
  }
  const byStatus = new Map<EdgeStatus, number[]>();
  graph.edges.forEach((e, i) => {
    out.push(`  ${ids.get(e.from)} -->|"${mermaidText(edgeLabel(e))}"| ${ids.get(e.to)}`);
    byStatus.set(e.status, [...(byStatus.get(e.status) ?? []), i]);
  });
  for (const [status, idx] of byStatus) {
    const width = status === 'denied' || status === 'mixed' ? 3 : 2;
    out.push(`  linkStyle ${idx.join(',')} stroke:${STATUS_COLORS[status]},stroke-width:${width}px,color:${STATUS_COLORS[status]}`);
  }
  out.push('  classDef external fill:#fff8e1,stroke:#8d6e63');
  out.push('  classDef service fill:#fce4ec,stroke:#ad1457');
  const ext = outside.map((n) => ids.get(n.id)!);
  if (ext.length > 0) out.push(`  class ${ext.join(',')} external`);
  const svc = graph.nodes.filter((n) => n.kind === 'service').map((n) => ids.get(n.id)!);
  if (svc.length > 0) out.push(`  class ${svc.join(',')} service`);
  return out.join('\n') + '\n';
}
