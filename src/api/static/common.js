// common.js: what both pages share - base64, API calls with a bearer
// token and their JSON errors, and human units.
'use strict';

const weft = {
	b64(bytes) {
		let s = '';
		for (const b of bytes)
			s += String.fromCharCode(b);
		return btoa(s);
	},

	// An API call; resolves to the parsed JSON (or null for 204), rejects
	// with the server's own message when it answers with an error.
	async call(method, path, token, body) {
		const init = { method, headers: {}, cache: 'no-store', credentials: 'omit' };
		if (token)
			init.headers.Authorization = 'Bearer ' + token;
		if (body !== undefined) {
			init.headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		const resp = await fetch(path, init);
		const text = await resp.text();
		let data = null;
		if (text) {
			try {
				data = JSON.parse(text);
			} catch (e) {
				data = { error: text };
			}
		}
		if (!resp.ok) {
			const err = new Error((data && (data.error || data.message)) || resp.statusText);
			err.status = resp.status;
			throw err;
		}
		return data;
	},

	bytes(n) {
		if (n === undefined || n === null)
			return '-';
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) {
			n /= 1024;
			i++;
		}
		return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
	},

	// seconds -> "3 s", "5 min", "2 h", "4 d"
	age(s) {
		if (s === undefined || s === null || s < 0)
			return 'never';
		if (s < 120)
			return Math.round(s) + ' s';
		if (s < 7200)
			return Math.round(s / 60) + ' min';
		if (s < 172800)
			return Math.round(s / 3600) + ' h';
		return Math.round(s / 86400) + ' d';
	},

	el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === 'class') {
				if (v)
					e.className = v;
			} else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else if (v !== undefined && v !== null && v !== false)
				e.setAttribute(k, v === true ? '' : v);
		}
		for (const c of children)
			if (c !== null && c !== undefined)
				e.append(c);
		return e;
	},
};
