/**
 * `netpol graph -o html`: one self-contained page — inline SVG laid out in Node (so it renders
 * before and without any script), inline CSS and a small inline script for zoom/pan, search and
 * neighbour highlighting. No network fetches: no external fonts, scripts, styles or images.
 */
import { edgeLabel, STATUS_COLORS, type ConnectivityGraph, type EdgeStatus } from './model.js';
import { DETAIL_FONT, EDGE_FONT, layoutGraph, NODE_FONT, type GraphLayout } from './layout.js';

export interface HtmlOptions {
  title?: string;
  /** Inputs shown under the title (flow files, cluster, policies). */
  subtitle?: string;
}

export function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const r1 = (n: number) => Math.round(n * 10) / 10;

const STATUSES: EdgeStatus[] = ['allowed', 'denied', 'mixed', 'unjudged'];

function svgOf(graph: ConnectivityGraph, layout: GraphLayout): string {
  const out: string[] = [];
  out.push(`<svg id="graph" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="connectivity graph" viewBox="0 0 ${layout.width} ${layout.height}" data-width="${layout.width}" data-height="${layout.height}">`);
  out.push('<defs>');
  for (const s of STATUSES) {
    out.push(`<marker id="arrow-${s}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${STATUS_COLORS[s]}"/></marker>`);
  }
  out.push('</defs>');
  out.push('<g id="viewport">');
  out.push('<g class="groups">');
  for (const grp of layout.groups) {
    const cls = grp.namespace !== undefined ? 'group ns' : 'group outside';
    const data = grp.namespace !== undefined ? ` data-ns="${htmlEscape(grp.namespace)}"` : '';
    out.push(
      `<g class="${cls}"${data}><rect x="${r1(grp.x)}" y="${r1(grp.y)}" width="${r1(grp.width)}" height="${r1(grp.height)}" rx="10"/>` +
        `<text x="${r1(grp.x + 10)}" y="${r1(grp.y + 15)}">${htmlEscape(grp.label)}</text></g>`,
    );
  }
  out.push('</g>');
  out.push('<g class="edges">');
  for (const e of layout.edges) {
    const { edge } = e;
    const via = edge.via.length > 0 ? `\nvia ${edge.via.join(', ')}` : '';
    const title = `${edge.from} → ${edge.to}\n${edgeLabel(edge)}${via}`;
    const lw = (e.label.length * EDGE_FONT * 0.56) / 2 + 3;
    out.push(
      `<g class="edge ${edge.status}" data-id="${htmlEscape(edge.id)}" data-from="${htmlEscape(edge.from)}" data-to="${htmlEscape(edge.to)}" data-count="${edge.count}">` +
        `<title>${htmlEscape(title)}</title>` +
        `<path d="${e.path}" marker-end="url(#arrow-${edge.status})"/>` +
        `<rect class="label-bg" x="${r1(e.labelAt.x - lw)}" y="${r1(e.labelAt.y - EDGE_FONT / 2 - 2)}" width="${r1(2 * lw)}" height="${EDGE_FONT + 4}" rx="3"/>` +
        `<text x="${r1(e.labelAt.x)}" y="${r1(e.labelAt.y)}">${htmlEscape(e.label)}</text></g>`,
    );
  }
  out.push('</g>');
  out.push('<g class="nodes">');
  for (const n of layout.nodes) {
    const { node } = n;
    const ns = node.namespace !== undefined ? ` data-ns="${htmlEscape(node.namespace)}"` : '';
    const search = `${node.label} ${node.detail} ${node.namespace ?? ''} ${node.id}`.toLowerCase();
    out.push(
      `<g class="node ${node.kind}" data-id="${htmlEscape(node.id)}" data-label="${htmlEscape(node.label)}"${ns} data-search="${htmlEscape(search)}" tabindex="0">` +
        `<title>${htmlEscape(`${node.id}\n${node.detail}`)}</title>` +
        `<rect x="${r1(n.x)}" y="${r1(n.y)}" width="${r1(n.width)}" height="${r1(n.height)}" rx="${node.kind === 'workload' ? 8 : 2}"/>` +
        `<text class="name" x="${r1(n.x + n.width / 2)}" y="${r1(n.y + 17)}">${htmlEscape(node.label)}</text>` +
        `<text class="detail" x="${r1(n.x + n.width / 2)}" y="${r1(n.y + 32)}">${htmlEscape(node.detail)}</text></g>`,
    );
  }
  out.push('</g>');
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n');
}

const CSS = `
*{box-sizing:border-box}
html,body{margin:0;height:100%;font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#263238;background:#fafafa}
body{display:flex;flex-direction:column}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 18px;padding:8px 14px;border-bottom:1px solid #cfd8dc;background:#fff}
header h1{font-size:16px;margin:0}
header .sub{font-size:12px;color:#607d8b}
.stats{font-size:12px}
.legend{display:flex;gap:10px;font-size:12px}
.legend span::before{content:"";display:inline-block;width:18px;height:3px;margin-right:4px;vertical-align:middle;background:currentColor}
.legend .allowed{color:${STATUS_COLORS.allowed}}.legend .denied{color:${STATUS_COLORS.denied}}.legend .mixed{color:${STATUS_COLORS.mixed}}.legend .unjudged{color:${STATUS_COLORS.unjudged}}
.tools{margin-left:auto;display:flex;gap:6px;align-items:center;position:relative}
.tools input{width:240px;padding:4px 8px;font-size:13px;border:1px solid #b0bec5;border-radius:4px}
.tools button{padding:3px 9px;font-size:13px;border:1px solid #b0bec5;background:#fff;border-radius:4px;cursor:pointer}
#matches{font-size:12px;color:#607d8b;min-width:70px}
#results{position:absolute;top:30px;left:0;z-index:2;background:#fff;border:1px solid #b0bec5;max-height:260px;overflow:auto;width:320px;font-size:12px;display:none;list-style:none;margin:0;padding:0}
#results li{padding:3px 8px;cursor:pointer}#results li:hover{background:#e3f2fd}
main{flex:1;position:relative;overflow:hidden}
#graph{width:100%;height:100%;display:block;cursor:grab;user-select:none}
#graph.panning{cursor:grabbing}
.group rect{fill:#eceff1;stroke:#90a4ae;stroke-width:1}
.group.outside rect{fill:#fffde7;stroke:#a1887f;stroke-dasharray:5 4}
.group text{font-size:12px;font-weight:bold;fill:#546e7a}
.edge path{fill:none;stroke-width:1.6;opacity:.85}
.edge.denied path,.edge.mixed path{stroke-width:2.4}
${STATUSES.map((s) => `.edge.${s} path{stroke:${STATUS_COLORS[s]}}.edge.${s} text{fill:${STATUS_COLORS[s]}}`).join('\n')}
.edge text{font-size:${EDGE_FONT}px;text-anchor:middle;dominant-baseline:central}
.edge .label-bg{fill:#fafafa;opacity:.85}
.node rect{fill:#e3f2fd;stroke:#1565c0;stroke-width:1.2}
.node.external rect{fill:#fff8e1;stroke:#8d6e63}
.node.service rect{fill:#fce4ec;stroke:#ad1457;stroke-dasharray:4 3}
.node text{text-anchor:middle;pointer-events:none}
.node .name{font-size:${NODE_FONT}px;font-weight:bold}
.node .detail{font-size:${DETAIL_FONT}px;fill:#607d8b}
.node{cursor:pointer}
.node:focus{outline:none}.node:focus rect{stroke-width:3}
.far .edge:not(.hot) text,.far .edge:not(.hot) .label-bg{display:none}
.dim{opacity:.15}
.node.match rect{stroke:#d500f9;stroke-width:3}
.node.selected rect{stroke:#000;stroke-width:3}
.edge.hot path{stroke-width:3.5;opacity:1}
`;

/** The page's script: plain ES2017, no libraries. */
const SCRIPT = String.raw`
(function () {
  var svg = document.getElementById('graph');
  var vp = document.getElementById('viewport');
  var W = +svg.getAttribute('data-width'), H = +svg.getAttribute('data-height');
  svg.removeAttribute('viewBox');
  var t = { x: 0, y: 0, k: 1 }, moved = false;
  function apply() {
    vp.setAttribute('transform', 'translate(' + t.x + ',' + t.y + ') scale(' + t.k + ')');
    // Far out, edge labels are specks: hide them (except on highlighted edges) until zoomed in.
    svg.classList.toggle('far', t.k < 0.45);
    document.body.setAttribute('data-zoom', t.k.toFixed(3));
  }
  function fit() {
    var r = svg.getBoundingClientRect();
    t.k = Math.min(r.width / W, r.height / H, 1.5) || 1;
    t.x = (r.width - W * t.k) / 2; t.y = (r.height - H * t.k) / 2; apply();
  }
  function zoomAt(px, py, f) {
    var k = Math.max(0.05, Math.min(8, t.k * f)); f = k / t.k;
    t.x = px - (px - t.x) * f; t.y = py - (py - t.y) * f; t.k = k; moved = true; apply();
  }
  svg.addEventListener('wheel', function (ev) {
    ev.preventDefault(); var r = svg.getBoundingClientRect();
    zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * 0.0015));
  }, { passive: false });
  var drag = null;
  svg.addEventListener('pointerdown', function (ev) { if (ev.button !== 0) return; drag = { x: ev.clientX, y: ev.clientY, tx: t.x, ty: t.y, moved: false }; svg.classList.add('panning'); });
  window.addEventListener('pointermove', function (ev) {
    if (!drag) return; var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    t.x = drag.tx + dx; t.y = drag.ty + dy; moved = true; apply();
  });
  window.addEventListener('pointerup', function () { svg.classList.remove('panning'); setTimeout(function () { drag = null; }, 0); });

  var nodes = Array.prototype.slice.call(document.querySelectorAll('.node'));
  var edges = Array.prototype.slice.call(document.querySelectorAll('.edge'));
  function centerOn(g) {
    var b = g.getBBox(), r = svg.getBoundingClientRect();
    t.k = Math.max(t.k, 1); t.x = r.width / 2 - (b.x + b.width / 2) * t.k; t.y = r.height / 2 - (b.y + b.height / 2) * t.k; moved = true; apply();
  }
  function clearMarks() {
    nodes.concat(edges).forEach(function (el) { el.classList.remove('dim', 'match', 'selected', 'hot'); });
  }
  var selected = null;
  function select(id) {
    clearMarks(); selected = id; if (!id) return;
    var near = {}; near[id] = true;
    edges.forEach(function (e) {
      var f = e.getAttribute('data-from'), to = e.getAttribute('data-to');
      if (f === id || to === id) { near[f] = near[to] = true; e.classList.add('hot'); } else e.classList.add('dim');
    });
    nodes.forEach(function (n) { var nid = n.getAttribute('data-id'); if (nid === id) n.classList.add('selected'); else if (!near[nid]) n.classList.add('dim'); });
  }
  nodes.forEach(function (n) {
    n.addEventListener('click', function (ev) { ev.stopPropagation(); if (drag && drag.moved) return; var id = n.getAttribute('data-id'); select(selected === id ? null : id); });
    n.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); var id = n.getAttribute('data-id'); select(selected === id ? null : id); } });
  });
  svg.addEventListener('click', function () { if (!drag || !drag.moved) { if (selected) select(null); } });

  var input = document.getElementById('search'), count = document.getElementById('matches'), list = document.getElementById('results');
  function search(q) {
    q = (q || '').trim().toLowerCase(); clearMarks(); selected = null; list.innerHTML = ''; list.style.display = 'none';
    if (!q) { count.textContent = ''; document.body.setAttribute('data-matches', '0'); return []; }
    var hits = nodes.filter(function (n) { return n.getAttribute('data-search').indexOf(q) >= 0; });
    var hitIds = {}; hits.forEach(function (n) { hitIds[n.getAttribute('data-id')] = true; });
    if (hits.length === 1) select(hits[0].getAttribute('data-id'));
    nodes.forEach(function (n) { if (hitIds[n.getAttribute('data-id')]) { n.classList.add('match'); n.classList.remove('dim'); } else if (hits.length !== 1) n.classList.add('dim'); });
    if (hits.length !== 1) edges.forEach(function (e) { if (!hitIds[e.getAttribute('data-from')] && !hitIds[e.getAttribute('data-to')]) e.classList.add('dim'); });
    count.textContent = hits.length + (hits.length === 1 ? ' match' : ' matches');
    document.body.setAttribute('data-matches', String(hits.length));
    hits.slice(0, 50).forEach(function (n) {
      var li = document.createElement('li'); li.textContent = n.getAttribute('data-id');
      li.addEventListener('click', function () { centerOn(n); list.style.display = 'none'; });
      list.appendChild(li);
    });
    list.style.display = hits.length > 1 ? 'block' : 'none';
    return hits;
  }
  input.addEventListener('input', function () { search(input.value); });
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') { var hits = search(input.value); if (hits[0]) centerOn(hits[0]); list.style.display = 'none'; }
    if (ev.key === 'Escape') { input.value = ''; search(''); input.blur(); }
  });
  document.addEventListener('keydown', function (ev) { if (ev.key === '/' && document.activeElement !== input) { ev.preventDefault(); input.focus(); } });
  document.getElementById('fit').addEventListener('click', function () { moved = false; fit(); });
  document.getElementById('zoom-in').addEventListener('click', function () { var r = svg.getBoundingClientRect(); zoomAt(r.width / 2, r.height / 2, 1.25); });
  document.getElementById('zoom-out').addEventListener('click', function () { var r = svg.getBoundingClientRect(); zoomAt(r.width / 2, r.height / 2, 0.8); });
  // Refit on resize until the user has zoomed or panned.
  window.addEventListener('resize', function () { if (!moved) fit(); });

  fit();
  // #search=text pre-fills the search box (links from reports; the browser test uses it too).
  var m = /[#&]search=([^&]*)/.exec(location.hash);
  if (m) { input.value = decodeURIComponent(m[1]); var hits = search(input.value); if (hits.length === 1) centerOn(hits[0]); }
  document.body.setAttribute('data-nodes', String(nodes.length));
  document.body.setAttribute('data-edges', String(edges.length));
  document.body.setAttribute('data-ready', 'true');
})();
`;

export function renderHtml(graph: ConnectivityGraph, opts: HtmlOptions = {}): string {
  const layout = layoutGraph(graph);
  const title = opts.title ?? 'netpol connectivity graph';
  const denied = graph.edges.filter((e) => e.status === 'denied' || e.status === 'mixed').length;
  const stats =
    `${graph.nodes.length} nodes · ${graph.edges.length} edges · ${graph.flows} flows` +
    (graph.judged ? ` · ${denied} edges with denied connections` : ' · no policies given (not judged)');
  const legend = (graph.judged ? (['allowed', 'denied', 'mixed'] as const) : (['unjudged'] as const))
    .map((s) => `<span class="${s}">${s === 'unjudged' ? 'observed' : s}</span>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${htmlEscape(title)}</title>
<style>${CSS}</style>
</head>
<body data-ready="false">
<header>
<div><h1>${htmlEscape(title)}</h1>${opts.subtitle ? `<div class="sub">${htmlEscape(opts.subtitle)}</div>` : ''}</div>
<div class="stats" id="stats">${htmlEscape(stats)}</div>
<div class="legend">${legend}</div>
<div class="tools"><input id="search" type="search" placeholder="search workloads, namespaces, IPs  ( / )" autocomplete="off"><ul id="results"></ul><span id="matches"></span>
<button id="zoom-out" title="zoom out">−</button><button id="zoom-in" title="zoom in">+</button><button id="fit" title="fit to window">fit</button></div>
</header>
<main>
${svgOf(graph, layout)}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
