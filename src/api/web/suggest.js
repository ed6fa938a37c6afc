// Suggest: the least-privilege policy the agent learned from what it saw
// (/v1/suggest?format=json), with the agent's own check of it and a replay
// of its recent flows against it: what it would allow, deny and change.
import { getJSON, el, fmtInt, ApiError } from './api.js';

const $ = id => document.getElementById(id);
let yaml = '';

export function start() {
  $('suggest-refresh').addEventListener('click', refresh);
  $('suggest-group').addEventListener('change', refresh);
  $('suggest-denied').addEventListener('change', refresh);
  $('suggest-copy').addEventListener('click', copy);
  refresh();
}

export function show() {
  refresh();
}

function query() {
  return `group=${$('suggest-group').value}` + ($('suggest-denied').checked ? '&include_denied=1' : '');
}

async function refresh() {
  const q = query();
  $('suggest-download').setAttribute('href', `v1/suggest?${q}`);
  $('suggest-info').textContent = 'asking the agent…';
  let s;
  try {
    s = await getJSON(`v1/suggest?format=json&${q}`);
  } catch (e) {
    yaml = '';
    $('suggest-yaml').textContent = '';
    $('suggest-summary').replaceChildren();
    $('suggest-changes').replaceChildren();
    $('suggest-info').textContent = e instanceof ApiError && e.status === 409
      ? 'Nothing has passed yet: let traffic run (in monitor mode, to learn everything) and refresh.'
      : 'suggest: ' + e.message;
    return;
  }
  yaml = s.policy;
  $('suggest-yaml').textContent = yaml;
  const c = s.check, r = c.replay;
  $('suggest-info').textContent = c.ok ? 'The agent validated and compiled this policy.'
    : 'The agent found problems in this policy:';
  const card = (k, v, cls) => el('div', { class: 'card' }, el('div', { class: 'k', text: k }), el('div', { class: 'v ' + (cls || ''), text: v }));
  const cards = [card('check', c.ok ? 'valid' : 'invalid', c.ok ? 'good' : 'bad')];
  if (c.summary)
    cards.push(card('rules', fmtInt(c.summary.rules)), card('workloads', fmtInt(c.summary.workloads)));
  if (r)
    cards.push(card('recent flows replayed', fmtInt(r.flows)), card('would allow', fmtInt(r.allowed), 'good'),
      card('would deny', fmtInt(r.denied), r.denied ? 'bad' : ''), card('unchanged', fmtInt(r.unchanged)),
      card('newly denied', fmtInt(r.newly_denied), r.newly_denied ? 'bad' : ''),
      card('newly allowed', fmtInt(r.newly_allowed)));
  $('suggest-summary').replaceChildren(...cards);
  const box = $('suggest-changes');
  box.replaceChildren();
  if (c.diagnostics.length) {
    const ul = el('ul');
    for (const d of c.diagnostics) ul.append(el('li', { text: `line ${d.line}, col ${d.col}: ${d.severity}: ${d.message}` }));
    box.append(ul);
  }
  if (r && r.changes.length) {
    const t = el('table', { class: 'grid', id: 'suggest-changes-table' });
    t.append(el('tr', {}, ...['from', 'to', 'service', 'recorded', 'would be', 'by rule', 'flows']
      .map(h => el('th', { text: h }))));
    for (const ch of r.changes)
      t.append(el('tr', { class: 'verdict-' + (ch.to === 'deny' ? 'deny' : 'allow') },
        el('td', { text: ch.src }), el('td', { text: ch.dst }), el('td', { text: `${ch.proto}/${ch.port}` }),
        el('td', { text: ch.from }), el('td', { class: 'v', text: ch.to }), el('td', { text: ch.rule }),
        el('td', { class: 'num', text: fmtInt(ch.flows) })));
    box.append(el('h2', { text: 'Recorded verdicts this policy would change' }), t);
  }
}

async function copy() {
  if (!yaml) return;
  try {
    await navigator.clipboard.writeText(yaml);
    $('suggest-info').textContent = 'Copied to the clipboard.';
  } catch (e) {
    // Not a secure context (http to a remote address): select it instead.
    const range = document.createRange();
    range.selectNodeContents($('suggest-yaml'));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    $('suggest-info').textContent = document.execCommand('copy') ? 'Copied to the clipboard.'
      : 'Selected: press Ctrl+C to copy.';
  }
}
