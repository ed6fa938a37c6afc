// Policy: the policy in force (/v1/policy) with its rules in evaluation
// order and their hits, how the last reload went, and the agent's counters
// over the last minutes (/v1/history) as small charts.
import { getJSON, poller, el, fmtInt, fmtTime, fmtAgo } from './api.js';

const REFRESH_MS = 5000;
let lastSource = null;

const $ = id => document.getElementById(id);

export const { start, show, hide } = poller(refresh, REFRESH_MS);

async function refresh() {
  try {
    const [p, h] = await Promise.all([getJSON('v1/policy'), getJSON('v1/history')]);
    cards(p);
    rules(p);
    charts(h);
    if (p.source !== lastSource) {
      $('policy-source').textContent = p.source;
      lastSource = p.source;
    }
  } catch (e) {
    $('policy-cards').replaceChildren(card('policy', e.message, 'bad'));
  }
}

function card(k, v, cls, title) {
  return el('div', { class: 'card', title }, el('div', { class: 'k', text: k }), el('div', { class: 'v ' + (cls || ''), text: v }));
}

function cards(p) {
  const lr = p.last_reload;
  $('policy-cards').replaceChildren(
    card('mode', p.mode, p.mode === 'monitor' ? 'bad' : 'good'),
    card('default', p.default),
    card('generation', String(p.generation)),
    card('rules', String(p.rules.length)),
    card('loaded', fmtAgo(p.loaded), '', `${fmtTime(p.loaded)}: ${p.path}`),
    card('took', `${p.load_ms} ms`, '', 'parse, compile and install of the policy in force'),
    card('last reload', lr ? `${lr.ok ? 'ok' : 'FAILED'} · ${lr.took_ms} ms` : 'none',
      lr && !lr.ok ? 'bad' : '', lr ? `${fmtTime(lr.time)} (${fmtAgo(lr.time)})` : ''),
    card('reloads', `${fmtInt(p.reloads_ok)} ok · ${fmtInt(p.reloads_failed)} failed`,
      p.reloads_failed ? 'bad' : ''));
}

function rules(p) {
  const tb = document.querySelector('#policy-rules tbody');
  const max = Math.max(1, p.default_hits, ...p.rules.map(r => r.hits));
  const bar = n => {
    const b = el('span', { class: 'bar' });
    b.style.width = `${Math.round(120 * n / max)}px`;
    return b;
  };
  const row = (i, r) => el('tr', { 'data-rule': r.name, 'data-hits': String(r.hits), class: 'action-' + r.action },
    el('td', { class: 'num', text: i }), el('td', { text: r.name }), el('td', { class: 'num', text: r.priority }),
    el('td', { text: r.action }), el('td', { text: r.direction }), el('td', { class: 'num', text: fmtInt(r.hits) }),
    el('td', {}, bar(r.hits)));
  tb.replaceChildren(...p.rules.map((r, i) => row(String(i + 1), r)),
    row('', { name: 'default', priority: '', action: p.default, direction: 'any', hits: p.default_hits }));
}

// Per-second rates from cumulative samples; sessions as they were.
const series = [
  { key: 'allowed', title: 'allowed packets/s', colour: 'var(--allow)', rate: true },
  { key: 'denied', title: 'denied packets/s', colour: 'var(--deny)', rate: true },
  { key: 'new_flows', title: 'new flows/s', colour: 'var(--accent)', rate: true },
  { key: 'sessions', title: 'sessions', colour: 'var(--text)', rate: false },
];

function charts(h) {
  const box = $('policy-charts');
  const s = h.samples;
  box.replaceChildren(...series.map(sr => {
    const pts = [];
    for (let i = sr.rate ? 1 : 0; i < s.length; i++) {
      const t = new Date(s[i].time);
      if (!sr.rate) { pts.push([t, s[i][sr.key]]); continue; }
      const dt = (t - new Date(s[i - 1].time)) / 1000;
      const dv = s[i][sr.key] - s[i - 1][sr.key];
      if (dt > 0 && dv >= 0) pts.push([t, dv / dt]);
    }
    return chart(sr, pts, h.interval_s);
  }));
}

function chart(sr, pts, interval) {
  const W = 260, H = 90, M = { l: 38, r: 6, t: 6, b: 18 };
  const div = el('div', { class: 'chart', 'data-series': sr.key });
  const last = pts.length ? pts[pts.length - 1][1] : 0;
  div.append(el('div', { class: 't', text: `${sr.title}: ${fmtInt(Math.round(last))}` +
    (pts.length ? ` · last ${Math.round((pts[pts.length - 1][0] - pts[0][0]) / 60000)} min, every ${interval} s` : ' · collecting…') }));
  const svg = d3.select(div).append('svg').attr('width', W).attr('height', H);
  const x = d3.scaleTime().range([M.l, W - M.r])
    .domain(pts.length > 1 ? d3.extent(pts, p => p[0]) : [new Date(Date.now() - 60000), new Date()]);
  const y = d3.scaleLinear().range([H - M.b, M.t]).domain([0, d3.max(pts, p => p[1]) || 1]).nice();
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${H - M.b})`)
    .call(d3.axisBottom(x).ticks(4).tickFormat(d3.timeFormat('%H:%M')));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${M.l},0)`)
    .call(d3.axisLeft(y).ticks(3).tickFormat(v => v >= 1000 ? d3.format('~s')(v) : d3.format('~g')(v)));
  svg.append('path').datum(pts).attr('class', 'line').style('stroke', sr.colour)
    .attr('d', d3.line().x(p => x(p[0])).y(p => y(p[1])));
  return div;
}
