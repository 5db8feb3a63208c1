// The psos dashboard's page: one WebSocket to the server (src/dashboard/server.cpp) bringing
// frames of the live model; four views (map, node, topics, deploy) drawn with plain DOM and SVG.
'use strict';

const S = {
  nodes: new Map(),   // "system/node" -> {id, state, info, latest, metrics[], logs[]}
  topics: new Map(),  // topic -> {t, p, r, n, rate, ts, size, hist[]}
  pending: new Map(), // request id -> {resolve}
  nextId: 1,
  ws: null,
  stats: {},
  selectedTopic: null,
  expanded: new Set(),
  collapsed: new Set(),
  treeFilter: '',
  sparkField: new Map(), // topic -> field name
  structure: 0,          // bumped when a node's state or $info changes: the map is redrawn
  logFilter: { level: 'info', service: '' },
  // The deploy view: the definition files, the chosen one's changes, the last deploy's status.
  deploy: { dir: '', files: null, filesError: null, file: null, plan: null, planError: null, planning: false,
    unticked: new Set(), confirm: 30, status: null, ended: null },
};
const HISTORY = 60;
const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical'];

// ---------------------------------------------------------------- helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}
const SVGNS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
  return Math.floor(s / 86400) + 'd' + String(Math.floor(s % 86400 / 3600)).padStart(2, '0') + 'h';
}
function clock(ms) { return ms ? new Date(ms).toLocaleTimeString() : '-'; }
function bytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return n + ' B';
}
function rate(r) { return r >= 1000 ? (r / 1000).toFixed(1) + 'k/s' : (Math.round(r * 10) / 10) + '/s'; }
function toast(text, bad) {
  const t = el('div', { class: 'toast' + (bad ? ' bad' : '') }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), bad ? 6000 : 3000);
}
// MQTT topic filter matching (+ and #).
function matches(filter, topic) {
  const f = filter.split('/'), t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i > 0 || !t[0].startsWith('$');
    if (i >= t.length) return false;
    if (f[i] === '+') { if (i === 0 && t[0].startsWith('$')) return false; continue; }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
function numbers(payload) {
  // The numeric fields of a payload: a number alone is "value", an object's own numeric fields.
  const out = {};
  let v;
  try { v = JSON.parse(payload); } catch { return null; }
  if (typeof v === 'number') out.value = v;
  else if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v)) if (typeof x === 'number') out[k] = x;
  return Object.keys(out).length ? out : null;
}

// ---------------------------------------------------------------- the connection

function connect() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  S.ws = ws;
  ws.onopen = () => setLink(true);
  ws.onclose = () => {
    setLink(false);
    for (const p of S.pending.values()) p.resolve({ ok: false, error: { code: 'disconnected', message: 'connection to the dashboard lost' } });
    S.pending.clear();
    setTimeout(connect, 1000);
  };
  ws.onmessage = (e) => onFrame(JSON.parse(e.data));
}
function setLink(up) {
  const l = document.getElementById('link');
  l.className = 'link ' + (up ? 'up' : 'down');
  l.textContent = up ? 'live' : 'offline';
}
function send(message) {
  return new Promise((resolve) => {
    if (!S.ws || S.ws.readyState !== 1) {
      resolve({ ok: false, error: { code: 'disconnected', message: 'not connected to the dashboard' } });
      return;
    }
    const id = S.nextId++;
    S.pending.set(id, { resolve });
    S.ws.send(JSON.stringify({ ...message, id }));
  });
}
function command(node, verb, args) { return send({ type: 'cmd', node, verb, args: args || {} }); }

function onFrame(f) {
  if (f.snapshot) {
    S.nodes.clear();
    for (const n of f.snapshot) S.nodes.set(n.id, { ...n, latest: n.metrics.length ? n.metrics[n.metrics.length - 1] : null });
    dirty.map = dirty.node = dirty.charts = true;
    S.structure++;
  }
  for (const e of f.events || []) {
    if (e.type === 'node') {
      const old = S.nodes.get(e.node.id) || { metrics: [], logs: [] };
      S.nodes.set(e.node.id, { ...old, id: e.node.id, state: e.node.state, info: e.node.info });
      dirty.map = dirty.node = true;
      S.structure++;
    } else if (e.type === 'metrics') {
      const n = S.nodes.get(e.node) || { id: e.node, state: '', info: null, metrics: [], logs: [] };
      n.metrics.push(e.metrics);
      if (n.metrics.length > 360) n.metrics.shift();
      n.latest = e.metrics;
      S.nodes.set(e.node, n);
      dirty.charts = true;
    } else if (e.type === 'log') {
      const n = S.nodes.get(e.node);
      if (n) {
        n.logs.push(e.record);
        if (n.logs.length > 300) n.logs.shift();
        if (current.node === e.node) appendLog(e.record);
      }
    }
  }
  for (const t of f.topics || []) {
    const old = S.topics.get(t.t);
    t.hist = old ? old.hist : [];
    if (!old || old.ts !== t.ts || old.n !== t.n) {
      const nums = numbers(t.p);
      if (nums) { t.hist.push({ ts: t.ts, nums }); if (t.hist.length > HISTORY) t.hist.shift(); }
      t.changed = true;
    }
    S.topics.set(t.t, t);
    dirty.topics = dirty.rates = true;
  }
  for (const r of f.replies || []) {
    const p = S.pending.get(r.id);
    if (p) { S.pending.delete(r.id); p.resolve(r); }
    else if (!r.ok) toast(r.error.message, true);
  }
  if (f.hello && f.hello.login && !document.getElementById('logout')) {
    const out = el('form', { method: 'post', action: '/logout', id: 'logout' }, el('button', { type: 'submit', title: 'log out' }, f.hello.user + ' · log out'));
    document.getElementById('stats').after(out);
  }
  if ('deploy' in f) {
    const st = f.deploy;
    // A deploy seen ended for the first time (however short it was: frames are sampled).
    const ended = st && !st.running && S.deploy.ended !== st.started;
    if (ended) S.deploy.ended = st.started;
    S.deploy.status = st;
    dirty.deploy = true;
    // Finished: what the nodes run now is the new revision; the changes are worked out again.
    if (ended && S.deploy.file === st.file) loadPlan(st.file);
  }
  if (f.stats) {
    S.stats = f.stats;
    document.getElementById('stats').textContent =
      `${S.nodes.size} nodes · ${f.stats.topics} topics · ${f.stats.messages} messages`;
  }
  schedule();
}

// ---------------------------------------------------------------- views

const dirty = { map: true, rates: false, node: true, charts: true, topics: true, plan: true, deploy: true };
let current = { view: 'map', node: null };
let drawing = false;
function schedule() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => { drawing = false; draw(); });
}
function route() {
  const h = location.hash.replace(/^#\/?/, '');
  const parts = h.split('/');
  if (parts[0] === 'node' && parts.length >= 3) current = { view: 'node', node: decodeURIComponent(parts[1]) + '/' + decodeURIComponent(parts[2]) };
  else if (parts[0] === 'topics') current = { view: 'topics' };
  else if (parts[0] === 'deploy') current = { view: 'deploy' };
  else current = { view: 'map' };
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === current.view);
  const nav = document.getElementById('nav-node');
  nav.textContent = '';
  if (current.view === 'node') nav.append(el('a', { class: 'active', href: location.hash }, current.node));
  document.getElementById('view').textContent = '';
  built = null;
  dirty.map = dirty.node = dirty.charts = dirty.topics = dirty.plan = dirty.deploy = true;
  draw();
}
let built = null; // the view whose skeleton is on the page
let ratesDrawn = 0;
function draw() {
  const root = document.getElementById('view');
  if (current.view === 'map' && dirty.map) { drawMap(root); dirty.map = dirty.rates = false; }
  if (current.view === 'map' && dirty.rates && Date.now() - ratesDrawn > 1000) {
    updateEdgeRates();
    dirty.rates = false;
    ratesDrawn = Date.now();
  }
  if (current.view === 'node' && (dirty.node || dirty.charts)) { drawNode(root); dirty.node = dirty.charts = false; }
  if (current.view === 'topics' && dirty.topics) { drawTopics(root); dirty.topics = false; }
  if (current.view === 'deploy' && (dirty.plan || dirty.deploy)) { drawDeploy(root); dirty.plan = dirty.deploy = false; }
}

// ---- the system map

function services(n) { return (n.info && Array.isArray(n.info.services)) ? n.info.services : []; }
// Publisher service -> subscriber service, through the topic one publishes and the other's
// filter. Worked out again only when a node's $info or state changes (S.structure); filters
// without wildcards are looked up, only the others are matched one by one.
let edgeCache = { version: -1, list: [] };
function edges() {
  if (edgeCache.version === S.structure) return edgeCache.list;
  const out = [];
  const exact = new Map(); // filter -> [{node, s}]
  const wild = [];         // [{filter, node, s}]
  const all = [];
  for (const n of S.nodes.values()) for (const s of services(n)) {
    const entry = { node: n.id, s };
    all.push(entry);
    for (const f of s.sub || []) {
      if (f.includes('+') || f.includes('#')) wild.push({ f, entry });
      else { if (!exact.has(f)) exact.set(f, []); exact.get(f).push(entry); }
    }
  }
  for (const a of all) for (const topic of a.s.pub || []) {
    const local = topic.startsWith('local/');
    const delivered = local ? topic.slice(6) : topic;
    const seen = new Set();
    const candidates = (exact.get(delivered) || []).concat(wild.filter((w) => matches(w.f, delivered)).map((w) => w.entry));
    for (const b of candidates) {
      if (b === a || seen.has(b) || (local && b.node !== a.node)) continue;
      seen.add(b);
      out.push({ from: a, to: b, topic, local });
    }
  }
  edgeCache = { version: S.structure, list: out };
  return out;
}
function edgeRate(e) { const t = S.topics.get(e.topic); return t ? t.rate : 0; }
function edgeWidth(r) { return r > 0 ? Math.min(10, 1.5 + Math.log2(1 + r)) : 1.5; }
// Between structural changes only the edges' widths follow the rates.
function updateEdgeRates() {
  for (const p of document.querySelectorAll('#map-canvas path.edge')) {
    if (p.classList.contains('local')) continue;
    const r = edgeRate({ topic: p.dataset.topic });
    p.setAttribute('stroke-width', edgeWidth(r));
    p.classList.toggle('idle', !(r > 0));
  }
}
function drawMap(root) {
  if (built !== 'map') {
    root.textContent = '';
    root.append(el('div', { class: 'panel', id: 'map' },
      el('div', { class: 'legend' },
        el('span', {}, el('i', { class: 'dot ready' }), 'ready'),
        el('span', {}, el('i', { class: 'dot init' }), 'init'),
        el('span', {}, el('i', { class: 'dot stopped' }), 'stopped'),
        el('span', {}, el('i', { class: 'dot lost' }), 'lost / failed'),
        el('span', {}, 'edges: publisher → subscriber, width by messages/s; purple: local/ inside a node')),
      el('div', { id: 'map-canvas' })));
    built = 'map';
  }
  const canvas = document.getElementById('map-canvas');
  const nodes = [...S.nodes.values()].filter((n) => n.state || n.info);
  if (!nodes.length) { canvas.replaceChildren(el('p', { class: 'muted' }, 'No node on the broker yet: nodes appear when they publish their $state.')); return; }
  const W = 230, GAP = 70, VGAP = 28, PILL = 24, HEAD = 46;
  const width = Math.max(320, document.getElementById('map').clientWidth - 26);
  const cols = Math.max(1, Math.floor((width + GAP) / (W + GAP)));
  const height = (n) => HEAD + services(n).length * (PILL + 6) + 4;
  // Layers by data flow: a node goes one column right of the nodes that publish to it, so most
  // edges run left to right between neighbours. When the layers do not fit the width (a
  // phone), the nodes wrap in that order instead.
  const all = edges();
  const rank = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of all) {
      if (e.from.node === e.to.node || !rank.has(e.from.node) || !rank.has(e.to.node)) continue;
      const r = rank.get(e.from.node) + 1;
      if (r > rank.get(e.to.node) && r < nodes.length) { rank.set(e.to.node, r); moved = true; }
    }
    if (!moved) break;
  }
  nodes.sort((a, b) => rank.get(a.id) - rank.get(b.id) || a.id.localeCompare(b.id));
  const layers = [...new Set(nodes.map((n) => rank.get(n.id)))];
  const place = new Map(); // id -> {x, y}
  let totalW = 0, totalH = 0;
  if (layers.length <= cols) {
    layers.forEach((r, c) => {
      let y = 20;
      for (const n of nodes.filter((m) => rank.get(m.id) === r)) {
        place.set(n.id, { x: 20 + c * (W + GAP), y });
        y += height(n) + VGAP;
      }
      totalH = Math.max(totalH, y);
    });
    totalW = layers.length * (W + GAP) - GAP + 40;
  } else {
    let y = 20;
    for (let i = 0; i < nodes.length; i += cols) {
      const row = nodes.slice(i, i + cols);
      row.forEach((n, c) => place.set(n.id, { x: 20 + c * (W + GAP), y }));
      y += Math.max(...row.map(height)) + VGAP + 20;
    }
    totalH = y;
    totalW = Math.min(nodes.length, cols) * (W + GAP) - GAP + 70;
  }
  const pos = new Map();
  const g = svg('svg', { width: totalW, height: totalH, viewBox: `0 0 ${totalW} ${totalH}`, role: 'img', 'aria-label': 'system map' });
  const now = Date.now();
  const edgeLayer = svg('g', {}); // between nodes: beneath them
  const nodeLayer = svg('g', {});
  const loopLayer = svg('g', {}); // inside a node: above it
  nodes.forEach((n) => {
    const { x, y } = place.get(n.id);
    const h = HEAD + services(n).length * (PILL + 6) + 4;
    const state = n.state || 'unknown';
    const info = n.info || {};
    const up = (state === 'ready' || state === 'init') && info.started ? duration(now - info.started) : '';
    const group = svg('g', { class: 'map-node', 'data-node': n.id, 'data-state': state, onclick: () => { location.hash = '#/node/' + n.id.split('/').map(encodeURIComponent).join('/'); } },
      svg('title', {}, `${n.id}: ${state}`),
      svg('rect', { class: 'box', x, y, width: W, height: h, rx: 8 }),
      svg('rect', { class: 'bar ' + state, x, y, width: 6, height: h, rx: 3 }),
      svg('text', { class: 'title', x: x + 14, y: y + 18 }, n.id.split('/')[1]),
      svg('text', { class: 'state ' + state, x: x + W - 10, y: y + 18, 'text-anchor': 'end' }, state),
      svg('text', { class: 'sub', x: x + 14, y: y + 34 }, [n.id.split('/')[0], info.version ? 'v' + info.version : '', up ? 'up ' + up : ''].filter(Boolean).join(' · ')));
    services(n).forEach((s, k) => {
      const sy = y + HEAD + k * (PILL + 6);
      pos.set(n.id + '/' + s.name, { x: x + 12, y: sy + PILL / 2, w: 160, node: n.id, right: x + W });
      group.append(svg('g', { class: 'svc ' + (s.status || ''), 'data-service': n.id + '/' + s.name, 'data-status': s.status },
        svg('title', {}, `${s.name} (${s.module}): ${s.status}, ${s.restarts} restarts${s.error ? '\n' + s.error : ''}\nsub: ${(s.sub || []).join(', ') || '-'}\npub: ${(s.pub || []).join(', ') || '-'}`),
        svg('rect', { x: x + 12, y: sy, width: 160, height: PILL, rx: 12 }),
        svg('text', { x: x + 24, y: sy + 16 }, s.name.length > 14 ? s.name.slice(0, 13) + '…' : s.name),
        svg('text', { class: 'sub', x: x + 164, y: sy + 16, 'text-anchor': 'end' }, s.module.length > 10 ? s.module.slice(0, 9) + '…' : s.module)));
    });
    nodeLayer.append(group);
  });
  for (const e of edges()) {
    const a = pos.get(e.from.node + '/' + e.from.s.name), b = pos.get(e.to.node + '/' + e.to.s.name);
    if (!a || !b) continue;
    const rateNow = edgeRate(e);
    const width = edgeWidth(rateNow);
    let d;
    if (a.node === b.node) {
      // Inside the node: a loop on the right of its services.
      const x = a.x + a.w, bulge = Math.min(a.right - x - 6, 20 + Math.abs(b.y - a.y) / 4);
      d = `M${x},${a.y} C${x + bulge},${a.y} ${x + bulge},${b.y} ${x},${b.y}`;
    } else {
      const x1 = a.right, x2 = b.x - 12;
      if (x2 > x1) {
        const dx = Math.max(60, (x2 - x1) / 2);
        d = `M${x1},${a.y} C${x1 + dx},${a.y} ${x2 - dx},${b.y} ${x2},${b.y}`;
      } else {
        // Not to the right (stacked, as on a phone): out of one box's right side and into the
        // other's, around the right.
        const out = Math.max(a.right, b.right) + 28;
        d = `M${x1},${a.y} C${out},${a.y} ${out},${b.y} ${b.right},${b.y}`;
      }
    }
    (a.node === b.node ? loopLayer : edgeLayer).append(svg('path', {
      class: 'edge' + (e.local ? ' local' : rateNow > 0 ? '' : ' idle'), d, 'stroke-width': width,
      'data-from': e.from.node + '/' + e.from.s.name, 'data-to': e.to.node + '/' + e.to.s.name, 'data-topic': e.topic,
    }, svg('title', {}, e.topic)));
  }
  g.append(edgeLayer, nodeLayer, loopLayer);
  canvas.replaceChildren(g);
}

// ---- a node

function chart(title, points, format) {
  const W = 300, H = 60;
  const last = points.length ? points[points.length - 1][1] : null;
  const box = el('div', { class: 'chart', 'data-chart': title },
    el('div', { class: 'label' }, el('span', {}, title), el('span', { class: 'value' }, last === null ? '-' : format(last))));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
  let range = null;
  if (points.length > 1) {
    const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
    // From zero for rates and percentages would flatten memory: scaled to the window's range.
    const values = points.map((p) => p[1]);
    const min = Math.min(...values), max = Math.max(...values);
    const span = max - min || Math.max(1e-9, Math.abs(max));
    const xy = points.map(([t, v]) => `${((t - t0) / Math.max(1, t1 - t0)) * W},${H - 6 - ((v - min) / span) * (H - 12)}`);
    range = el('div', { class: 'range' }, `${format(min)} – ${format(max)}`);
    s.append(svg('polyline', { points: xy.join(' '), 'vector-effect': 'non-scaling-stroke' }));
  }
  box.append(s);
  if (range) box.append(range);
  return box;
}
function messageRates(metrics) {
  const out = [];
  const total = (m) => Object.values(m.services || {}).reduce((a, s) => a + (s.in || 0) + (s.out || 0), 0);
  for (let i = 1; i < metrics.length; i++) {
    const dt = (metrics[i].ts - metrics[i - 1].ts) / 1000;
    if (dt > 0) out.push([metrics[i].ts, Math.max(0, (total(metrics[i]) - total(metrics[i - 1])) / dt)]);
  }
  return out;
}
function drawNode(root) {
  const id = current.node;
  const n = S.nodes.get(id);
  if (built !== 'node:' + id) {
    root.textContent = '';
    root.append(
      el('div', { class: 'panel', id: 'node-head' }),
      el('div', { class: 'panel' }, el('h2', {}, 'Last hour'), el('div', { class: 'charts', id: 'charts' })),
      el('div', { class: 'panel' }, el('h2', {}, 'Services'), el('div', { id: 'services' })),
      el('div', { class: 'panel' }, el('h2', {}, 'Configuration ', el('button', { onclick: loadConf }, 'Reload')),
        el('p', { class: 'muted' }, 'Effective values and where they come from; a value set here is checked against the module’s spec and applied by restarting that service.'),
        el('div', { id: 'conf' }, 'Loading…')),
      el('div', { class: 'panel' }, el('h2', {}, 'Functions'), el('div', { id: 'functions' }, 'Loading…')),
      el('div', { class: 'panel' }, el('h2', {}, 'Log'),
        el('div', { class: 'filters' },
          el('label', {}, 'Level ', el('select', { id: 'log-level', onchange: (e) => { S.logFilter.level = e.target.value; redrawLog(); } },
            LEVELS.map((l) => el('option', { value: l, selected: l === S.logFilter.level }, l)))),
          el('label', {}, 'Service ', el('select', { id: 'log-service', onchange: (e) => { S.logFilter.service = e.target.value; redrawLog(); } }))),
        el('div', { class: 'log', id: 'log' })));
    built = 'node:' + id;
    loadConf();
    loadFunctions();
    redrawLog();
  }
  if (!n) { document.getElementById('node-head').replaceChildren(el('p', {}, 'No node ' + id + ' on the broker.')); return; }
  const info = n.info || {};
  const state = n.state || '-';
  document.getElementById('node-head').replaceChildren(el('div', { class: 'node-head' },
    el('h2', {}, id), el('span', { class: 'badge ' + state, id: 'node-state' }, state),
    el('span', { class: 'muted' }, [info.version && 'psos ' + info.version, info.platform,
      info.started && (state === 'ready' || state === 'init') && 'up ' + duration(Date.now() - info.started),
      info.boot !== undefined && 'boot ' + info.boot, info.uplink && 'uplink ' + info.uplink].filter(Boolean).join(' · '))));
  const m = n.metrics || [];
  if (dirty.charts) document.getElementById('charts').replaceChildren(
    chart('CPU', m.map((x) => [x.ts, x.cpu || 0]), (v) => v.toFixed(1) + ' %'),
    chart('Memory (RSS)', m.map((x) => [x.ts, x.rss || 0]), bytes),
    chart('Loop lag p99', m.map((x) => [x.ts, (x.loop_lag_ms || {}).p99 || 0]), (v) => v.toFixed(2) + ' ms'),
    chart('Messages', messageRates(m), rate));
  if (!dirty.node) return;
  const rows = services(n).map((s) => el('tr', { 'data-service': s.name },
    el('td', {}, el('b', {}, s.name)), el('td', {}, s.module),
    el('td', {}, el('span', { class: 'badge ' + s.status, 'data-field': 'status' }, s.status)),
    el('td', { class: 'num', 'data-field': 'restarts' }, s.restarts),
    el('td', {}, s.started ? clock(s.started) : '-'),
    el('td', { class: 'mono' }, (s.sub || []).join(', ')), el('td', { class: 'mono' }, (s.pub || []).join(', ')),
    el('td', { class: 'error-text' }, s.error || ''),
    el('td', { class: 'actions' }, ['start', 'stop', 'restart'].map((op) =>
      el('button', { 'data-op': op, onclick: (e) => serviceOp(e.target, s.name, op) }, op)))));
  document.getElementById('services').replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, ['service', 'module', 'status', 'restarts', 'started', 'sub', 'pub', 'error', ''].map((h) => el('th', {}, h)))),
    el('tbody', {}, rows)));
  const sel = document.getElementById('log-service');
  const names = ['', ...services(n).map((s) => s.name)];
  if (sel.options.length !== names.length) {
    sel.replaceChildren(...names.map((x) => el('option', { value: x, selected: x === S.logFilter.service }, x || 'all')));
  }
}
async function serviceOp(button, name, op) {
  button.disabled = true;
  const r = await command(current.node, 'service', { op, name });
  button.disabled = false;
  if (r.ok) toast(`${name}: ${r.result.status}, ${r.result.restarts} restarts`);
  else toast(`${op} ${name}: ${r.error.message}`, true);
}
async function loadConf() {
  const node = current.node;
  const box = document.getElementById('conf');
  const r = await command(node, 'conf', { op: 'dump' });
  if (current.node !== node || !document.getElementById('conf')) return;
  if (!r.ok) { box.replaceChildren(el('p', { class: 'error-text' }, r.error.message)); return; }
  const rows = [];
  for (const [service, params] of Object.entries(r.result)) {
    for (const [param, v] of Object.entries(params)) {
      const input = el('input', { value: JSON.stringify(v.value), 'aria-label': `${service}.${param}` });
      const msg = el('div', { class: 'conf-msg' });
      const set = async () => {
        let value;
        try { value = JSON.parse(input.value); } catch { value = input.value; }
        msg.className = 'conf-msg';
        msg.textContent = 'Setting…';
        const res = await command(node, 'conf', { op: 'set', service, param, value });
        if (res.ok) { msg.textContent = 'Set: ' + service + ' restarted'; loadConf(); }
        else { msg.className = 'conf-msg error-text'; msg.textContent = res.error.message; }
      };
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter') set(); });
      rows.push(el('tr', { class: 'conf-row', 'data-param': `${service}.${param}` },
        el('td', {}, el('b', {}, service)), el('td', { class: 'mono' }, param),
        el('td', {}, input, msg), el('td', {}, el('span', { class: 'badge ' + (v.source === 'override' ? 'init' : '') }, v.source)),
        el('td', {}, el('button', { onclick: set }, 'set'),
          v.source === 'override' ? el('button', { onclick: async () => {
            const res = await command(node, 'conf', { op: 'unset', service, param });
            if (res.ok) loadConf(); else toast(res.error.message, true);
          } }, 'unset') : null)));
    }
  }
  box.replaceChildren(el('table', {}, el('thead', {}, el('tr', {}, ['service', 'parameter', 'value (JSON)', 'source', ''].map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
}
async function loadFunctions() {
  const node = current.node;
  const r = await command(node, 'help', {});
  const box = document.getElementById('functions');
  if (current.node !== node || !box) return;
  if (!r.ok) { box.replaceChildren(el('p', { class: 'error-text' }, r.error.message)); return; }
  const items = [];
  for (const s of r.result.services) for (const f of s.functions) {
    const inputs = f.args.map((a) => {
      const attrs = { name: a.name, title: a.description, placeholder: a.default !== undefined ? JSON.stringify(a.default) : a.type };
      let input;
      if (a.allowed) input = el('select', attrs, (a.required ? [] : [el('option', { value: '' }, '')]).concat(a.allowed.map((x) => el('option', { value: JSON.stringify(x) }, String(x)))));
      else if (a.type === 'boolean') input = el('input', { ...attrs, type: 'checkbox' });
      else if (a.type === 'integer' || a.type === 'number') input = el('input', { ...attrs, type: 'number', step: a.type === 'integer' ? 1 : 'any', min: a.minimum, max: a.maximum });
      else input = el('input', attrs);
      input.dataset.type = a.type;
      return el('label', {}, a.name + (a.required ? ' *' : ''), input);
    });
    const out = el('pre', { class: 'mono' });
    const form = el('form', { onsubmit: async (e) => {
      e.preventDefault();
      const args = {};
      for (const input of form.querySelectorAll('input, select')) {
        const t = input.dataset.type;
        if (input.type === 'checkbox') { args[input.name] = input.checked; continue; }
        if (input.value === '') continue;
        if (input.tagName === 'SELECT') args[input.name] = JSON.parse(input.value);
        else if (t === 'integer' || t === 'number') args[input.name] = Number(input.value);
        else if (t === 'string' || t === 'topic' || t === 'filter' || t === 'duration') args[input.name] = input.value;
        else { try { args[input.name] = JSON.parse(input.value); } catch { args[input.name] = input.value; } }
      }
      out.className = 'mono';
      out.textContent = 'Calling…';
      const res = await command(node, 'call', { service: s.name, function: f.name, args });
      if (res.ok) out.textContent = JSON.stringify(res.result, null, 2);
      else { out.className = 'mono error-text'; out.textContent = res.error.code + ': ' + res.error.message; }
    } }, inputs, el('button', { class: 'primary', type: 'submit' }, 'call'));
    items.push(el('div', { class: 'fn', 'data-function': s.name + '.' + f.name },
      el('div', {}, el('b', {}, s.name + '.' + f.name), ' ', el('span', { class: 'muted' }, f.description)), form, out));
  }
  box.replaceChildren(...(items.length ? items : [el('p', { class: 'muted' }, 'No function.')]));
}
function logLine(r) {
  const level = r.level || 'info';
  return el('div', { class: 'lvl-' + level }, `${clock(r.ts)} ${level.padEnd(5).slice(0, 5)} ${r.service ? '[' + r.service + '] ' : ''}${r.msg}${r.dropped ? ` (${r.dropped} dropped before)` : ''}`);
}
function shown(r) {
  return LEVELS.indexOf(r.level === 'warn' ? 'warning' : r.level) >= LEVELS.indexOf(S.logFilter.level) &&
    (!S.logFilter.service || r.service === S.logFilter.service);
}
function redrawLog() {
  const box = document.getElementById('log');
  const n = S.nodes.get(current.node);
  if (!box) return;
  box.replaceChildren(...(n ? n.logs.filter(shown).map(logLine) : []));
  box.scrollTop = box.scrollHeight;
}
function appendLog(r) {
  const box = document.getElementById('log');
  if (!box || !shown(r)) return;
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.append(logLine(r));
  while (box.childElementCount > 300) box.firstChild.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

// ---- topics

function drawTopics(root) {
  if (built !== 'topics') {
    root.textContent = '';
    root.append(el('div', { class: 'topics' },
      el('div', { class: 'panel' },
        el('div', { class: 'filters' }, el('input', { id: 'topic-filter', placeholder: 'filter topics', value: S.treeFilter, oninput: (e) => { S.treeFilter = e.target.value; dirty.topics = true; schedule(); } })),
        el('div', { class: 'tree', id: 'tree' })),
      el('div', {},
        el('div', { class: 'panel detail', id: 'detail' }),
        el('div', { class: 'panel' }, el('h2', {}, 'Publish'), publishForm()))));
    built = 'topics';
  }
  drawTree();
  drawDetail();
  for (const t of S.topics.values()) t.changed = false;
}
function publishForm() {
  const form = el('form', { class: 'pubform', id: 'publish', onsubmit: async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const r = await send({ type: 'publish', topic: d.get('topic'), payload: d.get('payload'), retain: d.get('retain') === 'on', qos: Number(d.get('qos')) });
    if (r.ok) toast('Published to ' + d.get('topic')); else toast(r.error.message, true);
  } },
  el('div', { class: 'row' }, el('input', { name: 'topic', placeholder: 'topic', required: true, value: S.selectedTopic || '' }),
    el('label', {}, el('input', { type: 'checkbox', name: 'retain' }), ' retain'),
    el('label', {}, 'QoS ', el('select', { name: 'qos' }, [0, 1, 2].map((q) => el('option', { value: q }, q))))),
  el('textarea', { name: 'payload', rows: 3, placeholder: 'payload' }),
  el('div', {}, el('button', { class: 'primary', type: 'submit' }, 'Publish')));
  return form;
}
function buildTree() {
  const root = { name: '', path: '', children: new Map(), topic: null, count: 0 };
  const filter = S.treeFilter.toLowerCase();
  for (const t of S.topics.values()) {
    if (filter && !t.t.toLowerCase().includes(filter)) continue;
    let node = root;
    const parts = t.t.split('/');
    parts.forEach((p, i) => {
      const path = parts.slice(0, i + 1).join('/');
      if (!node.children.has(p)) node.children.set(p, { name: p, path, children: new Map(), topic: null, count: 0 });
      node = node.children.get(p);
      node.count++;
    });
    node.topic = t;
  }
  return root;
}
function drawTree() {
  const tree = buildTree();
  const filtering = S.treeFilter !== '';
  const list = (node) => el('ul', {}, [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name)).map((c) => {
    // The first level starts open while the tree is small; a click opens or closes any level.
    const open = filtering || S.expanded.has(c.path) ||
      (!S.collapsed.has(c.path) && !c.path.includes('/') && S.topics.size <= 200);
    const hasKids = c.children.size > 0;
    const t = c.topic;
    const row = el('div', { class: 'row' + (S.selectedTopic === c.path ? ' selected' : '') + (t && t.changed ? ' flash' : ''), 'data-topic': c.path,
      onclick: () => {
        if (hasKids) {
          if (open) { S.expanded.delete(c.path); S.collapsed.add(c.path); } else { S.collapsed.delete(c.path); S.expanded.add(c.path); }
        }
        if (t) { S.selectedTopic = c.path; const f = document.querySelector('#publish input[name=topic]'); if (f) f.value = c.path; }
        dirty.topics = true; schedule();
      } },
    el('span', { class: 'twisty' }, hasKids ? (open ? '▾' : '▸') : ''),
    el('span', {}, c.name || '(empty)'),
    hasKids ? el('span', { class: 'muted' }, `(${c.count})`) : null,
    t ? el('span', { class: 'val' }, '= ' + t.p.slice(0, 60)) : null,
    t && t.rate > 0 ? el('span', { class: 'muted' }, rate(t.rate)) : null);
    return el('li', {}, row, hasKids && open ? list(c) : null);
  }));
  const box = document.getElementById('tree');
  const scroll = box.scrollTop;
  box.replaceChildren(tree.children.size ? list(tree) : el('p', { class: 'muted' }, 'No topic yet.'));
  box.scrollTop = scroll;
}
function sparkline(hist, field) {
  const W = 300, H = 60;
  const pts = hist.filter((h) => field in h.nums).map((h) => [h.ts, h.nums[field]]);
  const s = svg('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'data-points': pts.length });
  if (pts.length > 1) {
    const min = Math.min(...pts.map((p) => p[1])), max = Math.max(...pts.map((p) => p[1]));
    const span = max - min || 1;
    s.append(svg('polyline', { 'vector-effect': 'non-scaling-stroke', points: pts.map(([, v], i) => `${(i / (pts.length - 1)) * W},${H - 4 - ((v - min) / span) * (H - 8)}`).join(' ') }));
  }
  return s;
}
function drawDetail() {
  const box = document.getElementById('detail');
  const t = S.selectedTopic && S.topics.get(S.selectedTopic);
  if (!t) { box.replaceChildren(el('p', { class: 'muted' }, 'Choose a topic in the tree.')); return; }
  let pretty = t.p;
  try { pretty = JSON.stringify(JSON.parse(t.p), null, 2); } catch { /* not JSON: shown as is */ }
  const fields = [...new Set(t.hist.flatMap((h) => Object.keys(h.nums)))];
  let field = S.sparkField.get(t.t);
  if (!fields.includes(field)) field = fields[0];
  box.replaceChildren(
    el('h2', { class: 'mono', id: 'detail-topic' }, t.t),
    el('dl', {},
      el('dt', {}, 'retained'), el('dd', { id: 'detail-retained' }, t.r ? 'yes' : 'no'),
      el('dt', {}, 'rate'), el('dd', {}, rate(t.rate)),
      el('dt', {}, 'messages'), el('dd', {}, t.n),
      el('dt', {}, 'last'), el('dd', {}, clock(t.ts)),
      el('dt', {}, 'size'), el('dd', {}, bytes(t.size) + (t.size > t.p.length ? ' (shown cut)' : ''))),
    el('pre', { id: 'detail-payload' }, pretty),
    fields.length ? el('div', {},
      el('h3', {}, 'History of ', el('select', { onchange: (e) => { S.sparkField.set(t.t, e.target.value); dirty.topics = true; schedule(); } },
        fields.map((f) => el('option', { value: f, selected: f === field }, f))), ` (last ${HISTORY} samples)`),
      sparkline(t.hist, field)) : null);
}

// ---- deploy

function drawDeploy(root) {
  if (built !== 'deploy') {
    root.textContent = '';
    root.append(el('div', { class: 'deploy' },
      el('div', { class: 'panel' },
        el('h2', {}, 'Definitions ', el('button', { onclick: loadDefinitions }, 'Reload')),
        el('p', { class: 'muted', id: 'deploy-dir' }),
        el('div', { id: 'deploy-files' }, 'Loading…')),
      el('div', {},
        el('div', { class: 'panel', id: 'deploy-plan' }),
        el('div', { class: 'panel', id: 'deploy-run' }))));
    built = 'deploy';
    loadDefinitions();
  }
  // The plan's ticks and inputs are the user's: it is drawn again only when it changes.
  if (dirty.plan) { drawFiles(); drawPlan(); }
  drawRun();
}
async function loadDefinitions() {
  const r = await send({ type: 'definitions' });
  if (r.ok) { S.deploy.dir = r.result.directory; S.deploy.files = r.result.files; S.deploy.filesError = null; }
  else { S.deploy.files = []; S.deploy.filesError = r.error.message; }
  dirty.plan = true; schedule();
}
async function loadPlan(file) {
  if (S.deploy.file !== file) { S.deploy.plan = S.deploy.planError = null; S.deploy.unticked.clear(); }
  S.deploy.file = file;
  S.deploy.planning = true;
  dirty.plan = true; schedule();
  const r = await send({ type: 'deploy.plan', file });
  if (S.deploy.file !== file) return;
  S.deploy.planning = false;
  S.deploy.plan = r.ok ? r.result : null;
  S.deploy.planError = r.ok ? null : r.error;
  dirty.plan = true; schedule();
}
function drawFiles() {
  const box = document.getElementById('deploy-files');
  const d = S.deploy;
  document.getElementById('deploy-dir').textContent = d.dir ? 'The *.json files in ' + d.dir : '';
  if (d.files === null) return;
  if (d.filesError) { box.replaceChildren(el('p', { class: 'error-text' }, d.filesError)); return; }
  if (!d.files.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No definition file here: psos dashboard --definitions DIR names the directory.')); return; }
  box.replaceChildren(el('ul', { class: 'files' }, d.files.map((f) => el('li', {
    class: f.name === d.file ? 'selected' : '', 'data-file': f.name, tabindex: 0,
    onclick: () => loadPlan(f.name), onkeydown: (e) => { if (e.key === 'Enter') loadPlan(f.name); } },
  el('b', {}, f.name), el('span', { class: 'muted' }, `${bytes(f.size)} · ${new Date(f.modified).toLocaleString()}`)))));
}
function value(v) { return v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v); }
function nodeChanges(n) {
  const c = n.changes;
  // As psos deploy --dry-run prints them: nothing else when nothing changes.
  if (c.empty) return el('ul', { class: 'changes' }, el('li', { class: 'chg none muted' }, 'nothing changes'));
  const items = [];
  const line = (kind, name, extra) => el('li', { class: 'chg ' + kind, 'data-service': name }, el('span', { class: 'kind' }, kind), el('b', {}, name), extra || null);
  for (const s of c.added) items.push(line('added', s));
  for (const s of c.removed) items.push(line('removed', s));
  for (const s of c.changed) {
    const rows = s.params.map((p) => el('tr', { 'data-param': p.name },
      el('td', { class: 'mono' }, p.name), el('td', { class: 'mono before' }, value(p.before)), el('td', { class: 'arrow' }, '→'), el('td', { class: 'mono after' }, value(p.after))));
    for (const f of s.files) rows.push(el('tr', { 'data-file': f }, el('td', { class: 'mono' }, 'file'), el('td', { class: 'mono', colspan: 3 }, f + ' (content changed)')));
    items.push(line('changed', s.name, el('table', { class: 'params' }, el('tbody', {}, rows))));
  }
  if (c.unchanged.length) items.push(el('li', { class: 'chg unchanged' }, el('span', { class: 'kind' }, 'unchanged'), c.unchanged.join(', ')));
  if (c.settings.length) items.push(el('li', { class: 'chg settings' }, el('span', { class: 'kind' }, 'settings'), c.settings.join(', '), c.restarts_node ? el('span', { class: 'error-text' }, ' (the node restarts)') : null));
  return el('ul', { class: 'changes' }, items);
}
function drawPlan() {
  const box = document.getElementById('deploy-plan');
  const d = S.deploy;
  if (!d.file) { box.replaceChildren(el('h2', {}, 'Changes'), el('p', { class: 'muted' }, 'Choose a definition file: it is checked and each of its nodes is asked what it runs.')); return; }
  const head = el('h2', {}, 'Changes in ', el('span', { class: 'mono' }, d.file), ' ', el('button', { onclick: () => loadPlan(d.file), disabled: d.planning }, 'Check again'));
  if (d.planning && !d.plan && !d.planError) { box.replaceChildren(head, el('p', { class: 'muted' }, 'Checking and asking the nodes…')); return; }
  if (d.planError) {
    const e = d.planError;
    box.replaceChildren(head, el('div', { class: 'problem', id: 'deploy-error' },
      el('p', { class: 'error-text' }, e.message),
      e.diagnostics && e.diagnostics.length ? el('pre', { id: 'deploy-diagnostics' }, e.diagnostics.join('\n')) : null));
    return;
  }
  const p = d.plan;
  if (!p) return;
  const running = !!(d.status && d.status.running);
  const cards = p.nodes.map((n) => {
    const reached = n.phase === 'ready';
    return el('div', { class: 'node-plan' + (reached ? '' : ' unreached'), 'data-node': n.node },
      el('div', { class: 'node-plan-head' },
        el('label', {}, el('input', { type: 'checkbox', name: 'node', value: n.node, checked: reached && !d.unticked.has(n.node), disabled: !reached,
          onchange: (e) => { if (e.target.checked) d.unticked.delete(n.node); else d.unticked.add(n.node); } }), ' ', el('b', {}, n.node)),
        reached ? el('span', { class: 'muted', 'data-field': 'revision' }, `revision ${n.changes.revision[0]} → ${n.changes.revision[1]}`) : null),
      reached ? nodeChanges(n) : el('p', { class: 'error-text' }, n.result === 'no answer' ? 'no answer: is it running?' : n.result));
  });
  const confirm = el('input', { type: 'number', id: 'deploy-confirm', min: 0, max: 3600, step: 'any', value: d.confirm,
    oninput: (e) => { d.confirm = Number(e.target.value); } });
  const button = el('button', { class: 'primary', id: 'deploy-button', disabled: running, onclick: async () => {
    const nodes = [...box.querySelectorAll('input[name=node]:checked')].map((i) => i.value);
    if (!nodes.length) { toast('Tick at least one node', true); return; }
    button.disabled = true;
    const r = await send({ type: 'deploy.start', file: p.file, sha256: p.sha256, nodes, confirm: d.confirm });
    button.disabled = !!(S.deploy.status && S.deploy.status.running);
    if (!r.ok) toast(r.error.message, true);
  } }, 'Deploy');
  box.replaceChildren(head, el('p', { class: 'muted' }, `system ${p.system} · sha256 ${p.sha256.slice(0, 12)}…`),
    el('div', { class: 'node-plans' }, cards),
    el('div', { class: 'deploy-go' }, el('label', {}, 'Watch for ', confirm, ' s before committing'), button,
      el('span', { class: 'muted', id: 'deploy-busy' }, running ? 'a deploy is running' : '')));
}
function drawRun() {
  const box = document.getElementById('deploy-run');
  const st = S.deploy.status;
  const running = !!(st && st.running);
  const button = document.getElementById('deploy-button');
  if (button) button.disabled = running;
  const busy = document.getElementById('deploy-busy');
  if (busy) busy.textContent = running ? 'a deploy is running' : '';
  if (!st) { box.replaceChildren(el('h2', {}, 'Progress'), el('p', { class: 'muted' }, 'No deploy from this dashboard yet.')); return; }
  const nodes = st.nodes.filter((n) => n.phase !== 'asking' || st.running);
  const bars = nodes.map((n) => {
    const f = n.total ? n.sent / n.total : (n.phase === 'done' || n.phase === 'applying' ? 1 : 0);
    const cls = n.failed ? 'failed' : n.phase === 'done' ? 'done' : '';
    const fill = el('div', { class: 'fill' });
    fill.style.width = Math.round(f * 100) + '%'; // CSSOM: the page's policy forbids style attributes
    return el('div', { class: 'bar-row', 'data-node': n.node, 'data-phase': n.phase },
      el('b', {}, n.node),
      el('div', { class: 'bar ' + cls }, fill),
      el('span', { class: 'mono' }, `${Math.round(f * 100)}% · ${n.phase}${n.total ? ' · ' + bytes(n.sent) + ' of ' + bytes(n.total) : ''}`));
  });
  const head = el('h2', {}, st.running ? 'Deploying ' : 'Last deploy: ', el('span', { class: 'mono' }, st.file),
    el('span', { class: 'muted' }, ` · ${st.user ? st.user + ' · ' : ''}${clock(st.started)}${st.finished ? ' – ' + clock(st.finished) : ''}`));
  const parts = [head, el('div', { id: 'deploy-progress' }, bars)];
  if (!st.running) {
    parts.push(el('table', { id: 'deploy-results' },
      el('thead', {}, el('tr', {}, ['node', 'revision', 'restarted', 'result', 'time'].map((h) => el('th', {}, h)))),
      el('tbody', {}, st.nodes.map((n) => el('tr', { 'data-node': n.node, class: n.failed ? 'failed' : 'ok' },
        el('td', {}, el('b', {}, n.node)),
        el('td', { 'data-field': 'revision' }, n.phase === 'unreached' ? '-' : `${n.before} → ${n.after}`),
        el('td', { 'data-field': 'restarted' }, n.restarted.length ? n.restarted.join(', ') : '-'),
        el('td', { 'data-field': 'result' }, n.result),
        el('td', { 'data-field': 'time', class: 'num' }, n.phase === 'unreached' ? '-' : (n.ms / 1000).toFixed(1) + ' s'))))));
  }
  box.replaceChildren(...parts);
}

window.addEventListener('hashchange', route);
window.addEventListener('resize', () => { dirty.map = true; schedule(); });
// Uptimes move on: the map and the node's head are drawn again now and then.
setInterval(() => { if (current.view !== 'topics') { dirty.map = true; dirty.node = current.view === 'node'; schedule(); } }, 15000);
route();
connect();
