// The Swarm dashboard: draws the nodes and the jobs from the gateway's event stream
// (GET /api/v1/events, docs/API.md). No framework: state in two Maps, one render per frame.
'use strict';

const JOBS_SHOWN = 50;
const state = {
  nodes: new Map(), // peer -> node entry (+ seenAt: when last_seen_ms was read)
  jobs: new Map(), // id -> job summary (value as a string: exact)
  dirty: false,
};

const $ = (sel) => document.querySelector(sel);

function token() {
  return sessionStorage.getItem('swarm-token') || '';
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: 'Bearer ' + t } : {};
}

function setConn(text, cls) {
  const el = $('#conn');
  el.textContent = text;
  el.className = cls || '';
}

// ---- rendering, at most once per animation frame ----------------------------------------

function schedule() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(() => {
    state.dirty = false;
    renderNodes();
    renderJobs();
  });
}

function shortPeer(p) {
  return p.length > 14 ? p.slice(0, 6) + '…' + p.slice(-6) : p;
}

function ago(ms) {
  const s = Math.round(ms / 1000);
  if (s < 2) return 'now';
  if (s < 120) return s + ' s ago';
  const m = Math.round(s / 60);
  return m < 120 ? m + ' min ago' : Math.round(m / 60) + ' h ago';
}

function cell(tr, text, cls, title) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  if (title) td.title = title;
  tr.appendChild(td);
}

function renderNodes() {
  const body = $('#nodes tbody');
  const rows = [...state.nodes.values()].sort((a, b) =>
    (a.state === 'gone') - (b.state === 'gone') || a.peer.localeCompare(b.peer));
  const now = Date.now();
  body.replaceChildren(...rows.map((n) => {
    const tr = document.createElement('tr');
    tr.dataset.peer = n.peer;
    cell(tr, shortPeer(n.peer), 'peer', n.peer);
    cell(tr, n.label || '—');
    cell(tr, n.state, 'state-' + n.state);
    cell(tr, String(n.strikes ?? 0), 'num');
    cell(tr, n.slots !== undefined ? (n.leased ?? 0) + ' / ' + n.slots : '—', 'num');
    cell(tr, String(n.shards_done ?? 0), 'num');
    cell(tr, n.last_seen_ms !== undefined ? ago(n.last_seen_ms + (now - n.seenAt)) : '—');
    return tr;
  }));
  const healthy = rows.filter((n) => n.state === 'healthy').length;
  $('#nodes-count').textContent = rows.length ? `(${healthy} healthy of ${rows.length})` : '';
  $('#nodes-empty').hidden = rows.length > 0;
}

function renderJobs() {
  const list = $('#jobs');
  const jobs = [...state.jobs.values()].sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
  jobs.slice(JOBS_SHOWN).forEach((j) => state.jobs.delete(j.id));
  list.replaceChildren(...jobs.slice(0, JOBS_SHOWN).map((j) => {
    const li = document.createElement('li');
    li.dataset.job = j.id;
    const head = document.createElement('div');
    head.className = 'job-head';
    const out = document.createElement('span');
    out.className = 'outcome ' + j.status;
    out.textContent = j.status;
    const id = document.createElement('code');
    id.textContent = j.id;
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = typeof j.value === 'string' ? j.reduce + ' = ' + j.value : '';
    head.append(out, id, value);
    const sh = j.shards || {};
    const meta = document.createElement('div');
    meta.className = 'job-meta';
    meta.textContent = `range [${j.range[0]}, ${j.range[1]}) · ${sh.done ?? 0}/${sh.total ?? 0} shards done` +
      (sh.failed ? ` · ${sh.failed} trapped` : '') + (sh.missing ? ` · ${sh.missing} missing` : '') +
      (j.status === 'running' ? '' : ` · ${j.elapsed_ms} ms`);
    li.append(head, meta);
    if (j.status === 'running') {
      const bar = document.createElement('progress');
      bar.max = sh.total || 1;
      bar.value = (sh.done || 0) + (sh.failed || 0);
      bar.setAttribute('aria-label', 'Progress of job ' + j.id);
      li.append(bar);
    }
    return li;
  }));
  $('#jobs-empty').hidden = jobs.length > 0;
}

// ---- the event stream --------------------------------------------------------------------

// A job's value is a 64-bit integer that JSON.parse would round: read it as a string. (Inside
// a JSON string the quotes would be escaped, so only real "value" members match.)
function parseExact(text) {
  return JSON.parse(text.replace(/"value": (-?\d+)/g, '"value": "$1"'));
}

function putNode(n) {
  n.seenAt = Date.now();
  state.nodes.set(n.peer, Object.assign(state.nodes.get(n.peer) || {}, n));
}

function onHello(ev) {
  const h = parseExact(ev.data);
  state.nodes.clear();
  state.jobs.clear();
  h.nodes.forEach(putNode);
  h.jobs.concat(h.recent).forEach((j) => state.jobs.set(j.id, j));
  schedule();
}

function onJob(ev) {
  const j = parseExact(ev.data);
  state.jobs.set(j.id, j);
  schedule();
}

function onShards(ev) {
  const s = JSON.parse(ev.data);
  const j = state.jobs.get(s.job);
  if (!j) return;
  j.shards = Object.assign(j.shards || {}, {
    total: s.total, done: s.done, failed: s.trapped, leased: s.leased,
  });
  schedule();
}

function onNode(ev) {
  putNode(JSON.parse(ev.data));
  schedule();
}

let source = null;

function connect() {
  if (source) source.close();
  const t = token();
  source = new EventSource('/api/v1/events' + (t ? '?token=' + encodeURIComponent(t) : ''));
  source.addEventListener('hello', (ev) => { setConn('live', 'live'); onHello(ev); });
  source.addEventListener('job', onJob);
  source.addEventListener('shards', onShards);
  source.addEventListener('node', onNode);
  source.onerror = () => setConn('reconnecting…', 'down');
}

// The gateway may want a token: ask once, keep it for the session.
async function start() {
  let res;
  try {
    res = await fetch('/api/v1/nodes', { headers: authHeaders() });
  } catch (e) {
    setConn('gateway unreachable', 'down');
    setTimeout(start, 3000);
    return;
  }
  if (res.status === 401) {
    setConn('token needed', 'down');
    const form = $('#login');
    form.hidden = false;
    if (token()) $('#login-error').textContent = 'That token was refused.';
    $('#token').focus();
    return;
  }
  $('#login').hidden = true;
  connect();
}

$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('swarm-token', $('#token').value);
  start();
});

setInterval(schedule, 1000); // "last seen" moves on between events
start();
