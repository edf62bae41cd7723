/* uapi.c: the UAPI protocol core: parse a set, format a get, on buffers,
 * against a struct weft_device (uapi_server.c puts it on a socket). See
 * uapi.h for the contract. */
#include "weftd/uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/encoding.h"
#include "util/wipe_realloc.h"
#include "weftd/log.h"

#define NSEC_PER_SEC UINT64_C(1000000000)
/* What a get says about a peer with one allowed IP and no handshake yet,
 * rounded up, and about the device itself: the reply's room is reserved
 * once from these. */
#define GET_BYTES_PER_PEER 320
#define GET_BYTES_DEVICE 256

/* ---- reply buffer ---- */

static void buf_wipe(struct uapi_buf *b)
{
	if (b->data) {
		memzero(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

/* Grows with wipe_realloc() so no copy of a key is left in freed memory. */
static bool buf_reserve(struct uapi_buf *b, size_t extra)
{
	size_t need, cap;
	char *data;

	if (b->off == b->len && b->off) /* everything was written: start over */
		b->off = b->len = 0;
	need = b->len + extra;
	if (need <= b->cap)
		return true;
	if (b->off) { /* compact first */
		memmove(b->data, b->data + b->off, b->len - b->off);
		memzero(b->data + b->len - b->off, b->off);
		b->len -= b->off;
		b->off = 0;
		need = b->len + extra;
		if (need <= b->cap)
			return true;
	}
	cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	data = wipe_realloc(b->data, b->cap, b->len, cap);
	if (!data)
		return false;
	b->data = data;
	b->cap = cap;
	return true;
}

static void buf_printf(struct uapi_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct uapi_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* n bytes as they are (and a NUL after them, as buf_printf leaves). */
static void buf_put(struct uapi_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n + 1))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* "name=value\n" without a format: a get of 10,000 peers is 100,000 such
 * lines, and formatting each twice (to measure, then to write) was most
 * of answering it. */
static void buf_line(struct uapi_buf *b, const char *name, const char *value, size_t value_len)
{
	buf_put(b, name, strlen(name));
	buf_put(b, "=", 1);
	buf_put(b, value, value_len);
	buf_put(b, "\n", 1);
}

static void buf_num(struct uapi_buf *b, const char *name, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
	while (v /= 10);
	buf_line(b, name, digits + sizeof(digits) - n, n);
}

static void buf_key(struct uapi_buf *b, const char *name, const uint8_t key[WEFT_KEY_LEN])
{
	char hex[WEFT_KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	buf_line(b, name, hex, WEFT_KEY_HEX_LEN);
	memzero(hex, sizeof(hex));
}

/* ---- value parsers, as strict as wireguard-go's (Go's strconv and netip) ---- */

/* Decimal digits only, no sign, no overflow past max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool parse_true(const char *value)
{
	return !strcmp(value, "true");
}

/* "a.b.c.d:port", "[v6]:port" or "[v6%zone]:port". An IPv4-mapped IPv6
 * address becomes IPv4: the IPv6 socket is IPV6_V6ONLY. */
static bool parse_endpoint(const char *value, struct weft_endpoint *ep)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *port, *end;
	uint64_t portnum;
	size_t host_len;

	memset(ep, 0, sizeof(*ep));
	if (value[0] == '[') {
		end = strchr(value, ']');
		if (!end || end[1] != ':')
			return false;
		host_len = (size_t)(end - value - 1);
		port = end + 2;
		if (host_len == 0 || host_len >= sizeof(host))
			return false;
		memcpy(host, value + 1, host_len);
		host[host_len] = '\0';
	} else {
		end = strrchr(value, ':');
		if (!end)
			return false;
		host_len = (size_t)(end - value);
		port = end + 1;
		if (host_len == 0 || host_len >= sizeof(host))
			return false;
		memcpy(host, value, host_len);
		host[host_len] = '\0';
		if (strchr(host, ':')) /* IPv6 needs brackets */
			return false;
	}
	if (!parse_uint(port, 65535, &portnum))
		return false;

	if (value[0] != '[') {
		if (inet_pton(AF_INET, host, &ep->addr.in4.sin_addr) != 1)
			return false;
		ep->addr.in4.sin_family = AF_INET;
		ep->addr.in4.sin_port = htons((uint16_t)portnum);
		return true;
	}

	char *zone = strchr(host, '%');
	uint32_t scope = 0;
	if (zone) {
		uint64_t n;
		*zone++ = '\0';
		if (!*zone)
			return false;
		if (parse_uint(zone, UINT32_MAX, &n))
			scope = (uint32_t)n;
		else if (!(scope = if_nametoindex(zone)))
			return false;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a6) && !zone) {
		ep->addr.in4.sin_family = AF_INET;
		memcpy(&ep->addr.in4.sin_addr, &a6.s6_addr[12], 4);
		ep->addr.in4.sin_port = htons((uint16_t)portnum);
		return true;
	}
	ep->addr.in6.sin6_family = AF_INET6;
	ep->addr.in6.sin6_addr = a6;
	ep->addr.in6.sin6_port = htons((uint16_t)portnum);
	ep->addr.in6.sin6_scope_id = scope;
	return true;
}

/* "ip/cidr" with no zone; the cidr is 0..32 or 0..128 without sign. */
static bool parse_prefix(const char *value, int *family, uint8_t ip[16], uint8_t *cidr)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(value, '/');
	uint64_t bits;
	size_t n;

	if (!slash)
		return false;
	n = (size_t)(slash - value);
	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, value, n);
	addr[n] = '\0';
	if (slash[1] == '0' && slash[2]) /* Go rejects leading zeros in the length */
		return false;
	if (strchr(addr, ':')) {
		if (inet_pton(AF_INET6, addr, ip) != 1 || !parse_uint(slash + 1, 128, &bits))
			return false;
		*family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, addr, ip) != 1 || !parse_uint(slash + 1, 32, &bits))
			return false;
		*family = AF_INET;
	}
	*cidr = (uint8_t)bits;
	return true;
}

/* ---- get ---- */

static void format_endpoint(struct uapi_buf *b, const struct weft_endpoint *ep)
{
	char ip[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE];

	if (ep->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &ep->addr.in4.sin_addr, ip, sizeof(ip));
		buf_printf(b, "endpoint=%s:%u\n", ip, ntohs(ep->addr.in4.sin_port));
	} else if (ep->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &ep->addr.in6.sin6_addr, ip, sizeof(ip));
		uint32_t scope = ep->addr.in6.sin6_scope_id;
		if (!scope)
			buf_printf(b, "endpoint=[%s]:%u\n", ip, ntohs(ep->addr.in6.sin6_port));
		else if (if_indextoname(scope, ifname))
			buf_printf(b, "endpoint=[%s%%%s]:%u\n", ip, ifname, ntohs(ep->addr.in6.sin6_port));
		else
			buf_printf(b, "endpoint=[%s%%%" PRIu32 "]:%u\n", ip, scope,
				   ntohs(ep->addr.in6.sin6_port));
	}
}

static int format_allowed_ip(void *ctx, int family, const uint8_t *ip, uint8_t cidr)
{
	char s[INET6_ADDRSTRLEN + 4], *p = s;

	if (family == AF_INET) {
		/* by hand: inet_ntop formats IPv4 with sprintf */
		for (int i = 0; i < 4; i++) {
			unsigned v = ip[i];

			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : '/';
		}
	} else {
		if (!inet_ntop(family, ip, s, INET6_ADDRSTRLEN))
			return 0;
		p = s + strlen(s);
		*p++ = '/';
	}
	if (cidr >= 100)
		*p++ = (char)('0' + cidr / 100);
	if (cidr >= 10)
		*p++ = (char)('0' + cidr / 10 % 10);
	*p++ = (char)('0' + cidr % 10);
	buf_line(ctx, "allowed_ip", s, (size_t)(p - s));
	return 0;
}

/* The order of keys is wireguard-go's. */
static void format_get(struct uapi_buf *b, struct weft_device *dev)
{
	uint8_t key[WEFT_KEY_LEN];
	struct weft_peer_info info;

	/* room for all of it at once: growing copies (and wipes) it each time */
	buf_reserve(b, weft_peer_count(dev) * GET_BYTES_PER_PEER + GET_BYTES_DEVICE);
	if (weft_device_private_key(dev, key))
		buf_key(b, "private_key", key);
	memzero(key, sizeof(key));
	if (weft_device_listen_port(dev))
		buf_num(b, "listen_port", weft_device_listen_port(dev));
	if (weft_device_fwmark(dev))
		buf_num(b, "fwmark", weft_device_fwmark(dev));
	for (struct weft_peer *p = weft_peer_first(dev); p; p = weft_peer_next(dev, p)) {
		weft_peer_get_info(p, &info);
		buf_key(b, "public_key", info.public_key);
		weft_peer_preshared_key(p, key); /* zeros when there is none */
		buf_key(b, "preshared_key", key);
		memzero(key, sizeof(key));
		buf_put(b, "protocol_version=1\n", strlen("protocol_version=1\n"));
		if (info.has_endpoint)
			format_endpoint(b, &info.endpoint);
		buf_num(b, "last_handshake_time_sec", info.last_handshake_wall_ns / NSEC_PER_SEC);
		buf_num(b, "last_handshake_time_nsec", info.last_handshake_wall_ns % NSEC_PER_SEC);
		buf_num(b, "tx_bytes", info.tx_bytes);
		buf_num(b, "rx_bytes", info.rx_bytes);
		buf_num(b, "persistent_keepalive_interval", info.persistent_keepalive);
		weft_peer_allowed_ips_walk(p, format_allowed_ip, b);
		memzero(&info, sizeof(info));
	}
}

/* ---- set ---- */

#define LOG_KEY_MAX 32

/* Names from the wire appear in logs only when they look like a key name:
 * a garbled line may hold a secret. */
static const char *loggable(const char *key)
{
	size_t n = strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_=");

	return key[n] || n > LOG_KEY_MAX ? "(not shown)" : key;
}

static void peer_label(char out[LOG_PEER_NAME_LEN], const struct weft_peer *peer)
{
	if (peer)
		log_peer_name(out, weft_peer_public_key(peer));
	else
		snprintf(out, LOG_PEER_NAME_LEN, "peer(ignored)");
}

static int set_device_line(struct weft_device *dev, const struct uapi_hooks *hooks,
			   const char *key, const char *value)
{
	uint64_t n;
	int r;

	if (!strcmp(key, "private_key")) {
		uint8_t sk[WEFT_KEY_LEN];
		/* All zeros removes the key; the same key again keeps every
		 * session (the engine compares), so a repeated setconf is harmless. */
		r = key_from_hex(sk, value) ? weft_device_set_private_key(dev, sk) : -EINVAL;
		memzero(sk, sizeof(sk));
		if (r < 0) {
			log_error("UAPI: failed to set private_key: %s", r == -EINVAL ? "invalid key" : strerror(-r));
			return -EINVAL;
		}
		log_verbose("UAPI: Updating private key");
		return 0;
	}
	if (!strcmp(key, "listen_port")) {
		if (!parse_uint(value, 65535, &n)) {
			log_error("UAPI: failed to parse listen_port: %s", loggable(value));
			return -EINVAL;
		}
		log_verbose("UAPI: Updating listen port");
		r = hooks && hooks->set_listen_port ? hooks->set_listen_port(hooks->ctx, (uint16_t)n) : 0;
		if (r < 0) {
			log_error("UAPI: failed to set listen_port: %s", strerror(-r));
			return -EADDRINUSE;
		}
		if (!hooks || !hooks->set_listen_port)
			weft_device_set_listen_port(dev, (uint16_t)n);
		return 0;
	}
	if (!strcmp(key, "fwmark")) {
		if (!parse_uint(value, UINT32_MAX, &n)) {
			log_error("UAPI: invalid fwmark: %s", loggable(value));
			return -EINVAL;
		}
		log_verbose("UAPI: Updating fwmark");
		r = hooks && hooks->set_fwmark ? hooks->set_fwmark(hooks->ctx, (uint32_t)n) : 0;
		if (r < 0) {
			log_error("UAPI: failed to update fwmark: %s", strerror(-r));
			return -EADDRINUSE;
		}
		weft_device_set_fwmark(dev, (uint32_t)n);
		return 0;
	}
	if (!strcmp(key, "replace_peers")) {
		if (!parse_true(value)) {
			log_error("UAPI: failed to set replace_peers, invalid value: %s", loggable(value));
			return -EINVAL;
		}
		log_verbose("UAPI: Removing all peers");
		weft_peer_remove_all(dev);
		return 0;
	}
	log_error("UAPI: invalid UAPI device key: %s", loggable(key));
	return -EINVAL;
}

static int set_public_key(struct uapi_conn *c, struct weft_device *dev, const char *value)
{
	uint8_t pk[WEFT_KEY_LEN];
	char name[LOG_PEER_NAME_LEN];

	c->in_peer_section = true;
	c->peer = NULL;
	c->peer_created = false;
	if (!key_from_hex(pk, value)) {
		log_error("UAPI: failed to get peer by public key: invalid hex key");
		return -EINVAL;
	}
	c->peer = weft_peer_lookup(dev, pk);
	if (c->peer)
		return 0;
	int e = weft_peer_add(dev, pk, &c->peer);
	if (e < 0) {
		if (e == -EINVAL)
			return 0; /* our own public key: that peer is ignored, lines and all */
		log_error("UAPI: failed to create new peer: %s", strerror(-e));
		return e == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	c->peer_created = true;
	if (log_level() >= LOG_VERBOSE) {
		log_peer_name(name, pk);
		log_verbose("%s - UAPI: Created", name);
	}
	return 0;
}

static int set_peer_line(struct uapi_conn *c, struct weft_device *dev,
			 const char *key, const char *value)
{
	char name[LOG_PEER_NAME_LEN];
	struct weft_peer *peer = c->peer;
	uint64_t n;

	peer_label(name, peer);
	if (!strcmp(key, "update_only")) {
		if (!parse_true(value)) {
			log_error("%s - UAPI: failed to set update only, invalid value: %s", name, loggable(value));
			return -EINVAL;
		}
		if (peer && c->peer_created) {
			weft_peer_remove(dev, peer);
			c->peer = NULL;
			c->peer_created = false;
		}
		return 0;
	}
	if (!strcmp(key, "remove")) {
		if (!parse_true(value)) {
			log_error("%s - UAPI: failed to set remove, invalid value: %s", name, loggable(value));
			return -EINVAL;
		}
		if (peer) {
			log_verbose("%s - UAPI: Removing", name);
			weft_peer_remove(dev, peer);
		}
		c->peer = NULL;
		c->peer_created = false;
		return 0;
	}
	if (!strcmp(key, "preshared_key")) {
		uint8_t psk[WEFT_KEY_LEN];
		if (!key_from_hex(psk, value)) {
			memzero(psk, sizeof(psk));
			log_error("%s - UAPI: failed to set preshared key: invalid hex key", name);
			return -EINVAL;
		}
		log_verbose("%s - UAPI: Updating preshared key", name);
		if (peer)
			weft_peer_set_preshared_key(peer, psk);
		memzero(psk, sizeof(psk));
		return 0;
	}
	if (!strcmp(key, "endpoint")) {
		struct weft_endpoint ep;
		if (!parse_endpoint(value, &ep)) {
			log_error("%s - UAPI: failed to set endpoint %s", name, value);
			return -EINVAL;
		}
		log_verbose("%s - UAPI: Updating endpoint", name);
		if (peer)
			weft_peer_set_endpoint(peer, &ep);
		return 0;
	}
	if (!strcmp(key, "persistent_keepalive_interval")) {
		if (!parse_uint(value, 65535, &n)) {
			log_error("%s - UAPI: failed to set persistent keepalive interval: %s", name, loggable(value));
			return -EINVAL;
		}
		log_verbose("%s - UAPI: Updating persistent keepalive interval", name);
		/* the engine sends a keepalive when it turns on, as the kernel */
		if (peer)
			weft_peer_set_persistent_keepalive(peer, (uint16_t)n);
		return 0;
	}
	if (!strcmp(key, "replace_allowed_ips")) {
		if (!parse_true(value)) {
			log_error("%s - UAPI: failed to replace allowedips, invalid value: %s", name, loggable(value));
			return -EINVAL;
		}
		log_verbose("%s - UAPI: Removing all allowedips", name);
		if (peer)
			weft_peer_allowed_ips_clear(peer);
		return 0;
	}
	if (!strcmp(key, "allowed_ip")) {
		bool removing = value[0] == '-';
		uint8_t ip[16];
		uint8_t cidr;
		int family, r;
		if (!parse_prefix(value + removing, &family, ip, &cidr)) {
			log_error("%s - UAPI: failed to set allowed ip: %s", name, value);
			return -EINVAL;
		}
		log_verbose("%s - UAPI: %s allowedip", name, removing ? "Removing" : "Adding");
		if (!peer)
			return 0;
		if (removing) {
			r = weft_peer_allowed_ip_remove(peer, family, ip, cidr);
			if (r == -ENOENT)
				r = 0; /* not there: nothing to do, as wireguard-go */
		} else {
			r = weft_peer_allowed_ip_add(peer, family, ip, cidr);
		}
		if (r < 0)
			log_error("%s - UAPI: failed to set allowed ip: %s", name, strerror(-r));
		return r < 0 ? (r == -ENOMEM ? -ENOMEM : -EINVAL) : 0;
	}
	if (!strcmp(key, "protocol_version")) {
		if (strcmp(value, "1")) {
			log_error("%s - UAPI: invalid protocol version: %s", name, loggable(value));
			return -EINVAL;
		}
		return 0;
	}
	log_error("%s - UAPI: invalid UAPI peer key: %s", name, loggable(key));
	return -EINVAL;
}

static int set_line(struct uapi_conn *c, struct weft_device *dev, const struct uapi_hooks *hooks,
		    char *line)
{
	char *value = strchr(line, '=');

	if (!value) {
		log_error("UAPI: failed to parse line: no '=' in %s", loggable(line));
		return -EPROTO;
	}
	*value++ = '\0';
	if (!strcmp(line, "public_key"))
		return set_public_key(c, dev, value);
	if (!c->in_peer_section)
		return set_device_line(dev, hooks, line, value);
	return set_peer_line(c, dev, line, value);
}

/* ---- connection state machine ---- */

static void reply_errno(struct uapi_conn *c, int err)
{
	buf_printf(&c->out, "errno=%d\n\n", err);
}

static void end_set(struct uapi_conn *c)
{
	c->in_peer_section = false;
	c->peer = NULL;
	c->peer_created = false;
}

static void handle_line(struct uapi_conn *c, struct weft_device *dev,
			const struct uapi_hooks *hooks, char *line, size_t len)
{
	int r;

	switch (c->state) {
	case UAPI_IDLE:
		if (len == 0)
			return; /* stray blank lines between requests */
		if (!strcmp(line, "set=1")) {
			c->state = UAPI_SET;
			end_set(c);
		} else if (!strcmp(line, "get=1")) {
			c->state = UAPI_GET;
		} else {
			log_error("invalid UAPI operation: %s", loggable(line));
			reply_errno(c, -EINVAL);
			c->state = UAPI_CLOSING;
		}
		return;
	case UAPI_GET:
		if (len == 0) {
			format_get(&c->out, dev);
			reply_errno(c, 0);
			c->state = UAPI_IDLE;
		} else {
			log_error("trailing line in UAPI get");
			reply_errno(c, -EINVAL);
			c->state = UAPI_SKIP;
		}
		return;
	case UAPI_SET:
		if (len == 0) {
			end_set(c);
			reply_errno(c, 0);
			c->state = UAPI_IDLE;
			return;
		}
		r = set_line(c, dev, hooks, line);
		if (r < 0) {
			end_set(c);
			reply_errno(c, r);
			c->state = UAPI_SKIP;
		}
		return;
	case UAPI_SKIP:
		if (len == 0)
			c->state = UAPI_IDLE;
		return;
	case UAPI_CLOSING:
		return;
	}
}

static void handle_overlong_line(struct uapi_conn *c)
{
	switch (c->state) {
	case UAPI_GET:
	case UAPI_SET:
		log_error("UAPI: line longer than %d bytes", UAPI_LINE_MAX);
		end_set(c);
		reply_errno(c, -EIO);
		c->state = UAPI_SKIP;
		break;
	default:
		break; /* IDLE closed as soon as the line grew too long; SKIP drops it */
	}
}

void uapi_conn_init(struct uapi_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->state = UAPI_IDLE;
}

void uapi_conn_release(struct uapi_conn *c)
{
	buf_wipe(&c->out);
	memzero(c->line, sizeof(c->line));
	uapi_conn_init(c);
}

size_t uapi_conn_feed(struct uapi_conn *c, struct weft_device *dev,
		      const struct uapi_hooks *hooks, const char *in, size_t len)
{
	size_t used = 0;

	while (used < len) {
		if (c->state == UAPI_CLOSING)
			return len;
		if (uapi_conn_pending(c) > UAPI_OUT_HIGH)
			break;
		const char *start = in + used;
		const char *nl = memchr(start, '\n', len - used);
		size_t chunk = nl ? (size_t)(nl - start) : len - used;

		if (!c->line_too_long) {
			if (c->line_len + chunk > UAPI_LINE_MAX) {
				c->line_too_long = true;
				memzero(c->line, c->line_len);
				c->line_len = 0;
				if (c->state == UAPI_IDLE) { /* no operation is that long */
					log_error("invalid UAPI operation: line too long");
					reply_errno(c, -EINVAL);
					c->state = UAPI_CLOSING;
					return len;
				}
			} else {
				memcpy(c->line + c->line_len, start, chunk);
				c->line_len += chunk;
			}
		}
		used += chunk;
		if (!nl)
			break;
		used++; /* the newline */
		c->lines++;
		if (c->line_too_long) {
			c->line_too_long = false;
			handle_overlong_line(c);
			continue;
		}
		c->line[c->line_len] = '\0';
		if (memchr(c->line, '\0', c->line_len)) { /* NUL inside a line */
			if (c->state == UAPI_SET || c->state == UAPI_GET) {
				end_set(c);
				reply_errno(c, -EPROTO);
				c->state = UAPI_SKIP;
			} else if (c->state == UAPI_IDLE) {
				reply_errno(c, -EINVAL);
				c->state = UAPI_CLOSING;
			}
		} else {
			handle_line(c, dev, hooks, c->line, c->line_len);
		}
		memzero(c->line, c->line_len + 1);
		c->line_len = 0;
	}
	return used;
}

bool uapi_conn_in_set(const struct uapi_conn *c)
{
	return c->state == UAPI_SET;
}

bool uapi_conn_closing(const struct uapi_conn *c)
{
	return c->state == UAPI_CLOSING;
}

size_t uapi_conn_pending(const struct uapi_conn *c)
{
	return c->out.len - c->out.off;
}

const char *uapi_conn_output(const struct uapi_conn *c)
{
	return c->out.data ? c->out.data + c->out.off : "";
}

void uapi_conn_consume(struct uapi_conn *c, size_t n)
{
	if (n > uapi_conn_pending(c))
		n = uapi_conn_pending(c);
	if (!n) /* nothing to wipe; out.data may not be allocated yet */
		return;
	memzero(c->out.data + c->out.off, n);
	c->out.off += n;
	if (c->out.off == c->out.len)
		c->out.off = c->out.len = 0;
}
