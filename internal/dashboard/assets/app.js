// The moat dashboard page. Every figure comes from the JSON endpoints next
// to this file (api/summary, api/upstreams, api/query), which run KQL over
// the request log. Requests carry the api-key header from the key the user
// typed, kept in sessionStorage so it ends with the tab.
import { timeChart, barChart } from './chart.js';

const KEY_STORAGE = 'moat.dashboard.apiKey';
const REFRESH_MS = 30000;
const MAX_TABLE_ROWS = 1000;

const $ = id => document.getElementById(id);
const intFmt = n => (n ?? 0).toLocaleString('en-US');
const msFmt = n => n === null || n === undefined ? '' : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');

let summary = null;
let timer = null;

// ---- key handling -------------------------------------------------------

function getKey() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

function askKey(message) {
  $('key-message').textContent = message || '';
  $('key-message').hidden = !message;
  const dlg = $('key-dialog');
  if (!dlg.open) dlg.showModal();
  $('key-input').focus();
}

class AuthError extends Error {}

async function api(path, init) {
  const key = getKey();
  if (!key) {
    askKey();
    throw new AuthError('no key');
  }
  // X-Moat-Request marks the call as the dashboard's own; moat refuses
  // state changes without it or credentials (CSRF guard, docs/network.md).
  const headers = Object.assign({ 'api-key': key, 'X-Moat-Request': '1' }, (init && init.headers) || {});
  const resp = await fetch(path, Object.assign({}, init, { headers, cache: 'no-store' }));
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (resp.status === 401 || resp.status === 403) {
    askKey(errorMessage(body) || `The key was refused (${resp.status}).`);
    throw new AuthError('refused');
  }
  if (!resp.ok) {
    const err = new Error(errorMessage(body) || `${resp.status} ${resp.statusText}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function errorMessage(body) {
  if (!body) return '';
  if (body.error && body.error.message) return body.error.message;
  return body.message || '';
}

function banner(message) {
  const b = $('status');
  b.textContent = message || '';
  b.hidden = !message;
}

// ---- rendering helpers --------------------------------------------------

function cell(tag, content, cls) {
  const c = document.createElement(tag);
  if (cls) c.className = cls;
  if (content instanceof Node) c.append(content); else c.textContent = content ?? '';
  return c;
}

// table builds a <table> from headers [{label, num}] and rows of cell
// values (strings or nodes).
function table(headers, rows) {
  const t = document.createElement('table');
  const tr = document.createElement('tr');
  headers.forEach(h => tr.append(cell('th', h.label, h.num ? 'num' : '')));
  t.createTHead().append(tr);
  const tb = t.createTBody();
  for (const r of rows) {
    const row = document.createElement('tr');
    r.forEach((v, i) => row.append(cell('td', v, headers[i].num ? 'num' : '')));
    tb.append(row);
  }
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const c = cell('td', 'nothing in this range', 'empty');
    c.colSpan = headers.length;
    row.append(c);
    tb.append(row);
  }
  return t;
}

function timeText(iso) {
  return iso ? iso.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z') : '';
}

function wireValue(col, v) {
  if (v === null || v === undefined) return '';
  switch (col.type) {
    case 'datetime': return timeText(v);
    case 'long': return intFmt(v);
    case 'real': return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 1000) / 1000);
    default: return String(v);
  }
}

// wireTable renders a query result document ({columns, rows}).
function wireTable(w) {
  const headers = w.columns.map(c => ({ label: c.name, num: c.type === 'long' || c.type === 'real' }));
  const rows = w.rows.slice(0, MAX_TABLE_ROWS).map(r => r.map((v, i) => wireValue(w.columns[i], v)));
  const t = table(headers, rows);
  t.classList.add('result');
  return t;
}

function badge(state, available) {
  const b = document.createElement('span');
  b.className = 'badge ' + state + (available ? '' : ' unavailable');
  b.textContent = state.replace('_', '-');
  return b;
}

// ---- summary ------------------------------------------------------------

async function loadSummary() {
  const range = $('range').value;
  const s = await api('api/summary?range=' + encodeURIComponent(range));
  summary = s;
  const t = s.totals;
  $('total-calls').textContent = intFmt(t.calls);
  $('total-tokens').textContent = intFmt(t.total_tokens);
  $('total-tokens-split').textContent = `${intFmt(t.prompt_tokens)} prompt · ${intFmt(t.completion_tokens)} completion`;
  $('total-throttled').textContent = intFmt(t.throttled);
  $('total-errors').textContent = intFmt(t.errors);
  $('total-callers').textContent = intFmt(t.callers);
  document.querySelectorAll('.bin').forEach(e => { e.textContent = binName(s.bin); });

  const pts = k => s.timeline.map(p => [Date.parse(p.t), p[k]]);
  timeChart($('chart-calls'), { series: [{ name: 'calls', points: pts('calls') }], label: 'calls per ' + binName(s.bin) });
  timeChart($('chart-failures'), {
    series: [{ name: '429s', points: pts('throttled') }, { name: 'other errors', points: pts('errors') }],
    label: '429s and errors per ' + binName(s.bin),
  });
  const tokenRows = list => list.map(r => ({ label: r.name || '(none)', values: [r.prompt_tokens, r.completion_tokens] }));
  barChart($('tokens-deployment'), { rows: tokenRows(s.tokens_by_deployment), names: ['prompt', 'completion'], stacked: true, format: intFmt, label: 'tokens by deployment' });
  barChart($('tokens-caller'), { rows: tokenRows(s.tokens_by_caller), names: ['prompt', 'completion'], stacked: true, format: intFmt, label: 'tokens by caller' });
  barChart($('tokens-replica'), { rows: tokenRows(s.tokens_by_replica), names: ['prompt', 'completion'], stacked: true, format: intFmt, label: 'tokens by replica' });

  $('errors-reason').replaceChildren(table(
    [{ label: 'Status', num: true }, { label: 'Reason' }, { label: 'Calls', num: true }],
    s.errors_by_reason.map(r => [String(r.status), r.reason || '—', intFmt(r.count)])));
  $('latency').replaceChildren(table(
    [{ label: 'Deployment' }, { label: 'Calls', num: true }, { label: 'p50 ms', num: true }, { label: 'p95 ms', num: true }],
    s.latency_by_deployment.map(r => [r.name || '(none)', intFmt(r.calls), msFmt(r.p50_ms), msFmt(r.p95_ms)])));
  $('recent').replaceChildren(wireTable(s.recent));
  $('spend').replaceChildren(wireTable(s.spend));
  const versions = (s.spend_versions || []).map((v) => v || '(unpriced)').join(', ') || '(no calls)';
  $('spend-note').textContent = 'Total ' + (s.spend_total || 0).toFixed(4) + ' at price version ' + versions +
    '. The same as: moat report usage --by team,model';

  $('updated').textContent = 'updated ' + timeText(s.now).slice(11, 19) + ' UTC';
  document.body.dataset.summary = 'ready';
}

function binName(bin) {
  return { '1m': 'minute', '1h': 'hour' }[bin] || bin;
}

async function loadUpstreams() {
  const u = await api('api/upstreams');
  const rows = u.upstreams.map(x => [x.pool || '', x.name, badge(x.state, x.available), x.available ? 'yes' : 'no',
    x.benched_until ? timeText(x.benched_until) : '', String(x.consecutive_failures)]);
  $('upstreams').replaceChildren(table(
    [{ label: 'Pool' }, { label: 'Upstream' }, { label: 'Breaker' }, { label: 'Available' }, { label: 'Benched until' }, { label: 'Failures in a row', num: true }],
    rows));
}

async function refresh() {
  try {
    await Promise.all([loadSummary(), loadUpstreams()]);
    banner('');
  } catch (e) {
    if (!(e instanceof AuthError)) banner('Could not load the dashboard: ' + e.message);
  }
}

function schedule() {
  clearInterval(timer);
  if ($('auto').checked) {
    timer = setInterval(() => { if (!document.hidden && !$('key-dialog').open) refresh(); }, REFRESH_MS);
  }
}

// ---- KQL box ------------------------------------------------------------

const EXAMPLES = {
  'Calls per minute, last hour': `MoatGatewayLogs
| where TimeGenerated > ago(1h)
| summarize Calls = count() by bin(TimeGenerated, 1m)
| render timechart`,
  'Tokens by caller, last 24 hours': `MoatGatewayLogs
| where TimeGenerated > ago(24h)
| summarize Tokens = sum(TotalTokens) by CallerId
| top 20 by Tokens desc
| render barchart`,
  '429s per minute by deployment': `MoatGatewayLogs
| where TimeGenerated > ago(1h) and ResponseCode == 429
| summarize Throttled = count() by bin(TimeGenerated, 1m), DeploymentName
| render timechart`,
  'Slowest calls today': `MoatGatewayLogs
| where TimeGenerated > ago(24h)
| top 20 by TotalTime desc
| project TimeGenerated, CallerId, DeploymentName, ResponseCode, TotalTime, FirstTokenTime, TotalTokens`,
  'Errors by reason': `MoatGatewayLogs
| where TimeGenerated > ago(24h) and ResponseCode >= 400
| summarize Calls = count() by ResponseCode, LastErrorReason
| order by Calls desc`,
};

const TIME_KINDS = new Set(['timechart', 'linechart', 'areachart', 'scatterchart']);
const BAR_KINDS = new Set(['barchart', 'columnchart', 'piechart']);
const MAX_SERIES = 12;

// chartResult draws a query result the way its render operator asks.
function chartResult(el, w) {
  const numeric = w.columns.map((c, i) => (c.type === 'long' || c.type === 'real') ? i : -1).filter(i => i >= 0);
  if (TIME_KINDS.has(w.render)) {
    let xi = w.columns.findIndex(c => c.type === 'datetime');
    const numericX = xi < 0;
    if (numericX) xi = numeric[0];
    const ys = numeric.filter(i => i !== xi);
    const keys = w.columns.map((c, i) => i).filter(i => i !== xi && !ys.includes(i));
    if (xi === undefined || ys.length === 0) return false;
    const series = new Map();
    for (const r of w.rows) {
      const x = numericX ? r[xi] : Date.parse(r[xi]);
      if (x === null || Number.isNaN(x)) continue;
      const split = keys.map(k => String(r[k] ?? '')).join(' / ');
      for (const y of ys) {
        const name = [split, ys.length > 1 || !split ? w.columns[y].name : ''].filter(Boolean).join(' · ');
        if (!series.has(name)) series.set(name, []);
        series.get(name).push([x, r[y] ?? 0]);
      }
    }
    let list = [...series].map(([name, points]) => ({ name, points }));
    const sum = s => s.points.reduce((a, p) => a + p[1], 0);
    if (list.length > MAX_SERIES) list = list.sort((a, b) => sum(b) - sum(a)).slice(0, MAX_SERIES);
    timeChart(el, { series: list, numericX, label: w.render });
    return true;
  }
  if (BAR_KINDS.has(w.render)) {
    const labels = w.columns.map((c, i) => i).filter(i => !numeric.includes(i));
    const vals = labels.length ? numeric : numeric.slice(1);
    const lab = labels.length ? labels : numeric.slice(0, 1);
    if (vals.length === 0) return false;
    const rows = w.rows.slice(0, 50).map(r => ({
      label: lab.map(i => wireValue(w.columns[i], r[i])).join(' / ') || '(empty)',
      values: vals.map(i => r[i] ?? 0),
    }));
    barChart(el, { rows, names: vals.map(i => w.columns[i].name), stacked: false, label: w.render });
    return true;
  }
  return false;
}

async function runQuery(ev) {
  if (ev) ev.preventDefault();
  const query = $('kql').value;
  $('kql-error').hidden = true;
  $('kql-meta').textContent = 'running…';
  document.body.dataset.query = 'running';
  $('kql-run').disabled = true;
  try {
    const w = await api('api/query', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    const charted = chartResult($('kql-chart'), w);
    if (!charted) $('kql-chart').replaceChildren();
    const data = wireTable(w);
    if (charted) {
      const d = document.createElement('details');
      d.append(cell('summary', `data (${w.rows.length} rows)`), data);
      $('kql-result').replaceChildren(d);
    } else {
      $('kql-result').replaceChildren(data);
    }
    const capped = w.rows.length > MAX_TABLE_ROWS ? `, first ${MAX_TABLE_ROWS} shown` : '';
    $('kql-meta').textContent = `${intFmt(w.rows.length)} rows${capped} · ${w.elapsed_ms} ms`;
    document.body.dataset.query = 'done';
  } catch (e) {
    $('kql-meta').textContent = '';
    if (!(e instanceof AuthError)) {
      $('kql-error').textContent = e.message;
      $('kql-error').hidden = false;
      document.body.dataset.query = 'error';
    }
  } finally {
    $('kql-run').disabled = false;
  }
}

function openQuery(key) {
  if (!summary || !summary.queries[key]) return;
  $('kql').value = summary.queries[key];
  $('kql-card').scrollIntoView({ behavior: 'smooth' });
  runQuery();
}

async function loadSchema() {
  try {
    const s = await api('api/schema');
    $('schema').replaceChildren(table([{ label: 'Column' }, { label: 'Type' }], s.columns.map(c => [c.name, c.type])));
  } catch { /* the panels report errors */ }
}

// ---- wiring -------------------------------------------------------------

function start() {
  const ex = $('examples');
  for (const name of Object.keys(EXAMPLES)) ex.append(new Option(name, name));
  ex.addEventListener('change', () => { if (EXAMPLES[ex.value]) $('kql').value = EXAMPLES[ex.value]; ex.value = ''; });
  $('kql').value = EXAMPLES['Calls per minute, last hour'];
  $('kql-form').addEventListener('submit', runQuery);
  $('kql').addEventListener('keydown', e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) runQuery(e); });
  document.querySelectorAll('button.kql').forEach(b => b.addEventListener('click', () => openQuery(b.dataset.panel)));

  $('key-form').addEventListener('submit', e => {
    e.preventDefault();
    const k = $('key-input').value.trim();
    if (!k) return;
    sessionStorage.setItem(KEY_STORAGE, k);
    $('key-input').value = '';
    $('key-dialog').close();
    refresh();
    loadSchema();
  });
  $('forget').addEventListener('click', () => { sessionStorage.removeItem(KEY_STORAGE); askKey(); });
  $('refresh').addEventListener('click', refresh);
  $('range').addEventListener('change', refresh);
  $('auto').addEventListener('change', schedule);

  schedule();
  if (getKey()) {
    refresh();
    loadSchema();
  } else {
    askKey();
  }
}

start();
