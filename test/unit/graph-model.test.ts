import { describe, expect, it } from 'vitest';
import { buildGraph, edgeLabel } from '../../src/cli/commands/graph/model.js';
import { renderDot } from '../../src/cli/commands/graph/dot.js';
import { renderMermaid } from '../../src/cli/commands/graph/mermaid.js';
import { EdgeAggregator } from '../../src/flows/edges.js';
import { compilePolicies, evaluate } from '../../src/policy/evaluate.js';
import { locatedFlows, screensEdges, screensIndex, screensPolicies } from './support/screens-fixture.js';

const judged = () => {
  const set = compilePolicies(screensPolicies());
  return buildGraph(screensEdges(), screensIndex(), { judge: (t) => evaluate(set, t).verdict });
};

describe('graph model', () => {
  it('has workloads by namespace and outside peers as nodes', () => {
    const g = buildGraph(screensEdges(), screensIndex());
    expect(g.nodes.map((n) => n.id)).toEqual([
      'w/default/Pod/mypod',
      'w/payments/Pod/ledger-0',
      'w/shop/Deployment/web',
      'w/shop/Pod/api-0',
      'x/1.0.0.1',
      'x/1.1.1.1',
      'x/203.0.113.10',
    ]);
    expect(g.namespaces).toEqual(['default', 'payments', 'shop']);
    expect(g.nodes.find((n) => n.id === 'w/shop/Deployment/web')).toMatchObject({ kind: 'workload', namespace: 'shop', label: 'web', detail: 'Deployment' });
    expect(g.nodes.find((n) => n.id === 'x/1.1.1.1')).toMatchObject({ kind: 'external', label: '1.1.1.1', detail: 'outside the cluster' });
    expect(g.judged).toBe(false);
    expect(g.flows).toBe(8);
  });

  it('draws a Service connection to the workload behind it, on the targetPort, with counts', () => {
    const g = buildGraph(screensEdges(), screensIndex());
    const web = g.edges.find((e) => e.id === 'w/shop/Deployment/web->w/shop/Pod/api-0')!;
    // Two pods of one Deployment, three connects, through Service api:80 to targetPort http = 8080.
    expect(web.ports).toEqual([{ port: 8080, proto: 'TCP', count: 3, allowed: 0, denied: 0 }]);
    expect(web.via).toEqual(['s/shop/api:80']);
    expect(web.status).toBe('unjudged');
    expect(edgeLabel(web)).toBe('8080/TCP ×3');
    const seed = g.edges.find((e) => e.id === 'w/default/Pod/mypod->x/1.1.1.1')!;
    expect(edgeLabel(seed)).toBe('80/TCP ×1, 443/TCP ×1');
  });

  it('colours edges by the verdict of the given policies', () => {
    const g = judged();
    expect(g.judged).toBe(true);
    const status = Object.fromEntries(g.edges.map((e) => [e.id, e.status]));
    expect(status).toEqual({
      'w/default/Pod/mypod->x/1.0.0.1': 'denied',
      'w/default/Pod/mypod->x/1.1.1.1': 'allowed',
      'w/shop/Deployment/web->w/shop/Pod/api-0': 'allowed',
      'w/shop/Pod/api-0->w/payments/Pod/ledger-0': 'denied',
      'w/shop/Pod/api-0->x/203.0.113.10': 'allowed',
    });
    expect(edgeLabel(g.edges.find((e) => e.status === 'denied')!)).toBe('80/TCP ×1 denied');
  });

  it('marks an edge mixed when some of its ports are denied', () => {
    const flows = locatedFlows().filter((f) => f.src.pod === 'mypod');
    const agg = new EdgeAggregator();
    for (const f of flows) agg.add({ ...f, dst: { ...f.dst, ip: '1.1.1.1', port: f.dst.port === 80 && f.id === 'seed-3' ? 8443 : f.dst.port } });
    const set = compilePolicies(screensPolicies());
    const g = buildGraph(agg.result(), screensIndex(), { judge: (t) => evaluate(set, t).verdict });
    expect(g.edges).toHaveLength(1);
    expect(g.edges[0]!.status).toBe('mixed');
    expect(edgeLabel(g.edges[0]!)).toBe('80/TCP ×1, 443/TCP ×1, 8443/TCP ×1 denied');
  });

  it('filters to one namespace', () => {
    const g = buildGraph(screensEdges(), screensIndex(), { namespace: 'payments' });
    expect(g.edges.map((e) => e.id)).toEqual(['w/shop/Pod/api-0->w/payments/Pod/ledger-0']);
    expect(g.nodes).toHaveLength(2);
    expect(g.flows).toBe(1);
  });
});

describe('mermaid and dot', () => {
  it('mermaid: namespaces as subgraphs, labelled edges, linkStyle per verdict', () => {
    const text = renderMermaid(judged());
    expect(text.split('\n')[0]).toBe('flowchart LR');
    expect(text).toContain('  subgraph ns2["namespace shop"]');
    expect(text).toContain('    n2("web<br/><small>Deployment</small>")');
    expect(text).toContain('  subgraph outside["outside the cluster"]');
    expect(text).toContain('    n5["1.1.1.1<br/><small>outside the cluster</small>"]');
    expect(text).toContain('  n2 -->|"8080/TCP ×3"| n3');
    expect(text).toMatch(/linkStyle 0,3 stroke:#c62828,stroke-width:3px/);
    expect(text).toMatch(/linkStyle 1,2,4 stroke:#2e7d32/);
    // Every node defined once, every edge end defined.
    const defined = [...text.matchAll(/^ {4}(n\d+)[([]/gm)].map((m) => m[1]);
    expect(new Set(defined).size).toBe(7);
    for (const m of text.matchAll(/^ {2}(n\d+) -->\|"[^"]*"\| (n\d+)$/gm)) {
      expect(defined).toContain(m[1]);
      expect(defined).toContain(m[2]);
    }
  });

  it('mermaid escapes quotes in labels', () => {
    const g = buildGraph(screensEdges(), screensIndex());
    g.nodes[0]!.label = 'a"b<c>';
    expect(renderMermaid(g)).toContain('a#quot;b#lt;c#gt;');
  });

  it('dot: clusters per namespace, coloured labelled edges, balanced braces', () => {
    const text = renderDot(judged());
    expect(text).toContain('subgraph "cluster_ns_shop" {');
    expect(text).toContain('"w/shop/Deployment/web" [label="web\\nDeployment"];');
    expect(text).toContain('"w/default/Pod/mypod" -> "x/1.0.0.1" [label="80/TCP ×1 denied", color="#c62828", fontcolor="#c62828", penwidth=2];');
    expect(text).toContain('"w/shop/Deployment/web" -> "w/shop/Pod/api-0" [label="8080/TCP ×3", color="#2e7d32", fontcolor="#2e7d32", tooltip="via s/shop/api:80"];');
    expect((text.match(/{/g) ?? []).length).toBe((text.match(/}/g) ?? []).length);
  });
});
