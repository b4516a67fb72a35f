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
  me = null;
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
  el('new-role').replaceChildren(...me.roles.map(r => txt('option', r)));
  openView(me.permissions.includes('audit.read') ? 'audit' : 'playground');
}

const loaders = {
  playground: async () => {},
  audit: loadAudit,
  templates: async () => {
    const {data} = await api('/api/templates');
    el('templates').replaceChildren(...data.map(t => row([t.name, t.production ? 'v' + t.production : 'unpublished (latest v' + t.latest + ')', t.versions.join(', '), t.description])));
  },
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
