// The console's shell: the header's agent status, and the views behind
// the #map, #flows, #policy and #suggest tabs. Each view starts when first
// shown and keeps itself up to date while it is on screen.
import { getJSON, el } from './api.js';
import * as map from './map.js';
import * as flows from './flows.js';
import * as policy from './policy.js';
import * as suggest from './suggest.js';

const views = { map, flows, policy, suggest };
const started = new Set();
let current = null;

function show(name) {
  if (!views[name]) name = 'map';
  if (current === name) return;
  if (current && views[current].hide) views[current].hide();
  current = name;
  for (const v of Object.keys(views))
    document.getElementById('view-' + v).hidden = v !== name;
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.dataset.view === name);
  if (!started.has(name)) {
    started.add(name);
    views[name].start();
  } else if (views[name].show) {
    views[name].show();
  }
}

async function status() {
  const box = document.getElementById('agent');
  try {
    const s = await getJSON('v1/status');
    box.replaceChildren(
      'microsegd ', el('b', { text: s.version }), ' on ',
      el('b', { text: s.interfaces.join(', ') || 'no interface' }), ' · mode ',
      el('b', { class: 'mode-' + s.mode, text: s.mode }), ' · generation ',
      el('b', { text: String(s.policy.generation) }), ' · ',
      el('b', { text: String(s.sessions) }), ' sessions');
    document.title = `microsegd · ${s.interfaces.join(', ')}`;
  } catch (e) {
    box.textContent = 'agent: ' + e.message;
  }
}

function boot() {
  if (typeof d3 === 'undefined') {
    document.getElementById('unreachable').textContent = 'D3 did not load: the console cannot draw.';
    document.getElementById('unreachable').hidden = false;
    return;
  }
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  show(location.hash.slice(1) || 'map');
  status();
  setInterval(status, 5000);
}

// d3.min.js is a deferred classic script; modules run after it.
boot();
