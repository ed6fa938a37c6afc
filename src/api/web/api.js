// The console's one way to the agent: same-origin fetches, and one place
// that notices when the agent stops answering and says so on screen.
const banner = () => document.getElementById('unreachable');
let downSince = null;

function setReachable(ok, why) {
  const b = banner();
  if (ok) {
    downSince = null;
    b.hidden = true;
    return;
  }
  if (!downSince) downSince = new Date();
  b.textContent = `The agent at ${location.host} is unreachable since ` +
    `${downSince.toLocaleTimeString()} (${why}). Retrying; what is shown may be out of date.`;
  b.hidden = false;
}

// An answer the agent gave, even an error, proves it is reachable; only a
// network failure (or a proxy's 502-504) means it is not.
async function request(path) {
  let r;
  try {
    r = await fetch(path, { cache: 'no-store' });
  } catch (e) {
    setReachable(false, 'no answer');
    throw new ApiError(0, 'the agent did not answer');
  }
  if (r.status >= 502 && r.status <= 504) {
    setReachable(false, `HTTP ${r.status}`);
    throw new ApiError(r.status, `HTTP ${r.status}`);
  }
  setReachable(true);
  return r;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorOf(r) {
  try {
    const j = await r.json();
    return new ApiError(r.status, j.error || `HTTP ${r.status}`);
  } catch (e) {
    return new ApiError(r.status, `HTTP ${r.status}`);
  }
}

export async function getJSON(path) {
  const r = await request(path);
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

export async function getText(path) {
  const r = await request(path);
  if (!r.ok) throw await errorOf(r);
  return r.text();
}

// GET an NDJSON stream, calling onEvent for each object, until it ends or
// signal aborts. Resolves when the stream ends; rejects on a network error.
export async function follow(path, onEvent, signal) {
  let r;
  try {
    r = await fetch(path, { cache: 'no-store', signal });
  } catch (e) {
    if (signal && signal.aborted) return;
    setReachable(false, 'no answer');
    throw e;
  }
  if (!r.ok) throw await errorOf(r);
  setReachable(true);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (signal && signal.aborted) return;
      throw e;
    }
    if (chunk.done) break;
    buf += dec.decode(chunk.value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onEvent(JSON.parse(line)); // empty lines are heartbeats
    }
  }
}

// Small helpers shared by the views.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export const fmtInt = n => (n === undefined || n === null) ? '' : Number(n).toLocaleString('en-US');

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  n = Number(n);
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleTimeString('en-GB', { hour12: false }) + '.' +
    String(d.getMilliseconds()).padStart(3, '0');
}

export function fmtAgo(s) {
  if (!s) return 'never';
  const sec = Math.max(0, (Date.now() - new Date(s)) / 1000);
  if (sec < 60) return `${Math.round(sec)} s ago`;
  if (sec < 3600) return `${Math.round(sec / 60)} min ago`;
  if (sec < 86400) return `${(sec / 3600).toFixed(1)} h ago`;
  return `${(sec / 86400).toFixed(1)} days ago`;
}

// A flow's responder port as the graph names it: port, or ICMP type.
export const portOf = f => f.dport !== undefined ? f.dport : f.icmp_type;

export function verdictClass(e) {
  if (e.denied > 0) return 'deny';
  if (e.audit > 0) return 'audit';
  return 'allow';
}

// A view that refreshes itself every ms while on screen: its start, show
// and hide for console.js.
export function poller(refresh, ms) {
  let timer = null;
  const run = () => {
    refresh();
    if (!timer) timer = setInterval(refresh, ms);
  };
  return { start: run, show: run, hide: () => { clearInterval(timer); timer = null; } };
}
