// Flows: the flow log, live, from /v1/flows?follow=1. Newest first, with
// the flow log's columns; denied rows stand out. Pausing keeps the stream
// and holds new rows back until resumed; the filters apply to what is shown.
import { follow, el, fmtInt, fmtTime } from './api.js';

const MAX_ROWS = 2000; // rows kept on the page; older ones fall off the end
const BACKLOG = 200;   // events of the agent's ring shown on connect

let rows = [];      // {f, tr}, newest first
let held = [];      // events not yet shown: this frame's, or all since a pause
let paused = false;
let lastTime = null;
let recent = new Set(); // lines just seen: a reconnect's backlog must not repeat them
let connected = false;
let seen = 0;

const $ = id => document.getElementById(id);

export function start() {
  $('flows-filter').addEventListener('input', applyFilter);
  $('flows-verdict').addEventListener('change', applyFilter);
  $('flows-event').addEventListener('change', applyFilter);
  $('flows-pause').addEventListener('click', togglePause);
  $('flows-clear').addEventListener('click', () => {
    rows = [];
    held = [];
    document.querySelector('#flows-table tbody').replaceChildren();
    info();
  });
  connect();
}

async function connect() {
  // After a disconnect, only what came since the last event shown.
  const q = lastTime ? `since=${encodeURIComponent(lastTime)}&limit=1000` : `limit=${BACKLOG}`;
  try {
    connected = true;
    info();
    await follow(`v1/flows?follow=1&${q}`, onEvent);
  } catch (e) {
    // the banner says whether the agent is unreachable
  }
  connected = false;
  info();
  setTimeout(connect, 2000);
}

function onEvent(f) {
  const key = JSON.stringify(f);
  if (recent.has(key)) return;
  recent.add(key);
  if (recent.size > 4096) recent = new Set([...recent].slice(-2048));
  lastTime = f.time;
  seen++;
  held.push(f);
  if (held.length > MAX_ROWS) held.splice(0, held.length - MAX_ROWS);
  schedule();
}

// Rows are added once a frame, however fast events come.
let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  if (!paused) {
    for (const f of held) add(f);
    held = [];
  }
  info();
}

function cells(f) {
  const port = f.dport !== undefined ? f.dport : f.icmp_type !== undefined ? `type ${f.icmp_type}` : '';
  return [fmtTime(f.time), f.event, f.verdict, f.rule, f.direction, f.interface, f.proto, f.src,
    f.sport !== undefined ? f.sport : '', f.dst, port, f.src_workload || '', f.dst_workload || '',
    localProcess(f),
    f.packets !== undefined ? fmtInt(f.packets) : '', f.bytes !== undefined ? fmtInt(f.bytes) : ''];
}

// The local end's process and unit (process identity): the initiator's
// for a flow begun here, the responder's for one that came in.
function localProcess(f) {
  const p = f.src_process || f.dst_process, u = f.src_unit || f.dst_unit;
  if (!p && !u) return '';
  return (f.src_unit || f.src_process ? '→ ' : '← ') + (p && u ? `${p} (${u})` : p || u);
}

function add(f) {
  const tr = el('tr', { class: 'verdict-' + f.verdict, 'data-verdict': f.verdict, 'data-event': f.event });
  cells(f).forEach((c, i) => tr.append(el('td', { class: i === 2 ? 'v' : i >= 14 ? 'num' : null, text: String(c) })));
  tr.hidden = !matches(f);
  document.querySelector('#flows-table tbody').prepend(tr);
  rows.unshift({ f, tr });
  while (rows.length > MAX_ROWS) rows.pop().tr.remove();
}

function matches(f) {
  const v = $('flows-verdict').value, ev = $('flows-event').value;
  const text = $('flows-filter').value.trim().toLowerCase();
  if (v && f.verdict !== v) return false;
  if (ev && f.event !== ev) return false;
  if (!text) return true;
  return text.split(/\s+/).every(t => cells(f).some(c => String(c).toLowerCase().includes(t)));
}

function applyFilter() {
  for (const r of rows) r.tr.hidden = !matches(r.f);
  info();
}

function togglePause() {
  paused = !paused;
  $('flows-pause').textContent = paused ? 'resume' : 'pause';
  flush();
}

function info() {
  const shown = rows.filter(r => !r.tr.hidden).length;
  $('flows-info').textContent = `${connected ? 'live' : 'reconnecting…'} · ${fmtInt(shown)} of ` +
    `${fmtInt(rows.length)} rows shown · ${fmtInt(seen)} events received` +
    (paused ? ` · paused, ${fmtInt(held.length)} new held back` : '');
}
