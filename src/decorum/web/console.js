// The Decorum console. Every call goes to the admin API; the server decides what each role may do, and a
// refusal (401/403) is shown as the server worded it. No inline script: the CSP allows this file only.
'use strict';
const el = id => document.getElementById(id);
const txt = (tag, s, cls) => { const e = document.createElement(tag); e.textContent = s == null ? '' : String(s); if (cls) e.className = cls; return e; };
const row = cells => { const tr = document.createElement('tr'); for (const c of cells) { const td = document.createElement('td'); if (c instanceof Node) td.append(c); else td.textContent = c == null ? '' : String(c); tr.append(td); } return tr; };
let me = null;

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
  el('app').hidden = true; el('whoami').hidden = true; el('login').hidden = false;
}

async function start() {
  try {
    const {data} = await api('/api/me');
    me = data;
  } catch (e) { return; }
  el('login').hidden = true; el('app').hidden = false; el('whoami').hidden = false;
  el('who').textContent = `${me.user} (${me.role})`;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('locked', !me.permissions.includes(b.dataset.perm));
  for (const b of document.querySelectorAll('section button[data-perm]')) {
    const lacks = !me.permissions.includes(b.dataset.perm);
    b.classList.toggle('locked', lacks);  // still clickable: the server refuses, in its own words
    b.title = lacks ? `your role (${me.role}) lacks ${b.dataset.perm}` : '';
  }
  el('new-role').replaceChildren(...me.roles.map(r => txt('option', r)));
  openView(me.permissions.includes('audit.read') ? 'audit' : 'playground');
}

const loaders = {
  playground: async () => {},
  audit: loadAudit,
  templates: loadTemplates,
  knowledge: loadKnowledge,
  policy: () => loadPolicy({editor: true}),
  models: async () => {
    const {data} = await api('/api/models');
    el('models').replaceChildren(...data.map(m => row([m.name, m.version, m.stage, m.domain, (m.sha256 || '').slice(0, 12)])));
  },
  users: loadUsers,
};

async function openView(view) {
  el('refused').hidden = true;
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.view === view);
  for (const s of document.querySelectorAll('section[data-section]')) s.hidden = s.dataset.section !== view;
  try { await loaders[view](); } catch (e) {
    for (const s of document.querySelectorAll('section[data-section]')) s.hidden = true;
    refused(e);
  }
}

// --- audit workbench: filter, pages, one record whole, charts, exports, the review queue ----------------------
const AUDIT_PAGE = 25;
const CHARTS = ['verdicts-over-time', 'strategy-mix', 'block-rate-by-template', 'feedback-by-strategy'];
const SPANS = {'1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3};
let auditFilter = {};   // the filter applied (times absolute, so every link of one view names the same records)
let auditCursors = [];  // the `before` cursor of each page shown so far (null: the newest page)
let auditPane = 'records';
let auditTotal = 0;
let reviewSample = null;

const passed = rs => !rs || !rs.length ? '-' : rs.every(r => r.passed) ? 'ok' : 'FAIL';
const qs = (filter, extra = {}) => new URLSearchParams({...filter, ...extra}).toString();
const withQuery = (path, extra) => { const q = qs(auditFilter, extra); return q ? `${path}?${q}` : path; };

// The filter in the form; a span back from now becomes an absolute `since`.
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

async function loadAudit() {
  auditFilter = readFilter();
  auditCursors = [null];
  el('audit-export-links').hidden = true; el('audit-export-result').hidden = true;
  if (!await auditPage()) return;
  if (auditPane === 'charts') await loadCharts();
  if (auditPane === 'review') await loadSamples();
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
    const link = txt('a', n.id); link.href = '#'; link.dataset.id = n.id;
    link.onclick = e => { e.preventDefault(); showRecord(n.id).catch(refused); };
    const model = m.name ? m.name + (m.adapter ? ` + ${m.adapter.name}@${m.adapter.version}` : '') : '-';
    const tr = row([n.seq, when(n.created_at), link, txt('span', n.verdict, n.verdict), g.action || (n.change ? n.change.kind : '-'),
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
  const table = document.createElement('table'); table.className = 'kv';
  const tbody = document.createElement('tbody'); kv(tbody, shown.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v]));
  table.append(tbody);
  if (id) table.id = id;
  return [txt('h4', title), table];
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
  const table = document.createElement('table'); table.id = 'ad-checks';
  const head = document.createElement('thead'); head.append(row(['stage', 'check', 'score', 'threshold', 'result', 'label', 'scorer', 'why']));
  for (const td of head.querySelectorAll('td')) td.replaceWith(txt('th', td.textContent));
  const body = document.createElement('tbody'); body.replaceChildren(...(rows.length ? rows : [row(['', 'no checks ran', '', '', '', '', '', ''])]));
  table.append(head, body);
  return [txt('h4', `Guardrails (policy ${guard.policy || '?'}${guard.live_config != null ? ', live@' + guard.live_config : ''}): action ${guard.action || '-'}`), table];
}

async function showRecord(id) {
  const {status, data} = await api('/api/audit/' + encodeURIComponent(id));
  if (status !== 200) throw new Error(data.error);
  const n = data.note, v = data.verify, ch = data.chain;
  el('ad-title').textContent = `${n.verdict} · ${n.id} · ${when(n.created_at)} UTC`;
  const ok = el('ad-verify');
  ok.textContent = v.ok ? `verified: seq ${v.seq}, ${v.keyed ? 'keyed hash (HMAC-SHA256 with the chain key)' : 'plain SHA-256 (before the chain key)'}` : `NOT VERIFIED: ${v.reason}`;
  ok.className = v.ok ? 'pass' : 'fail';
  const links = el('ad-chain-links'); links.replaceChildren();
  for (const [label, other] of [['← previous', ch.previous], ['next →', ch.next]]) {
    if (!other) continue;
    const a = txt('a', `${label} (seq ${other.seq})`); a.href = '#'; a.onclick = e => { e.preventDefault(); showRecord(other.id).catch(refused); };
    links.append(a, ' ');
  }
  const s = [], slack = n.slack || {}, route = n.route, tpl = n.template, m = n.model, g = n.guardrails;
  s.push(...kvSection('Who and where', [['surface', n.surface], ['user (pseudonym)', n.user || slack.user], ['pseudonym key', n.pseudonym_key],
    ['Slack workspace', slack.team], ['Slack channel', slack.channel], ['thread', slack.thread_ts], ['schema version', n.schema_version]]));
  const fp = f => f ? [['HMAC-SHA256', f.hmac_sha256], ['characters', f.chars], ['truncated', yesNo(f.truncated)], ['characters checked', f.chars_used], ['text kept', yesNo(f.stored)]] : [];
  s.push(...kvSection('Request (fingerprint, never the text)', fp(n.request), 'ad-request'));
  s.push(...kvSection('Response sent (fingerprint)', fp(n.response)));
  if (route) s.push(...kvSection('Route and reason', [['strategy', route.strategy], ['reason', route.reason], ['rule', route.rule], ['domain', route.domain],
    ['similarity', route.score], ['threshold', route.threshold], ['router', route.router]], 'ad-route'));
  if (tpl) {
    s.push(...kvSection('Template', [['version', `${tpl.name}@${tpl.version}`], ['sha256', tpl.sha256], ['prompt', tpl.variant]], 'ad-template'));
    const hist = data.template_history || [];
    const table = document.createElement('table'); table.id = 'ad-template-history';
    const body = document.createElement('tbody');
    body.replaceChildren(...(hist.length ? hist.map(h => row([when(h.created_at), h.change.kind, h.change.actor, h.change.label || '',
      h.change.reason || h.change.message || '', h.id])) : [row(['', 'no recorded changes of this version (seeded or imported before the log)', '', '', '', ''])]));
    table.append(body);
    s.push(txt('h4', `Edit history of ${tpl.name}@${tpl.version}`), table);
  }
  if (m) s.push(...kvSection('Model', [['name', m.name], ['backend', m.backend], ['engine', m.engine], ['precision', m.precision], ['revision', m.revision],
    ['artifact', m.artifact_revision], ['adapter', m.adapter ? `${m.adapter.name}@${m.adapter.version}` : null], ['adapter sha256', m.adapter ? m.adapter.sha256 : null]], 'ad-model'));
  if (g) s.push(...checksSection(g));
  if (n.streaming) s.push(...kvSection('Streaming', [['parts checked', n.streaming.chunks_checked], ['parts shown', n.streaming.chunks_shown],
    ['first visible (ms)', n.streaming.first_visible_ms], ['retracted', yesNo(n.streaming.retracted)], ['parts withheld', n.streaming.withheld.length]]));
  if (n.generation) s.push(...kvSection('Generation', [['finish', n.generation.finish_reason], ['prompt cut to fit', yesNo(n.generation.input_truncated)],
    ['max new tokens', n.generation.max_new_tokens], ['temperature', n.generation.temperature]]));
  const lat = n.latency_ms || {};
  s.push(...kvSection('Latency (ms) and tokens', [['input checks', lat.input_checks], ['route', lat.route], ['generate', lat.generate],
    ['output checks', lat.output_checks], ['total', lat.total], ['prompt tokens', (n.tokens || {}).prompt], ['completion tokens', (n.tokens || {}).completion]], 'ad-latency'));
  if (n.error) s.push(...kvSection('Error', [['type', n.error.type], ['reason', n.error.reason]]));
  if (n.change) s.push(...kvSection('Change', Object.entries(n.change), 'ad-change'));
  s.push(...kvSection('Chain', [['seq', v.seq], ['hash', v.hash], ['prev_hash', v.prev_hash],
    ['previous record', ch.previous ? `seq ${ch.previous.seq} · ${ch.previous.id}` : 'none (the first record)'],
    ['next record', ch.next ? `seq ${ch.next.seq} · ${ch.next.id}` : 'none yet (the newest record)'], ['log length', ch.last_seq],
    ['this record verifies', v.ok ? 'yes' : 'NO: ' + v.reason]], 'ad-chain'));
  const fb = data.feedback || [];
  const votes = document.createElement('table'); votes.id = 'ad-feedback';
  const vb = document.createElement('tbody');
  vb.replaceChildren(...(fb.length ? fb.map(f => row([f.value > 0 ? '👍 up' : '👎 down', f.user, when(f.created_at)])) : [row(['none', '', ''])]));
  votes.append(vb);
  s.push(txt('h4', `Feedback (${fb.filter(f => f.value > 0).length} up, ${fb.filter(f => f.value < 0).length} down)`), votes);
  el('ad-sections').replaceChildren(...s);
  const raw = el('detail'); raw.textContent = JSON.stringify(n, null, 2); raw.hidden = false;
  el('audit-detail').hidden = false;
  el('audit-detail').scrollIntoView({block: 'nearest'});
}

async function loadCharts() {
  const stats = await auditRead('audit-filter-result', withQuery('/api/audit/stats'));
  if (!stats) return;
  const checks = [...new Set(stats.scores.map(e => e.check))];
  el('audit-charts-note').textContent = `${stats.total} records; verdicts: ` +
    (Object.entries(stats.verdicts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none');
  el('audit-charts').replaceChildren(...[...CHARTS, ...checks.map(c => 'scores-' + c)].map(name => {
    const img = document.createElement('img');
    img.alt = name; img.dataset.chart = name; img.width = 640; img.height = 320;
    img.onload = () => img.classList.add('loaded');
    img.onerror = () => { img.classList.add('broken'); img.alt = `${name}: the chart could not be drawn`; };
    img.src = withQuery(`/api/audit/charts/${encodeURIComponent(name)}.svg`);
    return img;
  }));
}

// An export is pinned to a signed checkpoint first, so the file and its manifest name the same records.
async function prepareExport(format) {
  el('audit-export-links').hidden = true;
  const data = await post('audit-export-result', '/api/audit/export/checkpoint', {});
  if (!data) return;
  el('audit-export-result').hidden = true;
  const file = el('audit-export-file'), manifest = el('audit-export-manifest');
  file.href = withQuery('/api/audit/export', {format, upto: data.upto});
  file.textContent = `download ${format.toUpperCase()} (${auditTotal} record${auditTotal === 1 ? '' : 's'})`;
  file.setAttribute('download', `decorum-audit-${data.upto}.${format}`);
  manifest.href = withQuery('/api/audit/export/manifest', {format, upto: data.upto});
  manifest.setAttribute('download', `decorum-audit-${data.upto}.${format}.manifest.json`);
  el('audit-export-note').textContent = `pinned to the signed checkpoint at seq ${data.upto}; check both with: decorum audit verify --export FILE`;
  el('audit-export-links').hidden = false;
}

async function openAuditPane(pane) {
  auditPane = pane;
  for (const b of document.querySelectorAll('[data-audit-tab]')) b.classList.toggle('active', b.dataset.auditTab === pane);
  for (const d of document.querySelectorAll('[data-audit-pane]')) d.hidden = d.dataset.auditPane !== pane;
  if (pane === 'charts') await loadCharts();
  if (pane === 'review') await loadSamples();
}

// --- the review queue ---
const REPORTS_SAMPLE = 'false-positives';  // the askers' "This was wrong" reports (decorum.guardrails.audit_review)
async function loadSamples() {
  const {data} = await api('/api/audit/reviews');
  el('rv-samples').replaceChildren(...data.samples.map(x => {
    const link = txt('a', x.sample); link.href = '#'; link.dataset.sample = x.sample;
    link.onclick = e => { e.preventDefault(); openSample(x.sample).catch(refused); };
    return row([link, when(x.drawn_at), x.size, x.marked, x.agree, x.disagree, x.reviewers.join(', ')]);
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
    const link = txt('a', item.note_id); link.href = '#';
    link.onclick = e => { e.preventDefault(); openAuditPane('records').then(() => showRecord(item.note_id)).catch(refused); };
    const comment = document.createElement('input'); comment.className = 'rv-comment'; comment.maxLength = 2000; comment.value = item.comment;
    comment.placeholder = 'comment (your own words)';
    const buttons = document.createElement('span');
    const reports = sample === REPORTS_SAMPLE;  // agree: the block was right; disagree: it was a false positive
    for (const mark of ['agree', 'disagree']) {
      const words = reports ? (mark === 'agree' ? 'Block was right' : 'Block was wrong') : (mark === 'agree' ? 'Agree' : 'Disagree');
      const b = txt('button', words, 'rv-' + mark); b.type = 'button'; b.dataset.perm = 'audit.review';
      b.onclick = () => markItem(sample, item.note_id, mark, comment.value);
      buttons.append(b, ' ');
    }
    let checks = checkText(item.checks);
    if (item.report) {
      checks += ` · reported via ${item.report.surface} ${when(item.report.reported_at)}; ` +
        (item.report.text_kept ? `text: “${item.report.text}”` : 'text not kept');
    }
    const tr = row([when(item.created_at), link, txt('span', item.verdict, item.verdict), item.action || '-', item.template || '-', checks,
      txt('span', item.mark || 'unmarked', 'mark ' + (item.mark || 'unmarked')), item.reviewer || '', comment, buttons]);
    tr.dataset.note = item.note_id;
    return tr;
  }));
  el('rv-sample').hidden = false;
}

async function markItem(sample, noteId, mark, comment) {
  const data = await post('rv-mark-result', `/api/audit/reviews/${encodeURIComponent(sample)}/${encodeURIComponent(noteId)}`, {mark, comment});
  if (!data) return;
  say('rv-mark-result', true, `marked ${noteId}: ${data.mark}` + (data.comment ? ' (with a comment)' : ''));
  await loadSamples();
}

// "This was wrong" under a refused playground ask: the same report as Slack's button, for this console user.
// The text is sent nowhere from here: the server kept the refused question briefly and keeps it only if ticked.
function reportForm(report) {
  const box = document.createElement('div'); box.id = 'report';
  const open = txt('a', 'This was wrong'); open.href = '#'; open.id = 'report-open';
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
  el('audit-filter').onsubmit = e => { e.preventDefault(); loadAudit().catch(refused); };
  el('af-range').onchange = () => { el('af-custom').hidden = el('af-range').value !== 'custom'; };
  el('af-reset').onclick = () => {
    el('audit-filter').reset(); el('af-custom').hidden = true; loadAudit().catch(refused);
  };
  el('audit-older').onclick = () => { auditCursors.push(Number(el('audit-older').dataset.next)); auditPage().catch(refused); };
  el('audit-newer').onclick = () => { if (auditCursors.length > 1) auditCursors.pop(); auditPage().catch(refused); };
  for (const b of document.querySelectorAll('[data-audit-tab]')) b.onclick = () => openAuditPane(b.dataset.auditTab).catch(refused);
  el('audit-export-csv').onclick = () => prepareExport('csv');
  el('audit-export-jsonl').onclick = () => prepareExport('jsonl');
  el('rv-draw').onsubmit = async e => {
    e.preventDefault();
    const data = await post('rv-draw-result', '/api/audit/reviews', {filter: auditFilter, n: Number(el('rv-n').value)});
    if (!data) return;
    say('rv-draw-result', true, `drew sample ${data.sample}: ${data.summary.size} record${data.summary.size === 1 ? '' : 's'}` +
      (data.summary.size < Number(el('rv-n').value) ? ' (all that match the filter)' : ''));
    reviewSample = data.sample;
    await loadSamples();
  };
}

async function loadUsers() {
  const {data} = await api('/api/users');
  el('users').replaceChildren(...data.map(u => {
    const btn = txt('button', 'Revoke'); btn.type = 'button'; btn.disabled = !u.active;
    btn.onclick = async () => {
      if (!confirm(`Revoke ${u.name}?`)) return;
      try { await api(`/api/users/${encodeURIComponent(u.name)}/revoke`, {method: 'POST', body: {}}); await loadUsers(); } catch (e) { refused(e); }
    };
    return row([u.name, u.role, u.active ? 'active' : 'revoked ' + u.revoked_at, u.last_used_at || 'never', btn]);
  }));
}

// --- templates: list, versions, edit, diff, publish, roll back, tests ---------------------------------------
let tpl = null;  // the history of the template open in the detail pane
const path = (...parts) => '/api/templates/' + parts.map(encodeURIComponent).join('/');
const when = t => t ? String(t).replace('T', ' ').slice(0, 19) : '';
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
    const link = txt('a', t.name); link.href = '#'; link.dataset.template = t.name;
    link.onclick = e => { e.preventDefault(); openTemplate(t.name, {editor: true}).catch(refused); };
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
    const link = txt('a', e.id); link.href = '#'; link.dataset.entry = e.id;
    link.onclick = ev => { ev.preventDefault(); openEntry(e.id, {editor: true}).then(() => el('kn').scrollIntoView({block: 'start'})).catch(refused); };
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
  el('pol-base').textContent = v ? `(from live@${v.version}${v.version === pol.active ? ', active' : ''}; saved as a new version)`
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
  for (const b of document.querySelectorAll('nav button')) b.onclick = () => openView(b.dataset.view);
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
  el('logout').onclick = async () => { try { await api('/api/logout', {method: 'POST', body: {}}); } catch (e) { /* logged out anyway */ } showLogin(); };
  el('ask').onsubmit = async e => {
    e.preventDefault();
    const out = el('answer'); out.replaceChildren(txt('p', 'Thinking…'));
    try {
      const {status, data} = await api('/api/ask', {method: 'POST', body: {text: el('q').value, strategy: el('strategy').value, template: el('template').value || null}});
      out.replaceChildren(txt('pre', data.answer || data.error), txt('p', data.id ? `verdict ${data.verdict} · id ${data.id}` : `HTTP ${status}`, 'notice'));
      if (data.report) out.append(reportForm(data.report));
    } catch (err) { out.replaceChildren(); refused(err); }
  };
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
