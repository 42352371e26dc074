/**
 * `netpol graph -o dot`: Graphviz input (`dot -Tsvg`). Namespaces are clusters, outside peers
 * share one; edges carry ports and counts and are coloured by verdict.
 */
import { edgeLabel, STATUS_COLORS, type ConnectivityGraph, type GraphNode } from './model.js';

/** A DOT double-quoted string. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

function nodeLine(n: GraphNode): string {
  const attrs = [`label=${dotString(`${n.label}\n${n.detail}`)}`];
  if (n.kind === 'external') attrs.push('shape=box', 'style="filled"', 'fillcolor="#fff8e1"');
  if (n.kind === 'service') attrs.push('shape=box', 'style="rounded,filled,dashed"', 'fillcolor="#fce4ec"');
  return `${dotString(n.id)} [${attrs.join(', ')}];`;
}

export function renderDot(graph: ConnectivityGraph): string {
  const out: string[] = [
    'digraph netpol {',
    '  rankdir=LR;',
    '  graph [fontname="Helvetica", fontsize=11];',
    '  node [shape=box, style="rounded,filled", fillcolor="#e3f2fd", color="#1565c0", fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  graph.namespaces.forEach((ns) => {
    out.push(`  subgraph ${dotString(`cluster_ns_${ns}`)} {`);
    out.push(`    label=${dotString(`namespace ${ns}`)}; style="rounded"; color="#90a4ae";`);
    for (const n of graph.nodes) if (n.namespace === ns) out.push(`    ${nodeLine(n)}`);
    out.push('  }');
  });
  const outside = graph.nodes.filter((n) => n.namespace === undefined);
  if (outside.length > 0) {
    out.push('  subgraph "cluster_outside" {');
    out.push('    label="outside the cluster"; style="dashed"; color="#8d6e63";');
    for (const n of outside) out.push(`    ${nodeLine(n)}`);
    out.push('  }');
  }
  for (const e of graph.edges) {
    const color = STATUS_COLORS[e.status];
    const attrs = [`label=${dotString(edgeLabel(e))}`, `color=${dotString(color)}`, `fontcolor=${dotString(color)}`];
    if (e.status === 'denied' || e.status === 'mixed') attrs.push('penwidth=2');
    if (e.via.length > 0) attrs.push(`tooltip=${dotString(`via ${e.via.join(', ')}`)}`);
    out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}
