/* settings.c: reading `weft serve`'s settings (see settings.h). The
 * [Serve] section is cut out of the text (its lines blanked, so line
 * numbers stay right) before the rest goes to the wg-quick parser. */
#include "serve/settings.h"

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
	return "a [Serve] key (Stack, Allow, Deny, ServerLoopback, MaxFlows, MaxFlowsPerPeer, "
	       "TCPIdleTimeout, UDPIdleTimeout, MaxMemory, Expose, SOCKS5, SOCKS5User, SOCKS5Password)";
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

/* Takes the [Serve] lines out of text (blanking them) and applies them. */
static int cut_serve_section(struct serve_settings *s, char *text, size_t len, const char *name,
			     char *err, size_t errlen)
{
	bool in_serve = false;
	unsigned line_no = 0;
	char line[SETTINGS_LINE_MAX];

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
			if (*l == '[')
				in_serve = !strcasecmp(l, "[Serve]");
			if (in_serve) {
				memset(text + pos, ' ', end - pos);
				if (*l && *l != '[') {
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
			}
		}
		pos = end + 1;
	}
	return 0;
}

static int load_file(struct serve_settings *s, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
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
	ret = cut_serve_section(s, text, len, path, err, errlen);
	if (!ret) {
		conf_free(&s->conf);
		ret = conf_parse(&s->conf, text, len, path, 0, err, errlen);
	}
	if (!ret && s->conf.iface.has_private_key && (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: holds a private key and group or others may read it "
			 "(mode %04o): chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		ret = -EPERM;
	}
	memzero(text, len);
	free(text);
	return ret;
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
	};
	struct conf_interface *ci = &s->conf.iface;
	const char *v, *what;
	uint32_t n;
	int ret;

	for (size_t i = 0; i < sizeof(serve_vars) / sizeof(serve_vars[0]); i++)
		if ((v = env(serve_vars[i][0])) && (what = serve_key(s, serve_vars[i][1], v)))
			return bad_env(err, errlen, serve_vars[i][0], what);
	if ((v = env("WEFT_PRIVATE_KEY_FILE"))) {
		if ((ret = env_key_file(ci->private_key, v, "WEFT_PRIVATE_KEY_FILE", err, errlen)) < 0)
			return ret;
		ci->has_private_key = true;
	} else if ((v = env("WEFT_PRIVATE_KEY"))) {
		/* a process's environment is readable by its own user only */
		if (!key_from_base64(ci->private_key, v))
			return bad_env(err, errlen, "WEFT_PRIVATE_KEY", "a base64 WireGuard key");
		ci->has_private_key = true;
	}
	if ((v = env("WEFT_LISTEN_PORT"))) {
		if (!conf_parse_uint(v, 65535, &n))
			return bad_env(err, errlen, "WEFT_LISTEN_PORT", "a port, 0 to 65535");
		ci->listen_port = (uint16_t)n;
		ci->has_listen_port = true;
	}
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

int settings_load(struct serve_settings *s, const char *path, char *err, size_t errlen)
{
	int ret;

	memset(s, 0, sizeof(*s));
	conf_init(&s->conf);
	guard_init(&s->guard);
	s->max_flows = SERVE_DEFAULT_MAX_FLOWS;
	s->max_flows_per_peer = SERVE_DEFAULT_MAX_FLOWS_PER_PEER;
	s->tcp_idle_s = SERVE_DEFAULT_TCP_IDLE_S;
	s->udp_idle_s = SERVE_DEFAULT_UDP_IDLE_S;
	s->max_memory = (uint64_t)SERVE_DEFAULT_MAX_MEMORY_MIB << 20;
	if (!path)
		path = env("WEFT_CONFIG");
	if (path && (ret = load_file(s, path, err, errlen)) < 0)
		return ret;
	if ((ret = load_env(s, err, errlen)) < 0)
		return ret;
	if (!s->conf.iface.has_private_key) {
		snprintf(err, errlen, "no private key: PrivateKey in the config file, or WEFT_PRIVATE_KEY_FILE");
		return -EINVAL;
	}
	if (!s->conf.n_peers) {
		snprintf(err, errlen, "no peer: a [Peer] in the config file, or WEFT_PEER_PUBLIC_KEY");
		return -EINVAL;
	}
	if (!s->conf.iface.has_listen_port) {
		s->conf.iface.listen_port = SERVE_DEFAULT_PORT;
		s->conf.iface.has_listen_port = true;
	}
	return 0;
}

void settings_free(struct serve_settings *s)
{
	conf_free(&s->conf);
	memzero(s, sizeof(*s));
}
