/* cmd_coord.c: `weft coord`, the rendezvous server in the foreground: its
 * options, its key file, its UDP sockets and event loop (epoll, a signalfd
 * and a 100 ms timer); the protocol itself is src/coord/server.c.
 * SIGTERM/SIGINT end it cleanly (the store flushed), SIGUSR1 logs its
 * counters; --status-file keeps them in a file, rewritten every second. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "coord/relay_tcp.h"
#include "coord/server.h"
#include "coord/store.h"
#include "crypto/crypto.h"
#include "keygen.h"
#include "options.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"
#include "weftd/log.h"

#define DEFAULT_KEY_FILE "/var/lib/weft/coord.key"
#define DEFAULT_STORE "/var/lib/weft/coord.db"
#define MAX_LISTEN 4
#define BATCH 64
#define TICK_NS 100000000ULL
/* room for one IP_PKTINFO or IPV6_PKTINFO control message (40 bytes on
 * Linux), checked where one is written */
#define CTL_SPACE 64

struct listener {
	int fd;
	int family;   /* AF_INET or AF_INET6 */
	bool dual;    /* an IPv6 socket that also takes IPv4 (v4-mapped) */
};

struct coordd {
	struct listener ls[MAX_LISTEN];
	int nls;
	int epfd, sigfd, timerfd;
	struct coord_server *srv;
	struct coord_store *store;
	struct relay_tcp *tcp;      /* the TCP port (--relay-listen), or NULL */
	const char *status_file;
	/* the datagram being handled: its answer leaves by the socket it came
	 * in on, from the address it was sent to (a wildcard socket on a host
	 * with several addresses would otherwise answer from whichever the
	 * routing table picks); pushes to other clients leave by the first
	 * socket of their family */
	int cur_fd;
	struct coord_addr cur_from;
	struct {
		_Alignas(struct cmsghdr) uint8_t buf[CTL_SPACE];
	} cur_ctl;
	size_t cur_ctl_len;
	/* datagrams out while a batch in is handled, sent with sendmmsg */
	struct out_batch *out;
	uint64_t send_errors;
	bool running;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t unix_now(void)
{
	return (uint64_t)time(NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: weft coord [--listen <addr>:<port>]... [--key-file <file>] [--store <path>|sqlite:<path>|postgresql://...|none]\n"
		"                  [--status-file <file>] [--max-clients <n>] [--max-records <n>] [--record-ttl <seconds>]\n"
		"                  [--rate <per second>] [--burst <n>] [--handshake-rate <per second>] [--cookie-always] [--stun-strict]\n"
		"                  [--relay-listen <addr>:<port>|none] [--relay-rate <bits per second>[k|M|G]] [--relay-pairs <n>]\n"
		"                  [--no-relay]\n"
		"       weft coord --show-public-key [--key-file <file>]\n"
		"       weft coord --stats --status-file <file>\n");
}

/* "1.2.3.4:5", "[::1]:5", ":5" (all addresses, IPv6 and IPv4). */
static bool parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *any)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	char *end;

	memset(ss, 0, sizeof(*ss));
	*any = false;
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return false;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port > 65535)
		return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (!host[0]) {
		*any = true;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return true;
	}
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']')
			return false;
		host[n - 1] = 0;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return false;
		*any = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
		return true;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
}

static int open_listener(struct listener *l, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool any;
	int one = 1, zero = 0;

	if (!parse_listen(spec, &ss, &len, &any)) {
		fprintf(stderr, "weft coord: --listen %s: not <address>:<port>\n", spec);
		return -EINVAL;
	}
	l->family = ss.ss_family;
	l->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	if (ss.ss_family == AF_INET6) {
		/* "[::]:P" and ":P" take IPv4 too; a specific address only itself */
		l->dual = any;
		if (setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof(int)) < 0)
			goto fail;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* the address each datagram was sent to, to answer from it */
	if (ss.ss_family == AF_INET)
		setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	int buf = 4 << 20;
	setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(l->fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	fprintf(stderr, "weft coord: cannot listen on UDP %s: %s\n", spec, strerror(e));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return -e;
}

/* What the server sends while a batch of datagrams is handled waits here
 * and leaves in one sendmmsg per socket at the batch's end: one system call
 * for up to OUT_BATCH answers and relayed datagrams, rather than one each
 * (at a relay's rates the calls cost more than the cryptography). */
#define OUT_BATCH 64
struct out_batch {
	bool on;
	int n;
	struct {
		int fd;
		struct sockaddr_storage sa;
		socklen_t salen;
		size_t ctl_len, len;
		_Alignas(struct cmsghdr) uint8_t ctl[64];
		uint8_t pkt[COORD_DATAGRAM_MAX];
	} m[OUT_BATCH];
};

static void xmit_now(struct coordd *d, int fd, const void *sa, socklen_t salen,
		     const uint8_t *pkt, size_t len, const void *ctl, size_t ctl_len);

static void out_flush(struct coordd *d)
{
	struct out_batch *o = d->out;
	struct mmsghdr mm[OUT_BATCH];
	struct iovec iov[OUT_BATCH];
	int i = 0;

	while (o && i < o->n) {
		int k = 0, fd = o->m[i].fd;

		/* a run of datagrams for one socket */
		while (i + k < o->n && o->m[i + k].fd == fd) {
			iov[k] = (struct iovec){ o->m[i + k].pkt, o->m[i + k].len };
			mm[k].msg_hdr = (struct msghdr){ .msg_name = &o->m[i + k].sa, .msg_namelen = o->m[i + k].salen,
							 .msg_iov = &iov[k], .msg_iovlen = 1,
							 .msg_control = o->m[i + k].ctl_len ? o->m[i + k].ctl : NULL,
							 .msg_controllen = o->m[i + k].ctl_len };
			k++;
		}
		int r = sendmmsg(fd, mm, (unsigned)k, 0);
		if (r <= 0) {
			/* the first one failed: alone, with its fallback */
			xmit_now(d, fd, &o->m[i].sa, o->m[i].salen, o->m[i].pkt, o->m[i].len, o->m[i].ctl,
				 o->m[i].ctl_len);
			r = 1;
		}
		i += r;
	}
	if (o)
		o->n = 0;
}

/* One datagram out of fd; an answer carries the source address its request
 * was sent to (without it, should that address have gone, it still leaves). */
static void xmit(struct coordd *d, int fd, const void *sa, socklen_t salen,
		 const uint8_t *pkt, size_t len, bool answer)
{
	struct out_batch *o = d->out;

	if (o && o->on && len <= COORD_DATAGRAM_MAX && salen <= sizeof(o->m[0].sa)) {
		if (o->n == OUT_BATCH)
			out_flush(d);
		o->m[o->n].fd = fd;
		memcpy(&o->m[o->n].sa, sa, salen);
		o->m[o->n].salen = salen;
		o->m[o->n].ctl_len = 0;
		if (answer && d->cur_ctl_len && d->cur_ctl_len <= sizeof(o->m[0].ctl)) {
			memcpy(o->m[o->n].ctl, d->cur_ctl.buf, d->cur_ctl_len);
			o->m[o->n].ctl_len = d->cur_ctl_len;
		}
		memcpy(o->m[o->n].pkt, pkt, len);
		o->m[o->n].len = len;
		o->n++;
		return;
	}
	xmit_now(d, fd, sa, salen, pkt, len, answer ? d->cur_ctl.buf : NULL, answer ? d->cur_ctl_len : 0);
}

static void xmit_now(struct coordd *d, int fd, const void *sa, socklen_t salen,
		     const uint8_t *pkt, size_t len, const void *ctl, size_t ctl_len)
{
	struct iovec iov = { (void *)pkt, len };
	struct msghdr mh = { .msg_name = (void *)sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1 };

	if (ctl_len) {
		mh.msg_control = (void *)ctl;
		mh.msg_controllen = ctl_len;
	}
	if (sendmsg(fd, &mh, 0) >= 0)
		return;
	if (mh.msg_control && errno == EINVAL) {
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (sendmsg(fd, &mh, 0) >= 0)
			return;
	}
	d->send_errors++;
}

static void send_cb(void *ctx, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	struct coordd *d = ctx;
	struct sockaddr_storage ss;
	socklen_t sl = coord_addr_to_sockaddr(to, &ss);
	int first = 0;
	bool answer = d->cur_fd >= 0 && coord_addr_equal(to, &d->cur_from);

	/* a client that came over TCP is answered there */
	if (d->tcp) {
		int e = relay_tcp_send(d->tcp, to, pkt, len);

		if (e != -ENOENT) {
			if (e < 0)
				d->send_errors++;
			return;
		}
	}

	for (int i = 0; i < d->nls; i++)
		if (answer && d->ls[i].fd == d->cur_fd)
			first = i;
	for (int k = 0; k < d->nls; k++) {
		struct listener *l = &d->ls[(first + k) % d->nls];
		bool same = answer && l->fd == d->cur_fd;
		if (to->family == 4 && l->family == AF_INET6 && l->dual) {
			struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = htons(to->port) };
			m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
			memcpy(m.sin6_addr.s6_addr + 12, to->ip, 4);
			xmit(d, l->fd, &m, sizeof(m), pkt, len, same);
			return;
		}
		if ((to->family == 4 && l->family == AF_INET) || (to->family == 6 && l->family == AF_INET6)) {
			xmit(d, l->fd, &ss, sl, pkt, len, same);
			return;
		}
	}
	d->send_errors++;
}

/* The control message that makes an answer leave from the address the
 * request in mh was sent to (IPv4, IPv6, or IPv4 on an IPv6 socket). */
static void answer_ctl(struct coordd *d, struct msghdr *mh)
{
	d->cur_ctl_len = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		memset(&d->cur_ctl, 0, sizeof(d->cur_ctl));
		struct cmsghdr *out = (struct cmsghdr *)d->cur_ctl.buf;
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    CMSG_SPACE(sizeof(struct in_pktinfo)) <= sizeof(d->cur_ctl.buf)) {
			struct in_pktinfo in, pi = { 0 };
			memcpy(&in, CMSG_DATA(cm), sizeof(in));
			pi.ipi_spec_dst = in.ipi_addr;
			out->cmsg_level = IPPROTO_IP;
			out->cmsg_type = IP_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(out), &pi, sizeof(pi));
			d->cur_ctl_len = CMSG_SPACE(sizeof(pi));
			return;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
		    CMSG_SPACE(sizeof(struct in6_pktinfo)) <= sizeof(d->cur_ctl.buf)) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			/* the interface matters only for a link-local address */
			if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
				pi.ipi6_ifindex = 0;
			out->cmsg_level = IPPROTO_IPV6;
			out->cmsg_type = IPV6_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(out), &pi, sizeof(pi));
			d->cur_ctl_len = CMSG_SPACE(sizeof(pi));
			return;
		}
	}
}

static void on_readable(struct coordd *d, int fd)
{
	static uint8_t bufs[BATCH][COORD_DATAGRAM_MAX + 1];
	static struct {
		_Alignas(struct cmsghdr) uint8_t buf[2 * CTL_SPACE];
	} ctl[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];

	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
			msgs[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]),
							   .msg_iov = &iov[i], .msg_iovlen = 1,
							   .msg_control = ctl[i].buf, .msg_controllen = sizeof(ctl[i].buf) };
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		uint64_t now = mono_ns(), wall = unix_now();
		if (d->out)
			d->out->on = true;
		for (int i = 0; i < n; i++) {
			struct coord_addr a;
			size_t len = msgs[i].msg_len;
			if (!coord_addr_from_sockaddr(&a, (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen))
				continue;
			/* a datagram longer than any we accept arrives truncated: count it as garbage */
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				len = COORD_DATAGRAM_MAX + 1;
			d->cur_fd = fd;
			d->cur_from = a;
			answer_ctl(d, &msgs[i].msg_hdr);
			coord_server_input(d->srv, bufs[i], len, &a, now, wall);
			d->cur_fd = -1;
		}
		if (d->out) {
			out_flush(d);
			d->out->on = false;
		}
		if (n < BATCH)
			return;
	}
}

/* the relay's and the TCP port's counters, "name value" lines */
static int relay_stats_format(const struct coordd *d, char *out, size_t cap)
{
	const struct relay_server *rs = coord_server_relay(d->srv);
	int n = 0;

	if (rs) {
		const struct relay_server_counters *c = relay_server_counters(rs);
		const struct relay_counters *t = relay_server_table_counters(rs);

		n = snprintf(out, cap,
			     "relay_pairs %zu\nrelay_joins %llu\nrelay_refused_unknown %llu\n"
			     "relay_refused_full %llu\nrelay_refused_busy %llu\nrelay_forwarded_packets %llu\n"
			     "relay_forwarded_bytes %llu\nrelay_dropped_rate %llu\nrelay_dropped_no_peer %llu\n"
			     "relay_dropped_bad_channel %llu\nrelay_bad_messages %llu\nrelay_replayed %llu\n"
			     "relay_send_failed %llu\n",
			     relay_server_pairs(rs), (unsigned long long)c->joins,
			     (unsigned long long)c->refused_unknown, (unsigned long long)t->joins_refused_full,
			     (unsigned long long)t->joins_refused_busy, (unsigned long long)t->forwarded_packets,
			     (unsigned long long)t->forwarded_bytes, (unsigned long long)t->dropped_rate,
			     (unsigned long long)t->dropped_no_peer, (unsigned long long)t->dropped_bad_channel,
			     (unsigned long long)c->bad_messages, (unsigned long long)c->replayed,
			     (unsigned long long)c->send_failed);
	}
	if (d->tcp && n >= 0 && (size_t)n < cap) {
		const struct relay_tcp_stats *t = relay_tcp_stats(d->tcp);

		n += snprintf(out + n, cap - (size_t)n,
			      "tcp_conns %llu\ntcp_accepted %llu\ntcp_refused_full %llu\ntcp_frames_in %llu\n"
			      "tcp_frames_out %llu\ntcp_frames_dropped %llu\ntcp_closed_bad_frame %llu\n",
			      (unsigned long long)t->conns, (unsigned long long)t->accepted,
			      (unsigned long long)t->refused_full, (unsigned long long)t->frames_in,
			      (unsigned long long)t->frames_out, (unsigned long long)t->frames_dropped,
			      (unsigned long long)t->closed_bad_frame);
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static void log_stats(struct coordd *d)
{
	char text[8192], line[8192];
	size_t o = 0;

	int k = coord_stats_format(coord_server_stats(d->srv), text, sizeof(text));
	if (k < 0)
		return;
	if (relay_stats_format(d, text + k, sizeof(text) - (size_t)k) < 0)
		text[k] = 0;
	/* one line: "name=value ..." */
	for (char *p = text; *p && o + 2 < sizeof(line); p++)
		line[o++] = *p == '\n' ? ' ' : *p == ' ' ? '=' : *p;
	while (o && line[o - 1] == ' ')
		o--;
	line[o] = 0;
	if (log_level() != LOG_SILENT) {
		printf("STATS: (coord) %s send_errors=%llu\n", line, (unsigned long long)d->send_errors);
		fflush(stdout);
	}
}

static void write_status(struct coordd *d)
{
	char text[8192];
	int n;

	if (!d->status_file)
		return;
	n = coord_stats_format(coord_server_stats(d->srv), text, sizeof(text));
	if (n < 0)
		return;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "send_errors %llu\n",
		      (unsigned long long)d->send_errors);
	int r = relay_stats_format(d, text + n, sizeof(text) - (size_t)n);
	if (r > 0)
		n += r;
	if (atomic_file_write(d->status_file, text, (size_t)n, 0644) < 0)
		log_error("Cannot write the status file %s: %s", d->status_file, strerror(errno));
}

/* Reads a base64 private key (wg genkey's format) from path, or makes one
 * there (0600, written atomically) when the file does not exist. */
static int load_key(const char *path, uint8_t priv[32], bool create, bool *created)
{
	char *text = NULL;
	size_t len = 0;
	int fd, e;
	struct stat st;

	*created = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		char b64[WEFT_KEY_B64_LEN + 2];
		if (!generate_private_key(priv)) {
			fprintf(stderr, "weft coord: no random bytes for a key\n");
			return -EIO;
		}
		key_to_base64(b64, priv);
		strcat(b64, "\n");
		e = atomic_file_write(path, b64, strlen(b64), 0600);
		memzero(b64, sizeof(b64));
		if (e < 0) {
			fprintf(stderr, "weft coord: cannot write the key file %s: %s\n", path, strerror(-e));
			memzero(priv, 32);
			return e;
		}
		*created = true;
		return 0;
	}
	if (fd < 0) {
		e = -errno;
		fprintf(stderr, "weft coord: cannot open the key file %s: %s\n", path, strerror(errno));
		return e;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		/* as weft serve: a key others may have read is not used */
		fprintf(stderr, "weft coord: the key file %s may be read by group or others: chmod 600 it\n", path);
		close(fd);
		return -EACCES;
	}
	e = fd_read_all(fd, 256, &text, &len);
	close(fd);
	if (e < 0) {
		fprintf(stderr, "weft coord: cannot read the key file %s: %s\n", path, strerror(-e));
		return e;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = 0;
	bool ok = key_from_base64(priv, text);
	memzero(text, len);
	free(text);
	if (!ok) {
		fprintf(stderr, "weft coord: %s: not a base64 private key (as `weft genkey' writes)\n", path);
		return -EINVAL;
	}
	return 0;
}

static bool parse_u32(const char *opt, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;

	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || !*v || x < min || x > max) {
		fprintf(stderr, "weft coord: %s %s: expected a number from %u to %u\n", opt, v, min, max);
		return false;
	}
	*out = (uint32_t)x;
	return true;
}

/* "10M", "1.5G", "800k", "0" (unlimited): bits per second, as bytes */
static bool parse_rate(const char *v, uint64_t *bytes_per_s)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || x < 0)
		return false;
	if (*end == 'k' || *end == 'K')
		x *= 1e3, end++;
	else if (*end == 'M')
		x *= 1e6, end++;
	else if (*end == 'G')
		x *= 1e9, end++;
	if (*end || x > 1e12)
		return false;
	*bytes_per_s = (uint64_t)(x / 8);
	return true;
}

static void tcp_input(void *ctx, const uint8_t *pkt, size_t len, const struct coord_addr *from,
		      uint64_t now_ns)
{
	struct coordd *d = ctx;

	coord_server_input(d->srv, pkt, len, from, now_ns, unix_now());
}

/* the TCP port: --relay-listen, or by default the first --listen's
 * address and port over TCP */
static int open_tcp(struct coordd *d, const char *spec, const struct relay_limits *rl)
{
	struct sockaddr_storage ss;
	struct coord_addr a;
	socklen_t len;
	bool any;

	if (!parse_listen(spec, &ss, &len, &any) || !coord_addr_from_sockaddr(&a, (struct sockaddr *)&ss, len)) {
		fprintf(stderr, "weft coord: --relay-listen %s: not <address>:<port>\n", spec);
		return -EINVAL;
	}
	/* every client may hold one connection; a silent one goes after the
	 * session would have (REJECT_AFTER_TIME) */
	d->tcp = relay_tcp_new(&a, rl->max_pairs * 2 < 65536 ? rl->max_pairs * 2 : 65536,
			       180ull * 1000000000ull, tcp_input, d);
	if (!d->tcp) {
		int e = errno;

		/* "[::]:P" on a machine without IPv6 */
		if (any && ss.ss_family == AF_INET6) {
			struct coord_addr v4 = { .family = 4, .port = a.port };

			d->tcp = relay_tcp_new(&v4, rl->max_pairs * 2 < 65536 ? rl->max_pairs * 2 : 65536,
					       180ull * 1000000000ull, tcp_input, d);
		}
		if (!d->tcp) {
			fprintf(stderr, "weft coord: cannot listen on TCP %s: %s\n", spec, strerror(e));
			return -e;
		}
	}
	return 0;
}

static void on_signal(struct coordd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_stats(d);
			write_status(d);
		} else {
			d->running = false;
		}
	}
}

static int run(struct coordd *d)
{
	struct epoll_event ev[8];
	uint64_t last_status = 0, last_store_errors = 0;

	d->running = true;
	while (d->running) {
		int n = epoll_wait(d->epfd, ev, 8, 1000);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == d->sigfd) {
				on_signal(d);
			} else if (fd == d->timerfd) {
				uint64_t ticks;
				if (read(d->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					log_error("timerfd: %s", strerror(errno));
			} else if (!d->tcp || !relay_tcp_event(d->tcp, fd, ev[i].events, mono_ns())) {
				on_readable(d, fd);
			}
		}
		uint64_t now = mono_ns();
		coord_server_tick(d->srv, now, unix_now());
		if (d->tcp)
			relay_tcp_tick(d->tcp, now);
		uint64_t store_errors = coord_server_stats(d->srv)->store_errors;
		if (store_errors != last_store_errors) {
			/* records stay in memory and are written again when they change */
			log_error("The store refused %llu write%s (%llu in all)",
				  (unsigned long long)(store_errors - last_store_errors),
				  store_errors - last_store_errors == 1 ? "" : "s", (unsigned long long)store_errors);
			last_store_errors = store_errors;
		}
		if (d->status_file && now - last_status >= 1000000000ULL) {
			last_status = now;
			write_status(d);
		}
	}
	return 0;
}

static int show_stats(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (fd < 0) {
		fprintf(stderr, "weft coord: --stats needs the --status-file of the running server%s%s\n",
			path ? ": " : "", path ? strerror(errno) : "");
		return 1;
	}
	int e = fd_read_all(fd, 65536, &text, &len);
	close(fd);
	if (e < 0) {
		fprintf(stderr, "weft coord: cannot read %s: %s\n", path, strerror(-e));
		return 1;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

int cmd_coord(int argc, char *argv[])
{
	struct coord_server_config cfg;
	const char *listen[MAX_LISTEN], *key_file = DEFAULT_KEY_FILE, *store_spec = DEFAULT_STORE, *v;
	const char *status_file = NULL;
	int nlisten = 0, ret = 1;
	bool show_key = false, stats = false, created, relay_on = true;
	struct coordd d = { .epfd = -1, .sigfd = -1, .timerfd = -1, .cur_fd = -1 };
	struct relay_limits rl;
	const char *relay_listen = NULL;

	coord_server_config_defaults(&cfg);
	relay_limits_default(&rl);
	rl.rate = 100000000 / 8; /* 100 Mbit/s each way of a pair */
	bool burst_set = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--show-public-key")) {
			show_key = true;
		} else if (!strcmp(argv[i], "--stats")) {
			stats = true;
		} else if (!strcmp(argv[i], "--cookie-always")) {
			cfg.cookie_always = true;
		} else if (!strcmp(argv[i], "--stun-strict")) {
			cfg.stun_strict = true;
		} else if (take_option(argc, argv, &i, "--listen", &v)) {
			if (!v)
				return 1;
			if (nlisten == MAX_LISTEN) {
				fprintf(stderr, "weft coord: at most %d --listen\n", MAX_LISTEN);
				return 1;
			}
			listen[nlisten++] = v;
		} else if (take_option(argc, argv, &i, "--key-file", &v)) {
			if (!v)
				return 1;
			key_file = v;
		} else if (take_option(argc, argv, &i, "--store", &v)) {
			if (!v)
				return 1;
			store_spec = v;
		} else if (take_option(argc, argv, &i, "--status-file", &v)) {
			if (!v)
				return 1;
			status_file = v;
		} else if (take_option(argc, argv, &i, "--max-clients", &v)) {
			if (!v || !parse_u32("--max-clients", v, 1, 10000000, &cfg.max_clients))
				return 1;
		} else if (take_option(argc, argv, &i, "--max-records", &v)) {
			if (!v || !parse_u32("--max-records", v, 1, 65536, &cfg.max_records))
				return 1;
		} else if (take_option(argc, argv, &i, "--record-ttl", &v)) {
			if (!v || !parse_u32("--record-ttl", v, 10, 65535, &cfg.record_ttl))
				return 1;
		} else if (take_option(argc, argv, &i, "--rate", &v)) {
			if (!v || !parse_u32("--rate", v, 0, 10000000, &cfg.rate))
				return 1;
		} else if (take_option(argc, argv, &i, "--burst", &v)) {
			if (!v || !parse_u32("--burst", v, 1, 10000000, &cfg.burst))
				return 1;
			burst_set = true;
		} else if (!strcmp(argv[i], "--no-relay")) {
			relay_on = false;
		} else if (take_option(argc, argv, &i, "--relay-listen", &v)) {
			if (!v)
				return 1;
			relay_listen = v;
		} else if (take_option(argc, argv, &i, "--relay-rate", &v)) {
			if (!v)
				return 1;
			if (!parse_rate(v, &rl.rate)) {
				fprintf(stderr, "weft coord: --relay-rate %s: expected bits per second, "
						"e.g. 100M, 1G or 0 (no limit)\n", v);
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--relay-pairs", &v)) {
			if (!v || !parse_u32("--relay-pairs", v, 1, RELAY_MAX_PAIRS_LIMIT, &rl.max_pairs))
				return 1;
		} else if (take_option(argc, argv, &i, "--handshake-rate", &v)) {
			if (!v || !parse_u32("--handshake-rate", v, 0, 10000000, &cfg.handshake_rate))
				return 1;
		} else {
			fprintf(stderr, "weft coord: unknown argument `%s'\n", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (!burst_set && cfg.rate)
		cfg.burst = cfg.rate * 2;
	if (stats)
		return show_stats(status_file);
	if (crypto_init() < 0) {
		fprintf(stderr, "weft coord: the crypto libraries did not start\n");
		return 1;
	}
	if (show_key) {
		uint8_t pub[32];
		char b64[WEFT_KEY_B64_LEN + 1];
		if (load_key(key_file, cfg.private_key, false, &created) < 0)
			return 1;
		x25519_public(pub, cfg.private_key);
		memzero(cfg.private_key, 32);
		key_to_base64(b64, pub);
		printf("%s\n", b64);
		return 0;
	}

	log_init(log_level_from_env(), "coord");
	if (!strcmp(key_file, DEFAULT_KEY_FILE) || !strcmp(store_spec, DEFAULT_STORE))
		mkdir("/var/lib/weft", 0700);
	if (load_key(key_file, cfg.private_key, true, &created) < 0)
		return 1;
	if (strcmp(store_spec, "none")) {
		const char *why = NULL;
		int e = coord_store_open(store_spec, &d.store, &why);
		if (e < 0) {
			fprintf(stderr, "weft coord: --store %s: %s (%s)\n", store_spec, why ? why : "cannot open",
				strerror(-e));
			memzero(cfg.private_key, 32);
			return 1;
		}
	}
	cfg.store = d.store;
	/* replicas on one PostgreSQL read each other's records five times a
	 * second (store_pg.c says how nothing is missed) */
	if (d.store && !strcmp(d.store->ops->name, "postgresql"))
		cfg.scan_interval_ns = 200000000ULL;
	cfg.relay = relay_on ? &rl : NULL;
	d.out = calloc(1, sizeof(*d.out)); /* without it, every datagram leaves alone */
	int e = coord_server_new(&cfg, send_cb, &d, &d.srv);
	memzero(cfg.private_key, 32);
	if (e < 0) {
		fprintf(stderr, "weft coord: cannot start: %s\n", strerror(-e));
		goto out;
	}
	d.status_file = status_file;

	if (!nlisten) {
		listen[nlisten++] = "[::]:51819";
	}
	for (int i = 0; i < nlisten; i++) {
		if (open_listener(&d.ls[d.nls], listen[i]) < 0) {
			/* no IPv6 on this machine: the default falls back to IPv4 */
			if (i == 0 && nlisten == 1 && !strcmp(listen[0], "[::]:51819") &&
			    open_listener(&d.ls[d.nls], "0.0.0.0:51819") == 0) {
				d.nls++;
				continue;
			}
			goto out;
		}
		d.nls++;
	}

	if (relay_on && (!relay_listen || strcmp(relay_listen, "none")) &&
	    open_tcp(&d, relay_listen ? relay_listen : listen[0], &rl) < 0)
		goto out;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { 0, TICK_NS } };
	if (d.sigfd < 0 || d.timerfd < 0 || d.epfd < 0 || timerfd_settime(d.timerfd, 0, &its, NULL) < 0) {
		fprintf(stderr, "weft coord: %s\n", strerror(errno));
		goto out;
	}
	int fds[MAX_LISTEN + 2], nfds = 0;
	for (int i = 0; i < d.nls; i++)
		fds[nfds++] = d.ls[i].fd;
	fds[nfds++] = d.sigfd;
	fds[nfds++] = d.timerfd;
	for (int i = 0; i < nfds; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(d.epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			fprintf(stderr, "weft coord: epoll: %s\n", strerror(errno));
			goto out;
		}
	}

	if (d.tcp && relay_tcp_use_epoll(d.tcp, d.epfd) < 0) {
		fprintf(stderr, "weft coord: epoll: %s\n", strerror(errno));
		goto out;
	}

	uint8_t pub[32];
	char b64[WEFT_KEY_B64_LEN + 1];
	coord_server_public_key(d.srv, pub);
	key_to_base64(b64, pub);
	int loaded = coord_server_load(d.srv, mono_ns(), unix_now());
	if (loaded < 0)
		log_error("Cannot read the stored records: %s", strerror(-loaded));
	printf("weft coord: public key %s%s\n", b64, created ? " (new key written to the key file)" : "");
	fflush(stdout);
	for (int i = 0; i < nlisten && i < d.nls; i++)
		log_verbose("Listening on UDP %s", listen[i]);
	log_verbose("Store: %s, %d record%s loaded", d.store ? d.store->ops->name : "memory only",
		    loaded > 0 ? loaded : 0, loaded == 1 ? "" : "s");
	ret = run(&d) < 0;
	log_verbose("Shutting down");
	log_stats(&d);
	write_status(&d);
out:
	free(d.out);
	relay_tcp_free(d.tcp);
	coord_server_free(d.srv);
	if (d.store)
		d.store->ops->close(d.store);
	for (int i = 0; i < d.nls; i++)
		close(d.ls[i].fd);
	if (d.epfd >= 0)
		close(d.epfd);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.timerfd >= 0)
		close(d.timerfd);
	return ret;
}
