// enrol.js: the enrolment page. Makes an X25519 key pair with WebCrypto,
// sends only the public key (POST /v1/peers, the enrolment token as
// bearer), puts the private key into the returned config here, and shows
// the config as text, a download and a QR code. The token comes in the
// URL fragment, which browsers never send to a server or in a Referer.
'use strict';

const $ = (id) => document.getElementById(id);
let configUrl = null;

// "https://vpn.example/#TOKEN", "#token=TOKEN" or the bare token
function tokenOf(text) {
	let t = text.trim();
	const hash = t.indexOf('#');
	if (hash >= 0)
		t = t.slice(hash + 1);
	if (t.startsWith('token='))
		t = t.slice(6);
	return t.trim();
}

// PKCS #8 of an X25519 private key is this 16-byte header and the 32-byte key (RFC 8410)
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
	0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];

async function makeKeyPair() {
	if (!window.isSecureContext || !crypto.subtle)
		throw new Error('browsers make keys only on pages opened over HTTPS (or from ' +
			'localhost); ask for an https:// link (weft api --tls-cert/--tls-key). Nothing was sent');
	let pair;
	try {
		pair = await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
	} catch (e) {
		throw new Error('this browser cannot make X25519 keys (it needs Chromium 133, ' +
			'Firefox 130 or Safari 17 or later); nothing was sent');
	}
	const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
	const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
	const ok = pub.length === 32 && pkcs8.length === 48 &&
		PKCS8_X25519.every((b, i) => pkcs8[i] === b);
	const priv = pkcs8.slice(16);
	pkcs8.fill(0);
	if (!ok) {
		priv.fill(0);
		throw new Error('the browser gave an X25519 key in an unexpected form');
	}
	const pair64 = { public: weft.b64(pub), private: weft.b64(priv) };
	priv.fill(0);
	return pair64;
}

// The server's config has no private key: weft writes a commented
// placeholder ("# PrivateKey = (the private key of the device ...", and its
// continuation lines) in its place. Put the key there, or in [Interface].
function withPrivateKey(config, key) {
	const line = 'PrivateKey = ' + key;
	const placeholder = /^#\s*PrivateKey\s*=[^\n]*\n(?:#\s{4,}[^\n]*\n)*/m;
	if (placeholder.test(config))
		return config.replace(placeholder, line + '\n');
	if (/^\s*PrivateKey\s*=.*$/m.test(config))
		return config.replace(/^\s*PrivateKey\s*=.*$/m, line);
	if (/^\s*\[Interface\]\s*$/m.test(config))
		return config.replace(/^(\s*\[Interface\]\s*)$/m, '$1\n' + line);
	throw new Error('the server sent a config without an [Interface] section');
}

function drawQr(text) {
	const qr = qrcode(0, 'L');
	qrcode.stringToBytes = qrcode.stringToBytesFuncs['UTF-8'];
	qr.addData(text, 'Byte');
	qr.make();
	const n = qr.getModuleCount(), quiet = 4;
	const canvas = $('qr');
	const cell = Math.max(2, Math.floor(296 / (n + 2 * quiet)));
	canvas.width = canvas.height = cell * (n + 2 * quiet);
	const ctx = canvas.getContext('2d');
	ctx.fillStyle = '#fff';
	ctx.fillRect(0, 0, canvas.width, canvas.height);
	ctx.fillStyle = '#000';
	for (let r = 0; r < n; r++)
		for (let c = 0; c < n; c++)
			if (qr.isDark(r, c))
				ctx.fillRect((c + quiet) * cell, (r + quiet) * cell, cell, cell);
}

// IFACE.conf, IFACE from /healthz: the WireGuard apps name the tunnel after
// the file, so it stays a plain interface name
async function fileName() {
	let iface = '';
	try {
		iface = (await weft.call('GET', '/healthz')).interface || '';
	} catch (e) { /* only a name */ }
	return (String(iface).replace(/[^A-Za-z0-9_=+.-]/g, '').slice(0, 15) || 'wg0') + '.conf';
}

function show(config, name) {
	$('config').textContent = config;
	$('filename').textContent = name;
	drawQr(config);
	if (configUrl)
		URL.revokeObjectURL(configUrl);
	configUrl = URL.createObjectURL(new Blob([config], { type: 'text/plain' }));
	$('download').onclick = () => {
		const a = weft.el('a', { href: configUrl, download: name });
		document.body.append(a);
		a.click();
		a.remove();
	};
	$('result').hidden = false;
	$('start').hidden = true;
	$('result-title').focus();
}

async function enrol(ev) {
	ev.preventDefault();
	const status = $('status');
	const token = tokenOf($('link').value);
	if (!token) {
		status.textContent = 'Paste the enrolment link first.';
		return;
	}
	$('enrol').disabled = true;
	status.className = '';
	status.textContent = 'Making your key and enrolling...';
	try {
		const keys = await makeKeyPair();
		const body = { public_key: keys.public };
		const name = $('name').value.trim();
		if (name)
			body.name = name;
		const data = await weft.call('POST', '/v1/peers', token, body);
		if (data.public_key !== keys.public)
			throw new Error('the server answered with another key than the one sent');
		if (typeof data.config !== 'string')
			throw new Error('the server sent no config');
		show(withPrivateKey(data.config, keys.private), await fileName());
		keys.private = '';
		$('link').value = '';
		status.textContent = '';
	} catch (e) {
		status.className = 'error';
		status.textContent = 'Enrolment failed: ' + e.message;
	} finally {
		$('enrol').disabled = false;
	}
}

function forget() {
	$('config').textContent = '';
	const canvas = $('qr');
	canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
	if (configUrl)
		URL.revokeObjectURL(configUrl);
	configUrl = null;
	$('result').hidden = true;
	$('start').hidden = false;
}

document.addEventListener('DOMContentLoaded', () => {
	$('result-title').tabIndex = -1;
	$('enrol-form').addEventListener('submit', enrol);
	$('forget').addEventListener('click', forget);
	if (location.hash.length > 1) {
		$('link').value = tokenOf(location.hash);
		// out of the address bar and the history as soon as it is read
		history.replaceState(null, '', location.pathname + location.search);
		$('name').focus();
	}
});
