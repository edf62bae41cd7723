/* settings.c: reading `weft serve`'s settings (see settings.h). The
 * [Serve] section is cut out of the text (its lines blanked, so line
 * numbers stay right) before the rest goes to the wg-quick parser. */
#include "serve/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#define SETTINGS_LINE_MAX 4096

const char *settings_stack_name(enum serve_stack stack)
{
	return stack == SERVE_STACK_KERNEL ? "kernel" : stack == SERVE_STACK_LWIP ? "lwip" : "auto";
}

static bool parse_stack(const char *v, enum serve_stack *out)
{
	if (!strcasecmp(v, "auto"))
		*out = SERVE_STACK_AUTO;
	else if (!strcasecmp(v, "kernel"))
		*out = SERVE_STACK_KERNEL;
	else if (!strcasecmp(v, "lwip"))
		*out = SERVE_STACK_LWIP;
	else
		return false;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		*out = false;
	else
		return false;
	return true;
}

static bool parse_v6(const char *v, uint8_t out[16])
{
	struct conf_addr a;

	if (!conf_addr_parse(&a, v) || a.family != AF_INET6)
		return false;
	memcpy(out, a.bytes, 16);
	return true;
}

/* The chain's [Serve] keys (serve_key's contract, *known false when the
 * key is not one of them). */
static const char *chain_key(struct serve_chain *c, const char *key, const char *v, bool *known)
{
	*known = true;
	if (!strcasecmp(key, "RelayAddress")) {
		c->has_relay_address = parse_v6(v, c->relay_address);
		return c->has_relay_address ? NULL : "an IPv6 address like fd:17::2";
	}
	if (!strcasecmp(key, "API")) {
		c->has_api = parse_v6(v, c->api_address);
		return c->has_api ? NULL : "an IPv6 address like fd:16::2";
	}
	if (!strcasecmp(key, "RelayPrefix") || !strcasecmp(key, "APIPrefix")) {
		struct conf_prefix *p = toupper((unsigned char)key[0]) == 'R' ? &c->relay_prefix : &c->api_prefix;
		if (!conf_prefix_parse(p, v) || p->addr.family != AF_INET6 || p->cidr < 16)
			return "an IPv6 prefix like fd:17::/48 (at most /16)";
		return NULL;
	}
	if (!strcasecmp(key, "Routes")) {
		char item[CONF_PREFIX_STRLEN + 1];
		c->has_routes = true;
		while (*v) {
			size_t len = strcspn(v, ", \t");
			struct conf_prefix p;
			if (len) {
				if (len >= sizeof(item))
					return "prefixes like 10.0.0.0/24";
				memcpy(item, v, len);
				item[len] = '\0';
				if (!conf_prefix_parse(&p, item) || c->routes.n >= SERVE_MAX_ROUTES ||
				    conf_prefix_list_add(&c->routes, &p) < 0)
					return "prefixes like 10.0.0.0/24 (up to 256)";
			}
			v += len;
			v += strspn(v, ", \t");
		}
		return NULL;
	}
	if (!strcasecmp(key, "State")) {
		free(c->state_path);
		c->state_path = strdup(v);
		return c->state_path ? NULL : "a shorter path";
	}
	*known = false;
	return NULL;
}

/* One [Serve] key; what is expected, or NULL when it was fine. */
static const char *serve_key(struct serve_settings *s, const char *key, const char *v)
{
	uint32_t n;
	bool known;
	const char *what = reverse_setting(&s->reverse, key, v, &known);

	if (known)
		return what;

	if (!strcasecmp(key, "Stack"))
		return parse_stack(v, &s->stack) ? NULL : "auto, kernel or lwip";
	if (!strcasecmp(key, "Allow") || !strcasecmp(key, "Deny")) {
		int ret = guard_add_list(&s->guard, v, !strcasecmp(key, "Allow"));
		return !ret ? NULL : ret == -E2BIG ? "fewer prefixes" : "IP prefixes like 10.0.0.0/8, fd00::/8";
	}
	if (!strcasecmp(key, "ServerLoopback"))
		return parse_bool(v, &s->server_loopback) ? NULL : "true or false";
	if (!strcasecmp(key, "MaxFlows")) {
		if (!conf_parse_uint(v, SERVE_MAX_FLOWS_LIMIT, &n) || !n)
			return "a number of flows, 1 to 1048576";
		s->max_flows = n;
		return NULL;
	}
	if (!strcasecmp(key, "MaxFlowsPerPeer")) {
		if (!conf_parse_uint(v, SERVE_MAX_FLOWS_LIMIT, &n) || !n)
			return "a number of flows, 1 to 1048576";
		s->max_flows_per_peer = n;
		return NULL;
	}
	if (!strcasecmp(key, "TCPIdleTimeout") || !strcasecmp(key, "UDPIdleTimeout")) {
		if (!conf_parse_uint(v, 7 * 86400, &n) || !n)
			return "seconds, 1 to 604800";
		*(toupper((unsigned char)key[0]) == 'T' ? &s->tcp_idle_s : &s->udp_idle_s) = n;
		return NULL;
	}
	if (!strcasecmp(key, "MaxMemory")) {
		if (!conf_parse_uint(v, 1u << 20, &n) || n < 1)
			return "MiB, 1 to 1048576";
		s->max_memory = (uint64_t)n << 20;
		return NULL;
	}
	if ((what = chain_key(&s->chain, key, v, &known)) || known)
		return what;
	return "a [Serve] key (Stack, Allow, Deny, ServerLoopback, MaxFlows, MaxFlowsPerPeer, "
	       "TCPIdleTimeout, UDPIdleTimeout, MaxMemory, Expose, SOCKS5, SOCKS5User, SOCKS5Password, "
	       "RelayAddress, API, RelayPrefix, APIPrefix, Routes, State)";
}

static char *trim(char *p)
{
	char *e;

	while (isspace((unsigned char)*p))
		p++;
	e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return p;
}

/* Where a section's lines go. */
enum section { SEC_MAIN, SEC_SERVE, SEC_RELAY, SEC_E2E, SEC_E2E_PEER };

static enum section section_of(const char *header)
{
	if (!strcasecmp(header, "[Serve]"))
		return SEC_SERVE;
	if (!strcasecmp(header, "[Relay]"))
		return SEC_RELAY;
	if (!strcasecmp(header, "[E2E]"))
		return SEC_E2E;
	if (!strcasecmp(header, "[E2EPeer]"))
		return SEC_E2E_PEER;
	return SEC_MAIN;
}

/* The sections that are not wg-quick's are taken out of text: [Serve] lines
 * are applied and blanked; a [Relay] header becomes [Peer] (its line is
 * noted in relay_lines, so that the peer is known as a server); [E2E] and
 * [E2EPeer] lines move into e2e (as [Interface] and [Peer]) and are blanked.
 * Every line keeps its number in both texts. */
static int cut_sections(struct serve_settings *s, char *text, size_t len, const char *name,
			char *e2e, size_t *e2e_len, uint32_t *relay_lines, uint32_t *n_relay,
			char *err, size_t errlen)
{
	enum section sec = SEC_MAIN;
	unsigned line_no = 0;
	char line[SETTINGS_LINE_MAX];
	size_t out = 0;

	*n_relay = 0;
	for (size_t pos = 0; pos < len;) {
		size_t end = pos;
		char *l, *eq, *hash;
		const char *what;

		while (end < len && text[end] != '\n')
			end++;
		line_no++;
		if (end - pos < sizeof(line)) {
			memcpy(line, text + pos, end - pos);
			line[end - pos] = '\0';
			if ((hash = strchr(line, '#')))
				*hash = '\0';
			l = trim(line);
			if (*l == '[') {
				sec = section_of(l);
				if (sec == SEC_RELAY) {
					if (*n_relay >= CONF_MAX_PEERS) {
						snprintf(err, errlen, "%s:%u: too many peers", name, line_no);
						return -EINVAL;
					}
					relay_lines[(*n_relay)++] = line_no;
					memset(text + pos, ' ', end - pos);
					memcpy(text + pos, "[Peer]", 6);
				} else if (sec == SEC_E2E || sec == SEC_E2E_PEER) {
					const char *h = sec == SEC_E2E ? "[Interface]" : "[Peer]";
					memcpy(e2e + out, h, strlen(h));
					out += strlen(h);
				}
			} else if (sec == SEC_E2E || sec == SEC_E2E_PEER) {
				memcpy(e2e + out, text + pos, end - pos);
				out += end - pos;
			}
			if (sec == SEC_SERVE || sec == SEC_E2E || sec == SEC_E2E_PEER)
				memset(text + pos, ' ', end - pos);
			if (sec == SEC_SERVE && *l && *l != '[') {
				if (!(eq = strchr(l, '='))) {
					snprintf(err, errlen, "%s:%u: expected Key = Value", name, line_no);
					return -EINVAL;
				}
				*eq = '\0';
				if ((what = serve_key(s, trim(l), trim(eq + 1)))) {
					snprintf(err, errlen, "%s:%u: %s: expected %s", name, line_no,
						 trim(l), what);
					return -EINVAL;
				}
			}
			memzero(line, sizeof(line));
		}
		e2e[out++] = '\n';
		pos = end + 1;
	}
	*e2e_len = out;
	return 0;
}

/* Reads a config (state: a state file) and applies it to s. */
static int load_file(struct serve_settings *s, const char *path, bool state, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL, *e2e = NULL;
	uint32_t *relay_lines = NULL, n_relay = 0;
	size_t len = 0, e2e_len = 0, e2e_cap;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		if (!(state && ret == -ENOENT))
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	ret = fd_read_all(fd, CONF_MAX_FILE_SIZE, &text, &len);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* every line gets at most "[Interface]" more, and a newline */
	e2e_cap = 2 * len + 16;
	e2e = malloc(e2e_cap);
	relay_lines = malloc(sizeof(*relay_lines) * (len / 8 + 1));
	if (!e2e || !relay_lines)
		ret = -ENOMEM;
	else
		ret = cut_sections(s, text, len, path, e2e, &e2e_len, relay_lines, &n_relay, err, errlen);
	if (!ret) {
		struct conf c, ce;
		conf_init(&c);
		conf_init(&ce);
		ret = conf_parse(&c, text, len, path, state ? CONF_PARSE_SETCONF : 0, err, errlen);
		if (!ret && (ret = conf_parse(&ce, e2e, e2e_len, path, CONF_PARSE_SETCONF, err, errlen)) < 0)
			conf_free(&c);
		if (!ret) {
			conf_free(&s->conf);
			conf_free(&s->chain.e2e);
			s->conf = c;
			s->chain.e2e = ce;
			free(s->chain.servers);
			s->chain.servers = calloc(n_relay + 1, sizeof(*s->chain.servers));
			s->chain.n_servers = 0;
			if (!s->chain.servers)
				ret = -ENOMEM;
			for (uint32_t i = 0; !ret && i < s->conf.n_peers; i++)
				for (uint32_t j = 0; j < n_relay; j++)
					if (s->conf.peers[i].line == relay_lines[j])
						memcpy(s->chain.servers[s->chain.n_servers++],
						       s->conf.peers[i].public_key, 32);
		}
	}
	if (!ret && (s->conf.iface.has_private_key || s->chain.e2e.iface.has_private_key) && (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: holds a private key and group or others may read it "
			 "(mode %04o): chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		ret = -EPERM;
	}
	if (e2e) {
		memzero(e2e, e2e_cap);
		free(e2e);
	}
	free(relay_lines);
	memzero(text, len);
	free(text);
	return ret;
}

bool settings_is_server(const struct serve_settings *s, const uint8_t key[32])
{
	for (uint32_t i = 0; i < s->chain.n_servers; i++)
		if (!memcmp(s->chain.servers[i], key, 32))
			return true;
	return false;
}

static int env_key_file(uint8_t key[32], const char *path, const char *var, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s=%s: %s", var, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (st.st_mode & 077) {
		close(fd);
		snprintf(err, errlen, "%s: a key file that group or others may read (mode %04o): chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	ret = fd_read_all(fd, 1024, &text, &len);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = key_from_base64(key, trim(text)) ? 0 : -EINVAL;
	if (ret)
		snprintf(err, errlen, "%s: expected a base64 WireGuard key", path);
	memzero(text, len);
	free(text);
	return ret;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int bad_env(char *err, size_t errlen, const char *var, const char *what)
{
	snprintf(err, errlen, "%s: expected %s", var, what);
	return -EINVAL;
}

/* One peer from PREFIX_PUBLIC_KEY, PREFIX_ALLOWED_IPS and (optionally)
 * PREFIX_ENDPOINT, into c; its key in key. 0 when PREFIX_PUBLIC_KEY is
 * unset (*added false). */
static int env_peer(struct conf *c, const char *prefix, uint8_t key[32], bool *added, char *err, size_t errlen)
{
	char var[64];
	const char *v, *ips, *ep;
	struct conf_peer *peer;

	*added = false;
	snprintf(var, sizeof(var), "%s_PUBLIC_KEY", prefix);
	if (!(v = env(var)))
		return 0;
	if (!key_from_base64(key, v))
		return bad_env(err, errlen, var, "a base64 WireGuard key");
	peer = conf_peer_find(c, key);
	if (!peer && conf_peer_add(c, key, &peer) < 0)
		return bad_env(err, errlen, var, "room for one more peer");
	snprintf(var, sizeof(var), "%s_ALLOWED_IPS", prefix);
	if (!(ips = env(var)))
		return bad_env(err, errlen, var, "the peer's allowed IPs");
	while (*ips) {
		char item[CONF_PREFIX_STRLEN + 1];
		size_t len = strcspn(ips, ", \t");
		struct conf_prefix p;
		if (len) {
			if (len >= sizeof(item))
				return bad_env(err, errlen, var, "prefixes like fd:17::/48");
			memcpy(item, ips, len);
			item[len] = '\0';
			if (!conf_prefix_parse(&p, item) || conf_prefix_list_add(&peer->allowed_ips, &p) < 0)
				return bad_env(err, errlen, var, "prefixes like fd:17::/48");
		}
		ips += len;
		ips += strspn(ips, ", \t");
	}
	snprintf(var, sizeof(var), "%s_ENDPOINT", prefix);
	if ((ep = env(var))) {
		struct conf_endpoint e = { 0 };
		bool ok = conf_endpoint_parse(&e, ep) && conf_peer_set_endpoint(peer, e.host, e.port) == 0;
		free(e.host);
		if (!ok)
			return bad_env(err, errlen, var, "IP:PORT or [IPV6]:PORT");
		/* a neighbour this side can reach is kept in touch with */
		peer->persistent_keepalive = 25;
		peer->has_persistent_keepalive = true;
	}
	*added = true;
	return 0;
}

/* KEY_VAR_FILE (a 0600 file) or KEY_VAR (the key itself: a process's
 * environment is readable by its own user only), and PORT_VAR, into iface. */
static int env_key_and_port(struct conf_interface *iface, const char *key_var, const char *port_var,
			    uint32_t min_port, char *err, size_t errlen)
{
	char file_var[64];
	const char *v;
	uint32_t n;
	int ret;

	snprintf(file_var, sizeof(file_var), "%s_FILE", key_var);
	if ((v = env(file_var))) {
		if ((ret = env_key_file(iface->private_key, v, file_var, err, errlen)) < 0)
			return ret;
		iface->has_private_key = true;
	} else if ((v = env(key_var))) {
		if (!key_from_base64(iface->private_key, v))
			return bad_env(err, errlen, key_var, "a base64 WireGuard key");
		iface->has_private_key = true;
	}
	if ((v = env(port_var))) {
		if (!conf_parse_uint(v, 65535, &n) || n < min_port)
			return bad_env(err, errlen, port_var, min_port ? "a port, 1 to 65535" : "a port, 0 to 65535");
		iface->listen_port = (uint16_t)n;
		iface->has_listen_port = true;
	}
	return 0;
}

/* The chain's variables beyond the [Serve] keys: the e2e key and port,
 * one relay neighbour (a server) and one end-to-end client. */
static int load_env_chain(struct serve_settings *s, char *err, size_t errlen)
{
	struct conf_interface *ei = &s->chain.e2e.iface;
	uint8_t key[32];
	bool added;
	int ret;

	if ((ret = env_key_and_port(ei, "WEFT_E2E_PRIVATE_KEY", "WEFT_E2E_PORT", 1, err, errlen)) < 0)
		return ret;
	if ((ret = env_peer(&s->conf, "WEFT_RELAY_PEER", key, &added, err, errlen)) < 0)
		return ret;
	if (added && !settings_is_server(s, key)) {
		uint8_t (*v2)[32] = realloc(s->chain.servers, (s->chain.n_servers + 1) * sizeof(*v2));
		if (!v2)
			return bad_env(err, errlen, "WEFT_RELAY_PEER_PUBLIC_KEY", "memory");
		s->chain.servers = v2;
		memcpy(s->chain.servers[s->chain.n_servers++], key, 32);
	}
	return env_peer(&s->chain.e2e, "WEFT_E2E_PEER", key, &added, err, errlen);
}

/* WEFT_* variables: the file's settings, one variable each, plus a single
 * peer (WEFT_PEER_PUBLIC_KEY, WEFT_PEER_ALLOWED_IPS) for the common case. */
static int load_env(struct serve_settings *s, char *err, size_t errlen)
{
	static const char *const serve_vars[][2] = {
		{ "WEFT_STACK", "Stack" }, { "WEFT_ALLOW", "Allow" }, { "WEFT_DENY", "Deny" },
		{ "WEFT_SERVER_LOOPBACK", "ServerLoopback" }, { "WEFT_MAX_FLOWS", "MaxFlows" },
		{ "WEFT_MAX_FLOWS_PER_PEER", "MaxFlowsPerPeer" },
		{ "WEFT_TCP_IDLE_TIMEOUT", "TCPIdleTimeout" }, { "WEFT_UDP_IDLE_TIMEOUT", "UDPIdleTimeout" },
		{ "WEFT_MAX_MEMORY", "MaxMemory" }, { "WEFT_EXPOSE", "Expose" }, { "WEFT_SOCKS5", "SOCKS5" },
		{ "WEFT_SOCKS5_USER", "SOCKS5User" }, { "WEFT_SOCKS5_PASSWORD", "SOCKS5Password" },
		{ "WEFT_RELAY_ADDRESS", "RelayAddress" }, { "WEFT_API", "API" }, { "WEFT_ROUTES", "Routes" },
		{ "WEFT_RELAY_PREFIX", "RelayPrefix" }, { "WEFT_API_PREFIX", "APIPrefix" },
	};
	struct conf_interface *ci = &s->conf.iface;
	const char *v, *what;
	int ret;

	for (size_t i = 0; i < sizeof(serve_vars) / sizeof(serve_vars[0]); i++)
		if ((v = env(serve_vars[i][0])) && (what = serve_key(s, serve_vars[i][1], v)))
			return bad_env(err, errlen, serve_vars[i][0], what);
	if ((ret = env_key_and_port(ci, "WEFT_PRIVATE_KEY", "WEFT_LISTEN_PORT", 0, err, errlen)) < 0)
		return ret;
	if ((v = env("WEFT_ADDRESS"))) {
		char item[CONF_PREFIX_STRLEN + 1];
		ci->addresses.n = 0;
		while (*v) {
			size_t len = strcspn(v, ", \t");
			struct conf_prefix p;
			if (len) {
				if (len >= sizeof(item))
					return bad_env(err, errlen, "WEFT_ADDRESS", "addresses like 10.99.0.1/24");
				memcpy(item, v, len);
				item[len] = '\0';
				if (!conf_prefix_parse(&p, item) || conf_prefix_list_add(&ci->addresses, &p) < 0)
					return bad_env(err, errlen, "WEFT_ADDRESS", "addresses like 10.99.0.1/24");
			}
			v += len;
			v += strspn(v, ", \t");
		}
	}
	if ((ret = load_env_chain(s, err, errlen)) < 0)
		return ret;
	if ((v = env("WEFT_PEER_PUBLIC_KEY"))) {
		uint8_t key[32];
		struct conf_peer *peer;
		const char *ips = env("WEFT_PEER_ALLOWED_IPS");
		if (!key_from_base64(key, v))
			return bad_env(err, errlen, "WEFT_PEER_PUBLIC_KEY", "a base64 WireGuard key");
		peer = conf_peer_find(&s->conf, key);
		if (!peer && conf_peer_add(&s->conf, key, &peer) < 0)
			return bad_env(err, errlen, "WEFT_PEER_PUBLIC_KEY", "room for one more peer");
		if (!ips)
			return bad_env(err, errlen, "WEFT_PEER_ALLOWED_IPS", "the peer's tunnel addresses");
		peer->allowed_ips.n = 0;
		while (*ips) {
			char item[CONF_PREFIX_STRLEN + 1];
			size_t len = strcspn(ips, ", \t");
			struct conf_prefix p;
			if (len) {
				if (len >= sizeof(item))
					return bad_env(err, errlen, "WEFT_PEER_ALLOWED_IPS", "prefixes like 10.99.0.2/32");
				memcpy(item, ips, len);
				item[len] = '\0';
				if (!conf_prefix_parse(&p, item) || conf_prefix_list_add(&peer->allowed_ips, &p) < 0)
					return bad_env(err, errlen, "WEFT_PEER_ALLOWED_IPS", "prefixes like 10.99.0.2/32");
			}
			ips += len;
			ips += strspn(ips, ", \t");
		}
	}
	return 0;
}

static bool prefix_has(const struct conf_prefix *p, const uint8_t a[16])
{
	unsigned bits = p->cidr;

	for (unsigned i = 0; bits; i++) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		if ((p->addr.bytes[i] ^ a[i]) & mask)
			return false;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return true;
}

/* The chain's checks and derived settings: the state file's path, and the
 * relay and API prefixes never reached through the flows. */
static int chain_finish(struct serve_settings *s, const char *path, char *err, size_t errlen)
{
	struct serve_chain *c = &s->chain;
	char text[CONF_PREFIX_STRLEN];
	const char *v = env("WEFT_STATE");

	if (c->has_relay_address && !prefix_has(&c->relay_prefix, c->relay_address)) {
		snprintf(err, errlen, "RelayAddress is outside RelayPrefix");
		return -EINVAL;
	}
	if (c->has_api && !prefix_has(&c->api_prefix, c->api_address)) {
		snprintf(err, errlen, "API is outside APIPrefix");
		return -EINVAL;
	}
	if (c->e2e.n_peers && !c->has_relay_address) {
		snprintf(err, errlen, "an [E2EPeer] needs RelayAddress in [Serve]: the end-to-end layer runs on it");
		return -EINVAL;
	}
	if (v) {
		free(c->state_path);
		c->state_path = strdup(v);
	} else if (c->state_path && c->state_path[0] != '/' && path && strchr(path, '/')) {
		/* relative to the config's directory */
		size_t dir = (size_t)(strrchr(path, '/') - path);
		char *full = malloc(dir + strlen(c->state_path) + 2);
		if (full)
			sprintf(full, "%.*s/%s", (int)dir, path, c->state_path);
		free(c->state_path);
		c->state_path = full;
	} else if (!c->state_path && path) {
		size_t n = strlen(path);
		if (n > 5 && !strcmp(path + n - 5, ".conf"))
			n -= 5;
		if ((c->state_path = malloc(n + 7)))
			sprintf(c->state_path, "%.*s.state", (int)n, path);
	}
	if ((v || path) && !c->state_path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < 2; i++) {
		const struct conf_prefix *p = i ? &c->api_prefix : &c->relay_prefix;
		char a[CONF_ADDR_STRLEN];
		inet_ntop(AF_INET6, p->addr.bytes, a, sizeof(a));
		snprintf(text, sizeof(text), "%s/%u", a, p->cidr);
		if (guard_add(&s->guard, text, false) < 0) {
			snprintf(err, errlen, "too many Allow and Deny prefixes");
			return -E2BIG;
		}
	}
	return 0;
}

int settings_load(struct serve_settings *s, const char *path, char *err, size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	conf_init(&s->conf);
	conf_init(&s->chain.e2e);
	conf_prefix_parse(&s->chain.relay_prefix, SERVE_RELAY_PREFIX);
	conf_prefix_parse(&s->chain.api_prefix, SERVE_API_PREFIX);
	guard_init(&s->guard);
	s->max_flows = SERVE_DEFAULT_MAX_FLOWS;
	s->max_flows_per_peer = SERVE_DEFAULT_MAX_FLOWS_PER_PEER;
	s->tcp_idle_s = SERVE_DEFAULT_TCP_IDLE_S;
	s->udp_idle_s = SERVE_DEFAULT_UDP_IDLE_S;
	s->max_memory = (uint64_t)SERVE_DEFAULT_MAX_MEMORY_MIB << 20;
	if (!path)
		path = env("WEFT_CONFIG");
	if (path && (ret = load_file(s, path, false, err, errlen)) < 0)
		return ret;
	if ((ret = load_env(s, err, errlen)) < 0)
		return ret;
	if (!s->conf.iface.has_private_key) {
		snprintf(err, errlen, "no private key: PrivateKey in the config file, or WEFT_PRIVATE_KEY_FILE");
		return -EINVAL;
	}
	if (!s->conf.n_peers) {
		snprintf(err, errlen, "no peer: a [Peer] or [Relay] in the config file, or WEFT_PEER_PUBLIC_KEY "
			 "or WEFT_RELAY_PEER_PUBLIC_KEY");
		return -EINVAL;
	}
	if (!s->conf.iface.has_listen_port) {
		s->conf.iface.listen_port = SERVE_DEFAULT_PORT;
		s->conf.iface.has_listen_port = true;
	}
	if (!s->chain.e2e.iface.has_listen_port) {
		s->chain.e2e.iface.listen_port = SERVE_DEFAULT_E2E_PORT;
		s->chain.e2e.iface.has_listen_port = true;
	}
	return chain_finish(s, path, err, errlen);
}

int settings_load_state(struct serve_settings *s, const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	conf_init(&s->conf);
	conf_init(&s->chain.e2e);
	guard_init(&s->guard);
	return load_file(s, path, true, err, errlen);
}

void settings_free(struct serve_settings *s)
{
	conf_free(&s->conf);
	conf_free(&s->chain.e2e);
	free(s->chain.servers);
	free(s->chain.routes.v);
	free(s->chain.state_path);
	memzero(s, sizeof(*s));
}
