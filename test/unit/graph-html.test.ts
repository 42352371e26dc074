import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/cli/commands/graph/html.js';
import { layoutGraph } from '../../src/cli/commands/graph/layout.js';
import { buildGraph } from '../../src/cli/commands/graph/model.js';
import { buildIndex } from '../../src/cluster/lookup.js';
import { collectObjects } from '../../src/cluster/snapshot.js';
import { parseKubeYaml } from '../../src/cluster/yaml-documents.js';
import { EdgeAggregator } from '../../src/flows/edges.js';
import { compilePolicies, evaluate } from '../../src/policy/evaluate.js';
import { bigFixture, screensEdges, screensIndex, screensPolicies } from './support/screens-fixture.js';

function judgedGraph() {
  const set = compilePolicies(screensPolicies());
  return buildGraph(screensEdges(), screensIndex(), { judge: (t) => evaluate(set, t).verdict });
}

function overlaps(a: { x: number; y: number; width: number; height: number }, b: typeof a): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

describe('graph layout', () => {
  it('places every node inside its namespace box and no two nodes on top of each other', () => {
    const layout = layoutGraph(judgedGraph());
    expect(layout.nodes).toHaveLength(7);
    for (let i = 0; i < layout.nodes.length; i++) {
      for (let j = i + 1; j < layout.nodes.length; j++) expect(overlaps(layout.nodes[i]!, layout.nodes[j]!)).toBe(false);
    }
    for (const n of layout.nodes) {
      const group = layout.groups.find((g) => (n.node.namespace === undefined ? g.namespace === undefined : g.namespace === n.node.namespace))!;
      expect(n.x).toBeGreaterThanOrEqual(group.x);
      expect(n.x + n.width).toBeLessThanOrEqual(group.x + group.width);
      expect(n.y).toBeGreaterThanOrEqual(group.y + 20); // below the group's title
      expect(n.y + n.height).toBeLessThanOrEqual(group.y + group.height);
      expect(n.x + n.width).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height).toBeLessThanOrEqual(layout.height);
    }
    for (const e of layout.edges) expect(e.path).toMatch(/^M[\d.]+,[\d.]+ [CQL]/);
  });

  it('lays out a few hundred workloads, every node and edge drawn', () => {
    const { clusterYaml, flows } = bigFixture(12, 25);
    const index = buildIndex(collectObjects(parseKubeYaml(clusterYaml, 'big.yaml')));
    const agg = new EdgeAggregator();
    for (const f of flows) agg.add(f);
    const graph = buildGraph(agg.result(), index);
    expect(graph.nodes.filter((n) => n.kind === 'workload').length).toBeGreaterThan(290); // a few have no connections
    // Speed is a benchmark's business, not a test's: this checks only that nothing is dropped.
    const html = renderHtml(graph);
    expect((html.match(/<g class="node /g) ?? []).length).toBe(graph.nodes.length);
    expect((html.match(/<g class="edge /g) ?? []).length).toBe(graph.edges.length);
  }, 60_000);
});

describe('renderHtml', () => {
  const html = renderHtml(judgedGraph(), { subtitle: 'flows f.jsonl · cluster c.yaml' });

  it('is one self-contained file: no external scripts, styles, fonts, images or fetches', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link\b/);
    expect(html).not.toMatch(/@import|url\((?!#)/);
    expect(html).not.toMatch(/\bfetch\(|XMLHttpRequest|WebSocket|EventSource/);
    // The only URLs are the SVG namespace and in-page marker references.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"`);
  });

  it('holds every node and edge as SVG with ids, verdict classes and tooltips', () => {
    expect(html).toContain('<g class="node workload" data-id="w/shop/Deployment/web" data-label="web" data-ns="shop"');
    expect(html).toContain('<g class="node external" data-id="x/1.0.0.1"');
    expect(html).toContain('<g class="edge denied" data-id="w/default/Pod/mypod-&gt;x/1.0.0.1" data-from="w/default/Pod/mypod" data-to="x/1.0.0.1" data-count="1">');
    expect(html).toMatch(/<g class="edge allowed" data-id="w\/shop\/Deployment\/web-&gt;w\/shop\/Pod\/api-0"[^>]*><title>w\/shop\/Deployment\/web → w\/shop\/Pod\/api-0\n8080\/TCP ×3\nvia s\/shop\/api:80<\/title>/);
    expect(html).toContain('<g class="group ns" data-ns="payments">');
    expect(html).toContain('<div class="stats" id="stats">7 nodes · 5 edges · 8 flows · 2 edges with denied connections</div>');
    expect(html).toContain('<span class="allowed">allowed</span><span class="denied">denied</span>');
  });

  it('escapes names', () => {
    const g = judgedGraph();
    g.nodes[0]!.label = '<script>alert(1)</script>';
    const out = renderHtml(g);
    expect(out).not.toContain('<script>alert(1)</script>');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
