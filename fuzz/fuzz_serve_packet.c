/* fuzz_serve_packet.c: libFuzzer target for what a peer's IP packets reach
 * in `weft serve`: parsing (src/serve/packet.c), the guard
 * (src/serve/guard.c) and the flow table's reaction to SYN, RST, UDP and
 * ICMP (src/serve/flow.c), with the socket calls of flow.c replaced by
 * fakes whose answers (connect results, reads, writes, epoll events) the
 * input also decides. Nothing touches the network.
 *
 * The input is a script of operations (see run()); every fake fd is
 * tracked, so a double close, an event on a closed fd or an fd left open
 * after flows_free() aborts, as does a packet for the tunnel that does not
 * parse or carries a wrong checksum, or a limit that does not hold. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/flow.h"
#include "serve/guard.h"
#include "serve/packet.h"
#include "serve/settings.h"
#include "serve/stack.h"
#include "weftd/log.h"

/* ---- the script ---- */

static const uint8_t *in_data;
static size_t in_len, in_off;

static uint8_t next_byte(void)
{
	return in_off < in_len ? in_data[in_off++] : 0;
}

/* ---- fake fds ---- */

#define FAKE_BASE 100000
#define FAKE_FDS 256

struct fake_fd {
	bool open;
	bool watched;
	struct watch *w;
	uint32_t events;
	bool shut_wr;
};
static struct fake_fd fds[FAKE_FDS];

static struct fake_fd *fake(int fd)
{
	if (fd < FAKE_BASE || fd >= FAKE_BASE + FAKE_FDS || !fds[fd - FAKE_BASE].open)
		abort(); /* a real fd, or one already closed: a lifetime bug */
	return &fds[fd - FAKE_BASE];
}

static int fake_new(void)
{
	for (int i = 0; i < FAKE_FDS; i++)
		if (!fds[i].open) {
			fds[i] = (struct fake_fd){ .open = true };
			return FAKE_BASE + i;
		}
	errno = EMFILE;
	return -1;
}

static int fake_socket(int domain, int type, int protocol)
{
	if (domain != AF_INET && domain != AF_INET6)
		abort();
	if (next_byte() == 0xff) {
		errno = (type & SOCK_DGRAM) && protocol ? EACCES : ENFILE;
		return -1;
	}
	return fake_new();
}

static int fake_close(int fd)
{
	fake(fd)->open = false;
	return 0;
}

static const int errors[] = { ECONNREFUSED, ECONNRESET, ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, EPIPE };

static int fake_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint8_t b = next_byte();

	fake(fd);
	if (len < sizeof(struct sockaddr_in) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		abort();
	if (b < 0x80)
		return 0;
	if (b < 0xc0) {
		errno = EINPROGRESS;
		return -1;
	}
	errno = errors[b % 6];
	return -1;
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
	uint8_t b = next_byte();
	volatile uint8_t touch = 0;

	fake(fd);
	for (size_t i = 0; i < len; i++)
		touch ^= ((const uint8_t *)buf)[i]; /* ASan sees a read past the buffer */
	(void)touch;
	if (b < 0xa0)
		return (ssize_t)len;
	if (b < 0xc0)
		return (ssize_t)(len / 2);
	if (b < 0xe0) {
		errno = EAGAIN;
		return -1;
	}
	errno = errors[b % 6];
	return -1;
}

static ssize_t fake_recv(int fd, void *buf, size_t len, int flags)
{
	uint8_t b = next_byte();

	fake(fd);
	if (b < 0x60) {
		errno = EAGAIN;
		return -1;
	}
	if (b < 0xe0) {
		size_t n = (size_t)(b - 0x60) * 97 % (len + 1);
		memset(buf, 0xa5, n);
		if (n >= 8)
			((uint8_t *)buf)[0] = 0; /* ping replies: an echo reply header */
		return (ssize_t)n;
	}
	if (b < 0xf0)
		return 0;
	errno = errors[b % 6];
	return -1;
}

static int fake_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	fake(fd);
	return 0;
}

static int fake_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	uint8_t b = next_byte();

	fake(fd);
	if (level == SOL_SOCKET && name == SO_ERROR && *len >= sizeof(int))
		*(int *)val = b < 0x80 ? 0 : errors[b % 6];
	return 0;
}

static int fake_shutdown(int fd, int how)
{
	struct fake_fd *d = fake(fd);

	if (how == SHUT_WR && d->shut_wr)
		abort(); /* the end of a stream passed on twice */
	d->shut_wr = true;
	return 0;
}

static int fake_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fake_fd *d = fake(fd);

	if (op == EPOLL_CTL_ADD) {
		if (d->watched) {
			errno = EEXIST;
			return -1;
		}
		if (next_byte() == 0xfe) {
			errno = ENOMEM;
			return -1;
		}
		d->watched = true;
	} else if (op == EPOLL_CTL_MOD) {
		if (!d->watched) {
			errno = ENOENT;
			return -1;
		}
	} else {
		d->watched = false;
		return 0;
	}
	d->w = ev->data.ptr;
	d->events = ev->events;
	return 0;
}

void log_error(const char *fmt, ...)
{
}

/* flow.c's calls of the socket API reach the fakes */
#define socket(d, t, p) fake_socket(d, t, p)
#define close(fd) fake_close(fd)
#define connect(fd, a, l) fake_connect(fd, a, l)
#define send(fd, b, l, fl) fake_send(fd, b, l, fl)
#define recv(fd, b, l, fl) fake_recv(fd, b, l, fl)
#define setsockopt(fd, l, n, v, s) fake_setsockopt(fd, l, n, v, s)
#define getsockopt(fd, l, n, v, s) fake_getsockopt(fd, l, n, v, s)
#define shutdown(fd, h) fake_shutdown(fd, h)
#define epoll_ctl(e, o, fd, ev) fake_epoll_ctl(e, o, fd, ev)

/* serve's files are not in libweft.a: compile them in */
#include "serve/flow.c"
#include "serve/guard.c"
#include "serve/packet.c"

#undef socket
#undef close
#undef connect
#undef send
#undef recv
#undef setsockopt
#undef getsockopt
#undef shutdown
#undef epoll_ctl

/* ---- what leaves the flows ---- */

/* Every packet for the tunnel parses and carries right checksums. */
static void check_packet(const uint8_t *buf, size_t len)
{
	struct pkt p;

	if (len > FLOW_BUF || pkt_parse(&p, buf, len) != PKT_OK)
		abort();
	if (p.family == AF_INET && pkt_fold(pkt_sum(0, buf, PKT_IPV4_HDR)) != 0)
		abort();
	uint32_t s = p.proto == IPPROTO_ICMP ? 0 : pseudo_sum(p.family, p.src, p.dst, p.proto, p.l4_len);
	if (pkt_fold(pkt_sum(s, p.l4, p.l4_len)) != 0)
		abort();
}

static void to_tunnel(void *ctx, const uint8_t *pkt, size_t len)
{
	check_packet(pkt, len);
}

static void stack_input(struct stack *s, const uint8_t *pkt, size_t len)
{
	struct pkt p;

	/* only whole TCP segments that parse reach a stack */
	if (pkt_parse(&p, pkt, len) != PKT_OK || p.proto != IPPROTO_TCP)
		abort();
}

static const struct stack_ops fake_stack_ops = { .name = "fake", .input = stack_input };

/* ---- building packets from a few bytes, so that tuples meet ---- */

static const uint8_t v4_addrs[4][4] = { { 10, 0, 0, 2 }, { 192, 0, 2, 1 }, { 127, 0, 0, 1 }, { 240, 0, 0, 1 } };
static const uint8_t v6_addrs[4][16] = {
	{ 0xfd, 0, [15] = 2 }, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, { [15] = 1 }, { 0xfe, 0x80, [15] = 1 }
};

static size_t build(uint8_t *out, size_t cap, struct pkt *tuple)
{
	uint8_t a = next_byte(), b = next_byte(), flags = next_byte(), plen = next_byte();
	int family = a & 1 ? AF_INET6 : AF_INET;
	const uint8_t *src = family == AF_INET ? v4_addrs[(a >> 1) & 1 ? 0 : 0] : v6_addrs[0];
	const uint8_t *dst = family == AF_INET ? v4_addrs[(a >> 2) & 3] : v6_addrs[(a >> 2) & 3];
	uint16_t sport = (uint16_t)(1000 + ((a >> 4) & 3)), dport = (uint16_t)(80 + (b & 3));
	uint8_t data[255];
	size_t n = 0;

	for (unsigned i = 0; i < plen; i++)
		data[i] = next_byte();
	switch ((b >> 2) & 3) {
	case 0:
	case 1: { /* TCP */
		size_t h = family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR;
		if (cap < h + PKT_TCP_HDR + plen)
			return 0;
		put_ip(out, family, src, dst, IPPROTO_TCP, PKT_TCP_HDR + plen);
		uint8_t *t = out + h;
		memset(t, 0, PKT_TCP_HDR);
		put16(t, sport);
		put16(t + 2, dport);
		put32(t + 4, (uint32_t)b << 8);
		t[12] = 5 << 4;
		t[13] = flags;
		memcpy(t + PKT_TCP_HDR, data, plen);
		put_l4_sum(t, PKT_TCP_HDR + plen, family, src, dst, IPPROTO_TCP, 16);
		n = h + PKT_TCP_HDR + plen;
		break;
	}
	case 2:
		n = pkt_build_udp(out, cap, family, src, sport, dst, dport, data, plen);
		break;
	default: {
		n = pkt_build_echo_reply(out, cap, family, src, dst, sport, flags, data, plen);
		if (n)
			out[(family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR)] =
				family == AF_INET ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
	}
	}
	if (n && pkt_parse(tuple, out, n) != PKT_OK)
		abort();
	return n;
}

/* ---- the run ---- */

static void fire(struct flows *f, uint8_t which, uint8_t what)
{
	static const uint32_t evs[] = { EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT, EPOLLHUP | EPOLLERR | EPOLLIN };
	struct fake_fd *d = &fds[which % FAKE_FDS];

	/* epoll reports only fds in the set; a dead flow's events may still
	 * come within one batch, which flows_event() must tolerate */
	if (d->open && d->watched && d->w->kind >= WATCH_FLOW_OUT && d->w->kind <= WATCH_FLOW_IN)
		flows_event(f, d->w, evs[what & 3]);
}

static void run(struct flows *f, const struct serve_settings *set)
{
	static uint8_t pkt[4096];
	struct pkt last = { .family = AF_INET, .proto = IPPROTO_TCP };
	uint64_t now = 1000;
	int steps = 0;

	flows_set_now(f, now);
	while (in_off < in_len && steps++ < 256) {
		uint8_t op = next_byte();
		const void *peer = (const void *)(uintptr_t)(1 + (op >> 6));
		struct pkt tuple;
		size_t n;

		switch (op & 7) {
		case 0: /* a raw packet */
			n = next_byte();
			n = n << 4 | (next_byte() & 15);
			if (n > in_len - in_off)
				n = in_len - in_off;
			memcpy(pkt, in_data + in_off, n);
			in_off += n;
			flows_from_tunnel(f, peer, pkt, n);
			break;
		case 1:
		case 2: /* a packet of one of a few tuples */
			if ((n = build(pkt, sizeof(pkt), &tuple))) {
				last = tuple;
				flows_from_tunnel(f, peer, pkt, n);
			}
			break;
		case 3:
		case 4: { /* an epoll event */
			uint8_t which = next_byte();
			fire(f, which, next_byte());
			break;
		}
		case 5: /* time passes */
			now += (uint64_t)next_byte() * 250;
			flows_tick(f, now);
			break;
		case 6: { /* the stack accepts the last tuple's connection */
			struct sockaddr_storage src, dst;
			int fd = fake_new();
			if (fd < 0)
				break;
			pkt_src_addr(&last, &src);
			pkt_dst_addr(&last, &dst);
			flows_accepted(f, fd, &src, &dst);
			break;
		}
		default: { /* the server opens a connection into the tunnel */
			int a = fake_new(), b = fake_new();
			if (a < 0 || b < 0) {
				if (a >= 0)
					fake_close(a);
				if (b >= 0)
					fake_close(b);
				break;
			}
			flows_adopt(f, a, b, last.family, last.src, last.sport, last.dst, last.dport);
		}
		}
		struct flow_counters c;
		flows_counters(f, &c);
		if (c.tcp_active + c.udp_active + c.ping_active > set->max_flows ||
		    c.memory > set->max_memory)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct serve_settings set;
	struct stack stack = { .ops = &fake_stack_ops };
	struct flow_env env = { .to_tunnel = to_tunnel };
	struct flows *f;

	/* the parser alone, at every length, on a copy that ends where the
	 * input does */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (size_t n = 0; n <= size && n <= 128; n++) {
		struct pkt p;
		const uint8_t *tail = copy + size - n;
		if (pkt_parse(&p, tail, n) == PKT_OK) {
			if (p.l4 < tail || p.l4 + p.l4_len > tail + n ||
			    p.payload < p.l4 || p.payload + p.payload_len > p.l4 + p.l4_len)
				abort();
			uint8_t out[PKT_IPV6_HDR + 1280];
			size_t m = pkt_build_unreach(out, sizeof(out), &p, tail, n, UNREACH_PORT);
			if (m)
				check_packet(out, m);
			if ((m = pkt_build_rst(out, sizeof(out), &p)))
				check_packet(out, m);
		}
	}
	free(copy);

	memset(fds, 0, sizeof(fds));
	in_data = data;
	in_len = size;
	in_off = 0;
	memset(&set, 0, sizeof(set));
	guard_init(&set.guard);
	uint8_t mode = next_byte();
	if (mode & 1)
		guard_add(&set.guard, "192.0.2.0/24", true);
	if (mode & 2)
		guard_add(&set.guard, "2001:db8::/32", false);
	set.server_loopback = mode & 4;
	set.max_flows = 8;
	set.max_flows_per_peer = mode & 8 ? 3 : 8;
	set.tcp_idle_s = 60;
	set.udp_idle_s = 30;
	set.max_memory = (mode & 16 ? 2 : 6) * (64 << 10);
	f = flows_new(&set, &stack, -1, &env);
	if (!f)
		return 0;
	run(f, &set);
	flows_free(f);
	for (int i = 0; i < FAKE_FDS; i++)
		if (fds[i].open)
			abort(); /* an fd the flows lost */
	return 0;
}
