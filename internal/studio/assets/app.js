// moat studio. Every request goes to this origin's /studio/api/…, which
// acts with the signed-in principal's credential; state changes carry the
// session's CSRF token. No inline script, no external resource.
import { t, setLang, initialLang, currentLang } from './i18n.js';
import { timeChart, formatNumber } from './chart.js';

const $ = id => document.getElementById(id);
let session = null;
let keyNames = {};
const turns = [];

// api calls the studio's backend. It returns {ok, status, body, res}.
async function api(path, opts = {}) {
  const headers = { 'X-Moat-Request': '1' };
  // Every state change is JSON (the management plane refuses others).
  if (opts.body !== undefined || (opts.method && opts.method !== 'GET')) headers['Content-Type'] = 'application/json';
  if (session && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  const res = await fetch('api/' + path, {
    method: opts.method || 'GET', headers, credentials: 'same-origin',
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (opts.raw) return { ok: res.ok, status: res.status, res };
  let body = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: { message: text } }; }
  if (res.status === 401 && path !== 'login/key') showSignIn(t('expired'));
  return { ok: res.ok, status: res.status, body };
}

function errorText(r) {
  if (r.status === 403) return t('forbidden') + ' (' + ((r.body && r.body.error && r.body.error.message) || '403') + ')';
  return (r.body && r.body.error && (r.body.error.message || r.body.error.code)) || ('HTTP ' + r.status);
}

// showError puts msg in el, or hides it for an empty msg.
function showError(el, msg) {
  el.textContent = msg || '';
  el.hidden = !msg;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function button(label, onClick, cls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

function fmtTime(s) {
  if (!s) return t('never');
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : d.toLocaleString(currentLang() === 'ja' ? 'ja-JP' : 'en-US');
}

// ---- sign-in ----

function showSignIn(msg) {
  session = null;
  document.body.dataset.state = 'signin';
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signout').hidden = true;
  $('principal').textContent = '';
  showError($('signin-error'), msg);
}

async function loadSession() {
  const r = await api('session');
  if (!r.ok) { showError($('banner'), errorText(r)); return; }
  const v = r.body;
  if (!v.signed_in) {
    showSignIn(v.error ? 'Sign-in failed: ' + v.error : '');
    $('signin-oidc').hidden = !v.methods.includes('oidc');
    $('signin-key').hidden = !v.methods.includes('key');
    $('signin-none').hidden = v.methods.length > 0;
    return;
  }
  session = v;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = v.anonymous;
  $('principal').textContent = v.anonymous ? t('anonymous') : t('signedInAs', v.principal);
  for (const [view, perm] of [['keys', 'keys'], ['roles', 'roles'], ['audit', 'audit']]) {
    $('tab-' + view).hidden = !v.can[perm];
  }
  $('tab-calls').hidden = !v.can.logs;
  $('tab-deployments').hidden = !v.can.logs;
  document.body.dataset.state = 'ready';
  selectTab('playground');
}

$('signin-key').addEventListener('submit', async e => {
  e.preventDefault();
  const r = await api('login/key', { method: 'POST', body: { key: $('signin-key-input').value } });
  $('signin-key-input').value = '';
  if (!r.ok) { showError($('signin-error'), errorText(r)); return; }
  await loadSession();
});

$('signout').addEventListener('click', async () => {
  await api('logout', { method: 'POST', body: {} });
  showSignIn('');
  await loadSession();
});

// ---- tabs ----

const loaders = {
  playground: loadDeploymentsForPlayground, deployments: loadStatus, calls: loadCalls,
  keys: loadKeys, roles: loadRoles, audit: loadAudit,
};

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role=tab]')) {
    const on = tab.id === 'tab-' + name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !on;
  }
  document.body.dataset.view = name;
  loaders[name]();
}

for (const tab of document.querySelectorAll('[role=tab]')) {
  tab.addEventListener('click', () => selectTab(tab.id.slice(4)));
  tab.addEventListener('keydown', e => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const tabs = [...document.querySelectorAll('[role=tab]')].filter(x => !x.hidden);
    const i = tabs.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : -1);
    const next = tabs[(i + tabs.length) % tabs.length];
    next.focus();
    selectTab(next.id.slice(4));
  });
}

// ---- playground ----

async function loadDeploymentsForPlayground() {
  const r = await api('deployments');
  const sel = $('pg-deployment');
  sel.replaceChildren();
  if (!r.ok) { showError($('pg-error'), errorText(r)); return; }
  const allowed = r.body.value.filter(d => d.allowed);
  for (const d of allowed) {
    const o = document.createElement('option');
    o.value = d.name;
    o.textContent = d.name + (d.model && d.model !== d.name ? ' (' + d.model + ')' : '');
    sel.append(o);
  }
  showError($('pg-error'), allowed.length ? '' : t('noDeployments'));
  $('pg-send').disabled = allowed.length === 0;
}

// showHeaders lists the answer's headers. Browsers never expose
// Set-Cookie to scripts, and moat sends no credential back.
function showHeaders(headers) {
  const dl = $('pg-headers');
  dl.replaceChildren();
  for (const [k, v] of headers) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    dl.append(dt, dd);
  }
  $('pg-headers-box').hidden = false;
}

function addTurn(role, text) {
  const li = document.createElement('li');
  li.className = 'turn ' + role;
  const who = document.createElement('strong');
  who.textContent = role;
  const body = document.createElement('div');
  body.className = 'content';
  body.textContent = text;
  li.append(who, body);
  $('pg-transcript').append(li);
  return body;
}

$('pg-form').addEventListener('submit', async e => {
  e.preventDefault();
  const dep = $('pg-deployment').value;
  const user = $('pg-user').value.trim();
  if (!dep || !user) return;
  const stream = $('pg-stream').checked;
  const messages = [];
  const system = $('pg-system').value.trim();
  if (system) messages.push({ role: 'system', content: system });
  messages.push(...turns, { role: 'user', content: user });
  const body = { messages, stream, temperature: Number($('pg-temperature').value),
    max_tokens: Number($('pg-max-tokens').value), top_p: Number($('pg-top-p').value) };
  if (stream) body.stream_options = { include_usage: true };
  addTurn('user', user);
  $('pg-user').value = '';
  const out = addTurn('assistant', '');
  showError($('pg-error'), '');
  $('pg-send').disabled = true;
  document.body.dataset.playground = 'running';
  let answer = '';
  try {
    const r = await api('chat/' + encodeURIComponent(dep), { method: 'POST', body, raw: true });
    const id = r.res.headers.get('apim-request-id') || '';
    $('pg-meta').textContent = t('requestId') + ': ' + id + ' · HTTP ' + r.status;
    $('pg-meta').dataset.requestId = id;
    showHeaders(r.res.headers);
    if (!r.ok) {
      const txt = await r.res.text();
      let msg = txt;
      try { msg = JSON.parse(txt).error.message; } catch (_) { /* not JSON */ }
      out.parentElement.remove();
      showError($('pg-error'), 'HTTP ' + r.status + ': ' + msg);
      return;
    }
    if (stream && r.res.body) {
      const reader = r.res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          try {
            const ev = JSON.parse(data);
            const delta = ev.choices && ev.choices[0] && ev.choices[0].delta;
            if (delta && delta.content) { answer += delta.content; out.textContent = answer; }
            if (ev.usage) $('pg-meta').textContent += ' · ' + t('tokens') + ': ' + ev.usage.total_tokens;
          } catch (_) { /* a partial or foreign event */ }
        }
      }
    } else {
      const v = await r.res.json();
      answer = (v.choices && v.choices[0] && v.choices[0].message && v.choices[0].message.content) || '';
      out.textContent = answer;
      if (v.usage) $('pg-meta').textContent += ' · ' + t('tokens') + ': ' + v.usage.total_tokens;
    }
    turns.push({ role: 'user', content: user }, { role: 'assistant', content: answer });
  } finally {
    $('pg-send').disabled = false;
    document.body.dataset.playground = 'done';
  }
});

// ---- deployments and upstreams ----

async function loadStatus() {
  const r = await api('status');
  const tbody = $('dep-table').querySelector('tbody');
  tbody.replaceChildren();
  $('dep-facts').replaceChildren();
  if (!r.ok) { showError($('dep-error'), errorText(r)); return; }
  showError($('dep-error'), '');
  const st = r.body;
  const facts = [
    [t('version'), st.version], [t('replica'), st.replica && st.replica.name],
    [t('fingerprint'), st.replica && st.replica.fingerprint],
    [t('lastReload'), st.reloads && fmtTime(st.reloads.last_success)],
    [t('reloadsFailed'), st.reloads && (st.reloads.failed + (st.reloads.last_error ? ' — ' + st.reloads.last_error : ''))],
  ];
  for (const [k, v] of facts) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v === undefined ? '' : String(v);
    $('dep-facts').append(dt, dd);
  }
  for (const u of st.upstreams || []) {
    const tr = document.createElement('tr');
    tr.dataset.deployment = u.deployment;
    cell(tr, u.deployment);
    cell(tr, u.upstream);
    cell(tr, u.available ? t('available') : t('unavailable'), u.available ? 'good' : 'bad');
    cell(tr, u.state, 'badge ' + u.state);
    cell(tr, u.benched_until ? fmtTime(u.benched_until) : '');
    cell(tr, u.priority + ' / ' + u.weight);
    cell(tr, u.consecutive_failures);
    tbody.append(tr);
  }
}

// ---- calls ----

function pad(n) { return String(n).padStart(2, '0'); }

function localInput(d) {
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

$('calls-preset').addEventListener('change', () => {
  const custom = $('calls-preset').value === 'custom';
  $('calls-from').disabled = $('calls-to').disabled = !custom;
  if (custom && !$('calls-from').value) {
    const now = new Date();
    $('calls-to').value = localInput(now);
    $('calls-from').value = localInput(new Date(now.getTime() - 3600e3));
  }
});

$('calls-range').addEventListener('submit', e => { e.preventDefault(); loadCalls(); });

// timeFilter returns the KQL filter and a bin size for the chosen range.
function timeFilter() {
  const p = $('calls-preset').value;
  if (p !== 'custom') return { where: `| where TimeGenerated > ago(${p})`, bin: { '1h': '1m', '24h': '15m', '7d': '3h' }[p] };
  const from = new Date($('calls-from').value), to = new Date($('calls-to').value);
  const span = Math.max(to - from, 60e3);
  const bin = span <= 2 * 3600e3 ? '1m' : span <= 2 * 86400e3 ? '15m' : '3h';
  return { where: `| where TimeGenerated between (datetime("${from.toISOString()}") .. datetime("${to.toISOString()}"))`, bin };
}

async function sequence(fns) {
  const out = [];
  for (const fn of fns) out.push(await fn());
  return out;
}

async function kql(query) {
  return api('query', { method: 'POST', body: { query } });
}

function rowsOf(r) {
  const cols = r.body.columns.map(c => c.name);
  return r.body.rows.map(row => Object.fromEntries(cols.map((c, i) => [c, row[i]])));
}

function outcome(c) {
  const kind = c.LastErrorReason || '';
  if (c.ResponseCode === 429) return ['throttled', t('throttledCall')];
  if (kind.startsWith('upstream_')) return ['upstream', t('upstreamError')];
  if (kind.startsWith('client_') || kind.startsWith('policy_')) return ['client', t('clientError')];
  if (kind.startsWith('gateway_') || c.ResponseCode >= 500) return ['gateway', t('gatewayError')];
  return ['ok', t('ok')];
}

function callerName(id) {
  return keyNames[id] ? keyNames[id] + ' (' + id + ')' : id;
}

async function loadKeyNames() {
  if (!session || !session.can.keys) return;
  const r = await api('admin/keys');
  if (r.ok) for (const k of r.body.value) keyNames[k.id] = k.name;
}

async function loadCalls() {
  document.body.dataset.calls = 'loading';
  const f = timeFilter();
  const base = 'MoatGatewayLogs\n' + f.where + '\n';
  await loadKeyNames();
  // One query at a time: management.query caps a caller's queries in progress.
  const [sum, lat, list] = await sequence([
    () => kql(base + '| summarize Calls = count(), Client = countif(ResponseCode != 429 and (LastErrorReason startswith "client_" or LastErrorReason startswith "policy_")), ' +
      'Upstream = countif(ResponseCode != 429 and LastErrorReason startswith "upstream_"), Throttled = countif(ResponseCode == 429)'),
    () => kql(base + `| summarize P50 = percentile(TotalTime, 50), P95 = percentile(TotalTime, 95) by bin(TimeGenerated, ${f.bin})\n| order by TimeGenerated asc`),
    () => kql(base + '| order by TimeGenerated desc\n| take 100\n| project TimeGenerated, CorrelationId, CallerId, DeploymentName, ResponseCode, LastErrorReason, TotalTime, TotalTokens'),
  ]);
  // Each result's error replaces that result: nothing stale stays on screen.
  if (sum.ok) {
    const s = rowsOf(sum)[0] || {};
    $('t-calls').textContent = formatNumber(s.Calls || 0);
    $('t-client').textContent = formatNumber(s.Client || 0);
    $('t-upstream').textContent = formatNumber(s.Upstream || 0);
    $('t-throttled').textContent = formatNumber(s.Throttled || 0);
  } else {
    for (const id of ['t-calls', 't-client', 't-upstream', 't-throttled']) $(id).textContent = '–';
  }
  showError($('tiles-error'), sum.ok ? '' : errorText(sum));
  if (lat.ok) {
    const rows = rowsOf(lat);
    const pts = k => rows.map(x => [new Date(x.TimeGenerated).getTime(), x[k]]).filter(p => p[1] !== null);
    timeChart($('latency-chart'), { series: [{ name: 'p50', points: pts('P50') }, { name: 'p95', points: pts('P95') }],
      label: t('latencyOverTime') });
  } else {
    $('latency-chart').replaceChildren();
  }
  showError($('latency-error'), lat.ok ? '' : errorText(lat));
  const tbody = $('calls-table').querySelector('tbody');
  tbody.replaceChildren();
  if (list.ok) {
    for (const c of rowsOf(list)) {
      const tr = document.createElement('tr');
      const [cls, label] = outcome(c);
      tr.dataset.requestId = c.CorrelationId;
      tr.dataset.outcome = cls;
      cell(tr, fmtTime(c.TimeGenerated));
      cell(tr, callerName(c.CallerId), 'caller');
      cell(tr, c.DeploymentName);
      cell(tr, c.ResponseCode);
      cell(tr, label + (c.LastErrorReason ? ' · ' + c.LastErrorReason : ''), 'outcome ' + cls);
      cell(tr, formatNumber(c.TotalTime) + ' ms');
      cell(tr, c.TotalTokens);
      const td = document.createElement('td');
      const b = button(t('open'), () => openCall(c.CorrelationId));
      b.setAttribute('aria-label', t('details') + ' ' + c.CorrelationId);
      td.append(b);
      tr.append(td);
      tbody.append(tr);
    }
  }
  showError($('calls-error'), list.ok ? '' : errorText(list));
  document.body.dataset.calls = 'ready';
}

// attemptsOf lists the upstream attempts: the request log's trace
// ("attempts: east 503 12ms; west 200 30ms", in the error message when a
// call failed over or failed), else the one attempt its columns describe.
function attemptsOf(c) {
  const m = /attempts: (.*)$/.exec(c.LastErrorMessage || '');
  if (m) return m[1].split('; ');
  if (!c.BackendId) return [];
  return [c.BackendId + ' ' + (c.BackendResponseCode || '') + ' ' + Math.round(c.BackendTime || 0) + 'ms'];
}

// appendHeaders shows the request log's Headers column, the allow-listed
// request and response headers ({"req":{...},"resp":{...}}; never a
// credential), one list per side.
function appendHeaders(dl, col) {
  let h = {};
  try { h = col ? JSON.parse(col) : {}; } catch { h = {}; }
  for (const [side, label] of [['req', 'requestHeaders'], ['resp', 'responseHeaders']]) {
    const dt = document.createElement('dt'); dt.textContent = t(label);
    const dd = document.createElement('dd');
    const ul = document.createElement('ul');
    ul.id = 'call-headers-' + side;
    ul.className = 'headers';
    for (const [k, v] of Object.entries(h[side] || {})) {
      const li = document.createElement('li');
      const code = document.createElement('code');
      code.textContent = k + ': ' + v;
      li.append(code);
      ul.append(li);
    }
    if (!ul.childElementCount) ul.textContent = t('noHeaders');
    dd.append(ul);
    dl.append(dt, dd);
  }
}

async function openCall(id) {
  const r = await kql('MoatGatewayLogs\n| where CorrelationId == "' + id.replace(/["\\]/g, '') + '"\n| take 1');
  const dl = $('call-detail-body');
  dl.replaceChildren();
  if (!r.ok || r.body.rows.length === 0) {
    const dd = document.createElement('dd');
    dd.textContent = r.ok ? 'not found' : errorText(r);
    dl.append(dd);
  } else {
    const c = rowsOf(r)[0];
    const [, label] = outcome(c);
    const fields = [
      [t('requestId'), c.CorrelationId], [t('time'), fmtTime(c.TimeGenerated)], [t('caller'), callerName(c.CallerId)],
      [t('authType'), c.AuthType], [t('clientIP'), c.CallerIpAddress], [t('listener'), c.Listener],
      [t('deployment'), c.DeploymentName], [t('model'), c.ModelName], [t('operation'), c.OperationName],
      [t('method'), c.Method], [t('path'), c.Url], [t('apiVersion'), c.ApiVersion],
      [t('outcome'), label], [t('status'), c.ResponseCode], [t('errorKind'), c.LastErrorReason], [t('errorMessage'), c.LastErrorMessage],
      [t('upstream'), c.BackendId], [t('upstreamStatus'), c.BackendResponseCode],
      [t('totalTime'), c.TotalTime + ' ms'], [t('upstreamTime'), c.BackendTime + ' ms'], [t('firstByte'), c.FirstByteTime + ' ms'],
      [t('firstToken'), c.FirstTokenTime === null || c.FirstTokenTime === undefined ? '' : c.FirstTokenTime + ' ms'],
      [t('promptTokens'), c.PromptTokens], [t('completionTokens'), c.CompletionTokens], [t('tokens'), c.TotalTokens],
      [t('streamed'), c.IsStreamCompletion], [t('requestSize'), c.RequestSize], [t('responseSize'), c.ResponseSize],
      [t('region'), c.Region], [t('replica'), c.Replica],
    ];
    for (const [k, v] of fields) {
      const dt = document.createElement('dt'); dt.textContent = k;
      const dd = document.createElement('dd'); dd.textContent = v === undefined || v === null ? '' : String(v);
      dl.append(dt, dd);
    }
    const dt = document.createElement('dt'); dt.textContent = t('attempts');
    const dd = document.createElement('dd');
    const ol = document.createElement('ol');
    ol.id = 'call-attempts';
    for (const a of attemptsOf(c)) {
      const li = document.createElement('li');
      li.textContent = a;
      ol.append(li);
    }
    dd.append(ol);
    dl.append(dt, dd);
    appendHeaders(dl, c.Headers);
  }
  $('call-detail').showModal();
}

$('call-detail-close').addEventListener('click', () => $('call-detail').close());

// ---- keys ----

function splitList(s) { return s.split(',').map(x => x.trim()).filter(Boolean); }

async function loadKeys() {
  const r = await api('admin/keys');
  const tbody = $('keys-table').querySelector('tbody');
  tbody.replaceChildren();
  $('key-form').hidden = !session.can.keys_write;
  if (!r.ok) { showError($('keys-error'), errorText(r)); return; }
  showError($('keys-error'), '');
  for (const k of r.body.value) {
    keyNames[k.id] = k.name;
    const tr = document.createElement('tr');
    tr.dataset.keyId = k.id;
    tr.dataset.keyName = k.name;
    cell(tr, k.name);
    cell(tr, k.id, 'mono');
    cell(tr, (k.deployments.length ? k.deployments.join(', ') : t('all')) + ' · ' + (k.operations.length ? k.operations.join(', ') : t('all')));
    cell(tr, fmtTime(k.expires_at));
    cell(tr, k.status, 'status ' + k.status);
    const td = document.createElement('td');
    if (session.can.keys_write && (k.status === 'active' || k.status === 'revoking')) {
      td.append(button(t('revoke'), async () => {
        if (!confirm(t('confirmRevoke', k.name))) return;
        const rr = await api('admin/keys/' + encodeURIComponent(k.id) + '/revoke', { method: 'POST', body: {} });
        if (!rr.ok) showError($('keys-error'), errorText(rr));
        await loadKeys();
      }, 'revoke'), ' ', button(t('regenerate'), async () => {
        const grace = prompt(t('graceSeconds'), '3600');
        if (grace === null) return;
        const rr = await api('admin/keys/' + encodeURIComponent(k.id) + '/regenerate', { method: 'POST', body: { revoke_old_after: Number(grace) || 0 } });
        if (!rr.ok) { showError($('keys-error'), errorText(rr)); return; }
        showSecret(rr.body.key);
        await loadKeys();
      }, 'regenerate'));
    }
    tr.append(td);
    tbody.append(tr);
  }
}

function showSecret(key) {
  $('key-secret-value').textContent = key;
  $('key-secret').hidden = false;
}

$('key-form').addEventListener('submit', async e => {
  e.preventDefault();
  const body = { name: $('key-name').value.trim(), owner: $('key-owner').value.trim(),
    deployments: splitList($('key-deployments').value), operations: splitList($('key-operations').value) };
  if ($('key-expires').value) body.expires_at = new Date($('key-expires').value).toISOString();
  const r = await api('admin/keys', { method: 'POST', body });
  if (!r.ok) { showError($('keys-error'), errorText(r)); return; }
  showError($('keys-error'), '');
  showSecret(r.body.key);
  $('key-form').reset();
  await loadKeys();
});

// ---- roles ----

async function loadRoles() {
  const [defs, as] = await Promise.all([api('admin/roles/definitions'), api('admin/roles/assignments')]);
  const tbody = $('assign-table').querySelector('tbody');
  tbody.replaceChildren();
  $('assign-form').hidden = !session.can.roles_write;
  if (!defs.ok || !as.ok) { showError($('roles-error'), errorText(defs.ok ? as : defs)); return; }
  showError($('roles-error'), '');
  const sel = $('assign-role');
  sel.replaceChildren();
  for (const d of defs.body.value) {
    const o = document.createElement('option');
    o.value = d.name;
    o.textContent = d.name;
    o.title = d.description;
    sel.append(o);
  }
  for (const a of as.body.value) {
    const tr = document.createElement('tr');
    tr.dataset.assignmentId = a.id;
    tr.dataset.principal = a.principal;
    cell(tr, a.role);
    cell(tr, a.principal, 'mono');
    cell(tr, a.scope);
    cell(tr, a.created_by);
    const td = document.createElement('td');
    if (session.can.roles_write) {
      td.append(button(t('remove'), async () => {
        if (!confirm(t('confirmRemove'))) return;
        const rr = await api('admin/roles/assignments/' + encodeURIComponent(a.id), { method: 'DELETE' });
        if (!rr.ok) showError($('roles-error'), errorText(rr));
        await loadRoles();
      }, 'remove'));
    }
    tr.append(td);
    tbody.append(tr);
  }
}

$('assign-form').addEventListener('submit', async e => {
  e.preventDefault();
  const r = await api('admin/roles/assignments', { method: 'POST',
    body: { role: $('assign-role').value, principal: $('assign-principal').value.trim(), scope: $('assign-scope').value.trim() || '/' } });
  if (!r.ok) { showError($('roles-error'), errorText(r)); return; }
  $('assign-principal').value = '';
  await loadRoles();
});

// ---- audit ----

async function loadAudit() {
  const [v, entries] = await Promise.all([api('admin/audit/verify'), api('admin/audit?limit=500')]);
  const tbody = $('audit-table').querySelector('tbody');
  tbody.replaceChildren();
  if (!v.ok || !entries.ok) { $('audit-verify').textContent = ''; showError($('audit-error'), errorText(v.ok ? entries : v)); return; }
  showError($('audit-error'), '');
  const rep = v.body;
  $('audit-verify').textContent = rep.ok ? t('chainOK', rep.entries, rep.head_seq) : t('chainBroken', rep.broken_seq, rep.problem);
  $('audit-verify').className = rep.ok ? 'good' : 'bad';
  $('audit-verify').dataset.ok = String(rep.ok);
  for (const e of entries.body.value) {
    const tr = document.createElement('tr');
    cell(tr, e.seq);
    cell(tr, fmtTime(e.time));
    cell(tr, e.actor);
    cell(tr, e.action);
    cell(tr, e.target, 'mono');
    tbody.append(tr);
  }
}

// ---- start ----

$('lang').addEventListener('change', () => {
  setLang($('lang').value);
  if (!session) return;
  $('principal').textContent = session.anonymous ? t('anonymous') : t('signedInAs', session.principal);
  // Tables and figures are drawn by script: draw the open view again in
  // the new language (the playground's conversation stays as it is).
  const view = document.body.dataset.view;
  if (view && view !== 'playground') loaders[view]();
});

const l = initialLang();
$('lang').value = l;
setLang(l);
loadSession();
