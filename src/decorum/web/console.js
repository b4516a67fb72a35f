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
  me = null; tpl = null; el('tpl').hidden = true;
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

async function showDiff(a, b) {
  const data = await attempt('tpl-diff-result', path(tpl.name, 'diff') + `?a=${a}&b=${b}`);
  if (!data) { el('tpl-diff-table').hidden = true; el('tpl-unified-box').hidden = true; return; }
  el('tpl-diff-left').textContent = `${tpl.name}@${a}`; el('tpl-diff-right').textContent = `${tpl.name}@${b}`;
  el('tpl-diff-rows').replaceChildren(...data.rows.map(r => {
    const tr = row([r.left_no, r.left, r.right_no, r.right]);
    tr.className = r.kind;
    const [, left, , right] = tr.children;
    left.className = 'code' + (r.kind === 'delete' || r.kind === 'replace' ? ' del' : '');
    right.className = 'code' + (r.kind === 'insert' || r.kind === 'replace' ? ' add' : '');
    return tr;
  }));
  el('tpl-unified').textContent = data.unified;
  el('tpl-diff-table').hidden = false; el('tpl-unified-box').hidden = data.same;
  const changed = data.rows.filter(r => r.kind !== 'equal').length;
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
