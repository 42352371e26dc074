/**
 * Layout of the connectivity graph for the HTML view, computed in Node so the page is static SVG
 * that renders without running any script. Two levels, so it stays fast and readable at hundreds
 * of workloads: inside each namespace a layered layout (dagre, left to right, the way connections
 * go) of that namespace's workloads and the edges between them; then the namespace boxes (and the
 * outside-the-cluster box) themselves laid out as a small layered graph of the connections between
 * namespaces. Edges across boxes are drawn as curves between the two nodes. One dagre run over the
 * whole graph would spend tens of seconds on the dummy nodes of long edges, and draw one very wide
 * picture.
 */
import dagre from '@dagrejs/dagre';
import { edgeLabel, type ConnectivityGraph, type GraphEdge, type GraphNode } from './model.js';

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  /** Top-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedNode extends Box {
  node: GraphNode;
}

export interface PlacedGroup extends Box {
  /** Namespace name, or undefined for the outside-the-cluster group. */
  namespace?: string;
  label: string;
}

export interface PlacedEdge {
  edge: GraphEdge;
  /** SVG path data. */
  path: string;
  label: string;
  /** Centre of the label. */
  labelAt: Point;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  groups: PlacedGroup[];
  edges: PlacedEdge[];
}

/** Rough text width of the HTML view's sans-serif at a pixel size: enough to size boxes. */
export function textWidth(text: string, px: number): number {
  let w = 0;
  for (const ch of text) w += /[il.,:;|!'1]/.test(ch) ? 0.3 : /[mwMW@]/.test(ch) ? 0.85 : /[A-Z0-9]/.test(ch) ? 0.65 : 0.55;
  return Math.ceil(w * px);
}

export const NODE_FONT = 13;
export const DETAIL_FONT = 10;
export const EDGE_FONT = 10;
const NODE_HEIGHT = 42;
/** Space for a group's title above its nodes, and around them. */
const GROUP_TITLE = 24;
const GROUP_PAD = 14;
const OUTSIDE = '\u0000outside';

const r1 = (n: number) => Math.round(n * 10) / 10;

function groupKey(n: GraphNode): string {
  return n.namespace !== undefined ? `ns:${n.namespace}` : OUTSIDE;
}

function nodeWidth(n: GraphNode): number {
  return Math.max(90, textWidth(n.label, NODE_FONT), textWidth(n.detail, DETAIL_FONT)) + 24;
}

/** A smooth path through dagre's points (quadratic segments through the midpoints). */
function pathThrough(points: Point[]): string {
  const [first, ...rest] = points;
  if (!first) return '';
  let d = `M${r1(first.x)},${r1(first.y)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i]!;
    const q = rest[i + 1]!;
    d += ` Q${r1(p.x)},${r1(p.y)} ${r1((p.x + q.x) / 2)},${r1((p.y + q.y) / 2)}`;
  }
  const last = rest[rest.length - 1];
  return last ? `${d} L${r1(last.x)},${r1(last.y)}` : d;
}

interface LocalLayout {
  width: number;
  height: number;
  boxes: Map<string, Box>;
  /** Internal edges: points in local coordinates and label centre. */
  edges: Map<string, { points: Point[]; labelAt: Point }>;
}

/** One group's nodes: layered when they call each other, else a compact grid. */
function layoutGroup(nodes: GraphNode[], internal: GraphEdge[], labels: Map<string, string>): LocalLayout {
  const boxes = new Map<string, Box>();
  const edges = new Map<string, { points: Point[]; labelAt: Point }>();
  const linked = internal.filter((e) => e.from !== e.to);
  if (linked.length === 0) {
    const cols = Math.max(1, Math.round(Math.sqrt(nodes.length / 3)));
    const colWidth = Math.max(...nodes.map(nodeWidth));
    nodes.forEach((n, i) => {
      const col = Math.floor(i / Math.ceil(nodes.length / cols));
      const row = i % Math.ceil(nodes.length / cols);
      boxes.set(n.id, { x: col * (colWidth + 40), y: row * (NODE_HEIGHT + 16), width: nodeWidth(n), height: NODE_HEIGHT });
    });
    const rows = Math.ceil(nodes.length / cols);
    return { width: cols * (colWidth + 40) - 40, height: rows * (NODE_HEIGHT + 16) - 16, boxes, edges };
  }
  // Layered left to right; a long chain of calls would make that a thin strip, so when it is
  // much wider than tall, top to bottom is tried too and the squarer picture kept.
  let best = layered(nodes, linked, labels, 'LR');
  if (nodes.length > 6 && best.width > 2.5 * best.height) {
    const tb = layered(nodes, linked, labels, 'TB');
    if (Math.abs(Math.log(tb.width / tb.height / 1.6)) < Math.abs(Math.log(best.width / best.height / 1.6))) best = tb;
  }
  return best;
}

function layered(nodes: GraphNode[], linked: GraphEdge[], labels: Map<string, string>, rankdir: 'LR' | 'TB'): LocalLayout {
  const boxes = new Map<string, Box>();
  const edges = new Map<string, { points: Point[]; labelAt: Point }>();
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir, nodesep: rankdir === 'LR' ? 16 : 24, ranksep: rankdir === 'LR' ? 70 : 50, edgesep: 8, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: nodeWidth(n), height: NODE_HEIGHT });
  for (const e of linked) g.setEdge(e.from, e.to, { width: textWidth(labels.get(e.id)!, EDGE_FONT) + 6, height: EDGE_FONT + 4, labelpos: 'c' });
  dagre.layout(g);
  for (const n of nodes) {
    const v = g.node(n.id) as { x: number; y: number; width: number; height: number };
    boxes.set(n.id, { x: v.x - v.width / 2, y: v.y - v.height / 2, width: v.width, height: v.height });
  }
  for (const e of linked) {
    const v = g.edge(e.from, e.to) as { points: Point[]; x?: number; y?: number };
    const mid = v.points[Math.floor(v.points.length / 2)]!;
    edges.set(e.id, { points: v.points, labelAt: { x: v.x ?? mid.x, y: v.y ?? mid.y } });
  }
  const gg = g.graph() as { width?: number; height?: number };
  return { width: gg.width ?? 0, height: gg.height ?? 0, boxes, edges };
}

/**
 * Where the group boxes go: dagre's layered arrangement when it is screen-shaped; when it is a
 * long strip (many namespaces calling along a chain), the same left-to-right order wrapped into
 * rows of about a 16:10 page.
 */
function arrangeGroups(keys: string[], sizes: Map<string, { width: number; height: number }>, between: Iterable<{ from: string; to: string; weight: number }>): Map<string, Box> {
  const top = new dagre.graphlib.Graph({ multigraph: false });
  top.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 110, marginx: 24, marginy: 24 });
  top.setDefaultEdgeLabel(() => ({}));
  for (const k of keys) top.setNode(k, { ...sizes.get(k)! });
  for (const b of between) top.setEdge(b.from, b.to, { weight: b.weight });
  dagre.layout(top);
  const out = new Map<string, Box>();
  for (const k of keys) {
    const v = top.node(k) as { x: number; y: number; width: number; height: number };
    out.set(k, { x: v.x - v.width / 2, y: v.y - v.height / 2, width: v.width, height: v.height });
  }
  const gg = top.graph() as { width?: number; height?: number };
  const w = gg.width ?? 1;
  const h = gg.height ?? 1;
  if (w <= 2.2 * h || keys.length < 3) return out;
  const order = [...keys].sort((a, b) => out.get(a)!.x - out.get(b)!.x || out.get(a)!.y - out.get(b)!.y);
  const area = keys.reduce((s, k) => s + (sizes.get(k)!.width + 60) * (sizes.get(k)!.height + 50), 0);
  const rowWidth = Math.max(Math.sqrt(area * 1.6), ...keys.map((k) => sizes.get(k)!.width + 60));
  let x = 24;
  let y = 24;
  let rowHeight = 0;
  for (const k of order) {
    const size = sizes.get(k)!;
    if (x > 24 && x + size.width > rowWidth) {
      x = 24;
      y += rowHeight + 50;
      rowHeight = 0;
    }
    out.set(k, { x, y, ...size });
    x += size.width + 60;
    rowHeight = Math.max(rowHeight, size.height);
  }
  return out;
}

type Bezier = [Point, Point, Point, Point];

/** A curve from one node to another in a different group: out of the side facing the target. */
function crossCurve(a: Box, b: Box): Bezier {
  const acx = a.x + a.width / 2;
  const bcx = b.x + b.width / 2;
  const forward = bcx >= acx;
  const start = { x: forward ? a.x + a.width : a.x, y: a.y + a.height / 2 };
  const end = { x: forward ? b.x : b.x + b.width, y: b.y + b.height / 2 };
  const bend = Math.max(40, Math.abs(end.x - start.x) / 2);
  return [start, { x: start.x + (forward ? bend : -bend), y: start.y }, { x: end.x + (forward ? -bend : bend), y: end.y }, end];
}

function bezierPath([p0, c1, c2, p3]: Bezier): string {
  return `M${r1(p0.x)},${r1(p0.y)} C${r1(c1.x)},${r1(c1.y)} ${r1(c2.x)},${r1(c2.y)} ${r1(p3.x)},${r1(p3.y)}`;
}

function bezierAt([p0, c1, c2, p3]: Bezier, t: number): Point {
  const at = (a: number, b: number, c: number, d: number) => (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d;
  return { x: at(p0.x, c1.x, c2.x, p3.x), y: at(p0.y, c1.y, c2.y, p3.y) };
}

function labelBox(at: Point, label: string): Box {
  const w = textWidth(label, EDGE_FONT) + 6;
  const h = EDGE_FONT + 4;
  return { x: at.x - w / 2, y: at.y - h / 2, width: w, height: h };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Where along a curve its label goes: the first spot, middle outwards, that covers no node or label. */
const LABEL_SPOTS = [0.5, 0.62, 0.38, 0.74, 0.26, 0.84, 0.16];

function placeLabel(curve: Bezier, label: string, taken: Box[]): Point {
  let fallback: Point | undefined;
  for (const t of LABEL_SPOTS) {
    const at = bezierAt(curve, t);
    fallback ??= at;
    const box = labelBox(at, label);
    if (!taken.some((b) => overlaps(b, box))) {
      taken.push(box);
      return at;
    }
  }
  taken.push(labelBox(fallback!, label));
  return fallback!;
}

function loopPath(n: Box, label: string): { path: string; labelAt: Point } {
  const r = n.x + n.width;
  const top = n.y;
  return {
    path: `M${r1(r - 12)},${r1(top)} C${r1(r - 4)},${r1(top - 30)} ${r1(r + 34)},${r1(top - 4)} ${r1(r)},${r1(top + n.height / 2)}`,
    labelAt: { x: r + 24 + textWidth(label, EDGE_FONT) / 2, y: top - 12 },
  };
}

export function layoutGraph(graph: ConnectivityGraph): GraphLayout {
  const labels = new Map(graph.edges.map((e) => [e.id, edgeLabel(e)]));
  const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
  const members = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) {
    const k = groupKey(n);
    const list = members.get(k);
    if (list) list.push(n);
    else members.set(k, [n]);
  }
  const internal = new Map<string, GraphEdge[]>();
  const between = new Map<string, { from: string; to: string; weight: number }>();
  for (const e of graph.edges) {
    const a = groupKey(nodeById.get(e.from)!);
    const b = groupKey(nodeById.get(e.to)!);
    if (a === b) {
      const list = internal.get(a);
      if (list) list.push(e);
      else internal.set(a, [e]);
    } else {
      const k = `${a}\u0001${b}`;
      const w = between.get(k);
      if (w) w.weight++;
      else between.set(k, { from: a, to: b, weight: 1 });
    }
  }

  // Level 1: each group on its own.
  const keys = [...graph.namespaces.map((ns) => `ns:${ns}`), ...(members.has(OUTSIDE) ? [OUTSIDE] : [])];
  const local = new Map<string, LocalLayout>();
  for (const k of keys) local.set(k, layoutGroup(members.get(k) ?? [], internal.get(k) ?? [], labels));

  // Level 2: the groups as boxes, connected where their workloads are.
  const sizes = new Map<string, { width: number; height: number }>();
  for (const k of keys) {
    const l = local.get(k)!;
    const titleWidth = Math.ceil(textWidth(k === OUTSIDE ? 'outside the cluster' : `namespace ${k.slice(3)}`, 12) * 1.15) + 24;
    sizes.set(k, { width: Math.max(l.width + 2 * GROUP_PAD, titleWidth), height: l.height + GROUP_TITLE + GROUP_PAD });
  }
  const arranged = arrangeGroups(keys, sizes, between.values());

  const groups: PlacedGroup[] = [];
  const nodes: PlacedNode[] = [];
  const placed = new Map<string, Box>();
  const origin = new Map<string, Point>();
  for (const k of keys) {
    const box = arranged.get(k)!;
    groups.push(k === OUTSIDE ? { label: 'outside the cluster', ...box } : { namespace: k.slice(3), label: `namespace ${k.slice(3)}`, ...box });
    const o = { x: box.x + GROUP_PAD, y: box.y + GROUP_TITLE };
    origin.set(k, o);
    for (const [id, b] of local.get(k)!.boxes) placed.set(id, { x: o.x + b.x, y: o.y + b.y, width: b.width, height: b.height });
  }
  for (const n of graph.nodes) nodes.push({ node: n, ...placed.get(n.id)! });

  // Labels of edges across groups are placed last, around what is already drawn.
  const taken: Box[] = [...nodes];
  const crossing: { index: number; curve: Bezier }[] = [];
  const edges: PlacedEdge[] = graph.edges.map((edge, index) => {
    const label = labels.get(edge.id)!;
    const a = placed.get(edge.from)!;
    const b = placed.get(edge.to)!;
    if (edge.from === edge.to) return { edge, label, ...loopPath(a, label) };
    const k = groupKey(nodeById.get(edge.from)!);
    const inside = k === groupKey(nodeById.get(edge.to)!) ? local.get(k)!.edges.get(edge.id) : undefined;
    if (inside) {
      const o = origin.get(k)!;
      const points = inside.points.map((p) => ({ x: p.x + o.x, y: p.y + o.y }));
      const labelAt = { x: inside.labelAt.x + o.x, y: inside.labelAt.y + o.y };
      taken.push(labelBox(labelAt, label));
      return { edge, label, path: pathThrough(points), labelAt };
    }
    const curve = crossCurve(a, b);
    crossing.push({ index, curve });
    return { edge, label, path: bezierPath(curve), labelAt: curve[0] };
  });
  for (const { index, curve } of crossing) edges[index]!.labelAt = placeLabel(curve, edges[index]!.label, taken);

  let width = Math.max(...groups.map((g) => g.x + g.width)) + 24;
  let height = Math.max(...groups.map((g) => g.y + g.height)) + 24;
  let minY = 0;
  for (const e of edges) {
    width = Math.max(width, e.labelAt.x + textWidth(e.label, EDGE_FONT) / 2 + 24);
    height = Math.max(height, e.labelAt.y + 20);
    minY = Math.min(minY, e.labelAt.y - 20);
  }
  if (minY < 0) {
    // A loop's label above the top row: shift everything down.
    const dy = -minY;
    for (const n of nodes) n.y += dy;
    for (const grp of groups) grp.y += dy;
    for (const e of edges) {
      e.path = e.path.replace(/(-?[\d.]+),(-?[\d.]+)/g, (_, x: string, y: string) => `${x},${r1(Number(y) + dy)}`);
      e.labelAt = { x: e.labelAt.x, y: e.labelAt.y + dy };
    }
    height += dy;
  }
  return { width: Math.ceil(width), height: Math.ceil(height), nodes, groups, edges };
}
