// admin.js: the admin page. Polls GET /v1/peers every few seconds, keeps
// each peer's recent rx/tx rates and draws them on canvases; enables,
// disables, sets the expiry of and removes peers (PATCH, DELETE); turns an
// enrolment token (made with `weft api token add`) into a link. The admin
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

// The API's peer objects, whatever the exact spelling of a field.
function field(p, ...names) {
	for (const n of names)
		if (p[n] !== undefined && p[n] !== null)
			return p[n];
	return undefined;
}
const keyOf = (p) => field(p, 'public_key', 'key');
const rxOf = (p) => Number(field(p, 'rx_bytes', 'rx', 'transfer_rx') || 0);
const txOf = (p) => Number(field(p, 'tx_bytes', 'tx', 'transfer_tx') || 0);
const enabledOf = (p) => field(p, 'enabled') !== false;

function handshakeAge(p) {
	const age = field(p, 'handshake_age', 'latest_handshake_age');
	if (age !== undefined)
		return age;
	const at = field(p, 'latest_handshake', 'last_handshake');
	if (!at)
		return undefined;
	return Date.now() / 1000 - (typeof at === 'number' ? at : Date.parse(at) / 1000);
}

function expiryOf(p) {
	const e = field(p, 'expires', 'expires_at');
	if (!e)
		return null;
	return new Date(typeof e === 'number' ? e * 1000 : e);
}

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

function peerRow(p) {
	const key = keyOf(p);
	const name = field(p, 'name') || '';
	const label = name || key.slice(0, 8);
	const on = enabledOf(p);
	const addrs = field(p, 'allowed_ips', 'addresses', 'address') || [];
	const exp = expiryOf(p);
	const canvas = weft.el('canvas', {
		class: 'chart', width: 96, height: 30, role: 'img',
		'aria-label': 'traffic of ' + label,
	});
	const removeBtn = button('Remove', 'danger', () => {
		// a second click within 4 s removes: no modal dialog needed
		if (removeBtn.dataset.armed) {
			act('Removing ' + label, () => api('DELETE', keyPath(key)));
			return;
		}
		removeBtn.dataset.armed = '1';
		removeBtn.textContent = 'Really remove?';
		setTimeout(() => {
			delete removeBtn.dataset.armed;
			removeBtn.textContent = 'Remove';
		}, 4000);
	}, { 'data-action': 'remove' });
	const row = weft.el('tr', { class: on ? '' : 'disabled', 'data-key': key },
		weft.el('td', { class: 'name' }, name || '-'),
		weft.el('td', {}, weft.el('code', { class: 'key', title: key }, key.slice(0, 8) + '...')),
		weft.el('td', {}, Array.isArray(addrs) ? addrs.join(', ') : String(addrs)),
		weft.el('td', { class: 'num' }, handshakeAge(p) === undefined ? 'never' : weft.age(handshakeAge(p)) + ' ago'),
		weft.el('td', { class: 'num' }, weft.bytes(rxOf(p))),
		weft.el('td', { class: 'num' }, weft.bytes(txOf(p))),
		weft.el('td', {}, canvas),
		weft.el('td', {}, exp ? exp.toLocaleString() : 'never'),
		weft.el('td', { class: on ? 'state-on' : 'state-off', 'data-state': on ? 'enabled' : 'disabled' },
			on ? 'enabled' : 'disabled'),
		weft.el('td', { class: 'actions' },
			button(on ? 'Disable' : 'Enable', 'secondary',
				() => act((on ? 'Disabling ' : 'Enabling ') + label,
					() => api('PATCH', keyPath(key), { enabled: !on })),
				{ 'data-action': on ? 'disable' : 'enable' }),
			button('Expiry', 'secondary', () => editExpiry(key, label, exp), { 'data-action': 'expiry' }),
			removeBtn));
	drawChart(canvas, rates(history.get(key) || []), false);
	return row;
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
	const peers = Array.isArray(data) ? data : (data.peers || []);
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
		if (!seen.has(key))
			history.delete(key);
	const tbody = $('peers').tBodies[0];
	tbody.replaceChildren(...peers.map(peerRow));
	if (!peers.length)
		tbody.append(weft.el('tr', {}, weft.el('td', { colspan: 10 }, 'No peers yet.')));
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

// an enrolment link: the token in the fragment, never sent to a server
function makeLink(ev) {
	ev.preventDefault();
	const t = $('link-token').value.trim();
	$('link-token').value = '';
	if (!t)
		return;
	const link = location.origin + '/#' + t;
	$('new-link-a').textContent = link;
	$('new-link-a').href = link;
	$('new-link').hidden = false;
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
	clearInterval(timer);
	timer = setInterval(refresh, POLL_MS);
}

function logout(why) {
	sessionStorage.removeItem(STORE);
	token = '';
	clearInterval(timer);
	history.clear();
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
	$('link-form').addEventListener('submit', makeLink);
	login(null);
});
