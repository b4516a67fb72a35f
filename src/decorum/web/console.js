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
  me = null; tpl = null; pol = null; el('tpl').hidden = true;
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

const passed = rs => !rs || !rs.length ? '-' : rs.every(r => r.passed) ? 'ok' : 'FAIL';
async function loadAudit() {
  const {data} = await api('/api/audit?limit=50');
  el('audit').replaceChildren(...data.map(n => {
    const g = n.guardrails || {};
    const link = txt('a', n.id); link.href = '#'; link.onclick = e => { e.preventDefault(); show(n.id).catch(refused); };
    const tr = row([n.created_at, link, txt('span', n.verdict, n.verdict), (n.route || {}).strategy || '-',
      n.template ? n.template.name + '@' + n.template.version : '-', passed(g.input), passed(g.output), (n.latency_ms || {}).total]);
    return tr;
  }));
}
async function show(id) {
  const {data} = await api('/api/audit/' + encodeURIComponent(id));
  const d = el('detail'); d.textContent = JSON.stringify(data, null, 2); d.hidden = false;
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
const STATUS = {400: '400 Refused', 401: '401 Unauthorised', 403: '403 Forbidden', 404: '404 Not found', 409: '409 Refused', 413: '413 Too large', 415: '415 Refused'};

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
  policyForms();
  el('logout').onclick = async () => { try { await api('/api/logout', {method: 'POST', body: {}}); } catch (e) { /* logged out anyway */ } showLogin(); };
  el('ask').onsubmit = async e => {
    e.preventDefault();
    const out = el('answer'); out.replaceChildren(txt('p', 'Thinking…'));
    try {
      const {status, data} = await api('/api/ask', {method: 'POST', body: {text: el('q').value, strategy: el('strategy').value, template: el('template').value || null}});
      out.replaceChildren(txt('pre', data.answer || data.error), txt('p', data.id ? `verdict ${data.verdict} · id ${data.id}` : `HTTP ${status}`, 'notice'));
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
