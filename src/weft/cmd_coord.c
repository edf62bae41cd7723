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

/* One datagram out of fd; an answer carries the source address its request
 * was sent to (without it, should that address have gone, it still leaves). */
static void xmit(struct coordd *d, int fd, const void *sa, socklen_t salen,
		 const uint8_t *pkt, size_t len, bool answer)
{
	struct iovec iov = { (void *)pkt, len };
	struct msghdr mh = { .msg_name = (void *)sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1 };

	if (answer && d->cur_ctl_len) {
		mh.msg_control = d->cur_ctl.buf;
		mh.msg_controllen = d->cur_ctl_len;
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
		if (n < BATCH)
			return;
	}
}

static void log_stats(struct coordd *d)
{
	char text[4096], line[4096];
	size_t o = 0;

	if (coord_stats_format(coord_server_stats(d->srv), text, sizeof(text)) < 0)
		return;
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
	char text[4096];
	int n;

	if (!d->status_file)
		return;
	n = coord_stats_format(coord_server_stats(d->srv), text, sizeof(text));
	if (n < 0)
		return;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "send_errors %llu\n",
		      (unsigned long long)d->send_errors);
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
			} else {
				on_readable(d, fd);
			}
		}
		uint64_t now = mono_ns();
		coord_server_tick(d->srv, now, unix_now());
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
	bool show_key = false, stats = false, created;
	struct coordd d = { .epfd = -1, .sigfd = -1, .timerfd = -1, .cur_fd = -1 };

	coord_server_config_defaults(&cfg);
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
