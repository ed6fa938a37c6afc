// The Map: the flow graph of /v1/graph as a force-directed dependency map.
// Nodes are workloads or bare addresses, coloured by a label and sized by
// traffic; edges are (src, dst, proto, port), coloured by verdict and as
// thick as their flow count. The layout survives refreshes: a node keeps
// its place (and stays where the operator dragged it) while the data under
// it changes.
import { getJSON, poller, el, fmtInt, fmtBytes, fmtAgo, fmtTime, portOf, verdictClass } from './api.js';

// What is drawn is bounded so that the page stays responsive whatever the
// graph holds (the agent keeps up to 100,000 edges by default): the busiest
// edges are drawn, and the page says how many were left out.
const MAX_EDGES = 1500;
const MAX_NODES = 600;
const LABEL_EDGES = 400; // above this, port labels only for the selection
const REFRESH_MS = 5000;
const NO_LABEL = '#6e7681';

let graph = null;
const placed = new Map(); // node id -> the simulation's node object, kept across refreshes
let drawnKeys = '';
let sim, svg, root, gEdges, gHits, gLabels, gNodes, zoom;
let selected = null; // {kind: 'node', id} or {kind: 'edge', key}
let detailsKey = '';
let fitted = false;
let centred = false;
let colour = null;

const $ = id => document.getElementById(id);
const edgeKey = e => `${e.src}|${e.dst}|${e.proto}|${e.port}`;
const portLabel = e => (e.proto === 'icmp' || e.proto === 'icmpv6') ? `${e.proto} type ${e.port}`
  : `${e.proto}/${e.port}`;

const poll = poller(refresh, REFRESH_MS);
export function start() {
  setup();
  poll.start();
}
export const { show, hide } = poll;

function setup() {
  svg = d3.select('#map-svg');
  const defs = svg.append('defs');
  for (const v of ['allow', 'deny', 'audit'])
    defs.append('marker').attr('id', 'm-' + v).attr('viewBox', '0 -4 8 8')
      .attr('refX', 8).attr('refY', 0).attr('markerWidth', 7).attr('markerHeight', 7)
      .attr('markerUnits', 'userSpaceOnUse').attr('orient', 'auto')
      .append('path').attr('d', 'M0,-4L8,0L0,4');
  root = svg.append('g');
  gEdges = root.append('g').attr('class', 'edges');
  gHits = root.append('g').attr('class', 'hits');
  gLabels = root.append('g').attr('class', 'labels');
  gNodes = root.append('g').attr('class', 'nodes');
  zoom = d3.zoom().scaleExtent([0.05, 8]).on('zoom', () => root.attr('transform', d3.event.transform));
  svg.call(zoom).on('dblclick.zoom', null);
  svg.on('click', () => {
    if (d3.event.target === svg.node()) select(null);
  });
  sim = d3.forceSimulation()
    .force('link', d3.forceLink().id(d => d.id)
      .distance(l => 120 + 2 * (l.source.r + l.target.r) + 16 * Math.min(l.pairN - 1, 10)))
    .force('charge', d3.forceManyBody().strength(-500).distanceMax(700))
    .force('collide', d3.forceCollide().radius(d => d.r + 10))
    .force('x', d3.forceX(0).strength(0.04))
    .force('y', d3.forceY(0).strength(0.06))
    .on('tick', () => {
      ticked();
      // Framed once, when the first layout has nearly settled.
      if (!fitted && sim.alpha() < 0.05) { fit(); fitted = true; }
    });
  sim.stop();
  for (const input of document.querySelectorAll('#view-map input[name=verdict]'))
    input.addEventListener('change', render);
  for (const id of ['map-colour', 'map-label', 'map-window'])
    $(id).addEventListener('change', render);
  $('map-fit').addEventListener('click', fit);
}

async function refresh() {
  try {
    graph = await getJSON('v1/graph');
  } catch (e) {
    $('map-info').textContent = 'graph: ' + e.message;
    return;
  }
  fillSelects();
  render();
}

// Label keys to colour by and key=value pairs to filter on, from the nodes.
function fillSelects() {
  const keys = new Set(), pairs = new Set();
  for (const n of graph.nodes)
    for (const [k, v] of Object.entries(n.labels || {})) {
      keys.add(k);
      pairs.add(`${k}=${v}`);
    }
  keys.add('kind');
  const cs = $('map-colour'), ls = $('map-label');
  const want = cs.value || (keys.has('role') ? 'role' : [...keys][0]);
  const have = [...cs.options].map(o => o.value).join('\n');
  const next = [...keys].sort();
  if (have !== next.join('\n')) {
    cs.replaceChildren(...next.map(k => el('option', { value: k, text: k })));
  }
  cs.value = keys.has(want) ? want : next[0];
  const lwant = ls.value;
  const lnext = [...pairs].sort();
  if ([...ls.options].slice(1).map(o => o.value).join('\n') !== lnext.join('\n'))
    ls.replaceChildren(el('option', { value: '', text: 'all workloads' }),
      ...lnext.map(p => el('option', { value: p, text: p })));
  ls.value = pairs.has(lwant) ? lwant : '';
}

function labelOf(n, key) {
  if (key === 'kind') return n.kind;
  return n.labels ? n.labels[key] : undefined;
}

function verdictsOf(e) {
  const v = [];
  if (e.allowed > 0) v.push('allow');
  if (e.denied > 0) v.push('deny');
  if (e.audit > 0) v.push('audit');
  return v.length ? v : ['allow']; // an open session not yet counted
}

// The nodes and edges to draw under the filters and bounds.
function visible() {
  const verdicts = new Set([...document.querySelectorAll('#view-map input[name=verdict]:checked')]
    .map(i => i.value));
  const windowSec = Number($('map-window').value);
  const lf = $('map-label').value;
  const [lk, lv] = lf ? [lf.slice(0, lf.indexOf('=')), lf.slice(lf.indexOf('=') + 1)] : [];
  const byId = new Map(graph.nodes.map(n => [n.id, n]));
  const matches = n => !lf || (n && n.labels && n.labels[lk] === lv);
  const since = windowSec ? Date.now() - windowSec * 1000 : 0;
  const filtered = verdicts.size < 3 || windowSec > 0 || lf;

  let edges = graph.edges.filter(e =>
    byId.has(e.src) && byId.has(e.dst) &&
    verdictsOf(e).some(v => verdicts.has(v)) &&
    (!since || new Date(e.last_seen) >= since) &&
    (matches(byId.get(e.src)) || matches(byId.get(e.dst))));
  const total = { nodes: graph.nodes.length, edges: graph.edges.length, shownEdges: edges.length };

  // Traffic of a node, over every edge: what sizes it and ranks it.
  const traffic = new Map();
  for (const e of graph.edges) {
    traffic.set(e.src, (traffic.get(e.src) || 0) + e.flows);
    traffic.set(e.dst, (traffic.get(e.dst) || 0) + e.flows);
  }
  let nodes;
  if (!filtered) {
    nodes = graph.nodes.slice();
  } else {
    const ids = new Set();
    for (const e of edges) { ids.add(e.src); ids.add(e.dst); }
    if (lf) for (const n of graph.nodes) if (matches(n)) ids.add(n.id);
    nodes = graph.nodes.filter(n => ids.has(n.id));
  }
  let cut = false;
  if (edges.length > MAX_EDGES) {
    edges = edges.slice().sort((a, b) => b.flows - a.flows).slice(0, MAX_EDGES);
    const ids = new Set();
    for (const e of edges) { ids.add(e.src); ids.add(e.dst); }
    nodes = nodes.filter(n => ids.has(n.id));
    cut = true;
  }
  if (nodes.length > MAX_NODES) {
    nodes = nodes.slice().sort((a, b) => (traffic.get(b.id) || 0) - (traffic.get(a.id) || 0))
      .slice(0, MAX_NODES);
    const ids = new Set(nodes.map(n => n.id));
    edges = edges.filter(e => ids.has(e.src) && ids.has(e.dst));
    cut = true;
  }
  return { nodes, edges, traffic, total, cut, filtered };
}

function render() {
  if (!graph) return;
  const { nodes, edges, traffic, total, cut, filtered } = visible();
  const key = $('map-colour').value || 'role';

  $('map-empty').hidden = graph.nodes.length > 0;
  $('map-info').textContent = `${fmtInt(nodes.length)} of ${fmtInt(total.nodes)} nodes, ` +
    `${fmtInt(edges.length)} of ${fmtInt(total.edges)} edges drawn · updated ${fmtTime(graph.generated)}`;
  const notes = [];
  if (cut)
    notes.push(`Showing the ${fmtInt(edges.length)} busiest of ${fmtInt(total.shownEdges)} edges ` +
      `(at most ${fmtInt(MAX_EDGES)} edges and ${fmtInt(MAX_NODES)} nodes are drawn): ` +
      'filter by verdict, label or time to see the others.');
  if (graph.truncated)
    notes.push(`The agent's graph is full: ${fmtInt(graph.dropped_edges)} further edges were ` +
      `counted but not kept (--graph-max-edges ${fmtInt(graph.max_edges)}).`);
  $('map-note').textContent = notes.join(' ');
  $('map-note').hidden = !notes.length;

  // Colour by label, with a stable order of values.
  const values = [...new Set(graph.nodes.map(n => labelOf(n, key)).filter(v => v !== undefined))].sort();
  colour = d3.scaleOrdinal(d3.schemeTableau10 || d3.schemeCategory10).domain(values);
  const fill = n => { const v = labelOf(n, key); return v === undefined ? NO_LABEL : colour(v); };
  $('map-legend').replaceChildren(el('div', { text: key }),
    ...values.map(v => el('div', {}, legendDot(colour(v)), v)),
    ...(graph.nodes.some(n => labelOf(n, key) === undefined) ? [el('div', {}, legendDot(NO_LABEL), '(none)')] : []));

  const maxT = d3.max(nodes, n => traffic.get(n.id) || 0) || 1;
  const radius = d3.scaleSqrt().domain([0, maxT]).range([6, 24]);
  const maxF = d3.max(edges, e => e.flows) || 1;
  const width = d3.scaleSqrt().domain([0, maxF]).range([1.2, 8]);

  // Simulation nodes keep their place across refreshes.
  const w = svg.node().clientWidth || 800, h = svg.node().clientHeight || 600;
  if (!centred && w > 0) {
    // The layout is around (0, 0): start with it in the middle.
    svg.call(zoom.transform, d3.zoomIdentity.translate(w / 2, h / 2));
    centred = true;
  }
  const simNodes = nodes.map(n => {
    let s = placed.get(n.id);
    if (!s) {
      s = { id: n.id };
      placed.set(n.id, s);
    }
    s.data = n;
    s.r = radius(traffic.get(n.id) || 0);
    return s;
  });
  const simById = new Map(simNodes.map(s => [s.id, s]));
  for (const s of simNodes) {
    if (s.x !== undefined) continue;
    // A newcomer starts beside a neighbour that already has a place.
    const e = edges.find(e => (e.src === s.id && simById.get(e.dst) && simById.get(e.dst).x !== undefined) ||
      (e.dst === s.id && simById.get(e.src) && simById.get(e.src).x !== undefined));
    const nb = e && simById.get(e.src === s.id ? e.dst : e.src);
    const a = Math.random() * 2 * Math.PI, d = nb ? 40 : Math.min(w, h) / 3 * Math.random();
    s.x = (nb ? nb.x : 0) + d * Math.cos(a);
    s.y = (nb ? nb.y : 0) + d * Math.sin(a);
  }

  // Parallel edges of one pair of nodes (either direction) bend apart.
  const pairs = new Map();
  const links = edges.map(e => {
    const pk = e.src < e.dst ? `${e.src}|${e.dst}` : `${e.dst}|${e.src}`;
    const l = { key: edgeKey(e), e, source: e.src, target: e.dst, v: verdictClass(e), pk };
    if (!pairs.has(pk)) pairs.set(pk, []);
    pairs.get(pk).push(l);
    return l;
  });
  for (const group of pairs.values()) {
    group.sort((a, b) => a.key < b.key ? -1 : 1);
    group.forEach((l, i) => {
      const off = (i - (group.length - 1) / 2) * 28;
      l.pairN = group.length;
      // Labels of neighbouring curves are staggered along them.
      l.at = group.length < 2 ? 0.5 : 0.5 + ((i % 3) - 1) * 0.16;
      // One sign for the pair's canonical direction, so A->B and B->A part.
      l.bend = l.e.src < l.e.dst ? off : -off;
      if (group.length === 1) l.bend = 0;
    });
  }

  const showLabels = links.length <= LABEL_EDGES;
  gEdges.selectAll('path.edge').data(links, l => l.key).join('path')
    .attr('class', l => `edge ${l.v}`)
    .attr('data-src', l => l.e.src).attr('data-dst', l => l.e.dst)
    .attr('data-proto', l => l.e.proto).attr('data-port', l => l.e.port)
    .attr('data-verdict', l => l.v)
    .attr('stroke-width', l => width(l.e.flows))
    .attr('marker-end', l => `url(#m-${l.v})`);
  gHits.selectAll('path.edge-hit').data(links, l => l.key).join(
    enter => enter.append('path').attr('class', 'edge-hit')
      .on('click', l => { d3.event.stopPropagation(); select({ kind: 'edge', key: l.key }); })
      .call(s => s.append('title')))
    .select('title').text(l => `${nodeName(l.e.src)} → ${nodeName(l.e.dst)} ${portLabel(l.e)}: ` +
      `${fmtInt(l.e.flows)} flows (${fmtInt(l.e.allowed)} allowed, ${fmtInt(l.e.denied)} denied, ` +
      `${fmtInt(l.e.audit)} audit)`);
  gLabels.selectAll('text.edge-label').data(showLabels ? links : links.filter(isSelectedLink), l => l.key)
    .join('text').attr('class', 'edge-label').attr('text-anchor', 'middle').text(l => portLabel(l.e));

  const ng = gNodes.selectAll('g.node').data(simNodes, s => s.id).join(enter => {
    const g = enter.append('g');
    g.append('circle');
    g.append('text').attr('dy', '0.35em');
    g.append('title');
    g.on('click', s => { d3.event.stopPropagation(); select({ kind: 'node', id: s.id }); })
      .on('dblclick', s => { s.fx = s.fy = null; sim.alpha(0.3).restart(); })
      .call(d3.drag()
        .on('start', s => { if (!d3.event.active) sim.alphaTarget(0.2).restart(); s.fx = s.x; s.fy = s.y; })
        .on('drag', s => { s.fx = d3.event.x; s.fy = d3.event.y; })
        .on('end', () => { if (!d3.event.active) sim.alphaTarget(0); }));
    return g;
  });
  ng.attr('class', s => `node ${s.data.kind}`).attr('data-id', s => s.id)
    .attr('data-name', s => s.data.name);
  ng.select('circle').attr('r', s => s.r).attr('fill', s => fill(s.data));
  ng.select('text').attr('x', s => s.r + 4).text(s => s.data.name);
  ng.select('title').text(s => nodeTitle(s.data, traffic.get(s.id) || 0));

  // The layout moves only when what is drawn changed.
  const keys = simNodes.map(s => s.id).join('\n') + '\n--\n' + links.map(l => l.key).join('\n');
  sim.nodes(simNodes);
  sim.force('link').links(links);
  if (keys !== drawnKeys) {
    const fresh = !drawnKeys;
    drawnKeys = keys;
    if (fresh && simNodes.length > 150) {
      // A large first layout is computed before it is shown.
      sim.alpha(1);
      for (let i = 0; i < 200; i++) sim.tick();
      ticked();
      fit();
      fitted = true;
    }
    sim.alpha(fresh ? 1 : 0.35).restart();
  } else {
    ticked();
  }
  highlight();
  updateDetails();
}

function legendDot(c) {
  const i = el('i');
  i.style.background = c;
  return i;
}

function nodeName(id) {
  const n = graph && graph.nodes.find(n => n.id === id);
  return n ? n.name : id;
}

function nodeTitle(n, flows) {
  const labels = Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
  return `${n.name} (${n.kind})${labels ? '\n' + labels : ''}\n${fmtInt(flows)} flows`;
}

// A quadratic curve from source to target, bent by l.bend, ending at the
// target's rim so the arrow shows.
function geometry(l) {
  const s = l.source, t = l.target;
  const dx = t.x - s.x, dy = t.y - s.y, len = Math.hypot(dx, dy) || 1;
  const cx = (s.x + t.x) / 2 - dy / len * l.bend, cy = (s.y + t.y) / 2 + dx / len * l.bend;
  const ex = t.x - cx, ey = t.y - cy, el2 = Math.hypot(ex, ey) || 1;
  const tx = t.x - ex / el2 * (t.r + 2), ty = t.y - ey / el2 * (t.r + 2);
  const a = l.at || 0.5, b = 1 - a;
  return { s, cx, cy, tx, ty, mx: b * b * s.x + 2 * a * b * cx + a * a * t.x, my: b * b * s.y + 2 * a * b * cy + a * a * t.y };
}

function ticked() {
  const d = l => { const g = geometry(l); return `M${g.s.x},${g.s.y}Q${g.cx},${g.cy} ${g.tx},${g.ty}`; };
  gEdges.selectAll('path.edge').attr('d', d);
  gHits.selectAll('path.edge-hit').attr('d', d);
  gLabels.selectAll('text.edge-label').attr('x', l => geometry(l).mx).attr('y', l => geometry(l).my - 3);
  gNodes.selectAll('g.node').attr('transform', s => `translate(${s.x},${s.y})`);
}

function fit() {
  const ns = sim.nodes();
  if (!ns.length) return;
  const w = svg.node().clientWidth || 800, h = svg.node().clientHeight || 600;
  // Room on the right for the names beside the nodes.
  const x0 = d3.min(ns, n => n.x - n.r - 20), x1 = d3.max(ns, n => n.x + n.r + 70);
  const y0 = d3.min(ns, n => n.y - n.r - 20), y1 = d3.max(ns, n => n.y + n.r + 20);
  const k = Math.min(1.5, 0.9 * Math.min(w / Math.max(1, x1 - x0), h / Math.max(1, y1 - y0)));
  svg.call(zoom.transform, d3.zoomIdentity.translate(w / 2, h / 2).scale(k)
    .translate(-(x0 + x1) / 2, -(y0 + y1) / 2));
}

function isSelectedLink(l) {
  if (!selected) return false;
  if (selected.kind === 'edge') return l.key === selected.key;
  return l.e.src === selected.id || l.e.dst === selected.id;
}

function select(s) {
  selected = s;
  detailsKey = '';
  render();
}

// The selection and its neighbours stand out; the rest fades.
function highlight() {
  const on = !!selected;
  const near = new Set();
  if (selected) {
    for (const l of sim.force('link').links())
      if (isSelectedLink(l)) { near.add(l.e.src); near.add(l.e.dst); }
    if (selected.kind === 'node') near.add(selected.id);
  }
  gEdges.selectAll('path.edge').classed('dimmed', l => on && !isSelectedLink(l))
    .classed('selected', l => on && selected.kind === 'edge' && l.key === selected.key);
  gNodes.selectAll('g.node').classed('dimmed', s => on && !near.has(s.id))
    .classed('selected', s => on && selected.kind === 'node' && s.id === selected.id);
}

function updateDetails() {
  const box = $('map-details');
  if (!selected) {
    if (detailsKey !== 'none') {
      box.replaceChildren(el('p', { class: 'hint', text: 'Select a node or an edge to see its flows and the rules that decided them.' }));
      detailsKey = 'none';
    }
    return;
  }
  const item = selected.kind === 'node' ? graph.nodes.find(n => n.id === selected.id)
    : graph.edges.find(e => edgeKey(e) === selected.key);
  const k = JSON.stringify(item || null);
  if (k === detailsKey) return;
  detailsKey = k;
  if (!item) {
    box.replaceChildren(el('p', { class: 'hint', text: 'The selection is no longer in the graph.' }));
    return;
  }
  if (selected.kind === 'node') nodeDetails(box, item);
  else edgeDetails(box, item);
}

function kv(pairs) {
  const dl = el('dl', { class: 'kv' });
  for (const [k, v] of pairs) dl.append(el('dt', { text: k }), el('dd', {}, v));
  return dl;
}

function ruleTags(rules) {
  const span = el('span');
  for (const r of rules || []) {
    const a = el('a', { class: 'tag', href: '#policy', text: r });
    span.append(a);
  }
  return span;
}

// flows= query for the events and sessions of a node: by workload or address.
const nodeQuery = n => n.kind === 'workload' ? `workload=${encodeURIComponent(n.name)}`
  : `ip=${encodeURIComponent(n.name)}`;
const sideIs = (f, side, n) => n.kind === 'workload' ? f[side + '_workload'] === n.name
  : f[side] === n.name && !f[side + '_workload'];

function nodeDetails(box, n) {
  const out = graph.edges.filter(e => e.src === n.id), inn = graph.edges.filter(e => e.dst === n.id);
  const labels = el('span');
  for (const [k, v] of Object.entries(n.labels || {})) labels.append(el('span', { class: 'tag', text: `${k}=${v}` }));
  const edgeList = (list, dir) => {
    const ul = el('ul');
    for (const e of list.slice().sort((a, b) => b.flows - a.flows).slice(0, 12)) {
      const a = el('a', { href: '#map', text: `${dir === 'out' ? '→ ' + nodeName(e.dst) : '← ' + nodeName(e.src)} ${portLabel(e)}` });
      a.addEventListener('click', ev => { ev.preventDefault(); select({ kind: 'edge', key: edgeKey(e) }); });
      ul.append(el('li', { class: 'verdict-' + verdictClass(e) }, a, ` · ${fmtInt(e.flows)} flows`));
    }
    return ul;
  };
  const rules = [...new Set([...out, ...inn].flatMap(e => e.rules || []))].sort();
  box.replaceChildren(
    el('h3', { text: n.name }),
    kv([['kind', n.kind], ['labels', labels], ['addresses', (n.addresses || [n.name]).join(', ')],
      ['outgoing', `${out.length} edges, ${fmtInt(d3.sum(out, e => e.flows))} flows`],
      ['incoming', `${inn.length} edges, ${fmtInt(d3.sum(inn, e => e.flows))} flows`],
      ['rules', ruleTags(rules)]]),
    n.kind === 'workload' ? workloadBox(n.name) : '',
    out.length ? el('div', {}, el('b', { text: 'initiates' }), edgeList(out, 'out')) : '',
    inn.length ? el('div', {}, el('b', { text: 'accepts' }), edgeList(inn, 'in')) : '',
    flowsBox(nodeQuery(n), f => sideIs(f, 'src', n) || sideIs(f, 'dst', n)));
}

function edgeDetails(box, e) {
  const s = graph.nodes.find(n => n.id === e.src), d = graph.nodes.find(n => n.id === e.dst);
  const v = verdictClass(e);
  box.replaceChildren(
    el('h3', { text: `${s ? s.name : e.src} → ${d ? d.name : e.dst}` }),
    kv([['service', portLabel(e)], ['verdict', el('span', { class: 'tag', text: v })],
      ['flows', `${fmtInt(e.flows)} (${fmtInt(e.allowed)} allowed, ${fmtInt(e.denied)} denied, ${fmtInt(e.audit)} audit)`],
      ['packets', fmtInt(e.packets)], ['bytes', fmtBytes(e.bytes)],
      ['decided by', ruleTags(e.rules)],
      ['first seen', `${fmtTime(e.first_seen)} (${fmtAgo(e.first_seen)})`],
      ['last seen', `${fmtTime(e.last_seen)} (${fmtAgo(e.last_seen)})`]]),
    flowsBox((s ? nodeQuery(s) : '') + `&proto=${encodeURIComponent(e.proto)}` +
      (e.proto === 'icmp' || e.proto === 'icmpv6' ? '' : `&port=${e.port}`),
    f => s && d && sideIs(f, 'src', s) && sideIs(f, 'dst', d) && f.proto === e.proto && portOf(f) === e.port));
}

// Where a workload comes from: the policy, or discovery with its namespace
// and the processes listening in it.
function workloadBox(name) {
  const box = el('div', {});
  getJSON('v1/workloads').then(j => {
    const w = j.workloads.find(w => w.name === name);
    if (!w) return;
    const rows = [['source', w.source]];
    if (w.netns) rows.push(['netns', w.netns]);
    if (w.listeners && w.listeners.length)
      rows.push(['listening', w.listeners.map(l => `${l.proto}/${l.port}` +
        (l.process ? ` (${l.process})` : '')).join(', ')]);
    box.replaceChildren(kv(rows));
  }).catch(() => {});
  return box;
}

// The recent flow events and the open sessions behind a selection.
function flowsBox(query, keep) {
  const box = el('div', {}, el('b', { text: 'recent flows' }), el('p', { class: 'hint', text: 'loading…' }));
  Promise.all([getJSON(`v1/flows?limit=1000&${query}`), getJSON(`v1/sessions?limit=200&${query}`)])
    .then(([fl, ss]) => {
      const flows = fl.flows.filter(keep).slice(-25).reverse();
      const sessions = ss.sessions.filter(keep).slice(0, 25);
      const t = el('table', { class: 'grid flows-mini' });
      t.append(el('tr', {}, ...['time', 'event', 'rule', 'flow'].map(h => el('th', { text: h }))));
      for (const f of flows)
        t.append(el('tr', { class: 'verdict-' + f.verdict },
          el('td', { text: fmtTime(f.time) }), el('td', { class: 'v', text: f.event.replace('flow_', '') }),
          el('td', { text: f.rule }), el('td', { text: flowText(f) })));
      for (const f of sessions)
        t.append(el('tr', { class: 'verdict-' + f.verdict },
          el('td', { text: fmtTime(f.last_seen) }), el('td', { class: 'v', text: 'open' }),
          el('td', { text: f.rule }), el('td', { text: flowText(f) })));
      box.replaceChildren(el('b', { text: 'recent flows' }),
        flows.length || sessions.length ? t
          : el('p', { class: 'hint', text: 'None among the agent\'s recent events (it keeps the last 4096) or open sessions.' }));
    })
    .catch(err => box.replaceChildren(el('b', { text: 'recent flows' }), el('p', { class: 'hint', text: err.message })));
  return box;
}

function flowText(f) {
  const host = a => a.includes(':') ? `[${a}]` : a;
  const sp = f.src_process ? ` (${f.src_process})` : '', dp = f.dst_process ? ` (${f.dst_process})` : '';
  if (f.sport !== undefined) return `${host(f.src)}:${f.sport}${sp} → ${host(f.dst)}:${f.dport}${dp}`;
  return `${f.src}${sp} → ${f.dst}${dp} ${f.proto} type ${f.icmp_type}`;
}
