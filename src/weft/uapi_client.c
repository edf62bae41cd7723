/* uapi_client.c: talks to a userspace WireGuard daemon (wireguard-go, weftd)
 * over its Unix socket with the cross-platform UAPI: builds "set=1" requests
 * from a struct device change and parses "get=1" replies into one. Keys
 * cross the socket in hex; every buffer that held one is wiped. */
#include "uapi_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "device.h"
#include "util/encoding.h"
#include "util/wipe_realloc.h"

/* No reply line is near this long (the longest is an endpoint); a longer
 * one means we are not talking to a WireGuard daemon. */
#define UAPI_MAX_LINE 4096
#define UAPI_READ_CHUNK 4096

/* ---- the socket ---- */

static int sock_addr(struct sockaddr_un *addr, const char *iface)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* The name becomes a path: no directories, no empty name. */
	if (!*iface || strchr(iface, '/'))
		return -EINVAL;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/%s%s",
		     UAPI_SOCK_DIR, iface, UAPI_SOCK_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* A connected socket (>= 0) or -errno; -ENODEV when there is no socket. */
static int uapi_connect(const char *iface)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret = sock_addr(&addr, iface);

	if (ret < 0)
		return ret;
	if (stat(addr.sun_path, &st) < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EBADF;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		close(fd);
		/* The daemon is gone and left its socket behind: clean up, as
		 * wg does, so the name stops being listed. */
		if (ret == -ECONNREFUSED) {
			unlink(addr.sun_path);
			ret = -ENODEV;
		}
		return ret;
	}
	return fd;
}

bool uapi_has_device(const char *iface)
{
	int fd = uapi_connect(iface);

	/* A socket we may not connect to is a device we may not use, as wg
	 * counts it: listed, so that reading it says "Permission denied". */
	if (fd == -EACCES || fd == -EPERM)
		return true;
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

char **uapi_list_devices(int *err)
{
	size_t n = 0, cap = 8;
	char **names = calloc(cap + 1, sizeof(*names));
	struct dirent *ent;
	DIR *dir;

	*err = 0;
	if (!names) {
		*err = -ENOMEM;
		return NULL;
	}
	dir = opendir(UAPI_SOCK_DIR);
	if (!dir) {
		if (errno == ENOENT)
			return names;
		*err = -errno;
		free(names);
		return NULL;
	}
	while ((ent = readdir(dir))) {
		size_t len = strlen(ent->d_name), sfx = strlen(UAPI_SOCK_SUFFIX);
		char name[NAME_MAX + 1];

		if (len <= sfx || strcmp(ent->d_name + len - sfx, UAPI_SOCK_SUFFIX))
			continue;
		memcpy(name, ent->d_name, len - sfx);
		name[len - sfx] = '\0';
		if (!uapi_has_device(name))
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap * 2 + 1) * sizeof(*names));
			if (!more)
				goto oom;
			names = more;
			cap *= 2;
		}
		if (!(names[n] = strdup(name)))
			goto oom;
		names[++n] = NULL;
	}
	closedir(dir);
	return names;
oom:
	closedir(dir);
	device_list_free(names);
	*err = -ENOMEM;
	return NULL;
}

/* ---- reading replies line by line ---- */

struct reader {
	int fd;
	size_t pos, len;
	char buf[UAPI_READ_CHUNK];
	char line[UAPI_MAX_LINE + 1];
};

/* The next line without its '\n' in r->line: its length, or -errno
 * (-EPROTO for a line that is too long or cut off by the end of input). */
static ssize_t read_line(struct reader *r)
{
	size_t n = 0;

	for (;;) {
		if (r->pos == r->len) {
			ssize_t got;

			do
				got = read(r->fd, r->buf, sizeof(r->buf));
			while (got < 0 && errno == EINTR);
			if (got < 0)
				return -errno;
			if (got == 0)
				return -EPROTO;
			r->pos = 0;
			r->len = (size_t)got;
		}
		char c = r->buf[r->pos++];
		if (c == '\n') {
			r->line[n] = '\0';
			return (ssize_t)n;
		}
		if (n == UAPI_MAX_LINE)
			return -EPROTO;
		r->line[n++] = c;
	}
}

static void reader_wipe(struct reader *r)
{
	memzero(r->buf, sizeof(r->buf));
	memzero(r->line, sizeof(r->line));
}

/* "errno=N": the daemons differ on the sign (wireguard-go sends -EINVAL,
 * the xplatform text shows a positive number); both mean -abs(N). */
static bool parse_errno(const char *value, int *ret)
{
	char *end;
	long long v;

	if (!*value)
		return false;
	errno = 0;
	v = strtoll(value, &end, 10);
	if (*end || errno || v > INT_MAX || v < -INT_MAX)
		return false;
	*ret = v < 0 ? (int)v : -(int)v;
	return true;
}

/* A decimal number without sign, at most max. */
static bool parse_num(const char *value, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (value[0] < '0' || value[0] > '9')
		return false;
	errno = 0;
	*out = strtoull(value, &end, 10);
	return !*end && !errno && *out <= max;
}

/* "1.2.3.4:51820" or "[fe80::1%eth0]:51820", numeric only: a reply never
 * sends us to the resolver. */
static bool parse_endpoint(union dev_endpoint *ep, char *value)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_protocol = IPPROTO_UDP,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res;
	char *host, *port;
	bool ok = false;

	if (value[0] == '[') {
		host = value + 1;
		port = strchr(host, ']');
		if (!port || port[1] != ':' || !port[2])
			return false;
		*port = '\0';
		port += 2;
	} else {
		host = value;
		port = strrchr(value, ':');
		if (!port || !port[1])
			return false;
		*port++ = '\0';
	}
	if (getaddrinfo(host, port, &hints, &res))
		return false;
	if ((res->ai_family == AF_INET && res->ai_addrlen == sizeof(struct sockaddr_in)) ||
	    (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(struct sockaddr_in6))) {
		memcpy(ep, res->ai_addr, res->ai_addrlen);
		ok = true;
	}
	freeaddrinfo(res);
	return ok;
}

static bool parse_allowedip(struct dev_allowedip *ip, char *value)
{
	char *slash = strchr(value, '/');
	unsigned long long cidr;

	memset(ip, 0, sizeof(*ip));
	if (!slash)
		return false;
	*slash = '\0';
	if (strchr(value, ':')) {
		if (inet_pton(AF_INET6, value, &ip->ip6) != 1 || !parse_num(slash + 1, 128, &cidr))
			return false;
		ip->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, value, &ip->ip4) != 1 || !parse_num(slash + 1, 32, &cidr))
			return false;
		ip->family = AF_INET;
	}
	ip->cidr = (uint8_t)cidr;
	return true;
}

/* One "key=value" line of a get reply into dev. -EPROTO for a line that
 * does not parse; unknown keys are skipped (protocol_version, and whatever
 * future daemons add). */
static int parse_get_line(struct device *dev, struct dev_peer **peer, char *line, int *status)
{
	char *value = strchr(line, '=');
	unsigned long long num;
	const char *key = line;

	if (!value)
		return -EPROTO;
	*value++ = '\0';

	if (!strcmp(key, "errno"))
		return parse_errno(value, status) ? 0 : -EPROTO;
	if (!strcmp(key, "public_key")) {
		if (!(*peer = device_add_peer(dev)))
			return -ENOMEM;
		if (!key_from_hex((*peer)->public_key, value))
			return -EPROTO;
		(*peer)->flags |= PEER_HAS_PUBLIC_KEY;
		return 0;
	}
	if (!*peer) {
		if (!strcmp(key, "private_key")) {
			if (!key_from_hex(dev->private_key, value))
				return -EPROTO;
			x25519_public(dev->public_key, dev->private_key);
			dev->flags |= DEV_HAS_PRIVATE_KEY | DEV_HAS_PUBLIC_KEY;
		} else if (!strcmp(key, "listen_port")) {
			if (!parse_num(value, UINT16_MAX, &num))
				return -EPROTO;
			dev->listen_port = (uint16_t)num;
			dev->flags |= DEV_HAS_LISTEN_PORT;
		} else if (!strcmp(key, "fwmark")) {
			if (!parse_num(value, UINT32_MAX, &num))
				return -EPROTO;
			dev->fwmark = (uint32_t)num;
			dev->flags |= DEV_HAS_FWMARK;
		}
		return 0;
	}

	struct dev_peer *p = *peer;
	if (!strcmp(key, "preshared_key")) {
		if (!key_from_hex(p->preshared_key, value))
			return -EPROTO;
		/* All zeros is how the daemon says "no preshared key". */
		if (!is_zero_ct(p->preshared_key, WG_KEY_LEN))
			p->flags |= PEER_HAS_PRESHARED_KEY;
	} else if (!strcmp(key, "endpoint")) {
		if (!parse_endpoint(&p->endpoint, value))
			return -EPROTO;
	} else if (!strcmp(key, "persistent_keepalive_interval")) {
		if (!parse_num(value, UINT16_MAX, &num))
			return -EPROTO;
		p->persistent_keepalive = (uint16_t)num;
		p->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
	} else if (!strcmp(key, "allowed_ip")) {
		struct dev_allowedip ip;

		if (!parse_allowedip(&ip, value))
			return -EPROTO;
		return peer_add_allowedip(p, &ip);
	} else if (!strcmp(key, "last_handshake_time_sec")) {
		if (!parse_num(value, INT64_MAX, &num))
			return -EPROTO;
		p->last_handshake_sec = (int64_t)num;
	} else if (!strcmp(key, "last_handshake_time_nsec")) {
		if (!parse_num(value, INT64_MAX, &num))
			return -EPROTO;
		p->last_handshake_nsec = (int64_t)num;
	} else if (!strcmp(key, "rx_bytes")) {
		if (!parse_num(value, UINT64_MAX, &num))
			return -EPROTO;
		p->rx_bytes = num;
	} else if (!strcmp(key, "tx_bytes")) {
		if (!parse_num(value, UINT64_MAX, &num))
			return -EPROTO;
		p->tx_bytes = num;
	}
	return 0;
}

/* Writes all of buf; a daemon that hangs up early is not a signal. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int uapi_get_device(struct device **out, const char *iface)
{
	struct dev_peer *peer = NULL;
	struct device *dev;
	struct reader *r;
	int fd, ret, status = -EPROTO;

	*out = NULL;
	fd = uapi_connect(iface);
	if (fd < 0)
		return fd;
	dev = device_new(iface);
	r = malloc(sizeof(*r));
	if (!dev || !r) {
		ret = -ENOMEM;
		goto out;
	}
	r->fd = fd;
	r->pos = r->len = 0;
	ret = write_all(fd, "get=1\n\n", 7);
	if (ret < 0)
		goto out;
	for (;;) {
		ssize_t n = read_line(r);

		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		if (n == 0)
			break; /* the blank line ends the reply */
		ret = parse_get_line(dev, &peer, r->line, &status);
		if (ret < 0)
			goto out;
	}
	/* A reply without "errno=" is not one we understand. */
	ret = status;
out:
	if (r) {
		reader_wipe(r);
		free(r);
	}
	close(fd);
	if (ret < 0)
		device_free(dev);
	else
		*out = dev;
	return ret;
}

/* ---- the brief get (device_get_brief) ---- */

/* Bytes asked of the socket at a time: a reply for 10,000 peers is about
 * 3 MB, and 4 KiB reads were 750 system calls. */
#define BRIEF_READ_CHUNK (64u << 10)
/* More than a device can hold (the Linux module's MAX_PEERS_PER_DEVICE, and
 * 16 addresses a peer): a reply past them is not a WireGuard daemon's. */
#define BRIEF_MAX_PEERS (1u << 20)
#define BRIEF_MAX_IPS (1u << 24)

struct brief {
	struct device *dev;
	struct dev_peer *peer;   /* the one whose lines are being read */
	size_t n_ips, cap_ips;
	int status;
	char buf[BRIEF_READ_CHUNK + UAPI_MAX_LINE + 1];
};

static bool key_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(s, word, n);
}

/* Peers and addresses hold no secret here: plain realloc. */
static struct dev_peer *brief_add_peer(struct device *dev)
{
	if (dev->n_peers == dev->cap_peers) {
		size_t cap = dev->cap_peers ? dev->cap_peers * 2 : 64;
		struct dev_peer *v;

		if (dev->n_peers >= BRIEF_MAX_PEERS || !(v = realloc(dev->peers, cap * sizeof(*v))))
			return NULL;
		dev->peers = v;
		dev->cap_peers = cap;
	}
	memset(&dev->peers[dev->n_peers], 0, sizeof(*dev->peers));
	return &dev->peers[dev->n_peers++];
}

static int brief_add_ip(struct brief *b, const struct dev_allowedip *ip)
{
	if (b->n_ips == b->cap_ips) {
		size_t cap = b->cap_ips ? b->cap_ips * 2 : 64;
		struct dev_allowedip *v;

		if (b->n_ips >= BRIEF_MAX_IPS)
			return -EPROTO;
		if (!(v = realloc(b->dev->ip_block, cap * sizeof(*v))))
			return -ENOMEM;
		b->dev->ip_block = v;
		b->cap_ips = cap;
	}
	b->dev->ip_block[b->n_ips++] = *ip;
	b->peer->n_allowedips++;
	return 0;
}

/* One line (NUL-terminated at s[n]): the keys that say which public keys
 * and addresses are taken, the device's own settings, errno; the other
 * keys (counters, preshared keys, endpoints) are skipped unread. */
static int brief_line(struct brief *b, char *s, size_t n)
{
	char *eq = memchr(s, '=', n), *v;
	struct device *dev = b->dev;
	unsigned long long num;
	size_t kn;

	if (!eq)
		return -EPROTO;
	kn = (size_t)(eq - s);
	v = eq + 1;
	if (key_is(s, kn, "public_key")) {
		if (!(b->peer = brief_add_peer(dev)))
			return dev->n_peers >= BRIEF_MAX_PEERS ? -EPROTO : -ENOMEM;
		if (!key_from_hex(b->peer->public_key, v))
			return -EPROTO;
		b->peer->flags |= PEER_HAS_PUBLIC_KEY;
		return 0;
	}
	if (key_is(s, kn, "allowed_ip") && b->peer) {
		struct dev_allowedip ip;

		return parse_allowedip(&ip, v) ? brief_add_ip(b, &ip) : -EPROTO;
	}
	if (key_is(s, kn, "errno"))
		return parse_errno(v, &b->status) ? 0 : -EPROTO;
	if (b->peer)
		return 0;
	if (key_is(s, kn, "private_key")) {
		if (!key_from_hex(dev->private_key, v))
			return -EPROTO;
		x25519_public(dev->public_key, dev->private_key);
		dev->flags |= DEV_HAS_PRIVATE_KEY | DEV_HAS_PUBLIC_KEY;
	} else if (key_is(s, kn, "listen_port")) {
		if (!parse_num(v, UINT16_MAX, &num))
			return -EPROTO;
		dev->listen_port = (uint16_t)num;
		dev->flags |= DEV_HAS_LISTEN_PORT;
	} else if (key_is(s, kn, "fwmark")) {
		if (!parse_num(v, UINT32_MAX, &num))
			return -EPROTO;
		dev->fwmark = (uint32_t)num;
		dev->flags |= DEV_HAS_FWMARK;
	}
	return 0;
}

/* Reads the reply in large chunks and takes each complete line where it
 * lies; a partial line moves to the front for the next read. 0 at the
 * blank line that ends the reply, or -errno. */
static int brief_read(struct brief *b, int fd)
{
	size_t len = 0;

	for (;;) {
		ssize_t got;
		size_t pos = 0;
		char *nl;

		do
			got = read(fd, b->buf + len, BRIEF_READ_CHUNK);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EPROTO;
		len += (size_t)got;
		while ((nl = memchr(b->buf + pos, '\n', len - pos))) {
			size_t n = (size_t)(nl - b->buf) - pos;
			int ret;

			if (n > UAPI_MAX_LINE)
				return -EPROTO;
			if (!n)
				return 0; /* the blank line ends the reply */
			*nl = '\0';
			ret = brief_line(b, b->buf + pos, n);
			if (ret < 0)
				return ret;
			pos += n + 1;
		}
		if (len - pos > UAPI_MAX_LINE)
			return -EPROTO;
		memmove(b->buf, b->buf + pos, len - pos);
		len -= pos;
	}
}

int uapi_get_device_brief(struct device **out, const char *iface)
{
	struct brief *b;
	int fd, ret;

	*out = NULL;
	fd = uapi_connect(iface);
	if (fd < 0)
		return fd;
	b = malloc(sizeof(*b));
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	b->peer = NULL;
	b->n_ips = b->cap_ips = 0;
	b->status = -EPROTO; /* a reply without "errno=" is not one we understand */
	b->dev = device_new(iface);
	ret = b->dev ? write_all(fd, "get=1\n\n", 7) : -ENOMEM;
	if (!ret)
		ret = brief_read(b, fd);
	if (!ret)
		ret = b->status;
	close(fd);
	if (!ret) {
		/* each peer's addresses follow its key: consecutive in the block */
		size_t at = 0;

		for (size_t i = 0; i < b->dev->n_peers; i++) {
			struct dev_peer *p = &b->dev->peers[i];

			p->allowedips = p->n_allowedips ? b->dev->ip_block + at : NULL;
			at += p->n_allowedips;
		}
		*out = b->dev;
	} else {
		device_free(b->dev);
	}
	/* it held the device's private key and every preshared key */
	memzero(b->buf, sizeof(b->buf));
	free(b);
	return ret;
}

/* ---- building set requests ---- */

struct msg {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void msg_printf(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_printf(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->oom)
		return;
	if (!m->buf) {
		m->cap = UAPI_READ_CHUNK;
		if (!(m->buf = malloc(m->cap))) {
			m->oom = true;
			return;
		}
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = true;
			return;
		}
		if ((size_t)n < m->cap - m->len) {
			m->len += (size_t)n;
			return;
		}
		/* The old copy holds keys: wiped as it is dropped. */
		size_t cap = (m->cap + (size_t)n + 1) * 2;
		char *buf = wipe_realloc(m->buf, m->cap, m->len, cap);
		if (!buf) {
			m->oom = true;
			return;
		}
		m->buf = buf;
		m->cap = cap;
	}
}

static void msg_key(struct msg *m, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[WEFT_KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	msg_printf(m, "%s=%s\n", name, hex);
	memzero(hex, sizeof(hex));
}

static void build_set(struct msg *m, const struct device *dev)
{
	msg_printf(m, "set=1\n");
	if (dev->flags & DEV_HAS_PRIVATE_KEY)
		msg_key(m, "private_key", dev->private_key);
	if (dev->flags & DEV_HAS_LISTEN_PORT)
		msg_printf(m, "listen_port=%u\n", dev->listen_port);
	if (dev->flags & DEV_HAS_FWMARK)
		msg_printf(m, "fwmark=%u\n", dev->fwmark);
	if (dev->flags & DEV_REPLACE_PEERS)
		msg_printf(m, "replace_peers=true\n");

	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];

		msg_key(m, "public_key", p->public_key);
		if (p->flags & PEER_UPDATE_ONLY)
			msg_printf(m, "update_only=true\n");
		if (p->flags & PEER_REMOVE_ME) {
			msg_printf(m, "remove=true\n");
			continue;
		}
		if (p->flags & PEER_HAS_PRESHARED_KEY)
			msg_key(m, "preshared_key", p->preshared_key);
		if (device_has_endpoint(p)) {
			char ep[DEV_ENDPOINT_STRLEN];

			if (dev_endpoint_format(ep, sizeof(ep), &p->endpoint))
				msg_printf(m, "endpoint=%s\n", ep);
		}
		if (p->flags & PEER_HAS_PERSISTENT_KEEPALIVE)
			msg_printf(m, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		if (p->flags & PEER_REPLACE_ALLOWEDIPS)
			msg_printf(m, "replace_allowed_ips=true\n");
		for (size_t j = 0; j < p->n_allowedips; j++) {
			const struct dev_allowedip *ip = &p->allowedips[j];
			char addr[INET6_ADDRSTRLEN];

			if (!dev_allowedip_addr(addr, ip))
				continue;
			msg_printf(m, "allowed_ip=%s%s/%u\n",
				   ip->flags & ALLOWEDIP_REMOVE_ME ? "-" : "", addr, ip->cidr);
		}
	}
	msg_printf(m, "\n");
}

int uapi_set_device(const struct device *dev)
{
	struct msg m = { 0 };
	struct reader *r = NULL;
	int fd, ret, status = -EPROTO;

	fd = uapi_connect(dev->name);
	if (fd < 0)
		return fd;
	build_set(&m, dev);
	r = malloc(sizeof(*r));
	if (m.oom || !r) {
		ret = -ENOMEM;
		goto out;
	}
	r->fd = fd;
	r->pos = r->len = 0;
	/* A daemon that rejects a line answers and may hang up before it has
	 * read the rest: a failed write still leaves its answer to read. */
	ret = write_all(fd, m.buf, m.len);
	for (;;) {
		ssize_t n = read_line(r);

		if (n < 0) {
			if (ret == 0)
				ret = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		char *value = strchr(r->line, '=');
		if (value && !strncmp(r->line, "errno=", 6) && !parse_errno(value + 1, &status)) {
			status = -EPROTO;
			break;
		}
	}
	ret = status;
out:
	if (r) {
		reader_wipe(r);
		free(r);
	}
	if (m.buf) {
		memzero(m.buf, m.cap);
		free(m.buf);
	}
	close(fd);
	return ret;
}
