// The Decorum console. Every call goes to the admin API; the server decides what each role may do, and a
// refusal (401/403) is shown as the server worded it. No inline script: the CSP allows this file only.
// Every view has a URL (#/audit?verdict=blocked_input, #/audit/record/ID, #/models/NAME/VERSION ...), so a
// link reopens the same view in a fresh page.
'use strict';
const el = id => document.getElementById(id);
const txt = (tag, s, cls) => { const e = document.createElement(tag); e.textContent = s == null ? '' : String(s); if (cls) e.className = cls; return e; };
const row = cells => { const tr = document.createElement('tr'); for (const c of cells) { const td = document.createElement('td'); if (c instanceof Node) td.append(c); else td.textContent = c == null ? '' : String(c); tr.append(td); } return tr; };
const link = (text, href, cls) => { const a = txt('a', text, cls); a.href = href; return a; };
let me = null;
const can = perm => !!me && me.permissions.includes(perm);

// Times: the person's own zone, named (the server stores UTC; the exact instant is in each cell's title).
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const TIME = new Intl.DateTimeFormat('en-GB', {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  second: '2-digit', hourCycle: 'h23', timeZoneName: 'short'});
function when(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d.getTime())) return String(t);
  const p = Object.fromEntries(TIME.formatToParts(d).map(x => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}
const num = (v, digits = 3) => typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-GB') : v.toFixed(digits)) : (v == null ? '-' : String(v));
const pct = v => typeof v === 'number' ? `${(v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0)}%` : '-';

class Refused extends Error { constructor(status, message) { super(message); this.status = status; } }

async function api(path, opts = {}) {
  const headers = {};
  if (opts.method && opts.method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (me && me.csrf) headers['x-csrf-token'] = me.csrf;
  }
  const res = await fetch(path, {method: opts.method || 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), credentials: 'same-origin'});
  let data = null;
  try { data = await res.json(); } catch (e) { data = {error: `HTTP ${res.status}`}; }
  if (res.status === 401 && path !== '/api/login') { showLogin(); throw new Refused(401, data.error); }
  if (res.status === 401 || res.status === 403) throw new Refused(res.status, data.error);
  return {status: res.status, data};
}

function refused(err) {
  const box = el('refused');
  if (err instanceof Refused) {
    box.textContent = (err.status === 403 ? '403 Forbidden: ' : '401 Unauthorised: ') + err.message;
  } else {
    box.textContent = 'Something went wrong: ' + err.message;
  }
  box.hidden = false;
}

function showLogin() {
  me = null; tpl = null; pol = null; kn = null; reviewSample = null; el('tpl').hidden = true; el('kn').hidden = true;
  el('audit-detail').hidden = true; el('rv-sample').hidden = true; el('audit-export-links').hidden = true;
  el('note-panel').hidden = true; el('answer').replaceChildren(); el('model').hidden = true; auditKey = null; revealed = new Map();
  el('app').hidden = true; el('whoami').hidden = true; el('login').hidden = false;
}

async function start() {
  try {
    const {data} = await api('/api/me');
    me = data;
  } catch (e) { return; }
  el('login').hidden = true; el('app').hidden = false; el('whoami').hidden = false;
  el('who').textContent = `${me.user} (${me.role})`;
  for (const b of document.querySelectorAll('nav button')) {
    const lacks = !me.permissions.includes(b.dataset.perm);
    b.classList.toggle('locked', lacks);
    if (lacks) b.title = `your role (${me.role}) lacks ${b.dataset.perm}`;
  }
  for (const b of document.querySelectorAll('section button[data-perm]')) {
    const lacks = !me.permissions.includes(b.dataset.perm);
    b.classList.toggle('locked', lacks);  // still clickable: the server refuses, in its own words
    b.title = lacks ? `your role (${me.role}) lacks ${b.dataset.perm}` : '';
  }
  el('new-role').replaceChildren(...me.roles.map(r => txt('option', r)));
  await route();
}

// --- the URL: #/VIEW[/MORE...][?QUERY] --------------------------------------------------------------------
const loaders = {
  playground: async () => {},
  audit: (rest, params) => loadAuditView(rest, params),
  templates: async (rest) => {  // #/templates[/NAME]
    tpl = null; el('tpl').hidden = true;
    await loadTemplates();
    if (rest[0]) { await openTemplate(rest[0], {editor: true}); el('tpl').scrollIntoView({block: 'start'}); }
  },
  knowledge: async (rest) => {  // #/knowledge[/ENTRY]
    kn = null; el('kn').hidden = true;
    await loadKnowledge();
    if (rest[0]) { await openEntry(rest[0], {editor: true}); el('kn').scrollIntoView({block: 'start'}); }
  },
  policy: () => loadPolicy({editor: true}),
  models: (rest) => loadModels(rest),
  users: loadUsers,
};
const defaultView = () => (can('audit.read') ? 'audit' : 'playground');

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const cut = h.indexOf('?');
  const pathPart = cut < 0 ? h : h.slice(0, cut);
  const parts = pathPart.split('/').filter(Boolean).map(p => { try { return decodeURIComponent(p); } catch (e) { return p; } });
  return {parts, params: new URLSearchParams(cut < 0 ? '' : h.slice(cut + 1))};
}

// Go to a view's URL (a hashchange routes it; the same URL again reloads the view).
function go(hash) {
  if (location.hash === hash) route().catch(refused); else location.hash = hash;
}

async function route() {
  if (!me) return;
  const {parts, params} = parseHash();
  const view = loaders[parts[0]] ? parts[0] : defaultView();
  await openView(view, parts.slice(1), params);
}

async function openView(view, rest = [], params = new URLSearchParams()) {
  el('refused').hidden = true;
  if (view !== 'users') hideToken();
  for (const b of document.querySelectorAll('nav button')) {
    b.classList.toggle('active', b.dataset.view === view);
    if (b.dataset.view === view) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  for (const s of document.querySelectorAll('section[data-section]')) s.hidden = s.dataset.section !== view;
  try { await loaders[view](rest, params); } catch (e) {
    for (const s of document.querySelectorAll('section[data-section]')) s.hidden = true;
    refused(e);
  }
}

// --- the playground: the answer and its whole transparency note --------------------------------------------
const STAGES = [['input', 'question'], ['first_output', 'first answer (not shown)'], ['output', 'answer']];
const ROUTE_WHY = {explicit: 'chosen by the asker', rule: 'a routing rule matched', semantic: 'the question is close to the domain',
  uncertain: 'close to the domain, but within the uncertainty band: kept on the default', default: 'no rule or domain matched: the default'};

function dl(id, pairs) {
  const d = document.createElement('dl'); d.className = 'summary'; if (id) d.id = id;
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    const dt = txt('dt', k), dd = document.createElement('dd');
    if (v instanceof Node) dd.append(v); else dd.textContent = String(v);
    d.append(dt, dd);
  }
  return d;
}

function table(head, rows, id, caption) {
  const t = document.createElement('table'); if (id) t.id = id;
  if (caption) t.append(txt('caption', caption));
  const h = document.createElement('thead'), tr = document.createElement('tr');
  for (const c of head) { const th = txt('th', c); th.scope = 'col'; tr.append(th); }
  h.append(tr);
  const b = document.createElement('tbody'); b.replaceChildren(...rows);
  t.append(h, b);
  const wrap = document.createElement('div'); wrap.className = 'table-wrap'; wrap.append(t);
  return wrap;
}

function checkRows(guard) {
  const rows = [];
  for (const [stage, label] of STAGES) {
    for (const c of (guard || {})[stage] || []) {
      const tr = row([label, c.check, score(c.score), c.threshold == null ? '-' : num(c.threshold, 2),
        txt('span', c.passed ? 'pass' : 'FAIL', c.passed ? 'pass' : 'fail')]);
      tr.dataset.check = c.check; tr.dataset.stage = stage;
      rows.push(tr);
    }
  }
  return rows;
}

const routeText = r => !r ? 'not routed (nothing was generated)' : [r.strategy.replace('_', ' '), ROUTE_WHY[r.reason] || r.reason,
  r.rule ? `rule ${r.rule}` : '', r.domain ? `domain ${r.domain}` : '',
  r.score != null ? `similarity ${num(r.score)} against threshold ${num(r.threshold)}` : '', r.router ? `router ${r.router}` : ''].filter(Boolean).join(' · ');
const modelText = m => !m ? '-' : `${m.name}${m.engine ? ` (${m.engine}${m.precision ? ' ' + m.precision : ''})` : ''}`;

function notePanel(n) {
  const panel = el('note-panel');
  const g = n.guardrails || {}, lat = n.latency_ms || {}, tok = n.tokens || {};
  const parts = [txt('h3', 'Transparency note')];
  const record = can('audit.read') ? link(`audit record ${n.id}`, `#/audit/record/${encodeURIComponent(n.id)}`) : txt('span', `${n.id} (auditors can open it)`);
  record.id = 'np-record';
  parts.push(dl('np-summary', [['verdict', txt('span', n.verdict.replace('_', ' '), 'verdict ' + n.verdict)], ['guardrail action', g.action],
    ['route and why', routeText(n.route)], ['template', n.template ? `${n.template.name}@${n.template.version}` + (n.template.variant === 'safer' ? ' (safer prompt)' : '') : '-'],
    ['model', modelText(n.model)], ['adapter', n.model && n.model.adapter ? `${n.model.adapter.name}@${n.model.adapter.version}` : 'none'],
    ['policy', g.policy + (g.live_config != null ? ` (live@${g.live_config})` : '')],
    ['streamed', n.streaming && n.streaming.chunks_checked ? `${n.streaming.chunks_shown} of ${n.streaming.chunks_checked} checked parts shown while generated` +
      (n.streaming.retracted ? ' (withdrawn once)' : '') : null], ['reference', record]]));
  parts.push(txt('h4', 'Checks: score against threshold'));
  const rows = checkRows(g);
  parts.push(table(['stage', 'check', 'score', 'threshold', 'result'], rows.length ? rows : [row(['', 'no checks ran', '', '', ''])], 'np-checks'));
  if (n.grounding || (n.knowledge && n.knowledge.length)) {
    parts.push(txt('h4', 'Grounding and sources'));
    const gr = n.grounding;
    const count = o => Object.entries(o || {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    parts.push(dl('np-grounding', [['grounding', gr ? `${gr.action} (${gr.method})` : null], ['supported claims', gr ? count(gr.supported) : null],
      ['unsupported claims', gr ? count(gr.unsupported) : null],
      ['sources', (n.knowledge || []).map(k => `${k.id} v${k.version} (similarity ${num(k.score)})`).join('; ') || (gr ? gr.sources.map(s => `${s.id} v${s.version}`).join('; ') : null)]]));
  }
  parts.push(txt('h4', 'Latency and tokens'));
  const stages = [['input checks', lat.input_checks], ['route', lat.route], ['retrieval', lat.retrieval], ['generation', lat.generate],
    ['output checks', lat.output_checks], ['grounding', lat.grounding], ['total', lat.total]].filter(([, v]) => v != null);
  parts.push(dl('np-latency', [...stages.map(([k, v]) => [k, `${num(v)} ms`]), ['tokens', tok.prompt != null ? `${num(tok.prompt)} prompt, ${num(tok.completion)} answer` : null]]));
  panel.replaceChildren(...parts);
  panel.hidden = false;
}

function feedbackBox(noteId) {
  const box = document.createElement('p'); box.id = 'feedback'; box.className = 'feedback';
  box.append(txt('span', 'Was this answer useful? '));
  const result = txt('span', '', 'notice'); result.id = 'feedback-result'; result.setAttribute('role', 'status');
  for (const [value, label, words] of [[1, '👍 Useful', 'useful'], [-1, '👎 Not useful', 'not useful']]) {
    const b = txt('button', label, 'quiet'); b.type = 'button'; b.dataset.value = String(value);
    b.setAttribute('aria-label', words); b.setAttribute('aria-pressed', 'false');
    b.onclick = async () => {
      const data = await attempt('feedback-result', `/api/ask/${encodeURIComponent(noteId)}/feedback`, {method: 'POST', body: {value}});
      if (!data) return;
      for (const x of box.querySelectorAll('button')) x.setAttribute('aria-pressed', String(x === b));
      result.className = 'notice'; result.textContent = ` Thanks: recorded as ${words} (${data.up} 👍, ${data.down} 👎 on this answer).`;
    };
    box.append(b, ' ');
  }
  box.append(result);
  return box;
}

// POST /api/ask/stream: server-sent events, `part` (the checked text so far), `retract`, then `done` or `error`.
async function askStream(body, onPart) {
  const headers = {'content-type': 'application/json', accept: 'text/event-stream'};
  if (me && me.csrf) headers['x-csrf-token'] = me.csrf;
  const res = await fetch('/api/ask/stream', {method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin'});
  if (!(res.headers.get('content-type') || '').startsWith('text/event-stream')) {  // refused before the stream
    let data; try { data = await res.json(); } catch (e) { data = {error: `HTTP ${res.status}`}; }
    if (res.status === 401) { showLogin(); throw new Refused(401, data.error); }
    if (res.status === 403) throw new Refused(403, data.error);
    return {status: res.status, data};
  }
  const reader = res.body.getReader(), decoder = new TextDecoder();
  let buffer = '', last = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (value) buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1], data = JSON.parse((block.match(/^data: (.*)$/m) || [, 'null'])[1]);
      if (event === 'part') onPart(data.text);
      else if (event === 'retract') onPart(null);
      else last = {status: event === 'done' ? 200 : data.status, data};
    }
    if (done) break;
  }
  if (!last) throw new Error('the answer stream ended early');
  return last;
}

async function ask(e) {
  e.preventDefault();
  const out = el('answer'); out.replaceChildren(txt('p', 'Thinking… (checks, routing, generation, checks)', 'notice'));
  el('note-panel').hidden = true;
  const live = txt('pre', '', 'answer streaming'); live.id = 'answer-live';
  const onPart = text => {  // only text that passed the output checks arrives here
    if (text === null) { live.textContent = '(withdrawn: a later part failed a check; the final answer follows)'; return; }
    if (!live.isConnected) out.replaceChildren(txt('p', 'Answering (each part is checked before it is shown)…', 'notice'), live);
    live.textContent = text;
  };
  try {
    const {status, data} = await askStream({text: el('q').value, strategy: el('strategy').value, template: el('template').value || null}, onPart);
    const refusedNow = data.verdict === 'blocked_input' || data.verdict === 'blocked_output';
    const pre = txt('pre', data.answer || data.error, refusedNow ? 'answer refusal' : 'answer');
    out.replaceChildren(txt('h3', refusedNow ? 'Refused' : data.id ? 'Answer' : 'Not answered'), pre,
      txt('p', data.id ? `verdict ${data.verdict} · id ${data.id}` : `HTTP ${status}` + (data.ref ? ` · reference ${data.ref}` : ''), 'notice'));
    if (refusedNow) out.append(txt('p', `Your reference: ${data.id}. Give it to an auditor, or tell us below.`, 'notice'));
    if (data.verdict === 'answered') out.append(feedbackBox(data.id));
    if (data.report) out.append(reportForm(data.report));
    if (data.id && data.guardrails) notePanel(data);
  } catch (err) { out.replaceChildren(); refused(err); }
}

// --- audit workbench: filter, pages, one record whole, charts, exports, the review queue ----------------------
const AUDIT_PAGE = 25;
const CHARTS = [['verdicts-over-time', 'Verdicts per day'], ['strategy-mix', 'Records by strategy'],
  ['block-rate-by-template', 'Block rate by route and template version, input blocks included'], ['feedback-by-strategy', 'Feedback by strategy']];
const SPANS = {'1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3};
const FILTER_FIELDS = ['since', 'until', 'verdict', 'strategy', 'template', 'model', 'adapter', 'engine', 'check', 'min_score', 'max_score',
  'action', 'surface', 'channel', 'user', 'feedback'];
let auditFilter = {};   // the filter applied (times absolute, so every link of one view names the same records)
let auditKey = null;    // the filter the list shows (a record opened over the same list does not reload it)
let auditCursors = [];  // the `before` cursor of each page shown so far (null: the newest page)
let auditPane = 'records';
let auditTotal = 0;
let reviewSample = null;

const passed = rs => !rs || !rs.length ? '-' : rs.every(r => r.passed) ? 'ok' : 'FAIL';
const qs = (filter, extra = {}) => new URLSearchParams({...filter, ...extra}).toString();
const withQuery = (path, extra) => { const q = qs(auditFilter, extra); return q ? `${path}?${q}` : path; };
const auditHash = (sub = '') => { const q = qs(auditFilter); return `#/audit${sub}${q ? '?' + q : ''}`; };
const recordHash = id => auditHash('/record/' + encodeURIComponent(id));

// The filter in the form; a span back from now becomes an absolute `since` (the link names the same records later).
function readFilter() {
  const f = {};
  for (const input of document.querySelectorAll('#audit-filter [data-field]')) {
    const v = input.value.trim();
    if (v !== '') f[input.dataset.field] = v;
  }
  const range = el('af-range').value;
  if (SPANS[range]) f.since = new Date(Date.now() - SPANS[range]).toISOString();
  if (range === 'custom') {
    if (el('af-since').value.trim()) f.since = el('af-since').value.trim();
    if (el('af-until').value.trim()) f.until = el('af-until').value.trim();
  }
  return f;
}

// The URL's filter into the form (times as an absolute range).
function showFilter(f) {
  for (const input of document.querySelectorAll('#audit-filter [data-field]')) input.value = f[input.dataset.field] || '';
  const custom = !!(f.since || f.until);
  el('af-range').value = custom ? 'custom' : '';
  el('af-custom').hidden = !custom;
  el('af-since').value = f.since || ''; el('af-until').value = f.until || '';
}

async function loadAuditView(rest, params) {
  const f = {};
  for (const k of FILTER_FIELDS) { const v = params.get(k); if (v) f[k] = v; }
  const key = JSON.stringify(f);
  const [pane, arg] = rest;
  if (key !== auditKey || !pane || pane === 'records') {
    auditFilter = f; showFilter(f);
    auditCursors = [null];
    el('audit-export-links').hidden = true; el('audit-export-result').hidden = true;
    if (!await auditPage()) { auditKey = null; return; }
    auditKey = key;
  }
  el('ad-close').href = auditHash();
  if (pane === 'record' && arg) { showPane('records'); await showRecord(arg); return; }
  el('audit-detail').hidden = true;
  if (pane === 'charts') { showPane('charts'); await loadCharts(); return; }
  if (pane === 'review') { showPane('review'); reviewSample = arg || null; if (!arg) el('rv-sample').hidden = true; await loadSamples(); return; }
  showPane('records');
}

// A read whose 400/404 is shown in `resultId` (null then); a 401/403 throws, so the view shows the refusal.
async function auditRead(resultId, url) {
  const {status, data} = await api(url);
  if (status < 400) return data;
  say(resultId, false, `${STATUS[status] || 'HTTP ' + status}: ${data.error}`);
  return null;
}

// One page of records (the cursor on top of `auditCursors`); false when the filter was refused.
async function auditPage() {
  const before = auditCursors[auditCursors.length - 1];
  const data = await auditRead('audit-filter-result', withQuery('/api/audit', before ? {limit: AUDIT_PAGE, before} : {limit: AUDIT_PAGE}));
  if (!data) { el('audit').replaceChildren(); el('audit-total').textContent = ''; el('audit-range').textContent = ''; return false; }
  el('audit-filter-result').hidden = true;
  auditTotal = data.total;
  el('audit').replaceChildren(...data.records.map(n => {
    const g = n.guardrails || {}, m = n.model || {};
    const a = link(n.id, recordHash(n.id), 'mono'); a.dataset.id = n.id;
    const model = m.name ? m.name + (m.adapter ? ` + ${m.adapter.name}@${m.adapter.version}` : '') : '-';
    const time = txt('span', when(n.created_at)); time.title = n.created_at || '';
    const tr = row([n.seq, time, a, txt('span', n.verdict, 'verdict ' + n.verdict), g.action || (n.change ? n.change.kind : '-'),
      (n.route || {}).strategy || '-', n.template ? n.template.name + '@' + n.template.version : '-', model,
      txt('span', passed(g.input), passed(g.input) === 'FAIL' ? 'fail' : ''), txt('span', passed(g.output), passed(g.output) === 'FAIL' ? 'fail' : ''),
      (n.latency_ms || {}).total]);
    tr.dataset.id = n.id; tr.dataset.verdict = n.verdict;
    return tr;
  }));
  const first = (auditCursors.length - 1) * AUDIT_PAGE + 1;
  el('audit-total').textContent = `${data.total} record${data.total === 1 ? '' : 's'} match`;
  el('audit-range').textContent = data.records.length ? `showing ${first}–${first + data.records.length - 1}, newest first` : 'nothing to show';
  el('audit-newer').disabled = auditCursors.length <= 1;
  el('audit-older').disabled = data.next_before == null;
  el('audit-older').dataset.next = data.next_before == null ? '' : String(data.next_before);
  return true;
}

// A section of the detail panel: a heading and a two-column table of the pairs that have a value.
function kvSection(title, pairs, id) {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  if (!shown.length) return [];
  const t = document.createElement('table'); t.className = 'kv';
  const tbody = document.createElement('tbody'); kv(tbody, shown.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v]));
  t.append(tbody);
  if (id) t.id = id;
  return [txt('h4', title), t];
}
const yesNo = v => v == null ? null : v ? 'yes' : 'no';
const score = v => typeof v === 'number' ? v.toFixed(4) : v;

function checksSection(guard) {
  const rows = [];
  for (const stage of ['input', 'first_output', 'output']) {
    for (const c of guard[stage] || []) {
      const tr = row([stage.replace('_', ' '), c.check, score(c.score), c.threshold, txt('span', c.passed ? 'pass' : 'FAIL', c.passed ? 'pass' : 'fail'),
        c.label || '', c.scorer, c.explanation || '']);
      tr.dataset.check = c.check; tr.dataset.stage = stage;
      rows.push(tr);
    }
  }
  const wrap = table(['stage', 'check', 'score', 'threshold', 'result', 'label', 'scorer', 'why'],
    rows.length ? rows : [row(['', 'no checks ran', '', '', '', '', '', ''])], 'ad-checks');
  return [txt('h4', `Guardrails (policy ${guard.policy || '?'}${guard.live_config != null ? ', live@' + guard.live_config : ''}): action ${guard.action || '-'}`), wrap];
}

// "Show the question and answer": each reveal is an audit record (the server writes it before it answers). What
// this page revealed stays shown while it is open (a list refreshed after a mark shows it again without a new
// reveal); a login, a logout or a reload forgets it.
let revealed = new Map();
function showTexts(target, data) {
  const parts = [];
  for (const f of ['question', 'answer']) {
    if (data.texts[f] == null) continue;
    const q = txt('blockquote', data.texts[f], 'kept-text'); q.dataset.field = f;
    parts.push(txt('p', f === 'question' ? 'Question' : 'Answer', 'label'), q);
  }
  parts.push(txt('p', `Kept since ${when(data.stored_at)}, deleted after ${data.retention_days} days; this reveal is record ${data.record}.`, 'notice'));
  target.className = 'texts'; target.replaceChildren(...parts); target.hidden = false;
}
function revealButton(noteId, fields, target, id) {
  const b = txt('button', `Show the kept ${fields.join(' and ')} (the reveal is recorded)`, 'quiet reveal');
  b.type = 'button'; if (id) b.id = id;
  if (revealed.has(noteId)) { showTexts(target, revealed.get(noteId)); b.hidden = true; return b; }
  b.onclick = async () => {
    const data = await attempt(target.id, `/api/audit/${encodeURIComponent(noteId)}/text`, {method: 'POST', body: {}});
    if (!data) return;
    revealed.set(noteId, data);
    showTexts(target, data);
    b.remove();
  };
  return b;
}

async function showRecord(id) {
  const {status, data} = await api('/api/audit/' + encodeURIComponent(id));
  if (status !== 200) { say('ref-result', false, `${STATUS[status] || 'HTTP ' + status}: ${data.error}`); el('audit-detail').hidden = true; return; }
  const n = data.note, v = data.verify, ch = data.chain;
  el('ad-title').textContent = `${n.verdict} · ${n.id} · ${when(n.created_at)}`;
  const ok = el('ad-verify');
  ok.textContent = v.ok ? `verified: seq ${v.seq}, ${v.keyed ? 'keyed hash (HMAC-SHA256 with the chain key)' : 'plain SHA-256 (before the chain key)'}` : `NOT VERIFIED: ${v.reason}`;
  ok.className = v.ok ? 'pass' : 'fail';
  const links = el('ad-chain-links'); links.replaceChildren();
  for (const [label, other] of [['← previous', ch.previous], ['next →', ch.next]]) {
    if (other) links.append(link(`${label} (seq ${other.seq})`, recordHash(other.id)), ' ');
  }
  const slack = n.slack || {}, route = n.route, tpl = n.template, m = n.model, g = n.guardrails;
  const fb = data.feedback || [];
  const failed = g ? STAGES.flatMap(([stage, label]) => (g[stage] || []).filter(c => !c.passed).map(c => `${c.check} ${score(c.score)} ≥ ${c.threshold} (${label})`)) : [];
  const summary = el('ad-summary');
  summary.replaceWith(dl('ad-summary', [['verdict', txt('span', n.verdict, 'verdict ' + n.verdict)], ['when', when(n.created_at)],
    ['where', n.surface + (slack.channel ? ` · channel ${slack.channel}` : '')], ['guardrail action', g ? g.action : null],
    ['failed checks', g ? (failed.join('; ') || 'none') : null], ['route and why', n.change ? null : routeText(route)],
    ['template', tpl ? `${tpl.name}@${tpl.version}` : null], ['model', m ? modelText(m) + (m.adapter ? ` + ${m.adapter.name}@${m.adapter.version}` : '') : null],
    ['total time', n.latency_ms ? `${num(n.latency_ms.total)} ms` : null],
    ['feedback', n.change ? null : `${fb.filter(f => f.value > 0).length} 👍, ${fb.filter(f => f.value < 0).length} 👎`],
    ['change', n.change ? `${n.change.kind} by ${n.change.actor || '?'}` + (n.change.reason || n.change.message ? `: ${n.change.reason || n.change.message}` : '') : null]]));
  const texts = el('ad-texts'); texts.replaceChildren(); texts.className = '';
  const kept = data.texts_kept || [];
  const box = document.createElement('div'); box.id = 'ad-texts-shown'; box.hidden = true;
  if (kept.length) {
    texts.append(txt('h4', 'Question and answer'), revealButton(n.id, kept, box, 'ad-reveal'), box);
  } else if (!n.change) {
    texts.append(txt('p', 'The question and answer are not kept for this record (only their keyed fingerprints): text keeping was off, or the retention period has passed.', 'notice'));
  }
  const s = [];
  if (g) s.push(...checksSection(g));
  if (route) s.push(...kvSection('Route and reason', [['strategy', route.strategy], ['reason', route.reason], ['rule', route.rule], ['domain', route.domain],
    ['similarity', route.score], ['threshold', route.threshold], ['router', route.router]], 'ad-route'));
  if (tpl) {
    s.push(...kvSection('Template', [['version', `${tpl.name}@${tpl.version}`], ['prompt', tpl.variant]], 'ad-template'));
    const hist = data.template_history || [];
    const body = hist.length ? hist.map(h => row([when(h.created_at), h.change.kind, h.change.actor, h.change.label || '', h.change.reason || h.change.message || '',
      link(h.id, recordHash(h.id))])) : [row(['', 'no recorded changes of this version (seeded or imported before the log)', '', '', '', ''])];
    s.push(txt('h4', `Edit history of ${tpl.name}@${tpl.version}`), table(['time', 'change', 'by', 'label', 'reason / message', 'record'], body, 'ad-template-history'));
  }
  if (m) s.push(...kvSection('Model', [['name', m.name], ['backend', m.backend], ['engine', m.engine], ['precision', m.precision],
    ['adapter', m.adapter ? `${m.adapter.name}@${m.adapter.version}` : null]], 'ad-model'));
  if (n.knowledge || n.grounding) s.push(...kvSection('Grounding and sources', [['grounding', n.grounding ? `${n.grounding.action} (${n.grounding.method})` : null],
    ['sources', (n.knowledge || []).map(k => `${k.id} v${k.version} (${num(k.score)})`).join('; ')]], 'ad-grounding'));
  if (n.streaming) s.push(...kvSection('Streaming', [['parts checked', n.streaming.chunks_checked], ['parts shown', n.streaming.chunks_shown],
    ['first visible (ms)', n.streaming.first_visible_ms], ['retracted', yesNo(n.streaming.retracted)], ['parts withheld', (n.streaming.withheld || []).length]]));
  if (n.generation) s.push(...kvSection('Generation', [['finish', n.generation.finish_reason], ['prompt cut to fit', yesNo(n.generation.input_truncated)],
    ['max new tokens', n.generation.max_new_tokens], ['temperature', n.generation.temperature]]));
  const lat = n.latency_ms || {};
  s.push(...kvSection('Latency (ms) and tokens', [['input checks', lat.input_checks], ['route', lat.route], ['retrieval', lat.retrieval], ['generate', lat.generate],
    ['output checks', lat.output_checks], ['grounding', lat.grounding], ['total', lat.total], ['prompt tokens', (n.tokens || {}).prompt],
    ['completion tokens', (n.tokens || {}).completion]], 'ad-latency'));
  s.push(...kvSection('Who and where', [['surface', n.surface], ['user (pseudonym)', n.user || slack.user], ['pseudonym key', n.pseudonym_key],
    ['Slack workspace', slack.team], ['Slack channel', slack.channel], ['thread', slack.thread_ts], ['schema version', n.schema_version]]));
  if (n.error) s.push(...kvSection('Error', [['type', n.error.type], ['reason', n.error.reason]]));
  if (n.change) s.push(...kvSection('Change', Object.entries(n.change), 'ad-change'));
  const votes = fb.length ? fb.map(f => row([f.value > 0 ? '👍 up' : '👎 down', f.user, when(f.created_at)])) : [row(['none', '', ''])];
  s.push(txt('h4', `Feedback (${fb.filter(f => f.value > 0).length} up, ${fb.filter(f => f.value < 0).length} down)`), table(['vote', 'by (pseudonym)', 'when'], votes, 'ad-feedback'));
  el('ad-sections').replaceChildren(...s);
  // the hashes, folded away: what proves the record, not what a reviewer reads first
  const fp = f => f ? [['HMAC-SHA256', f.hmac_sha256], ['characters', f.chars], ['truncated', yesNo(f.truncated)], ['characters checked', f.chars_used], ['text kept', yesNo(f.stored)]] : [];
  el('ad-chain-box').replaceChildren(
    ...kvSection('Chain', [['seq', v.seq], ['hash', v.hash], ['prev_hash', v.prev_hash],
      ['previous record', ch.previous ? `seq ${ch.previous.seq} · ${ch.previous.id}` : 'none (the first record)'],
      ['next record', ch.next ? `seq ${ch.next.seq} · ${ch.next.id}` : 'none yet (the newest record)'], ['log length', ch.last_seq],
      ['this record verifies', v.ok ? 'yes' : 'NO: ' + v.reason]], 'ad-chain'),
    ...kvSection('Request (fingerprint, never the text)', fp(n.request), 'ad-request'),
    ...kvSection('Response sent (fingerprint)', fp(n.response)),
    ...kvSection('Digests', [['template sha256', tpl ? tpl.sha256 : null], ['model revision', m ? m.revision : null], ['artifact', m ? m.artifact_revision : null],
      ['adapter sha256', m && m.adapter ? m.adapter.sha256 : null]]));
  el('ad-hashes').open = false;
  const raw = el('detail'); raw.textContent = JSON.stringify(n, null, 2); raw.hidden = false;
  const panel = el('audit-detail');
  panel.hidden = false;
  panel.scrollIntoView({block: 'start'});
  panel.focus({preventScroll: true});
}

async function loadCharts() {
  const stats = await auditRead('audit-filter-result', withQuery('/api/audit/stats'));
  if (!stats) return;
  const checks = [...new Set(stats.scores.map(e => e.check))];
  const br = stats.block_rate || {};
  el('audit-charts-note').textContent = `${stats.total} records; verdicts: ` +
    (Object.entries(stats.verdicts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none') +
    (br.rate != null ? `; block rate ${pct(br.rate)} of ${br.answers} answer records (input ${br.blocked_input}, output ${br.blocked_output})` : '');
  el('audit-charts').replaceChildren(...[...CHARTS, ...checks.map(c => ['scores-' + c, `Score histogram of ${c}`])].map(([name, words]) => {
    const img = document.createElement('img');
    img.alt = words; img.dataset.chart = name; img.width = 640; img.height = 320;
    img.onload = () => img.classList.add('loaded');
    img.onerror = () => { img.classList.add('broken'); img.alt = `${words}: the chart could not be drawn`; };
    img.src = withQuery(`/api/audit/charts/${encodeURIComponent(name)}.svg`);
    return img;
  }));
  const routes = stats.routes || [];
  el('audit-charts').append(txt('h3', 'Block rate by route and template version'), table(['route', 'template', 'records', 'blocked at input', 'blocked at output', 'block rate'],
    routes.map(r => { const tr = row([r.route ? r.route.replace('_', ' ') : 'before routing (input blocked)', r.template || '-', r.total, r.blocked_input, r.blocked_output, pct(r.block_rate)]);
      tr.dataset.template = r.template || ''; return tr; }), 'audit-block-rates'));
}

// An export is pinned to a signed checkpoint first, so the file and its manifest name the same records; the
// count shown is the server's, made at the pin: what the file holds.
async function prepareExport(format) {
  el('audit-export-links').hidden = true;
  const data = await post('audit-export-result', '/api/audit/export/checkpoint', {filter: auditFilter});
  if (!data) return;
  el('audit-export-result').hidden = true;
  const file = el('audit-export-file'), manifest = el('audit-export-manifest');
  file.href = withQuery('/api/audit/export', {format, upto: data.upto});
  file.textContent = `download ${format.toUpperCase()} (${data.count} record${data.count === 1 ? '' : 's'})`;
  file.dataset.count = String(data.count);
  file.setAttribute('download', `decorum-audit-${data.upto}.${format}`);
  manifest.href = withQuery('/api/audit/export/manifest', {format, upto: data.upto});
  manifest.setAttribute('download', `decorum-audit-${data.upto}.${format}.manifest.json`);
  el('audit-export-note').textContent = `pinned to the signed checkpoint at seq ${data.upto}; check both with: decorum audit verify --export FILE`;
  el('audit-export-links').hidden = false;
}

function showPane(pane) {
  auditPane = pane;
  for (const b of document.querySelectorAll('[data-audit-tab]')) {
    b.classList.toggle('active', b.dataset.auditTab === pane);
    b.setAttribute('aria-pressed', String(b.dataset.auditTab === pane));
  }
  for (const d of document.querySelectorAll('[data-audit-pane]')) d.hidden = d.dataset.auditPane !== pane;
}

// --- the review queue ---
const REPORTS_SAMPLE = 'false-positives';  // the askers' "This was wrong" reports (decorum.audit.review)
async function loadSamples() {
  const {data} = await api('/api/audit/reviews');
  el('rv-samples').replaceChildren(...data.samples.map(x => {
    const a = link(x.sample, auditHash('/review/' + encodeURIComponent(x.sample))); a.dataset.sample = x.sample;
    return row([a, when(x.drawn_at), x.size, x.marked, x.agree, x.disagree, x.reviewers.join(', ')]);
  }));
  if (reviewSample) await openSample(reviewSample);
}

// "input: toxicity 0.9120 ✗, bias 0.0100; output: …" (✗: failed)
const checkText = cs => ['input', 'first_output', 'output'].map(stage => {
  const here = cs.filter(c => c.stage === stage);
  return here.length ? `${stage.replace('_', ' ')}: ` + here.map(c => `${c.check} ${score(c.score)}${c.passed ? '' : ' ✗'}`).join(', ') : '';
}).filter(Boolean).join('; ');

async function openSample(sample) {
  const {status, data} = await api('/api/audit/reviews/' + encodeURIComponent(sample));
  if (status !== 200) throw new Error(data.error);
  reviewSample = sample;
  const sum = data.summary;
  el('rv-title').textContent = `Sample ${sample}: ${sum.marked} of ${sum.size} marked (${sum.agree} agree, ${sum.disagree} disagree)`;
  el('rv-export').href = `/api/audit/reviews/${encodeURIComponent(sample)}/export.csv`;
  el('rv-export-labelled').hidden = sample !== REPORTS_SAMPLE;
  el('rv-items').replaceChildren(...data.items.map(item => {
    const record = document.createElement('div');
    const a = link(item.note_id, recordHash(item.note_id), 'mono');
    record.append(a, txt('br'), txt('span', item.verdict, 'verdict ' + item.verdict), ` · ${item.action || '-'} · ${item.template || 'no template'}`);
    const comment = document.createElement('input'); comment.className = 'rv-comment'; comment.maxLength = 2000; comment.value = item.comment;
    comment.placeholder = 'your own words'; comment.setAttribute('aria-label', `comment on ${item.note_id}`);
    const buttons = document.createElement('span'); buttons.className = 'decide';
    const reports = sample === REPORTS_SAMPLE;  // agree: the block was right; disagree: it was a false positive
    for (const mk of ['agree', 'disagree']) {
      const words = reports ? (mk === 'agree' ? 'Block was right' : 'Block was wrong') : (mk === 'agree' ? 'Agree' : 'Disagree');
      const b = txt('button', words, 'rv-' + mk); b.type = 'button'; b.dataset.perm = 'audit.review';
      b.setAttribute('aria-label', `${words}: ${item.note_id}`);
      b.onclick = () => markItem(sample, item.note_id, mk, comment.value);
      buttons.append(b, ' ');
    }
    let checks = checkText(item.checks);
    if (item.report) checks += ` · reported via ${item.report.surface} ${when(item.report.reported_at)}`;
    const texts = document.createElement('div'); texts.className = 'texts';
    if (item.report && item.report.text_kept) texts.append(txt('span', `text: “${item.report.text}”`, 'kept-text'));  // the asker chose to send it
    else if (item.texts_kept && item.texts_kept.length) {
      const shown = document.createElement('div'); shown.id = 'rv-text-' + item.note_id; shown.hidden = true;
      texts.append(revealButton(item.note_id, item.texts_kept, shown), shown);
    } else texts.append(txt('span', 'not kept', 'notice'));
    const mark = document.createElement('span');
    mark.append(txt('span', item.mark || 'unmarked', 'mark ' + (item.mark || 'unmarked')), item.reviewer ? ` by ${item.reviewer}` : '');
    const time = txt('span', when(item.created_at)); time.title = item.created_at || '';
    const tr = row([time, record, checks, texts, mark, comment, buttons]);
    tr.dataset.note = item.note_id;
    return tr;
  }));
  el('rv-sample').hidden = false;
}

async function markItem(sample, noteId, mk, comment) {
  const data = await post('rv-mark-result', `/api/audit/reviews/${encodeURIComponent(sample)}/${encodeURIComponent(noteId)}`, {mark: mk, comment});
  if (!data) return;
  say('rv-mark-result', true, `marked ${noteId}: ${data.mark}` + (data.comment ? ' (with a comment)' : ''));
  await loadSamples();
}

// "This was wrong" under a refused playground ask: the same report as Slack's button, for this console user.
// The text is sent nowhere from here: the server kept the refused question briefly and keeps it only if ticked.
function reportForm(report) {
  const box = document.createElement('div'); box.id = 'report';
  const open = link('This was wrong', '#'); open.id = 'report-open';
  const form = document.createElement('form'); form.id = 'report-form'; form.hidden = true;
  const keep = document.createElement('input'); keep.type = 'checkbox'; keep.id = 'report-keep';
  const label = document.createElement('label');
  label.append(keep, ` Keep my message text for the reviewers (deleted after ${report.retention_days} days)`);
  const send = txt('button', 'Send report'); send.type = 'submit'; send.id = 'report-send';
  form.append(txt('p', 'A report goes to the auditors\' review queue with the check that stopped your question and its score, ' +
    'under your pseudonym. Your text is not sent unless you tick the box.', 'notice'), label, ' ', send);
  const result = txt('p', '', 'result'); result.id = 'report-result'; result.setAttribute('role', 'status'); result.hidden = true;
  open.onclick = e => { e.preventDefault(); form.hidden = false; };
  form.onsubmit = async e => {
    e.preventDefault();
    const data = await attempt('report-result', report.url, {method: 'POST', body: {keep_text: keep.checked}});
    if (!data) return;
    say('report-result', true, data.message);
    form.hidden = true; open.hidden = true;
  };
  box.append(open, form, result);
  return box;
}

function auditForms() {
  el('audit-filter').onsubmit = e => { e.preventDefault(); auditFilter = readFilter(); auditKey = null; go(auditHash()); };
  el('af-range').onchange = () => { el('af-custom').hidden = el('af-range').value !== 'custom'; };
  el('af-reset').onclick = () => { el('audit-filter').reset(); el('af-custom').hidden = true; auditFilter = {}; auditKey = null; go('#/audit'); };
  el('audit-older').onclick = () => { auditCursors.push(Number(el('audit-older').dataset.next)); auditPage().catch(refused); };
  el('audit-newer').onclick = () => { if (auditCursors.length > 1) auditCursors.pop(); auditPage().catch(refused); };
  for (const b of document.querySelectorAll('[data-audit-tab]')) {
    b.onclick = () => go(auditHash(b.dataset.auditTab === 'records' ? '' : '/' + b.dataset.auditTab));
  }
  el('audit-export-csv').onclick = () => prepareExport('csv');
  el('audit-export-jsonl').onclick = () => prepareExport('jsonl');
  el('ref-search').onsubmit = async e => {
    e.preventDefault();
    el('ref-result').hidden = true;
    const found = await attempt('ref-result', '/api/audit/find?ref=' + encodeURIComponent(el('ref-q').value));
    if (!found) return;
    auditFilter = {}; auditKey = null;
    go('#/audit/record/' + encodeURIComponent(found.id));
  };
  el('rv-draw').onsubmit = async e => {
    e.preventDefault();
    const data = await post('rv-draw-result', '/api/audit/reviews', {filter: auditFilter, n: Number(el('rv-n').value)});
    if (!data) return;
    say('rv-draw-result', true, `drew sample ${data.sample}: ${data.summary.size} record${data.summary.size === 1 ? '' : 's'}` +
      (data.summary.size < Number(el('rv-n').value) ? ' (all that match the filter)' : ''));
    go(auditHash('/review/' + encodeURIComponent(data.sample)));
  };
}

// --- users ---------------------------------------------------------------------------------------------------
async function loadUsers() {
  const {data} = await api('/api/users');
  el('users').replaceChildren(...data.map(u => {
    const self = me && u.name === me.user;
    const btn = txt('button', 'Revoke', 'danger'); btn.type = 'button'; btn.disabled = !u.active || self;
    btn.dataset.user = u.name;
    btn.setAttribute('aria-label', `Revoke ${u.name}`);
    if (self) btn.title = 'you cannot revoke yourself: another admin can';
    btn.onclick = async () => {
      if (!confirm(`Revoke ${u.name}?`)) return;
      hideToken();  // a token shown once is not left on screen once anything changes
      const done = await post('users-result', `/api/users/${encodeURIComponent(u.name)}/revoke`, {});
      if (done) say('users-result', true, `revoked ${done.name}: their token and sessions no longer work`);
      await loadUsers();
    };
    const tr = row([u.name + (self ? ' (you)' : ''), u.role, u.active ? 'active' : 'revoked ' + when(u.revoked_at), when(u.last_used_at) || 'never', btn]);
    tr.dataset.user = u.name;
    return tr;
  }));
}
function hideToken() { const p = el('new-token'); p.replaceChildren(); p.hidden = true; }

// --- models: every version, one whole (card, loss curve, evaluation, routing), promote and retire ---------------
let model = null;  // the version open in the detail pane
const modelPath = (...parts) => '/api/models/' + parts.map(x => encodeURIComponent(String(x))).join('/');

async function loadModels(rest = []) {
  const {data} = await api('/api/models');
  el('models').replaceChildren(...data.map(m => {
    const a = link(`${m.name} v${m.version}`, `#/models/${encodeURIComponent(m.name)}/${m.version}`); a.dataset.model = `${m.name}@${m.version}`;
    const tr = row([a, m.version, txt('span', m.stage, 'stage ' + m.stage), m.domain, m.template, num(m.eval_loss), num(m.router_threshold), when(m.created_at)]);
    tr.dataset.model = `${m.name}@${m.version}`;
    return tr;
  }));
  const [name, version] = rest;
  if (name && version) await openModel(name, version); else { el('model').hidden = true; model = null; }
}

async function openModel(name, version) {
  const {status, data} = await api(modelPath(name, version));
  if (status !== 200) { refused(new Error(data.error)); return; }
  model = data.summary;
  const m = data.summary, c = data.card, t = c.training || {}, d = c.data || {}, st = c.settings || {};
  el('md-title').textContent = `${m.name} v${m.version}`;
  el('md-stage').textContent = `${m.stage}` + (m.stage === 'production' ? ': routing uses this version' : m.stage === 'retired' ? ': withdrawn for good' : ': not used by routing');
  el('md-stage').className = 'current stage ' + m.stage;
  el('md-summary').replaceWith(dl('md-summary', [['domain', m.domain], ['template it was trained under', m.template], ['base model', m.base],
    ['training pairs', m.train_pairs], ['kept epoch / eval loss', t.best_epoch != null ? `${t.best_epoch} / ${num(t.best_eval_loss)}` : null],
    ['adapter sha256', m.sha256], ['registered', `${when(m.created_at)} by ${m.created_by}`]]));
  el('md-promote').disabled = m.stage === 'production' || m.stage === 'retired';
  el('md-retire').disabled = m.stage === 'retired';
  el('md-change-result').hidden = true;
  el('md-loss').src = modelPath(name, version, 'loss.svg');
  el('md-loss').alt = `Train and eval loss per epoch of ${m.name} v${m.version}` + (t.best_epoch != null ? `; epoch ${t.best_epoch} kept` : '');
  const ev = data.evaluation;
  el('md-eval').replaceChildren(...(ev ? [dl('md-eval-figures', [['questions', ev.questions], ['engine', ev.engine], ['token F1', num(ev.token_f1)],
    ['ROUGE-L', num(ev.rouge_l)], ['key-fact recall', num(ev.key_fact_recall)]]),
  txt('p', 'decorum compare puts these next to the prompt-engineering strategies on the serving engine (decorum compare --out report.html).', 'notice'),
  ...(ev.examples && ev.examples.length ? [table(['question', 'its answer', 'reference'], ev.examples.map(x => row([x.question, x.answer, x.reference])), 'md-examples')] : [])]
    : [txt('p', 'No test split was given when this version was trained.', 'notice')]));
  const cmp = data.compare;
  el('md-compare').replaceChildren(...(cmp ? [txt('p', (cmp.winner || {}).statement || '', 'current'),
    table(['strategy', 'token F1', 'ROUGE-L', 'key-fact recall', 'guardrail pass', 'p50 ms', 'p95 ms', 'right', 'not sure', 'wrong'],
      Object.entries(cmp.strategies).map(([k, v]) => { const tr = row([k.replaceAll('_', ' '), num(v.token_f1), num(v.rouge_l), num(v.key_fact_recall),
        pct(v.guardrail_pass_rate), num(v.latency_ms_p50, 0), num(v.latency_ms_p95, 0), v.right, v.not_sure, v.wrong]); tr.dataset.strategy = k; return tr; }),
      'md-compare-table'),
    txt('p', `${(cmp.test || {}).questions} questions; engine ${(cmp.engine || {}).engine || '-'} ${(cmp.engine || {}).precision || ''}; kept ${when(cmp.stored_at)}.`, 'notice'),
    link('Download the whole report (HTML, with charts and examples)', modelPath(name, version, 'compare.html'))]
    : [txt('p', 'No compare report kept with this version: run decorum compare --register (it measures this version against prompt engineering on the test split).', 'notice')]));
  const r = data.router, served = data.served;
  el('md-router').replaceChildren(dl('md-router-figures', [['threshold', r ? num(r.threshold, 4) : null], ['method', r ? r.method : null],
    ['in-domain questions routed here', r ? pct(r.in_domain_routed) : null], ['general requests kept away', r ? pct(r.general_rejected) : null],
    ['balanced accuracy', r ? pct(r.balanced_accuracy) : null],
    ['calibrated on', r && r.calibration_sizes ? `${r.calibration_sizes.in_domain_eval} in-domain, ${r.calibration_sizes.general} general (${r.calibration_file})` : null],
    ['answers it gave (audit log)', `${served.records}` + (served.records ? ` (${Object.entries(served.verdicts).map(([k, v]) => `${k} ${v}`).join(', ')}; block rate ${pct(served.block_rate)})` : '')]]));
  el('md-card').replaceChildren(dl('md-card-figures', [['command', c.command], ['data', d.file ? `${d.file} (${d.train_pairs} train, ${d.eval_pairs} eval pairs)` : null],
    ['hyperparameters', st.lora_r != null ? `LoRA r=${st.lora_r}, alpha ${st.lora_alpha}, dropout ${st.lora_dropout}; lr ${st.lr} (${st.schedule}), batch ${st.batch_size}, at most ${st.epochs} epochs, seed ${st.seed}` : null],
    ['training', t.epochs_run != null ? `${t.epochs_run} epoch(s) in ${num(t.seconds / 60, 1)} min on ${t.machine}` : null]]));
  el('md-history').replaceChildren(...data.history.slice().reverse().map(e => row([when(e.at), e.action, e.actor, e.reason])));
  el('md-markdown').textContent = data.card_markdown || '(no MODEL_CARD.md beside this version)';
  el('model').hidden = false;
}

async function changeModel(verb) {
  const reason = el('md-reason').value.trim();
  if (!reason) { say('md-change-result', false, 'Give a reason first: it is recorded with the change.'); el('md-reason').focus(); return; }
  if (verb === 'retire' && !confirm(`Retire ${model.name} v${model.version} for good?`)) return;
  const data = await post('md-change-result', modelPath(model.name, model.version, verb), {reason});
  if (!data) return;
  el('md-reason').value = '';
  await loadModels([data.name, data.version]);
  say('md-change-result', true, `${data.name} v${data.version} is now ${data.stage} (was ${data.from_stage})`);
}

function modelForms() {
  el('md-change').onsubmit = e => { e.preventDefault(); changeModel('promote').catch(refused); };
  el('md-retire').onclick = () => changeModel('retire').catch(refused);
}

// --- templates: list, versions, edit, diff, publish, roll back, tests ---------------------------------------
let tpl = null;  // the history of the template open in the detail pane
const path = (...parts) => '/api/templates/' + parts.map(encodeURIComponent).join('/');
const STATUS = {400: '400 Refused', 401: '401 Unauthorised', 403: '403 Forbidden', 404: '404 Not found', 409: '409 Refused', 413: '413 Too large', 415: '415 Refused', 422: '422 Refused'};

function say(id, ok, text) {
  const p = el(id); p.textContent = text; p.className = 'result ' + (ok ? 'ok' : 'refused'); p.hidden = false;
}
// A call whose refusal (any 4xx/5xx) is shown in `resultId` as the server worded it; null when refused.
async function attempt(resultId, url, opts) {
  try {
    const {status, data} = await api(url, opts);
    if (status >= 400) { say(resultId, false, `${STATUS[status] || 'HTTP ' + status}: ${data.error}`); return null; }
    return data;
  } catch (err) {
    say(resultId, false, err instanceof Refused ? `${STATUS[err.status]}: ${err.message}` : 'Something went wrong: ' + err.message);
    return null;
  }
}
const post = (resultId, url, body) => attempt(resultId, url, {method: 'POST', body});

function checksText(checks) {
  if (!checks) return 'unchecked';
  if (checks.passed) return 'ok';
  const failed = checks.results.filter(r => !r.passed).map(r => `${r.check} on ${r.field}`);
  return 'FAILED: ' + [...new Set(failed)].join(', ');
}

async function loadTemplates() {
  const {data} = await api('/api/templates');
  el('templates').replaceChildren(...data.map(t => {
    const link = txt('a', t.name); link.href = '#/templates/' + encodeURIComponent(t.name); link.dataset.template = t.name;
    const labels = Object.entries(t.labels).map(([k, v]) => `${k} v${v}`).join(', ');
    return row([link, t.production ? 'v' + t.production : 'unpublished', 'v' + t.latest, labels || '-', t.description]);
  }));
  if (tpl) await openTemplate(tpl.name, {editor: false});
}

// Fill a version picker; `keep`: the person's choice stays (a refresh after a label moved, same versions).
function versionOptions(select, chosen, keep) {
  if (keep && select.value) chosen = Number(select.value);
  select.replaceChildren(...tpl.versions.map(v => {
    const o = txt('option', 'v' + v.version + (v.labels.length ? ` (${v.labels.join(', ')})` : ''));
    o.value = String(v.version); o.selected = v.version === chosen; return o;
  }));
}

async function openTemplate(name, {editor}) {
  const {data} = await api(path(name));
  const keep = !!tpl && tpl.name === name && tpl.latest === data.latest;
  tpl = data;
  el('tpl').hidden = false;
  el('tpl-title').textContent = `${data.name}: production ${data.production ? 'v' + data.production : 'unpublished'}, latest v${data.latest}`;
  el('tpl-description').textContent = data.description;
  el('tpl-versions').replaceChildren(...data.versions.slice().reverse().map(v => {
    const link = txt('a', 'v' + v.version); link.href = '#'; link.title = 'load this version into the editor';
    link.onclick = e => { e.preventDefault(); loadVersion(v.version).catch(refused); };
    const checks = txt('span', checksText(v.checks), v.checks && !v.checks.passed ? 'fail' : '');
    const tests = v.tests ? txt('span', v.tests.passed ? 'passed' : 'FAILED', v.tests.passed ? 'pass' : 'fail') : '-';
    const tr = row([link, v.labels.join(', ') || '-', v.author, when(v.created_at), v.message, checks, tests]);
    tr.dataset.version = String(v.version);
    if (v.archived_at) tr.classList.add('archived');
    return tr;
  }));
  const latest = data.latest, previous = data.versions.length > 1 ? data.versions[data.versions.length - 2].version : latest;
  versionOptions(el('tpl-diff-a'), data.production && data.production !== latest ? data.production : previous, keep);
  versionOptions(el('tpl-diff-b'), latest, keep);
  versionOptions(el('tpl-pub-version'), latest, keep);
  versionOptions(el('tpl-test-version'), latest, keep);
  el('tpl-events').replaceChildren(...data.events.slice().reverse().map(e => row([when(e.at), e.action + (e.override ? ' (override)' : ''),
    e.label || '', e.from_version ? `v${e.from_version} → v${e.version}` : 'v' + e.version, e.actor, e.reason || e.message || ''])));
  if (editor) await loadVersion(latest);
}

async function loadVersion(version) {
  const {data} = await api(path(tpl.name, 'versions', version));
  el('tpl-yaml').value = data.yaml;
  el('tpl-base').textContent = `(from v${data.version}, saved as a new version)`;
  const last = data.test_runs[data.test_runs.length - 1];
  if (last) showRun(last); else { el('tpl-tests-table').hidden = true; }
}

function showRun(run) {
  el('tpl-tests').replaceChildren(...run.results.map(r => row([r.case, r.question, r.verdict,
    txt('span', r.passed ? 'pass' : 'FAIL', r.passed ? 'pass' : 'fail'), r.failures.join('; '), (r.answer || '').slice(0, 300)])));
  el('tpl-tests-table').hidden = false;
}

// The side-by-side rows (and the unified text) of a diff answer in `${prefix}-diff-*`; the number of changed rows.
function diffTable(prefix, data, leftTitle, rightTitle) {
  if (!data) { el(prefix + '-diff-table').hidden = true; el(prefix + '-unified-box').hidden = true; return 0; }
  el(prefix + '-diff-left').textContent = leftTitle; el(prefix + '-diff-right').textContent = rightTitle;
  el(prefix + '-diff-rows').replaceChildren(...data.rows.map(r => {
    const tr = row([r.left_no, r.left, r.right_no, r.right]);
    tr.className = r.kind;
    const [, left, , right] = tr.children;
    left.className = 'code' + (r.kind === 'delete' || r.kind === 'replace' ? ' del' : '');
    right.className = 'code' + (r.kind === 'insert' || r.kind === 'replace' ? ' add' : '');
    return tr;
  }));
  el(prefix + '-unified').textContent = data.unified;
  el(prefix + '-diff-table').hidden = false; el(prefix + '-unified-box').hidden = data.same;
  return data.rows.filter(r => r.kind !== 'equal').length;
}

async function showDiff(a, b) {
  const data = await attempt('tpl-diff-result', path(tpl.name, 'diff') + `?a=${a}&b=${b}`);
  const changed = diffTable('tpl', data, `${tpl.name}@${a}`, `${tpl.name}@${b}`);
  if (!data) return;
  say('tpl-diff-result', true, data.same ? `v${a} and v${b} have the same content` : `${changed} line(s) differ between v${a} and v${b}`);
}

function templateForms() {
  el('tpl-new-open').onclick = () => { el('tpl-new').hidden = !el('tpl-new').hidden; };
  el('tpl-new').onsubmit = async e => {
    e.preventDefault();
    const name = el('tpl-new-name').value.trim();
    const data = await post('tpl-new-result', '/api/templates', {name, yaml: el('tpl-new-yaml').value, message: el('tpl-new-message').value});
    if (!data) return;
    say('tpl-new-result', !(data.checks && !data.checks.passed), `created ${data.ref} (checks ${checksText(data.checks)}); not published yet`);
    el('tpl-new-message').value = '';
    tpl = {name};
    await loadTemplates();
    await loadVersion(data.version);
  };
  el('tpl-edit').onsubmit = async e => {
    e.preventDefault();
    const data = await post('tpl-edit-result', path(tpl.name, 'versions'), {yaml: el('tpl-yaml').value, message: el('tpl-message').value});
    if (!data) return;
    const failed = data.checks && !data.checks.passed;
    say('tpl-edit-result', !failed, `saved ${data.ref} (checks ${checksText(data.checks)})` +
      (failed ? '; a draft: publishing it needs an admin override with a reason' : '; not published yet'));
    el('tpl-message').value = '';
    await loadTemplates();
    await loadVersion(data.version);
  };
  el('tpl-diff').onsubmit = async e => { e.preventDefault(); await showDiff(el('tpl-diff-a').value, el('tpl-diff-b').value); };
  el('tpl-publish').onsubmit = async e => {
    e.preventDefault();
    const body = {version: Number(el('tpl-pub-version').value), label: el('tpl-pub-label').value.trim(),
      reason: el('tpl-pub-reason').value, override: el('tpl-pub-override').checked};
    const data = await post('tpl-publish-result', path(tpl.name, 'publish'), body);
    if (!data) return;
    say('tpl-publish-result', true, `published: ${data.label} → ${data.ref}` + (data.from_version ? ` (was v${data.from_version})` : '') +
      (data.override ? ', checks overridden' : ''));
    el('tpl-pub-reason').value = ''; el('tpl-pub-override').checked = false;
    await loadTemplates();
  };
  el('tpl-rollback').onsubmit = async e => {
    e.preventDefault();
    const data = await post('tpl-rollback-result', path(tpl.name, 'rollback'), {label: el('tpl-rb-label').value.trim(), reason: el('tpl-rb-reason').value});
    if (!data) return;
    say('tpl-rollback-result', true, `rolled back: ${data.label} → ${data.ref} (was v${data.from_version})`);
    el('tpl-rb-reason').value = '';
    await loadTemplates();
  };
  el('tpl-test').onsubmit = async e => {
    e.preventDefault();
    el('tpl-tests-table').hidden = true;
    say('tpl-test-result', true, 'Running the test cases…');
    const run = await post('tpl-test-result', path(tpl.name, 'test'), {version: Number(el('tpl-test-version').value)});
    if (!run) return;
    const ok = run.results.filter(r => r.passed).length;
    say('tpl-test-result', run.passed, `${tpl.name}@${run.version}: ${ok}/${run.results.length} cases passed` + (run.results.length ? '' : ' (it has no test cases)'));
    showRun(run);
    await loadTemplates();
  };
}

// --- knowledge: list, one entry, versions, add, edit, diff, publish, roll back ------------------------------
let kn = null;  // the history of the entry open in the detail pane
const knPath = (...parts) => '/api/knowledge/' + parts.map(encodeURIComponent).join('/');
const waiting = e => e.published == null || e.latest > e.published;  // a draft newer than what is served

async function loadKnowledge() {
  const domain = el('kn-domain').value;
  const {data} = await api('/api/knowledge' + (domain ? '?domain=' + encodeURIComponent(domain) : ''));
  if (!domain) {  // the domains of the whole list, for the filter
    const all = txt('option', 'all'); all.value = '';
    el('kn-domain').replaceChildren(all, ...[...new Set(data.map(e => e.domain))].sort().map(d => txt('option', d)));
  }
  el('knowledge').replaceChildren(...data.map(e => {
    const link = txt('a', e.id); link.href = '#/knowledge/' + encodeURIComponent(e.id); link.dataset.entry = e.id;
    const tr = row([link, e.published ? 'v' + e.published : 'unpublished', 'v' + e.latest + (waiting(e) ? ' (draft)' : ''), e.domain, e.title]);
    tr.dataset.entry = e.id;
    if (waiting(e)) tr.classList.add('draft');
    return tr;
  }));
  const drafts = data.filter(waiting).length;
  el('kn-count').textContent = `${data.length} entries, ${drafts} with a draft waiting to be published`;
  if (kn) await openEntry(kn.id, {editor: false});
}

function knVersionOptions(select, chosen, keep) {
  if (keep && select.value) chosen = Number(select.value);
  select.replaceChildren(...kn.versions.map(v => {
    const o = txt('option', 'v' + v.version + (v.version === kn.published ? ' (published)' : ''));
    o.value = String(v.version); o.selected = v.version === chosen; return o;
  }));
}

async function openEntry(id, {editor}) {
  const {status, data} = await api(knPath(id, 'history'));
  if (status !== 200) throw new Error(data.error);
  const keep = !!kn && kn.id === id && kn.latest === data.latest;
  if (!kn || kn.id !== id) for (const r of ['kn-edit-result', 'kn-publish-result', 'kn-rollback-result', 'kn-diff-result', 'kn-edit-checks']) el(r).hidden = true;
  kn = data;
  el('kn').hidden = false;
  el('kn-versions').replaceChildren(...data.versions.slice().reverse().map(v => {
    const link = txt('a', 'v' + v.version); link.href = '#'; link.title = 'show this version and load it into the editor';
    link.onclick = e => { e.preventDefault(); showEntryVersion(v.version, {editor: true}).catch(refused); };
    const tr = row([link, v.state, v.author, when(v.created_at), v.message, txt('span', checksText(v.checks), v.checks && !v.checks.passed ? 'fail' : '')]);
    tr.dataset.version = String(v.version);
    return tr;
  }));
  const latest = data.latest, previous = data.versions.length > 1 ? data.versions[data.versions.length - 2].version : latest;
  knVersionOptions(el('kn-diff-a'), data.published && data.published !== latest ? data.published : previous, keep);
  knVersionOptions(el('kn-diff-b'), latest, keep);
  knVersionOptions(el('kn-pub-version'), latest, keep);
  const stack = data.stack;
  el('kn-rb-move').textContent = stack.length >= 2 ? `v${stack[stack.length - 1]} → v${stack[stack.length - 2]}` : 'no earlier published version';
  el('kn-events').replaceChildren(...data.events.slice().reverse().map(e => row([when(e.at), e.action + (e.override ? ' (override)' : ''),
    e.from_version ? `v${e.from_version} → v${e.version}` : 'v' + e.version, e.actor, e.reason || e.message || ''])));
  await showEntryVersion(null, {editor});
}

// One version in the pane (null: the published one, else the latest); `editor`: its fields into the edit form.
async function showEntryVersion(version, {editor}) {
  const {status, data} = await api(knPath(kn.id) + (version ? `?version=${version}` : ''));
  if (status !== 200) throw new Error(data.error);
  el('kn-title').textContent = data.title;
  el('kn-state').textContent = `${data.id} v${data.version}: ${data.state} · published ${data.published ? 'v' + data.published : 'none'} · latest v${data.latest}`;
  el('kn-meta').textContent = [`domain ${data.domain}`, data.topic ? `topic ${data.topic}` : '', `by ${data.author} at ${when(data.created_at)}` +
    (data.message ? `: ${data.message}` : ''), `sha256 ${data.sha256.slice(0, 12)}`].filter(Boolean).join(' · ');
  el('kn-body').textContent = data.body;
  const results = data.checks ? data.checks.results : [];
  el('kn-checks').replaceChildren(...(results.length ? results.map(c => {
    const tr = row([c.field, c.check, score(c.score), c.threshold, txt('span', c.passed ? 'pass' : 'FAIL', c.passed ? 'pass' : 'fail')]);
    tr.dataset.check = c.check; tr.dataset.field = c.field; return tr;
  }) : [row(['', data.checks ? 'no checks ran' : 'unchecked (seeded, or saved without the checks)', '', '', ''])]));
  if (!editor) return;
  for (const f of ['title', 'topic', 'domain', 'body']) el('kn-edit-' + f).value = data[f];
  el('kn-base').textContent = `(from v${data.version}; saved as v${kn.latest + 1}, a draft until published)`;
  el('kn-edit').dataset.base = String(kn.latest);
}

// The failing checks of a refused save, beside its form.
function refusedChecks(id, checks) {
  const table = document.createElement('table');
  const head = document.createElement('thead'); head.append(row(['field', 'check', 'score', 'threshold']));
  for (const td of head.querySelectorAll('td')) td.replaceWith(txt('th', td.textContent));
  const body = document.createElement('tbody');
  body.replaceChildren(...checks.map(c => { const tr = row([c.field, c.check, score(c.score), c.threshold]); tr.dataset.check = c.check; return tr; }));
  table.append(head, body);
  el(id).replaceChildren(txt('p', 'The guardrail checks refused this entry; nothing was saved.'), table,
    txt('p', 'Reword the entry and save again (an admin may save it over the checks, with a reason).', 'notice'));
  el(id).hidden = false;
}

// A save whose refusal is shown in `${prefix}-result` (and, for failed checks, `${prefix}-checks`); null when refused.
async function saveEntry(prefix, url, body) {
  el(prefix + '-checks').hidden = true;
  const over = el(prefix + '-override').checked, reason = el(prefix + '-reason').value.trim();
  const {status, data} = await api(url, {method: 'POST', body: {...body, message: el(prefix + '-message').value, override: over, reason}})
    .catch(err => ({status: err.status || 0, data: {error: err.message}}));
  if (status === 201) {
    el(prefix + '-message').value = ''; el(prefix + '-reason').value = ''; el(prefix + '-override').checked = false;
    return data;
  }
  say(prefix + '-result', false, `${STATUS[status] || 'HTTP ' + status}: ${data.error}`);
  if (status === 422) refusedChecks(prefix + '-checks', data.checks);
  return null;
}

const savedText = d => `saved ${d.ref} (checks ${checksText(d.checks)})` +
  (d.checks && !d.checks.passed ? '; publishing it needs an admin override with a reason' : '; a draft: not published yet');

function knowledgeForms() {
  el('kn-domain').onchange = () => { kn = null; el('kn').hidden = true; loadKnowledge().catch(refused); };
  el('kn-filter').onsubmit = e => e.preventDefault();
  el('kn-new-open').onclick = () => { el('kn-new-box').hidden = !el('kn-new-box').hidden; };
  el('kn-new').onsubmit = async e => {
    e.preventDefault();
    const body = {id: el('kn-new-id').value.trim()};
    for (const f of ['title', 'topic', 'domain', 'body']) body[f] = el('kn-new-' + f).value;
    const data = await saveEntry('kn-new', '/api/knowledge', body);
    if (!data) return;
    say('kn-new-result', true, savedText(data));
    for (const f of ['id', 'title', 'topic', 'body']) el('kn-new-' + f).value = '';
    kn = null;
    await loadKnowledge();
    await openEntry(data.id, {editor: true});
  };
  el('kn-edit').onsubmit = async e => {
    e.preventDefault();
    const body = {base: Number(el('kn-edit').dataset.base)};
    for (const f of ['title', 'topic', 'domain', 'body']) body[f] = el('kn-edit-' + f).value;
    const data = await saveEntry('kn-edit', knPath(kn.id, 'versions'), body);
    if (!data) return;
    say('kn-edit-result', true, savedText(data));
    await loadKnowledge();
    await showEntryVersion(data.version, {editor: true});
  };
  el('kn-diff').onsubmit = async e => {
    e.preventDefault();
    const a = el('kn-diff-a').value, b = el('kn-diff-b').value;
    const data = await attempt('kn-diff-result', knPath(kn.id, 'diff') + `?a=${a}&b=${b}`);
    const changed = diffTable('kn', data, `${kn.id}@${a}`, `${kn.id}@${b}`);
    if (!data) return;
    say('kn-diff-result', true, data.same ? `v${a} and v${b} have the same content` : `${changed} line(s) differ between v${a} and v${b}`);
  };
  el('kn-publish').onsubmit = async e => {
    e.preventDefault();
    const body = {version: Number(el('kn-pub-version').value), reason: el('kn-pub-reason').value, override: el('kn-pub-override').checked};
    const data = await post('kn-publish-result', knPath(kn.id, 'publish'), body);
    if (!data) return;
    say('kn-publish-result', true, `published ${data.ref}` + (data.from_version ? ` (was v${data.from_version})` : '') +
      (data.override ? ', checks overridden' : '') + '; answers cite it from now on');
    el('kn-pub-reason').value = ''; el('kn-pub-override').checked = false;
    await loadKnowledge();
  };
  el('kn-rollback').onsubmit = async e => {
    e.preventDefault();
    const data = await post('kn-rollback-result', knPath(kn.id, 'rollback'), {reason: el('kn-rb-reason').value});
    if (!data) return;
    say('kn-rollback-result', true, `rolled back: ${data.ref} is published again (was v${data.from_version})`);
    el('kn-rb-reason').value = '';
    await loadKnowledge();
  };
}

// --- policy & routing: what applies, change (thresholds or the YAML overlay), versions, test, publish, roll back --
let pol = null;  // the last GET /api/policy
const live = v => v == null ? 'the configuration file alone' : 'live@' + v;

function kv(tbody, pairs) {
  tbody.replaceChildren(...pairs.map(([k, v]) => { const tr = row([k, v]); tr.firstChild.replaceWith(txt('th', k)); return tr; }));
}
const matchText = m => Object.entries(m).filter(([, v]) => v != null).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`).join('; ') || 'anything';

// Fill a version picker; `keep`: the person's choice stays when the list of versions did not change.
function policyVersionOptions(select, chosen, keep) {
  if (keep && select.value) chosen = Number(select.value);
  select.replaceChildren(...pol.versions.map(v => {
    const o = txt('option', 'v' + v.version + (v.version === pol.active ? ' (active)' : ''));
    o.value = String(v.version); o.selected = v.version === chosen; return o;
  }));
}

async function loadPolicy({editor}) {
  const {data} = await api('/api/policy');
  const keep = !!pol && pol.versions.length === data.versions.length;
  pol = data;
  const eff = data.effective, applied = data.applied ? data.applied.version : null;
  el('pol-active').textContent = `Active: ${data.active == null ? 'configuration file only' : 'live@' + data.active} · policy ${eff.policy_ref}` +
    (applied !== data.active ? ` (this server still applies ${live(applied)})` : '');
  const checks = Object.entries(eff.policy.checks);
  el('pol-checks').replaceChildren(...checks.map(([name, c]) => {
    const tr = row([name, c.threshold, c.stages.join(', '), c.enabled ? 'yes' : 'no', c.labels.join(', ')]);
    tr.dataset.check = name; return tr;
  }));
  kv(el('pol-actions'), [['on input fail', eff.policy.on_input_fail], ['on output fail', eff.policy.on_output_fail],
    ['max question chars', eff.policy.max_question_chars]]);
  const r = eff.routing;
  kv(el('pol-defaults'), [['default template', r.default_template], ['default strategy', r.default_strategy],
    ['default domain', r.default_domain || '-'], ['semantic routing', r.semantic ? 'on' : 'off']]);
  el('pol-rules').replaceChildren(...(r.rules.length ? r.rules.map((rule, i) => row([i + 1, rule.name, matchText(rule.match), rule.strategy,
    rule.strategy === 'fine_tuned' ? 'domain ' + rule.domain : rule.template])) : [row(['', 'no rules: every question takes the defaults', '', '', ''])]));
  el('pol-quick-fields').replaceChildren(...checks.map(([name, c]) => {
    const label = txt('label', name + ' ');
    const input = document.createElement('input');
    input.id = 'pol-th-' + name; input.type = 'number'; input.step = 'any'; input.value = String(c.threshold);
    input.dataset.check = name; input.dataset.current = String(c.threshold);
    label.append(input); return label;
  }));
  el('pol-versions').replaceChildren(...data.versions.slice().reverse().map(v => {
    const link = txt('a', 'v' + v.version); link.href = '#'; link.title = 'load this version into the editor';
    link.onclick = e => { e.preventDefault(); policyEditor(v); };
    const tests = v.tests ? txt('span', `${v.tests.summary} ${v.tests.passed ? 'ok' : 'FAILED'}`, v.tests.passed ? 'pass' : 'fail') : 'untested';
    const tr = row([link, v.version === data.active ? 'active' : '', v.author, when(v.created_at), v.message, tests, v.sha256.slice(0, 12)]);
    tr.dataset.version = String(v.version);
    if (v.version === data.active) tr.classList.add('active');
    return tr;
  }));
  const latest = data.versions.length ? data.versions[data.versions.length - 1].version : null;
  const previous = data.versions.length > 1 ? data.versions[data.versions.length - 2].version : latest;
  policyVersionOptions(el('pol-test-version'), latest, keep);
  policyVersionOptions(el('pol-pub-version'), latest, keep);
  policyVersionOptions(el('pol-diff-a'), data.active != null && data.active !== latest ? data.active : previous, keep);
  policyVersionOptions(el('pol-diff-b'), latest, keep);
  el('pol-events').replaceChildren(...data.events.slice().reverse().map(e => row([when(e.at), e.action + (e.override ? ' (override)' : ''),
    e.action === 'publish' || e.action === 'rollback' ? `${live(e.from_version)} → ${live(e.version)}` : live(e.version),
    e.actor, e.reason || e.message || ''])));
  if (editor) policyEditor(null);
}

// The YAML editor starts from a version's overlay (`null`: the active one; an empty overlay is the file alone).
function policyEditor(version) {
  const v = version || (pol.active == null ? null : pol.versions.find(x => x.version === pol.active));
  el('pol-yaml').value = v ? v.yaml : pol.yaml;
  el('pol-base').textContent = v ? `(from live@${v.version}${v.version === pol.active ? ', active' : ', not active'}; saved as a new version)`
    : '(the configuration file alone: add the keys to change; saved as a new version)';
}

function showGate(run) {
  el('pol-tests').replaceChildren(...run.results.map(r => row([r.template, r.case, r.question, r.verdict, r.strategy || '-',
    txt('span', r.passed ? 'pass' : 'FAIL', r.passed ? 'pass' : 'fail'), r.failures.join('; ')])));
  el('pol-tests-table').hidden = false;
}

async function policySaved(resultId, body) {
  const data = await post(resultId, '/api/policy', body);
  if (!data) return false;
  say(resultId, true, `saved live@${data.version} (sha256 ${data.sha256.slice(0, 12)}); not active until published`);
  await loadPolicy({editor: false});
  policyEditor(pol.versions.find(v => v.version === data.version) || null);  // the saved configuration, not the old one
  el('pol-test-version').value = el('pol-pub-version').value = String(data.version);
  return true;
}

async function showPolicyDiff(a, b) {
  const data = await attempt('pol-diff-result', `/api/policy/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const changed = diffTable('pol', data, `live@${a}`, `live@${b}`);
  if (!data) return;
  say('pol-diff-result', true, data.same ? `live@${a} and live@${b} have the same content` : `${changed} line(s) differ between live@${a} and live@${b}`);
}

function policyForms() {
  el('pol-quick').onsubmit = async e => {
    e.preventDefault();
    const set = [...el('pol-quick-fields').querySelectorAll('input')].filter(i => i.value.trim() !== i.dataset.current)
      .map(i => `policy.checks.${i.dataset.check}.threshold=${i.value.trim()}`);
    if (!set.length) { say('pol-quick-result', false, 'No threshold changed: edit one before saving.'); return; }
    if (await policySaved('pol-quick-result', {set, message: el('pol-quick-message').value})) el('pol-quick-message').value = '';
  };
  el('pol-edit').onsubmit = async e => {
    e.preventDefault();
    if (await policySaved('pol-edit-result', {yaml: el('pol-yaml').value, message: el('pol-message').value})) el('pol-message').value = '';
  };
  el('pol-test').onsubmit = async e => {
    e.preventDefault();
    const version = el('pol-test-version').value;
    if (!version) { say('pol-test-result', false, 'No version yet: save one first.'); return; }
    el('pol-tests-table').hidden = true;
    say('pol-test-result', true, 'Running the test cases of every production template…');
    const run = await post('pol-test-result', `/api/policy/${encodeURIComponent(version)}/test`, {});
    if (!run) return;
    say('pol-test-result', run.passed, `live@${run.version}: ${run.summary}`);
    showGate(run);
    await loadPolicy({editor: false});
  };
  el('pol-publish').onsubmit = async e => {
    e.preventDefault();
    const version = el('pol-pub-version').value;
    if (!version) { say('pol-publish-result', false, 'No version yet: save one first.'); return; }
    const body = {reason: el('pol-pub-reason').value, override: el('pol-pub-override').checked};
    say('pol-publish-result', true, 'Publishing (the test gate runs first when the version was never tested)…');
    const data = await post('pol-publish-result', `/api/policy/${encodeURIComponent(version)}/publish`, body);
    if (!data) { await loadPolicy({editor: false}); return; }  // a refused publish may have run the gate
    say('pol-publish-result', true, `live@${data.version} active` + (data.override ? ' (test gate overridden)' : '') + `; was ${live(data.from_version)}`);
    el('pol-pub-reason').value = ''; el('pol-pub-override').checked = false;
    await loadPolicy({editor: true});
  };
  el('pol-rollback').onsubmit = async e => {
    e.preventDefault();
    const data = await post('pol-rollback-result', '/api/policy/rollback', {reason: el('pol-rb-reason').value});
    if (!data) return;
    say('pol-rollback-result', true, (data.version == null ? 'the configuration file alone' : `live@${data.version} active`) +
      ` (rolled back from live@${data.from_version})`);
    el('pol-rb-reason').value = '';
    await loadPolicy({editor: true});
  };
  el('pol-diff').onsubmit = async e => { e.preventDefault(); await showPolicyDiff(el('pol-diff-a').value, el('pol-diff-b').value); };
}

document.addEventListener('DOMContentLoaded', () => {
  el('tz').textContent = TZ;
  for (const b of document.querySelectorAll('nav button')) b.onclick = () => go('#/' + b.dataset.view);
  window.addEventListener('hashchange', () => route().catch(refused));
  el('login-form').onsubmit = async e => {
    e.preventDefault();
    el('login-error').hidden = true;
    try {
      const {status, data} = await api('/api/login', {method: 'POST', body: {token: el('token').value}});
      if (status !== 200) throw new Refused(status, data.error);
      el('token').value = '';
      await start();
    } catch (err) { el('login-error').textContent = 'Login refused: ' + err.message; el('login-error').hidden = false; }
  };
  templateForms();
  knowledgeForms();
  policyForms();
  auditForms();
  modelForms();
  el('logout').onclick = async () => { hideToken(); try { await api('/api/logout', {method: 'POST', body: {}}); } catch (e) { /* logged out anyway */ } showLogin(); };
  el('ask').onsubmit = ask;
  el('verify').onclick = async () => {
    try {
      const {data: v} = await api('/api/audit/verify');
      el('verified').textContent = v.ok ? `chain holds (${v.checked} records)` : `BROKEN at ${v.first_bad_id}: ${v.reason}`;
    } catch (e) { refused(e); }
  };
  el('add-user').onsubmit = async e => {
    e.preventDefault();
    try {
      const {status, data} = await api('/api/users', {method: 'POST', body: {name: el('new-name').value, role: el('new-role').value}});
      const p = el('new-token');
      p.replaceChildren(status === 201 ? txt('span', `Token for ${data.name} (shown once): `) : txt('span', data.error),
        status === 201 ? txt('span', data.token, 'token') : '');
      p.hidden = false;
      await loadUsers();
    } catch (err) { refused(err); }
  };
  start();
});
