// ferrymq web console: one page script, no framework. Pages are drawn from the JSON API and kept live by the
// server-sent events of /api/events (a `stats` event every second, a `change` event when the broker's connections,
// consumers or destinations change). Text from the broker is only ever set with textContent.
'use strict';

const state = {
  page: 'broker',
  last: null, // the latest stats event
  selected: null, // the queue or topic whose panel is open: { kind, name }
  charts: {}, // name -> { plot, data }
  creds: sessionStorage.getItem('ferrymq.creds'), // "user:password" for the actions
  refreshAt: 0,
};

const $ = (sel) => document.querySelector(sel);

/** h('td', { class: 'num' }, 'text' | Node | [..]): an element, children as text nodes, never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '—');
function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}
function duration(s) {
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${hh}h ${m}m` : hh > 0 ? `${hh}h ${m}m` : `${m}m ${s % 60}s`;
}

function flash(msg, error) {
  const f = $('#flash');
  f.textContent = msg;
  f.className = error ? 'error' : '';
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (f.hidden = true), error ? 8000 : 4000);
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

/** An action: credentials attached; a 401 opens the login dialog and retries once logged in. */
async function act(method, path, body) {
  if (!state.creds) await login();
  const headers = { accept: 'application/json', 'x-ferrymq-console': '1', authorization: `Basic ${btoa(unescape(encodeURIComponent(state.creds)))}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const out = await res.json().catch(() => ({}));
  if (res.status === 401) {
    setCreds(null);
    await login(out.error);
    return act(method, path, body);
  }
  if (!res.ok) throw new Error(out.error || `${res.status} ${res.statusText}`);
  return out;
}

function setCreds(c) {
  state.creds = c;
  if (c) sessionStorage.setItem('ferrymq.creds', c);
  else sessionStorage.removeItem('ferrymq.creds');
  $('#who').textContent = c ? c.slice(0, c.indexOf(':')) : '';
  $('#login-open').textContent = c ? 'Log out' : 'Log in';
}

/** The login dialog; resolves once the credentials are checked (GET /api/whoami), rejects on cancel. */
function login(error) {
  const dlg = $('#login');
  $('#login-error').hidden = !error;
  $('#login-error').textContent = error || '';
  dlg.showModal();
  $('#login-user').focus();
  return new Promise((resolve, reject) => {
    const done = () => {
      $('#login-form').onsubmit = null;
      $('#login-cancel').onclick = null;
    };
    $('#login-cancel').onclick = () => {
      done();
      dlg.close();
      reject(new Error('not logged in'));
    };
    $('#login-form').onsubmit = async (e) => {
      e.preventDefault();
      const c = `${$('#login-user').value}:${$('#login-password').value}`;
      const res = await fetch('/api/whoami', { headers: { 'x-ferrymq-console': '1', authorization: `Basic ${btoa(unescape(encodeURIComponent(c)))}` } });
      const out = await res.json().catch(() => ({}));
      if (!res.ok) {
        $('#login-error').hidden = false;
        $('#login-error').textContent = out.error || `${res.status}`;
        return;
      }
      done();
      setCreds(c);
      dlg.close();
      resolve();
    };
  });
}

// ---- charts ------------------------------------------------------------------------------------------------------

/** A live in/out chart in `el`, seeded with the history the API keeps (last minutes, one point a second). */
function chart(key, el, history) {
  const data = [history.t.slice(), history.in.slice(), history.out.slice()];
  const width = Math.max(300, el.clientWidth || 600);
  const plot = new uPlot(
    {
      width,
      height: 200,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ space: 90 }, { label: 'msg/s', size: 60 }],
      series: [{}, { label: 'in/s', stroke: '#1f6feb', width: 2, fill: 'rgba(31,111,235,.08)' }, { label: 'out/s', stroke: '#e36209', width: 2 }],
    },
    data,
    el,
  );
  state.charts[key] = { plot, data };
}

function pushPoint(key, t, rin, rout) {
  const c = state.charts[key];
  if (!c) return;
  const [ts, a, b] = c.data;
  if (ts.length > 0 && ts[ts.length - 1] >= t) return;
  ts.push(t), a.push(rin), b.push(rout);
  if (ts.length > 300) ts.shift(), a.shift(), b.shift();
  c.plot.setData(c.data);
}

function dropCharts() {
  for (const c of Object.values(state.charts)) c.plot.destroy();
  state.charts = {};
}

// ---- pages -------------------------------------------------------------------------------------------------------

function table(cols, rows, rowAttrs) {
  const head = h('tr', null, cols.map((c) => h('th', { class: c.num ? 'num' : null }, c.title)));
  const body = rows.length === 0
    ? [h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, 'none'))]
    : rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : null, cols.map((c) => h('td', { class: c.num ? 'num' : c.cls, 'data-col': c.key }, c.cell ? c.cell(r) : fmt(r[c.key])))));
  return h('table', null, h('thead', null, head), h('tbody', null, body));
}

function pageBroker(main, s) {
  const b = s.broker;
  const card = (k, v, extra) => h('div', { class: 'card' }, h('div', { class: 'k' }, k), h('div', { class: 'v', 'data-field': k }, v), extra);
  main.append(
    h('h2', null, `Broker ${b.name}`),
    h('div', { class: 'cards' },
      card('Role', b.role.kind, h('div', { class: 'hint mono', 'data-field': 'role-detail' }, b.roleText)),
      card('Version', b.version),
      card('Uptime', duration(b.uptimeSeconds)),
      card('Memory', `${bytes(b.memory.usedBytes)} / ${bytes(b.memory.limitBytes)}`, h('div', { class: 'bar' }, h('div', { style: `width:${Math.min(100, b.memory.percent)}%` }))),
      card('Store', `${bytes(b.store.bytes)}`, h('div', { class: 'hint mono' }, `${b.store.kind} at ${b.store.directory}`)),
      card('Process', `${bytes(b.process.rssBytes)} RSS`),
      card('Queues / topics', `${b.counts.queues} / ${b.counts.topics}`),
      card('Connections', fmt(b.counts.connections)),
      card('Durable subscribers', fmt(b.counts.durableSubscribers)),
      card('Bridges up', `${b.counts.bridgesUp} / ${b.counts.bridges}`),
    ),
    h('div', { class: 'panel' }, h('h3', null, 'Messages per second, all destinations'), h('div', { id: 'chart-total', class: 'chart' })),
    h('div', { class: 'panel' }, h('h3', null, 'Transport connectors'),
      table([{ title: 'Name', key: 'name', cell: (c) => c.name }, { title: 'URL', key: 'url', cell: (c) => h('span', { class: 'mono' }, c.url) }, { title: 'Connections', key: 'connections', num: true }], b.connectors)),
  );
  getJson('/api/rates').then((r) => chart('total', $('#chart-total'), r), (e) => flash(e.message, true));
}

const QUEUE_COLS = [
  { title: 'Name', key: 'name', cell: (q) => h('a', { class: 'name', href: '#', onclick: (e) => (e.preventDefault(), select('queue', q.name)) }, q.name) },
  { title: 'Pending', key: 'pending', num: true },
  { title: 'Consumers', key: 'consumers', num: true },
  { title: 'Producers', key: 'producers', num: true },
  { title: 'Enqueued', key: 'enqueued', num: true },
  { title: 'Dequeued', key: 'dequeued', num: true },
  { title: 'Forwarded', key: 'forwarded', num: true },
  { title: 'In/s', key: 'rateIn', num: true },
  { title: 'Out/s', key: 'rateOut', num: true },
];

function pageQueues(main, s) {
  const cols = [...QUEUE_COLS, {
    title: '', key: 'actions', cls: 'actions', cell: (q) => [
      h('button', { type: 'button', class: 'secondary', 'data-action': 'browse', onclick: () => select('queue', q.name, true) }, 'Browse'),
      h('button', { type: 'button', class: 'danger', 'data-action': 'purge', onclick: () => purge(q.name) }, 'Purge'),
      h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: () => remove('queue', q.name) }, 'Delete'),
    ],
  }];
  main.append(
    h('h2', null, 'Queues'),
    h('div', { class: 'panel' }, h('h3', null, 'Messages per second, all destinations'), h('div', { id: 'chart-total', class: 'chart' })),
    createForm('queue'),
    h('div', { class: 'panel', id: 'queue-table' }, table(cols, s.queues, (q) => ({ 'data-name': q.name, class: isSelected('queue', q.name) ? 'selected' : null }))),
    h('div', { id: 'detail' }),
  );
  getJson('/api/rates').then((r) => chart('total', $('#chart-total'), r), (e) => flash(e.message, true));
  if (state.selected && state.selected.kind === 'queue') drawDetail();
}

function pageTopics(main, s) {
  const cols = [
    { title: 'Name', key: 'name', cell: (q) => h('a', { class: 'name', href: '#', onclick: (e) => (e.preventDefault(), select('topic', q.name)) }, q.name) },
    { title: 'Subscribers', key: 'consumers', num: true },
    { title: 'Producers', key: 'producers', num: true },
    { title: 'Enqueued', key: 'enqueued', num: true },
    { title: 'Dequeued', key: 'dequeued', num: true },
    { title: 'Forwarded', key: 'forwarded', num: true },
    { title: 'In/s', key: 'rateIn', num: true },
    { title: '', key: 'actions', cls: 'actions', cell: (q) => h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: () => remove('topic', q.name) }, 'Delete') },
  ];
  main.append(h('h2', null, 'Topics'), createForm('topic'), h('div', { class: 'panel', id: 'topic-table' }, table(cols, s.topics, (q) => ({ 'data-name': q.name }))), h('div', { id: 'detail' }),
    h('h2', null, 'Durable subscribers'), h('div', { class: 'panel', id: 'durables' }, h('div', { class: 'empty' }, 'loading…')));
  refreshLists();
  if (state.selected && state.selected.kind === 'topic') drawDetail();
}

function pageConnections(main) {
  main.append(h('h2', null, 'Connections'), h('div', { class: 'panel', id: 'connections' }, h('div', { class: 'empty' }, 'loading…')));
  refreshLists();
}

function pageNetwork(main) {
  main.append(h('h2', null, 'Network bridges'), h('div', { id: 'network' }, h('div', { class: 'panel empty' }, 'loading…')));
  refreshLists();
}

/** The lists that broker events change (not carried by the stats event): fetched on load and on `change`. */
async function refreshLists() {
  state.refreshAt = Date.now();
  try {
    if ($('#durables')) {
      const d = await getJson('/api/subscribers');
      $('#durables').replaceChildren(table([
        { title: 'Client ID', key: 'clientId', cell: (x) => x.clientId },
        { title: 'Subscription', key: 'name', cell: (x) => x.name },
        { title: 'Topic', key: 'topic', cell: (x) => x.topic },
        { title: 'Selector', key: 'selector', cell: (x) => x.selector ?? '' },
        { title: 'State', key: 'active', cell: (x) => h('span', { class: x.active ? 'up' : 'muted' }, x.active ? 'active' : 'offline') },
        { title: 'Pending', key: 'pending', num: true },
      ], d));
    }
    if ($('#connections')) {
      const c = await getJson('/api/connections');
      $('#connections').replaceChildren(table([
        { title: 'ID', key: 'id', cell: (x) => h('span', { class: 'mono' }, x.id) },
        { title: 'Client ID', key: 'clientId', cell: (x) => x.clientId ?? h('span', { class: 'muted' }, '—') },
        { title: 'Remote address', key: 'remote', cell: (x) => x.remote ?? '' },
        { title: 'Subscriptions', key: 'subscriptions', cell: (x) => x.subscriptions.length === 0 ? h('span', { class: 'muted' }, 'none') : x.subscriptions.map((s) => h('div', { class: 'mono' }, `${s.dest}${s.durable ? ` (durable ${s.durable})` : ''} · prefetch ${s.prefetch} · in flight ${s.inflight}`)) },
        { title: 'In flight', key: 'inflight', num: true },
      ], c));
    }
    if ($('#network')) {
      const n = await getJson('/api/network');
      $('#network').replaceChildren(...(n.length === 0 ? [h('div', { class: 'panel empty' }, 'No network connectors configured.')] : n.map((nc) =>
        h('div', { class: 'panel' }, h('h3', null, `${nc.name} `, h('span', { class: 'mono muted' }, nc.uri)), table([
          { title: 'Bridge', key: 'name', cell: (b) => b.name },
          { title: 'State', key: 'up', cell: (b) => h('span', { class: b.up ? 'up' : 'down' }, b.up ? 'up' : 'down') },
          { title: 'Remote broker', key: 'remoteBroker', cell: (b) => b.remoteBroker ?? '—' },
          { title: 'Forwarded', key: 'forwarded', num: true },
          { title: 'Demand', key: 'demand', cell: (b) => b.demand.length === 0 ? h('span', { class: 'muted' }, 'none') : b.demand.map((d) => h('div', { class: 'mono' }, `${d.dest} · ${d.consumers} consumer(s) · in flight ${d.inflight}`)) },
        ], nc.bridges)))));
    }
  } catch (e) {
    flash(e.message, true);
  }
}

function createForm(kind) {
  const input = h('input', { id: `create-${kind}-name`, placeholder: `new ${kind} name`, required: true });
  return h('div', { class: 'panel' }, h('form', {
    class: 'inline', id: `create-${kind}`, onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await act('POST', `/api/${kind}s`, { name: input.value });
        flash(r.created ? `created ${r.dest}` : `${r.dest} exists already`);
        input.value = '';
      } catch (err) {
        flash(err.message, true);
      }
    },
  }, input, h('button', { type: 'submit' }, `Create ${kind}`)));
}

const isSelected = (kind, name) => state.selected && state.selected.kind === kind && state.selected.name === name;

function select(kind, name, browse) {
  state.selected = { kind, name };
  document.querySelectorAll('tr.selected').forEach((r) => r.classList.remove('selected'));
  const row = document.querySelector(`tr[data-name="${CSS.escape(name)}"]`);
  if (row) row.classList.add('selected');
  drawDetail(browse);
}

/** The selected destination's panel: its chart, a send form and (queues) the browse list. */
async function drawDetail(browse) {
  const d = $('#detail');
  if (!d || !state.selected) return;
  const { kind, name } = state.selected;
  const path = `/api/${kind}s/${encodeURIComponent(name)}`;
  if (state.charts.detail) state.charts.detail.plot.destroy(), delete state.charts.detail;
  const body = h('textarea', { id: 'send-body', name: 'body', placeholder: 'message text' });
  const persistent = h('input', { id: 'send-persistent', type: 'checkbox', checked: true });
  const priority = h('input', { id: 'send-priority', type: 'number', min: 0, max: 9, value: 4 });
  const ttl = h('input', { id: 'send-ttl', type: 'number', min: 0, value: 0 });
  const count = h('input', { id: 'send-count', type: 'number', min: 1, max: 1000, value: 1 });
  const headers = h('input', { id: 'send-headers', placeholder: 'k=v, k2=v2' });
  const form = h('form', {
    id: 'send-form', onsubmit: async (e) => {
      e.preventDefault();
      const hdrs = {};
      for (const pair of headers.value.split(',').map((x) => x.trim()).filter(Boolean)) {
        const i = pair.indexOf('=');
        if (i <= 0) return flash(`header "${pair}" must be name=value`, true);
        hdrs[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
      }
      try {
        const r = await act('POST', `${path}/messages`, { body: body.value, persistent: persistent.checked, priority: priority.value, ttl: ttl.value, count: count.value, headers: hdrs });
        flash(`sent ${r.sent} message(s) to ${r.dest}`);
        if (kind === 'queue') browseInto(path);
      } catch (err) {
        flash(err.message, true);
      }
    },
  }, h('h3', null, `Send to ${kind}://${name}`), body,
    h('div', { class: 'grid-form' }, h('label', null, 'Priority', priority), h('label', null, 'TTL (ms, 0: none)', ttl), h('label', null, 'Copies', count), h('label', { class: 'check' }, persistent, ' persistent')),
    h('label', null, 'Headers', headers), h('p', null, h('button', { id: 'send-submit', type: 'submit' }, 'Send')));
  const panels = [
    h('div', { class: 'panel' }, h('h3', null, `${kind}://${name}: messages per second`), h('div', { id: 'chart-detail', class: 'chart' })),
    h('div', { class: 'row' }, h('div', { class: 'panel' }, form), kind === 'queue' ? h('div', { class: 'panel', id: 'browse' }, h('h3', null, 'Messages'), h('div', { class: 'empty' }, 'loading…')) : null),
  ];
  d.replaceChildren(...panels);
  getJson(`${path}/rates`).then((r) => chart('detail', $('#chart-detail'), r), () => {});
  if (kind === 'queue') browseInto(path);
  if (browse) d.scrollIntoView({ behavior: 'smooth' });
}

async function browseInto(path) {
  try {
    const msgs = await getJson(`${path}/messages?max=100`);
    const el = $('#browse');
    if (!el) return;
    el.replaceChildren(h('h3', null, `Messages (first ${msgs.length} waiting)`), table([
      { title: 'ID', key: 'id', cell: (m) => h('span', { class: 'mono' }, m.id) },
      { title: 'Pri', key: 'priority', num: true },
      { title: 'Time', key: 'timestamp', cell: (m) => new Date(m.timestamp).toLocaleTimeString() },
      { title: 'Headers', key: 'headers', cell: (m) => h('span', { class: 'mono' }, Object.entries(m.headers).map(([k, v]) => `${k}=${v}`).join(', ')) },
      { title: 'Body', key: 'preview', cell: (m) => h('span', { class: 'mono', title: `${m.bodyType}, ${m.bodyBytes} bytes` }, m.preview + (m.truncated ? '…' : '')) },
    ], msgs));
  } catch (e) {
    flash(e.message, true);
  }
}

async function purge(name) {
  if (!confirm(`Purge every waiting message of queue://${name}?`)) return;
  try {
    const r = await act('POST', `/api/queues/${encodeURIComponent(name)}/purge`);
    flash(`purged ${r.purged} message(s) from queue://${name}`);
    if (isSelected('queue', name)) browseInto(`/api/queues/${encodeURIComponent(name)}`);
  } catch (e) {
    flash(e.message, true);
  }
}

async function remove(kind, name) {
  if (!confirm(`Delete ${kind}://${name}${kind === 'queue' ? ' and every message in it' : ''}?`)) return;
  try {
    const r = await act('DELETE', `/api/${kind}s/${encodeURIComponent(name)}`);
    flash(`deleted ${r.deleted}`);
    if (isSelected(kind, name)) state.selected = null;
  } catch (e) {
    flash(e.message, true);
  }
}

// ---- live updates ------------------------------------------------------------------------------------------------

/** A stats event: header, tables in place (rows added or removed redraw the table), charts. */
function onStats(s) {
  const first = state.last === null;
  state.last = s;
  header(s.broker);
  if (first) return draw();
  if (s.total) pushPoint('total', s.total.t, s.total.in, s.total.out);
  const list = state.page === 'queues' ? s.queues : state.page === 'topics' ? s.topics : null;
  if (list) {
    const tbody = document.querySelector(`#${state.page === 'queues' ? 'queue' : 'topic'}-table tbody`);
    const shown = tbody ? [...tbody.querySelectorAll('tr[data-name]')].map((r) => r.dataset.name) : [];
    if (shown.join('\n') !== list.map((q) => q.name).join('\n')) return draw();
    for (const q of list) {
      const row = tbody.querySelector(`tr[data-name="${CSS.escape(q.name)}"]`);
      for (const td of row.querySelectorAll('td[data-col]')) if (td.dataset.col in q && typeof q[td.dataset.col] === 'number') td.textContent = fmt(q[td.dataset.col]);
      if (s.total && isSelected(state.page === 'queues' ? 'queue' : 'topic', q.name)) pushPoint('detail', s.total.t, q.rateIn, q.rateOut);
    }
  }
  if (state.page === 'broker') {
    const b = s.broker;
    const set = (k, v) => { const el = document.querySelector(`[data-field="${k}"]`); if (el) el.textContent = v; };
    set('Uptime', duration(b.uptimeSeconds));
    set('Memory', `${bytes(b.memory.usedBytes)} / ${bytes(b.memory.limitBytes)}`);
    set('Store', bytes(b.store.bytes));
    set('Connections', fmt(b.counts.connections));
    set('Queues / topics', `${b.counts.queues} / ${b.counts.topics}`);
    set('Role', b.role.kind);
    set('role-detail', b.roleText);
  }
  // Bridges come and go without broker events: the network page looks again every few seconds.
  if (state.page === 'network' && Date.now() - state.refreshAt > 3000) refreshLists();
}

function header(b) {
  $('#broker-name').textContent = b.name;
  const role = $('#role');
  role.textContent = b.role.kind === 'slave' ? 'slave · waiting for lock' : b.role.kind;
  role.title = b.roleText;
  role.className = `badge ${b.role.kind}`;
  document.title = `${b.name} · ferrymq`;
}

function draw() {
  const main = $('#main');
  dropCharts();
  main.replaceChildren();
  const s = state.last;
  if (!s) return;
  if (!s.broker.running) {
    main.append(h('div', { class: 'banner', id: 'not-running' }, s.broker.role.kind === 'slave'
      ? `This node is a slave waiting for the store lock (${s.broker.role.lock}): it serves no clients until the master goes away.`
      : 'The broker is not running (starting or stopping).'));
  }
  ({ broker: pageBroker, queues: pageQueues, topics: pageTopics, connections: pageConnections, network: pageNetwork })[state.page](main, s);
}

function connect() {
  const es = new EventSource('/api/events');
  es.addEventListener('stats', (e) => onStats(JSON.parse(e.data)));
  es.addEventListener('change', () => {
    if (['topics', 'connections', 'network'].includes(state.page)) refreshLists();
  });
  es.onopen = () => $('#live').classList.add('on');
  es.onerror = () => $('#live').classList.remove('on');
}

function init() {
  const path = location.pathname.replace(/\/$/, '');
  state.page = { '': 'broker', '/queues': 'queues', '/topics': 'topics', '/connections': 'connections', '/network': 'network' }[path] || 'broker';
  const sel = new URLSearchParams(location.search).get('select');
  if (sel && (state.page === 'queues' || state.page === 'topics')) state.selected = { kind: state.page.slice(0, -1), name: sel };
  document.querySelector(`nav a[data-page="${state.page}"]`).classList.add('active');
  setCreds(state.creds);
  $('#login-open').onclick = () => (state.creds ? setCreds(null) : login().catch(() => {}));
  connect();
}

init();
