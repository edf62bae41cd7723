// admin.js: the admin page. Polls GET /v1/peers every few seconds, keeps
// each peer's recent rx/tx rates and draws them on canvases; enables,
// disables, sets the expiry of and removes peers (PATCH, DELETE); lists,
// makes (shown once, as a link) and revokes tokens (/v1/tokens). The admin
// token lives in this tab's sessionStorage only.
'use strict';

const $ = (id) => document.getElementById(id);
const STORE = 'weft-admin-token';
const POLL_MS = 2000;
const HISTORY = 46;            // samples kept a peer: 90 s at POLL_MS

let token = sessionStorage.getItem(STORE) || '';
let timer = null;
let expiryKey = null;
const history = new Map();     // public key -> [{t, rx, tx}] (cumulative bytes)

// Fields of the API's Peer and Token objects (docs/api.yaml)
const keyOf = (p) => p.public_key;
const rxOf = (p) => Number(p.rx_bytes || 0);
const txOf = (p) => Number(p.tx_bytes || 0);
const enabledOf = (p) => p.enabled !== false;
const handshakeAge = (p) => (p.handshake_age === null ? undefined : p.handshake_age);
const expiryOf = (p) => (p && p.expires ? new Date(p.expires) : null);

// a key in a URL path: base64 has '/' and '+'
const keyPath = (k) => '/v1/peers/' + encodeURIComponent(k);

function api(method, path, body) {
	return weft.call(method, path, token, body).catch((e) => {
		if (e.status === 401)
			logout('The token was refused: ' + e.message);
		throw e;
	});
}

// rates in bytes/s between consecutive samples: [{rx, tx}]
function rates(samples) {
	const out = [];
	for (let i = 1; i < samples.length; i++) {
		const a = samples[i - 1], b = samples[i], dt = (b.t - a.t) / 1000;
		out.push({
			rx: dt > 0 ? Math.max(0, b.rx - a.rx) / dt : 0,
			tx: dt > 0 ? Math.max(0, b.tx - a.tx) / dt : 0,
		});
	}
	return out;
}

function drawChart(canvas, series, withScale) {
	if (withScale && canvas.clientWidth && canvas.width !== canvas.clientWidth)
		canvas.width = canvas.clientWidth;   // as wide as it is shown, so lines stay sharp
	const ctx = canvas.getContext('2d');
	const w = canvas.width, h = canvas.height, pad = withScale ? 16 : 2;
	ctx.clearRect(0, 0, w, h);
	ctx.fillStyle = '#f6f7f9';
	ctx.fillRect(0, 0, w, h);
	let max = 1;
	for (const s of series)
		max = Math.max(max, s.rx, s.tx);
	max *= 1.2;                // headroom: a steady rate is not drawn on the edge
	const css = getComputedStyle(document.documentElement);
	const x = (i) => w - (series.length - 1 - i) * (w / (HISTORY - 1));
	const y = (v) => h - pad - (v / max) * (h - 2 * pad);
	for (const [k, color] of [['rx', css.getPropertyValue('--rx')], ['tx', css.getPropertyValue('--tx')]]) {
		ctx.strokeStyle = color.trim() || '#000';
		ctx.lineWidth = withScale ? 2 : 1.5;
		ctx.beginPath();
		series.forEach((s, i) => (i ? ctx.lineTo(x(i), y(s[k])) : ctx.moveTo(x(i), y(s[k]))));
		ctx.stroke();
	}
	if (withScale) {
		ctx.fillStyle = '#5b6473';
		ctx.font = '11px sans-serif';
		ctx.fillText(weft.bytes(Math.round(max)) + '/s', 4, 12);   // the top of the scale
		ctx.textAlign = 'right';
		ctx.fillText('last ' + Math.round((HISTORY - 1) * POLL_MS / 1000) + ' s', w - 4, 12);
		ctx.textAlign = 'left';
	}
}

function button(label, cls, onclick, extra) {
	return weft.el('button', Object.assign({ type: 'button', class: 'small ' + cls, onclick }, extra || {}), label);
}

async function act(what, fn) {
	const status = $('peers-status');
	status.className = '';
	status.textContent = what + '...';
	try {
		await fn();
		status.className = 'ok';
		status.textContent = what + ': done.';
	} catch (e) {
		status.className = 'error';
		status.textContent = what + ' failed: ' + e.message;
	}
	await refresh();
}

// One row a peer, made once and updated in place on every poll, so that a
// focused button keeps its focus and "Really remove?" its state.
const rows = new Map();        // public key -> {tr, td: {...}, p}

function makeRow(key) {
	const r = { td: {}, p: null };
	const label = () => (r.p && r.p.name) || key.slice(0, 8);
	for (const c of ['name', 'key', 'addrs', 'handshake', 'rx', 'tx', 'chart', 'expires', 'state', 'actions'])
		r.td[c] = weft.el('td', { class: { name: 'name', handshake: 'num', rx: 'num', tx: 'num', actions: 'actions' }[c] });
	r.td.key.append(weft.el('code', { class: 'key', title: key }, key.slice(0, 8) + '...'));
	r.canvas = weft.el('canvas', { class: 'chart', width: 96, height: 30, role: 'img' });
	r.td.chart.append(r.canvas);
	r.toggle = button('', 'secondary', () => {
		const on = enabledOf(r.p);
		act((on ? 'Disabling ' : 'Enabling ') + label(), () => api('PATCH', keyPath(key), { enabled: !on }));
	});
	const remove = button('Remove', 'danger', () => {
		// a second click within 4 s removes: no modal dialog needed
		if (remove.dataset.armed) {
			act('Removing ' + label(), () => api('DELETE', keyPath(key)));
			return;
		}
		remove.dataset.armed = '1';
		remove.textContent = 'Really remove?';
		setTimeout(() => {
			delete remove.dataset.armed;
			remove.textContent = 'Remove';
		}, 4000);
	}, { 'data-action': 'remove' });
	r.td.actions.append(r.toggle,
		button('Expiry', 'secondary', () => editExpiry(key, label(), expiryOf(r.p)), { 'data-action': 'expiry' }),
		remove);
	r.tr = weft.el('tr', { 'data-key': key }, ...Object.values(r.td));
	return r;
}

function updateRow(p) {
	const key = keyOf(p);
	const r = rows.get(key) || makeRow(key);
	rows.set(key, r);
	r.p = p;
	const name = p.name || '';
	const on = enabledOf(p);
	const addrs = p.addresses || [];
	const age = handshakeAge(p);
	const exp = expiryOf(p);
	const set = (td, text) => { if (td.textContent !== text) td.textContent = text; };
	set(r.td.name, name || '-');
	set(r.td.addrs, addrs.join(', '));
	set(r.td.handshake, age === undefined ? 'never' : weft.age(age) + ' ago');
	set(r.td.rx, weft.bytes(rxOf(p)));
	set(r.td.tx, weft.bytes(txOf(p)));
	set(r.td.expires, exp ? exp.toLocaleString() : 'never');
	set(r.td.state, on ? 'enabled' : 'disabled');
	r.td.state.className = on ? 'state-on' : 'state-off';
	r.td.state.dataset.state = on ? 'enabled' : 'disabled';
	r.tr.className = on ? '' : 'disabled';
	set(r.toggle, on ? 'Disable' : 'Enable');
	r.toggle.dataset.action = on ? 'disable' : 'enable';
	r.canvas.setAttribute('aria-label', 'traffic of ' + (name || key.slice(0, 8)));
	drawChart(r.canvas, rates(history.get(key) || []), false);
	return r.tr;
}

function editExpiry(key, label, exp) {
	expiryKey = key;
	$('expiry-for').textContent = 'Expiry of ' + label;
	const local = exp ? new Date(exp.getTime() - exp.getTimezoneOffset() * 60000) : null;
	$('expiry-at').value = local ? local.toISOString().slice(0, 16) : '';
	$('expiry-form').hidden = false;
	$('expiry-at').focus();
}

async function setExpiry(ev) {
	ev.preventDefault();
	const v = $('expiry-at').value;
	const key = expiryKey;
	$('expiry-form').hidden = true;
	const expires = v ? new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
	await act('Setting the expiry', () => api('PATCH', keyPath(key), { expires }));
}

async function refresh() {
	let data;
	try {
		data = await api('GET', '/v1/peers');
	} catch (e) {
		if (token) {
			$('updated').className = 'hint error';
			$('updated').textContent = 'not updated: ' + e.message;
		}
		return;
	}
	const peers = data.peers || [];
	const now = Date.now();
	const seen = new Set();
	for (const p of peers) {
		const key = keyOf(p);
		seen.add(key);
		const h = history.get(key) || [];
		h.push({ t: now, rx: rxOf(p), tx: txOf(p) });
		while (h.length > HISTORY)
			h.shift();
		history.set(key, h);
	}
	for (const key of [...history.keys()])
		if (!seen.has(key)) {
			history.delete(key);
			rows.delete(key);
		}
	const tbody = $('peers').tBodies[0];
	const want = peers.map(updateRow);
	if (!want.length)
		want.push(weft.el('tr', {}, weft.el('td', { colspan: 10 }, 'No peers yet.')));
	// moving a row would take the focus from its buttons: only when the set or order changed
	if (want.length !== tbody.rows.length || want.some((tr, i) => tbody.rows[i] !== tr))
		tbody.replaceChildren(...want);
	$('peer-count').textContent = '(' + peers.length + ')';
	// all peers' rates, summed sample by sample from the newest back
	const total = [];
	for (const h of history.values()) {
		const r = rates(h);
		for (let i = 0; i < r.length; i++) {
			const j = HISTORY - 1 - (r.length - 1 - i);
			total[j] = total[j] || { rx: 0, tx: 0 };
			total[j].rx += r[i].rx;
			total[j].tx += r[i].tx;
		}
	}
	drawChart($('total-chart'), total.filter(Boolean), true);
	$('updated').className = 'hint';
	$('updated').textContent = 'updated ' + new Date(now).toLocaleTimeString();
}

function tokenRow(t) {
	const exp = expiryOf(t);
	const label = t.name || t.id;
	return weft.el('tr', { 'data-id': t.id },
		weft.el('td', {}, t.name || '-'),
		weft.el('td', {}, weft.el('code', {}, t.id)),
		weft.el('td', {}, t.admin ? 'admin' : 'enrolment'),
		weft.el('td', {}, t.admin ? String(t.used || 0) : (t.used || 0) + ' of ' + t.peers),
		weft.el('td', {}, exp ? exp.toLocaleString() : 'never'),
		weft.el('td', { class: 'actions' }, button('Revoke', 'danger', async () => {
			tokenStatus('Revoking ' + label + '...');
			try {
				await api('DELETE', '/v1/tokens/' + encodeURIComponent(t.id));
				tokenStatus('Revoked ' + label + '.', 'ok');
			} catch (e) {
				tokenStatus('Revoking ' + label + ' failed: ' + e.message, 'error');
			}
			loadTokens();
		}, { 'data-action': 'revoke' })));
}

function tokenStatus(text, cls) {
	$('tokens-status').className = cls || '';
	$('tokens-status').textContent = text;
}

async function loadTokens() {
	try {
		const data = await api('GET', '/v1/tokens');
		$('tokens').tBodies[0].replaceChildren(...(data.tokens || []).map(tokenRow));
	} catch (e) {
		tokenStatus('Tokens: ' + e.message, 'error');
	}
}

// a new enrolment token, shown once as a link: the token in the fragment
async function addToken(ev) {
	ev.preventDefault();
	const body = { peers: Number($('token-peers').value) || 1 };
	const name = $('token-name').value.trim();
	const expires = $('token-expires').value.trim();
	if (name)
		body.name = name;
	if (expires)
		body.expires = expires;
	try {
		const t = await api('POST', '/v1/tokens', body);
		const link = location.origin + '/#' + t.token;
		$('new-link-a').textContent = link;
		$('new-link-a').href = link;
		$('new-link').hidden = false;
		$('token-name').value = '';
		tokenStatus('');
	} catch (e) {
		tokenStatus('New link failed: ' + e.message, 'error');
	}
	loadTokens();
}

async function login(ev) {
	if (ev)
		ev.preventDefault();
	if (ev) {
		token = $('admin-token').value.trim();
		$('admin-token').value = '';
	}
	if (!token)
		return;
	try {
		const h = await weft.call('GET', '/healthz');
		if (h && h.interface)
			for (const e of document.querySelectorAll('#iface, .iface-name'))
				e.textContent = h.interface;
	} catch (e) { /* the name is only a label */ }
	try {
		await api('GET', '/v1/peers');
	} catch (e) {
		if (e.status !== 401)
			logout('Signing in failed: ' + e.message);
		return;
	}
	sessionStorage.setItem(STORE, token);
	$('login').hidden = true;
	$('console').hidden = false;
	await refresh();
	loadTokens();
	clearInterval(timer);
	timer = setInterval(refresh, POLL_MS);
}

function logout(why) {
	sessionStorage.removeItem(STORE);
	token = '';
	clearInterval(timer);
	history.clear();
	rows.clear();
	$('new-link').hidden = true;
	$('console').hidden = true;
	$('login').hidden = false;
	let msg = $('login-msg');
	if (!msg) {
		msg = weft.el('p', { id: 'login-msg', role: 'alert', class: 'error' });
		$('login').append(msg);
	}
	msg.textContent = typeof why === 'string' ? why : '';
}

document.addEventListener('DOMContentLoaded', () => {
	$('login-form').addEventListener('submit', login);
	$('logout').addEventListener('click', () => logout(''));
	$('expiry-form').addEventListener('submit', setExpiry);
	$('expiry-cancel').addEventListener('click', () => { $('expiry-form').hidden = true; });
	$('token-form').addEventListener('submit', addToken);
	for (const e of document.querySelectorAll('.origin'))
		e.textContent = location.origin;
	login(null);
});
