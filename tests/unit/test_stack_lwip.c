/* test_stack_lwip.c: serve's lwip stack (src/serve/stack_lwip.c) fed real
 * TCP/IP packets built here, with no network: every packet lwIP sends back
 * is parsed and checked field by field (addresses, ports, sequence and
 * acknowledgment numbers, flags, MSS and window-scale options, both
 * checksums), and the socketpair the server would get is read and written
 * directly. Time is the test's own: run() is called with a virtual clock.
 *
 * Cases: IPv4 handshake, data both ways, FIN both ways; the same over IPv6
 * with a hop-by-hop header; two SYNs to different ports answered from their
 * own ports; backpressure (a server that does not read closes lwIP's window
 * to zero, reading reopens it, no byte lost or reordered); a reset from the
 * tunnel; a server end that goes away with unread data resets the tunnel
 * side; active opens: established (fd writable only after the SYN-ACK),
 * refused (SO_ERROR), timed out; segments lwIP must not see (fragments, not
 * TCP, truncated) dropped and counted; a stray ACK answered with RST; many
 * connections at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/stack.h"
#include "test.h"

#define MTU 1420
#define MAXPKT 8192

/* ---- what the stack sends and hands over ---- */

struct out {
	uint8_t b[2048];
	size_t len;
};
static struct out outq[MAXPKT];
static size_t nout;
static int acc_fd[4096];
static struct sockaddr_storage acc_src[4096], acc_dst[4096];
static size_t nacc;

static void cap_output(void *ctx, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	if (nout < MAXPKT && len <= sizeof(outq[0].b)) {
		memcpy(outq[nout].b, pkt, len);
		outq[nout++].len = len;
	}
}

static void cap_accepted(void *ctx, int fd, const struct sockaddr_storage *src,
			 const struct sockaddr_storage *dst)
{
	(void)ctx;
	if (nacc < 4096) {
		acc_fd[nacc] = fd;
		acc_src[nacc] = *src;
		acc_dst[nacc++] = *dst;
	} else {
		close(fd);
	}
}

static struct stack st;
static uint64_t now = 1000;
static uint64_t mem_base; /* memory_bytes of a stack with no connection */

static void open_stack(void)
{
	struct stack_env env = { .output = cap_output, .accepted = cap_accepted };
	char why[128] = "";

	memset(&st, 0, sizeof(st));
	st.ops = &stack_lwip_ops;
	nout = nacc = 0;
	int e = st.ops->open(&st, &env, why, sizeof(why));
	CHECK_EQ(e, 0);
	if (e)
		fprintf(stderr, "  open: %s\n", why);
	struct stack_stats ss;
	st.ops->stats(&st, &ss);
	mem_base = ss.memory_bytes;
	CHECK(mem_base > 0);
}

static void close_stack(void)
{
	for (size_t i = 0; i < nacc; i++)
		close(acc_fd[i]);
	nacc = 0;
	st.ops->close(&st);
}

/* Runs the stack at now (its fds, then its timer when due). */
static void run_at(uint64_t t)
{
	now = t;
	st.ops->run(&st, now);
}

/* Runs until the timer has fired at least once (delayed ACKs). */
static void tick(void)
{
	run_at(now);
	run_at(now + 250);
	run_at(now + 250);
}

/* ---- packets ---- */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

struct seg {
	bool v6;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	size_t optlen;
	const uint8_t *data;
	size_t len;
	bool hbh; /* IPv6: put a hop-by-hop header (PadN) in front */
};

enum { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16 };

static size_t build(uint8_t *o, const struct seg *s)
{
	size_t ih = s->v6 ? 40 + (s->hbh ? 8 : 0) : 20;
	size_t th = 20 + s->optlen;
	size_t tl = th + s->len;
	uint8_t *t = o + ih;
	uint32_t ps;

	memset(o, 0, ih + th);
	if (s->v6) {
		o[0] = 0x60;
		o[4] = (uint8_t)((tl + ih - 40) >> 8);
		o[5] = (uint8_t)(tl + ih - 40);
		o[6] = s->hbh ? 0 : 6;
		o[7] = 64;
		memcpy(o + 8, s->src, 16);
		memcpy(o + 24, s->dst, 16);
		if (s->hbh) {
			o[40] = 6;              /* next: TCP */
			o[41] = 0;              /* 8 bytes */
			o[42] = 1;              /* PadN */
			o[43] = 4;
		}
		ps = sum16(s->src, 16, sum16(s->dst, 16, 6 + (uint32_t)tl));
	} else {
		o[0] = 0x45;
		o[2] = (uint8_t)((ih + tl) >> 8);
		o[3] = (uint8_t)(ih + tl);
		o[6] = 0x40; /* DF */
		o[8] = 64;
		o[9] = 6;
		memcpy(o + 12, s->src, 4);
		memcpy(o + 16, s->dst, 4);
		uint16_t c = fold(sum16(o, 20, 0));
		o[10] = (uint8_t)(c >> 8);
		o[11] = (uint8_t)c;
		ps = sum16(s->src, 4, sum16(s->dst, 4, 6 + (uint32_t)tl));
	}
	t[0] = (uint8_t)(s->sport >> 8); t[1] = (uint8_t)s->sport;
	t[2] = (uint8_t)(s->dport >> 8); t[3] = (uint8_t)s->dport;
	for (int i = 0; i < 4; i++) {
		t[4 + i] = (uint8_t)(s->seq >> (24 - 8 * i));
		t[8 + i] = (uint8_t)(s->ack >> (24 - 8 * i));
	}
	t[12] = (uint8_t)((th / 4) << 4);
	t[13] = s->flags;
	t[14] = (uint8_t)(s->win >> 8);
	t[15] = (uint8_t)s->win;
	if (s->optlen)
		memcpy(t + 20, s->opt, s->optlen);
	if (s->len)
		memcpy(t + th, s->data, s->len);
	uint16_t c = fold(sum16(t, tl, ps));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	return ih + tl;
}

struct pkt {
	bool v6, ip_ok, tcp_ok;
	uint8_t src[16], dst[16];
	uint16_t sport, dport, win;
	uint32_t seq, ack;
	uint8_t flags;
	int mss, wscale; /* -1: option absent */
	const uint8_t *data;
	size_t len;
};

static bool parse(const struct out *o, struct pkt *p)
{
	const uint8_t *b = o->b;
	size_t ih, tl;

	memset(p, 0, sizeof(*p));
	p->mss = p->wscale = -1;
	if (o->len < 40)
		return false;
	if (b[0] >> 4 == 6) {
		p->v6 = true;
		ih = 40;
		tl = (size_t)(b[4] << 8 | b[5]);
		if (b[6] != 6 || 40 + tl != o->len)
			return false;
		memcpy(p->src, b + 8, 16);
		memcpy(p->dst, b + 24, 16);
		p->ip_ok = true;
		p->tcp_ok = fold(sum16(b + 40, tl, sum16(b + 8, 16, sum16(b + 24, 16, 6 + (uint32_t)tl)))) == 0;
	} else {
		ih = (size_t)(b[0] & 15) * 4;
		if ((size_t)(b[2] << 8 | b[3]) != o->len || b[9] != 6)
			return false;
		tl = o->len - ih;
		memcpy(p->src, b + 12, 4);
		memcpy(p->dst, b + 16, 4);
		p->ip_ok = fold(sum16(b, ih, 0)) == 0;
		p->tcp_ok = fold(sum16(b + ih, tl, sum16(b + 12, 4, sum16(b + 16, 4, 6 + (uint32_t)tl)))) == 0;
	}
	const uint8_t *t = b + ih;
	size_t th = (size_t)(t[12] >> 4) * 4;
	if (th < 20 || th > tl)
		return false;
	p->sport = (uint16_t)(t[0] << 8 | t[1]);
	p->dport = (uint16_t)(t[2] << 8 | t[3]);
	p->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
	p->ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
	p->flags = t[13];
	p->win = (uint16_t)(t[14] << 8 | t[15]);
	for (size_t i = 20; i < th;) {
		if (t[i] == 0)
			break;
		if (t[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= th || t[i + 1] < 2)
			break;
		if (t[i] == 2 && t[i + 1] == 4)
			p->mss = t[i + 2] << 8 | t[i + 3];
		if (t[i] == 3 && t[i + 1] == 3)
			p->wscale = t[i + 2];
		i += t[i + 1];
	}
	p->data = t + th;
	p->len = tl - th;
	return true;
}

/* The only packet sent since the last call (fails the case otherwise). */
static bool one_packet(struct pkt *p)
{
	CHECK_EQ(nout, 1);
	bool ok = nout >= 1 && parse(&outq[nout - 1], p);
	CHECK(ok);
	if (ok) {
		CHECK(p->ip_ok);
		CHECK(p->tcp_ok);
	}
	nout = 0;
	return ok && nout == 0;
}

static void feed(const struct seg *s)
{
	uint8_t b[2048];
	size_t n = build(b, s);

	st.ops->input(&st, b, n);
}

/* ---- one client connection, from its side ---- */

struct conn {
	struct seg s;      /* addresses and ports, client -> server */
	uint32_t snd, rcv; /* next sequence numbers: ours and the server's */
	int fd;            /* the server's end (from accepted), -1 before */
};

static void conn_init4(struct conn *c, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	memset(c, 0, sizeof(*c));
	inet_pton(AF_INET, src, c->s.src);
	inet_pton(AF_INET, dst, c->s.dst);
	c->s.sport = sport;
	c->s.dport = dport;
	c->s.win = 65535;
	c->snd = 1000;
	c->fd = -1;
}

static void conn_init6(struct conn *c, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	conn_init4(c, "0.0.0.0", sport, "0.0.0.0", dport);
	c->s.v6 = true;
	inet_pton(AF_INET6, src, c->s.src);
	inet_pton(AF_INET6, dst, c->s.dst);
}

static void conn_send(struct conn *c, uint8_t flags, const void *data, size_t len)
{
	struct seg s = c->s;

	s.seq = c->snd;
	s.ack = (flags & ACK) ? c->rcv : 0;
	s.flags = flags;
	s.data = data;
	s.len = len;
	feed(&s);
	c->snd += (uint32_t)len + ((flags & (SYN | FIN)) ? 1 : 0);
}

/* A packet is from the server side of c. */
static void check_from(const struct conn *c, const struct pkt *p)
{
	size_t al = c->s.v6 ? 16 : 4;

	CHECK_EQ(p->v6, c->s.v6);
	CHECK_MEM(p->src, c->s.dst, al);
	CHECK_MEM(p->dst, c->s.src, al);
	CHECK_EQ(p->sport, c->s.dport);
	CHECK_EQ(p->dport, c->s.sport);
}

/* Handshake through the stack; c->fd is the server's end afterwards. */
static bool conn_open(struct conn *c)
{
	static const uint8_t opt[] = { 2, 4, 0x05, 0x64, /* MSS 1380 */ 1, 3, 3, 7 /* WS 7 */ };
	struct pkt p;
	size_t before = nacc;

	c->s.opt = opt;
	c->s.optlen = sizeof(opt);
	conn_send(c, SYN, NULL, 0);
	c->s.opt = NULL;
	c->s.optlen = 0;
	if (!one_packet(&p))
		return false;
	check_from(c, &p);
	CHECK_EQ(p.flags, SYN | ACK);
	CHECK_EQ(p.ack, c->snd);
	CHECK_EQ(p.mss, MTU - (c->s.v6 ? 60 : 40));
	CHECK_EQ(p.wscale, 1); /* Debian's TCP_RCV_SCALE */
	CHECK_EQ(p.len, 0);
	CHECK(p.win > 0);
	c->rcv = p.seq + 1;
	CHECK_EQ(nacc, before);
	conn_send(c, ACK, NULL, 0);
	CHECK_EQ(nacc, before + 1);
	CHECK_EQ(nout, 0);
	if (nacc != before + 1)
		return false;
	c->fd = acc_fd[before];
	return true;
}

static size_t read_all(int fd, uint8_t *b, size_t max)
{
	size_t got = 0;

	while (got < max) {
		ssize_t n = read(fd, b + got, max - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void check_addr(const struct sockaddr_storage *ss, int fam, const char *addr, uint16_t port)
{
	char txt[INET6_ADDRSTRLEN] = "";

	CHECK_EQ(ss->ss_family, fam);
	if (fam == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, txt, sizeof(txt));
		CHECK_EQ(ntohs(s4->sin_port), port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, txt, sizeof(txt));
		CHECK_EQ(ntohs(s6->sin6_port), port);
	}
	CHECK(!strcmp(txt, addr));
}

/* Data both ways and FIN both ways on an open connection. */
static void exchange_and_close(struct conn *c)
{
	struct pkt p;
	uint8_t b[64];

	conn_send(c, PSH | ACK, "hello", 5);
	CHECK_EQ(read_all(c->fd, b, sizeof(b)), 5);
	CHECK_MEM(b, "hello", 5);
	tick(); /* lwIP delays the ACK of a lone segment to its timer */
	if (one_packet(&p)) {
		check_from(c, &p);
		CHECK_EQ(p.flags, ACK);
		CHECK_EQ(p.ack, c->snd);
		CHECK_EQ(p.seq, c->rcv);
	}

	CHECK_EQ(write(c->fd, "world!", 6), 6);
	run_at(now);
	if (one_packet(&p)) {
		check_from(c, &p);
		CHECK(p.flags & ACK);
		CHECK_EQ(p.seq, c->rcv);
		CHECK_EQ(p.ack, c->snd);
		CHECK_EQ(p.len, 6);
		CHECK_MEM(p.data, "world!", 6);
		c->rcv += (uint32_t)p.len;
	}
	conn_send(c, ACK, NULL, 0);
	CHECK_EQ(nout, 0);

	/* FIN from the tunnel: end of stream for the server, ACKed at once. */
	conn_send(c, FIN | ACK, NULL, 0);
	CHECK_EQ(read(c->fd, b, sizeof(b)), 0);
	CHECK(!st.ops->was_reset(&st, c->fd));
	if (one_packet(&p)) {
		CHECK_EQ(p.flags, ACK);
		CHECK_EQ(p.ack, c->snd);
	}
	/* The server still writes, then closes: data then FIN. */
	CHECK_EQ(write(c->fd, "bye", 3), 3);
	close(c->fd);
	c->fd = -1;
	nacc = 0;
	run_at(now);
	CHECK(nout >= 1);
	uint32_t fin_seq = 0;
	bool fin = false;
	size_t got = 0;
	for (size_t i = 0; i < nout; i++) {
		if (!parse(&outq[i], &p))
			continue;
		CHECK(p.tcp_ok);
		if (p.len) {
			CHECK_EQ(p.seq, c->rcv + got);
			CHECK_MEM(p.data, &"bye"[got], p.len);
			got += p.len;
		}
		if (p.flags & FIN) {
			fin = true;
			fin_seq = p.seq + (uint32_t)p.len;
		}
	}
	nout = 0;
	CHECK_EQ(got, 3);
	CHECK(fin);
	CHECK_EQ(fin_seq, c->rcv + 3);
	c->rcv = fin_seq + 1;
	conn_send(c, ACK, NULL, 0);
	CHECK_EQ(nout, 0);
	struct stack_stats ss;
	st.ops->stats(&st, &ss);
	CHECK_EQ(ss.active, 0);
	CHECK_EQ(ss.accepted, 1);
	CHECK_EQ(ss.memory_bytes, mem_base); /* nothing left counted */
}

static void v4_handshake_data_fin(void)
{
	struct conn c;

	open_stack();
	conn_init4(&c, "10.0.0.2", 40000, "192.0.2.10", 80);
	if (conn_open(&c)) {
		check_addr(&acc_src[0], AF_INET, "10.0.0.2", 40000);
		check_addr(&acc_dst[0], AF_INET, "192.0.2.10", 80);
		CHECK(fcntl(c.fd, F_GETFL) & O_NONBLOCK);
		int type = 0;
		socklen_t tl = sizeof(type);
		CHECK_EQ(getsockopt(c.fd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
		CHECK_EQ(type, SOCK_STREAM);
		exchange_and_close(&c);
	}
	struct stack_stats ss;
	st.ops->stats(&st, &ss);
	CHECK(ss.segments_in >= 6);
	CHECK(ss.packets_out >= 5);
	CHECK_EQ(ss.dropped, 0);
	close_stack();
}

static void v6_handshake_data_fin(void)
{
	struct conn c;

	open_stack();
	conn_init6(&c, "fd00::2", 40001, "2001:db8::10", 443);
	c.s.hbh = true;
	if (conn_open(&c)) {
		check_addr(&acc_src[0], AF_INET6, "fd00::2", 40001);
		check_addr(&acc_dst[0], AF_INET6, "2001:db8::10", 443);
		exchange_and_close(&c);
	}
	close_stack();
}

/* One listener serves every port: each SYN is answered from its own. */
static void syns_to_many_ports(void)
{
	struct conn a, b, d;

	open_stack();
	conn_init4(&a, "10.0.0.2", 1111, "192.0.2.1", 22);
	conn_init4(&b, "10.0.0.2", 2222, "192.0.2.2", 8080);
	conn_init6(&d, "fd00::2", 3333, "2001:db8::3", 22);
	CHECK(conn_open(&a));
	CHECK(conn_open(&b));
	CHECK(conn_open(&d));
	CHECK_EQ(nacc, 3);
	check_addr(&acc_dst[0], AF_INET, "192.0.2.1", 22);
	check_addr(&acc_dst[1], AF_INET, "192.0.2.2", 8080);
	check_addr(&acc_dst[2], AF_INET6, "2001:db8::3", 22);
	/* Data reaches the right fd. */
	conn_send(&b, PSH | ACK, "to-b", 4);
	conn_send(&a, PSH | ACK, "to-a", 4);
	uint8_t buf[16];
	CHECK_EQ(read_all(a.fd, buf, sizeof(buf)), 4);
	CHECK_MEM(buf, "to-a", 4);
	CHECK_EQ(read_all(b.fd, buf, sizeof(buf)), 4);
	CHECK_MEM(buf, "to-b", 4);
	CHECK_EQ(read_all(d.fd, buf, sizeof(buf)), 0);
	close_stack();
}

/* A SYN-ACK whose ACK never comes goes again at 1 s, 3 s and 7 s. */
static void synack_retransmit(void)
{
	static const uint8_t opt[] = { 2, 4, 0x05, 0x64 };
	struct conn c;
	struct pkt p;
	uint64_t t0, when[8];
	int n = 0;

	open_stack();
	conn_init4(&c, "10.0.0.2", 40010, "192.0.2.10", 80);
	run_at(now);
	t0 = now;
	c.s.opt = opt;
	c.s.optlen = sizeof(opt);
	conn_send(&c, SYN, NULL, 0);
	CHECK_EQ(nout, 1);
	nout = 0;
	while (now < t0 + 8000 && n < 8) {
		run_at(now + 250);
		for (size_t i = 0; i < nout; i++)
			if (parse(&outq[i], &p) && p.flags == (SYN | ACK))
				when[n++] = now - t0;
		nout = 0;
	}
	CHECK(n >= 3);
	if (n >= 3) {
		CHECK(when[0] >= 750 && when[0] <= 1500);
		CHECK(when[1] >= 2500 && when[1] <= 3750);
		CHECK(when[2] >= 6500 && when[2] <= 7750);
	}
	/* the ACK still completes it */
	c.rcv = p.seq + 1;
	conn_send(&c, ACK, NULL, 0);
	CHECK_EQ(nacc, 1);
	close_stack();
}

/* A server that does not read closes lwIP's window; reading reopens it. */
static void backpressure(void)
{
	struct conn c;
	struct pkt p;
	static uint8_t chunk[1380], got[1 << 20];
	uint32_t peer_wnd = 0, sent = 0, acked_at = 0;

	open_stack();
	conn_init4(&c, "10.0.0.2", 40002, "192.0.2.10", 9);
	if (!conn_open(&c)) {
		close_stack();
		return;
	}
	uint32_t base = c.snd;
	/* The SYN-ACK's window is not scaled; every later one is (<< 1). */
	peer_wnd = 65535;
	uint32_t acked = base;
	for (int round = 0; round < 2000; round++) {
		/* Send what the window allows, MSS by MSS (the last one short). */
		while (c.snd - acked < peer_wnd && sent < sizeof(got)) {
			size_t len = peer_wnd - (c.snd - acked);
			if (len > sizeof(chunk))
				len = sizeof(chunk);
			for (size_t i = 0; i < len; i++)
				chunk[i] = (uint8_t)((sent + i) * 7 + 3);
			conn_send(&c, ACK, chunk, len);
			sent += (uint32_t)len;
		}
		tick();
		bool progress = false;
		for (size_t i = 0; i < nout; i++)
			if (parse(&outq[i], &p) && (p.flags & ACK)) {
				if (p.ack != acked || (uint32_t)p.win << 1 != peer_wnd)
					progress = true;
				acked = p.ack;
				peer_wnd = (uint32_t)p.win << 1;
			}
		nout = 0;
		if (peer_wnd == 0 || !progress) {
			acked_at = acked;
			break;
		}
	}
	CHECK_EQ(peer_wnd, 0);           /* window closed ... */
	CHECK_EQ(acked_at, c.snd);       /* ... with everything sent acknowledged */
	CHECK(sent > 65535);             /* more than the window: the socketpair holds the rest */
	struct stack_stats ss;
	st.ops->stats(&st, &ss);
	CHECK_EQ(ss.active, 1);
	CHECK(ss.memory_bytes >= 60000); /* what lwIP took and the server did not */
	/* Nothing moves while the server does not read. */
	tick();
	CHECK_EQ(nout, 0);
	/* The server reads everything: the window opens again. */
	size_t n = 0;
	for (int i = 0; i < 100 && n < sent; i++) {
		n += read_all(c.fd, got + n, sizeof(got) - n);
		run_at(now);
	}
	CHECK_EQ(n, sent);
	bool same = true;
	for (size_t i = 0; i < n; i++)
		if (got[i] != (uint8_t)(i * 7 + 3))
			same = false;
	CHECK(same);
	bool reopened = false;
	for (size_t i = 0; i < nout; i++)
		if (parse(&outq[i], &p) && p.win > 0 && p.ack == c.snd)
			reopened = true;
	nout = 0;
	CHECK(reopened);
	close_stack();
}

static void reset_from_tunnel(void)
{
	struct conn c;
	uint8_t b[8];

	open_stack();
	conn_init4(&c, "10.0.0.2", 40003, "192.0.2.10", 80);
	if (conn_open(&c)) {
		conn_send(&c, RST | ACK, NULL, 0);
		CHECK_EQ(nout, 0);
		struct pollfd pfd = { .fd = c.fd, .events = POLLIN };
		CHECK_EQ(poll(&pfd, 1, 1000), 1);
		CHECK_EQ(read(c.fd, b, sizeof(b)), 0);
		/* the server learns it was a reset, once */
		CHECK(st.ops->was_reset(&st, c.fd));
		CHECK(!st.ops->was_reset(&st, c.fd));
		struct stack_stats ss;
		st.ops->stats(&st, &ss);
		CHECK_EQ(ss.active, 0);
		/* The flow is gone: a further segment is answered with RST. */
		conn_send(&c, PSH | ACK, "late", 4);
		struct pkt p;
		if (one_packet(&p))
			CHECK(p.flags & RST);
	}
	close_stack();
}

/* The server's end closes with bytes it never read: the tunnel gets RST. */
static void reset_from_server(void)
{
	struct conn c;
	struct pkt p;

	open_stack();
	conn_init4(&c, "10.0.0.2", 40004, "192.0.2.10", 80);
	if (conn_open(&c)) {
		conn_send(&c, PSH | ACK, "unread", 6);
		nout = 0;
		close(c.fd);
		nacc = 0;
		run_at(now);
		/* lwIP sends the ACK it was delaying, then RST. */
		CHECK(nout == 1 || nout == 2);
		for (size_t i = 0; i < nout; i++) {
			CHECK(parse(&outq[i], &p));
			check_from(&c, &p);
			CHECK(p.tcp_ok);
			CHECK_EQ(p.seq, c.rcv);
			CHECK_EQ(p.len, 0);
			CHECK_EQ(p.flags, i + 1 < nout ? ACK : RST | ACK);
		}
		nout = 0;
		struct stack_stats ss;
		st.ops->stats(&st, &ss);
		CHECK_EQ(ss.active, 0);
	}
	close_stack();
}

/* The server asks for a reset (its destination reset): RST, not FIN. */
static void reset_asked(void)
{
	struct conn a, b;
	struct pkt p;

	open_stack();
	conn_init4(&a, "10.0.0.2", 40006, "192.0.2.10", 80);
	conn_init4(&b, "10.0.0.2", 40007, "192.0.2.10", 80);
	if (conn_open(&a) && conn_open(&b)) {
		st.ops->reset(&st, b.fd);
		if (one_packet(&p)) {
			check_from(&b, &p);
			CHECK(p.flags & RST);
			CHECK_EQ(p.seq, b.rcv);
		}
		st.ops->reset(&st, -1); /* nobody's: nothing happens */
		CHECK_EQ(nout, 0);
		struct stack_stats ss;
		st.ops->stats(&st, &ss);
		CHECK_EQ(ss.active, 1);
		/* the other connection lives on */
		conn_send(&a, PSH | ACK, "still", 5);
		uint8_t buf[8];
		CHECK_EQ(read_all(a.fd, buf, sizeof(buf)), 5);
	}
	close_stack();
}

static void sockaddr4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, a, &s4->sin_addr);
}

static short poll_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&pfd, 1, 0) == 1 ? pfd.revents : 0;
}

/* connect(): SYN out; the fd is writable only once the SYN-ACK is in. The
 * client's side of the packets is played by c (src/dst as seen from it). */
static int start_connect(struct conn *c, struct pkt *syn)
{
	struct sockaddr_storage src, dst;

	sockaddr4(&src, "10.0.0.1", 0);
	sockaddr4(&dst, "10.0.0.2", 8080);
	int fd = st.ops->connect(&st, &src, &dst);
	CHECK(fd >= 0);
	if (fd < 0)
		return -1;
	if (!one_packet(syn)) {
		close(fd);
		return -1;
	}
	conn_init4(c, "10.0.0.2", 8080, "10.0.0.1", syn->sport);
	check_from(c, syn);
	CHECK_EQ(syn->flags, SYN);
	CHECK_EQ(syn->mss, MTU - 40);
	CHECK(syn->sport != 0);
	CHECK_EQ(poll_now(fd) & POLLOUT, 0);
	CHECK_EQ(poll_now(fd) & POLLIN, 0);
	c->rcv = syn->seq + 1;
	return fd;
}

static void connect_established(void)
{
	struct conn c;
	struct pkt p;
	uint8_t b[16];

	open_stack();
	int fd = start_connect(&c, &p);
	if (fd >= 0) {
		conn_send(&c, SYN | ACK, NULL, 0);
		if (one_packet(&p)) {
			CHECK_EQ(p.flags, ACK);
			CHECK_EQ(p.ack, c.snd);
			CHECK_EQ(p.seq, c.rcv);
		}
		CHECK(poll_now(fd) & POLLOUT);
		CHECK_EQ(poll_now(fd) & POLLIN, 0);
		int err = -1;
		socklen_t el = sizeof(err);
		CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
		CHECK_EQ(err, 0);
		/* Both ways, and no filler byte ever reaches the tunnel. */
		CHECK_EQ(write(fd, "ping", 4), 4);
		run_at(now);
		if (one_packet(&p)) {
			CHECK_EQ(p.len, 4);
			CHECK_MEM(p.data, "ping", 4);
			CHECK_EQ(p.seq, c.rcv);
			c.rcv += 4;
		}
		conn_send(&c, PSH | ACK, "pong", 4);
		CHECK_EQ(read_all(fd, b, sizeof(b)), 4);
		CHECK_MEM(b, "pong", 4);
		/* A large write arrives whole and in order. */
		static uint8_t big[200000];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 13);
		size_t off = 0, seen = 0;
		bool order = true;
		nout = 0;
		for (int round = 0; round < 1000 && seen < sizeof(big); round++) {
			if (off < sizeof(big)) {
				ssize_t w = write(fd, big + off, sizeof(big) - off);
				if (w > 0)
					off += (size_t)w;
			}
			run_at(now);
			/* What the last ACK and this run sent, in order. */
			for (size_t i = 0; i < nout; i++) {
				if (!parse(&outq[i], &p) || !p.len)
					continue;
				if (p.seq != c.rcv || seen + p.len > sizeof(big) ||
				    memcmp(p.data, big + seen, p.len))
					order = false;
				seen += p.len;
				c.rcv += (uint32_t)p.len;
			}
			nout = 0;
			conn_send(&c, ACK, NULL, 0); /* ACK all: the send buffer frees */
		}
		CHECK(order);
		CHECK_EQ(seen, sizeof(big));
		struct stack_stats ss;
		st.ops->stats(&st, &ss);
		CHECK_EQ(ss.connects, 1);
		CHECK_EQ(ss.active, 1);
		close(fd);
	}
	close_stack();
}

static void connect_refused(void)
{
	struct conn c;
	struct pkt p;

	open_stack();
	int fd = start_connect(&c, &p);
	if (fd >= 0) {
		c.snd = 0;
		conn_send(&c, RST | ACK, NULL, 0);
		short ev = poll_now(fd);
		CHECK(ev & (POLLERR | POLLHUP));
		int err = 0;
		socklen_t el = sizeof(err);
		CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
		CHECK_EQ(err, ECONNRESET);
		struct stack_stats ss;
		st.ops->stats(&st, &ss);
		CHECK_EQ(ss.active, 0);
		close(fd);
	}
	close_stack();
}

static void connect_timeout(void)
{
	struct conn c;
	struct pkt p;
	int syns = 0;

	open_stack();
	run_at(now);
	int fd = start_connect(&c, &p);
	if (fd >= 0) {
		uint64_t t0 = now;
		while (now < t0 + 30000 && !(poll_now(fd) & (POLLERR | POLLHUP))) {
			run_at(now + 250);
			for (size_t i = 0; i < nout; i++)
				if (parse(&outq[i], &p) && p.flags == SYN)
					syns++;
			nout = 0;
		}
		/* lwIP's own limit: six retransmissions, 18.5 s */
		CHECK_EQ(syns, 6);
		CHECK(now - t0 >= 15000);
		CHECK(now - t0 <= 25000);
		int err = 0;
		socklen_t el = sizeof(err);
		CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
		CHECK_EQ(err, ECONNRESET);
		close(fd);
	}
	close_stack();
}

static void connect_errors(void)
{
	struct sockaddr_storage src, dst;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;

	open_stack();
	sockaddr4(&src, "10.0.0.1", 0);
	memset(&dst, 0, sizeof(dst));
	d6->sin6_family = AF_INET6;
	d6->sin6_port = htons(80);
	CHECK_EQ(st.ops->connect(&st, &src, &dst), -EAFNOSUPPORT);
	sockaddr4(&dst, "10.0.0.2", 80);
	CHECK_EQ(st.ops->connect(&st, NULL, &dst), -EDESTADDRREQ);
	CHECK_EQ(nout, 0);
	close_stack();
}

/* What lwIP must not see is dropped and counted; a stray ACK meets RST. */
static void drops_and_strays(void)
{
	struct conn c;
	struct pkt p;
	uint8_t b[2048];
	struct stack_stats ss;

	open_stack();
	conn_init4(&c, "10.0.0.2", 40005, "192.0.2.10", 80);
	struct seg s = c.s;
	s.flags = SYN;
	s.seq = 1;
	size_t n = build(b, &s);
	b[6] = 0x20; /* more fragments */
	st.ops->input(&st, b, n);
	n = build(b, &s);
	b[9] = 17; /* UDP */
	st.ops->input(&st, b, n);
	n = build(b, &s);
	st.ops->input(&st, b, n - 1); /* shorter than its IP length */
	st.ops->input(&st, b, 10);
	struct conn c6;
	conn_init6(&c6, "fd00::2", 1, "2001:db8::1", 80);
	s = c6.s;
	s.flags = SYN;
	n = build(b, &s);
	b[6] = 44; /* a fragment header */
	st.ops->input(&st, b, n);
	CHECK_EQ(nout, 0);
	CHECK_EQ(nacc, 0);
	st.ops->stats(&st, &ss);
	CHECK_EQ(ss.dropped, 5);
	CHECK_EQ(ss.segments_in, 0);

	c.rcv = 12345;
	conn_send(&c, ACK, NULL, 0);
	if (one_packet(&p)) {
		check_from(&c, &p);
		CHECK(p.flags & RST);
		CHECK_EQ(p.seq, 12345);
	}
	/* A corrupted checksum is lwIP's to drop: no answer, no connection. */
	s = c.s;
	s.flags = SYN;
	s.seq = 7;
	n = build(b, &s);
	b[n - 1] ^= 1;
	st.ops->input(&st, b, n);
	CHECK_EQ(nout, 0);
	close_stack();
}

/* Many connections at once, each with its own data. */
static void many_connections(void)
{
	enum { N = 1000 };
	static struct conn c[N];
	size_t ok = 0, good = 0;

	open_stack();
	for (int i = 0; i < N; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "198.18.%d.%d", i / 200, i % 200 + 1);
		conn_init4(&c[i], "10.0.0.2", (uint16_t)(20000 + i), dst, (uint16_t)(1 + i % 7));
		if (conn_open(&c[i]))
			ok++;
	}
	CHECK_EQ(ok, N);
	for (int i = 0; i < N; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof(msg), "conn %d", i);
		conn_send(&c[i], PSH | ACK, msg, (size_t)len);
	}
	nout = 0;
	for (int i = 0; i < N && c[i].fd >= 0; i++) {
		char msg[16], got[32] = "";
		int len = snprintf(msg, sizeof(msg), "conn %d", i);
		if (read_all(c[i].fd, (uint8_t *)got, sizeof(got) - 1) == (size_t)len && !memcmp(got, msg, (size_t)len))
			good++;
	}
	CHECK_EQ(good, N);
	struct stack_stats ss;
	st.ops->stats(&st, &ss);
	CHECK_EQ(ss.active, N);
	CHECK_EQ(ss.accepted, N);
	CHECK(ss.memory_bytes > mem_base + N * 100);
	close_stack();
	/* Closing the stack let every pcb go: a new one starts empty. */
	open_stack();
	st.ops->stats(&st, &ss);
	CHECK_EQ(ss.active, 0);
	CHECK_EQ(st.ops->deadline(&st), UINT64_MAX);
	close_stack();
}

/* Hostile segments from a peer: random flags, numbers, options, lengths and
 * addresses, with valid checksums (lwIP's own check would stop the rest).
 * Nothing may crash; every answer (and retransmission) is a well-formed
 * packet; the stack can still open a connection afterwards. */
static void random_segments(void)
{
	uint8_t opt[40], data[600], b[2048];
	unsigned n = 20000 / test_scale();
	bool answers_ok = true;

	open_stack();
	for (unsigned i = 0; i < n; i++) {
		struct seg sg = { .v6 = test_below(2), .hbh = test_below(4) == 0 };
		uint8_t dst4[4] = { 192, 0, 2, (uint8_t)(1 + test_below(3)) };
		sg.src[0] = 10;
		sg.src[3] = (uint8_t)test_below(4);
		if (sg.v6) {
			sg.src[0] = 0xfd;
			memcpy(sg.dst, (uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);
			sg.dst[15] = dst4[3];
		} else {
			memcpy(sg.dst, dst4, 4);
		}
		sg.sport = (uint16_t)(1000 + test_below(8));
		sg.dport = (uint16_t)(1 + test_below(4));
		sg.seq = (uint32_t)test_below(4) * 1000 + (uint32_t)test_below(3);
		sg.ack = (uint32_t)test_rnd();
		sg.flags = (uint8_t)test_rnd();
		if (test_below(3) == 0)
			sg.flags = SYN;
		sg.win = (uint16_t)test_rnd();
		sg.optlen = test_below(11) * 4;
		for (size_t j = 0; j < sg.optlen; j++)
			opt[j] = (uint8_t)(test_below(2) ? test_below(5) : test_rnd());
		sg.opt = opt;
		sg.len = test_below(3) ? 0 : test_below(sizeof(data));
		for (size_t j = 0; j < sg.len; j++)
			data[j] = (uint8_t)test_rnd();
		sg.data = data;
		size_t len = build(b, &sg);
		st.ops->input(&st, b, len);
		for (size_t j = 0; j < nout; j++) {
			struct pkt p;
			if (!parse(&outq[j], &p) || !p.tcp_ok || !p.ip_ok) {
				if (answers_ok)
					fprintf(stderr, "  packet %u: answer %zu of %zu bytes is malformed\n", i, j,
						outq[j].len);
				answers_ok = false;
			}
		}
		nout = 0;
		if (test_below(64) == 0)
			run_at(now + test_below(2000));
		for (size_t j = 0; j < nacc; j++)
			close(acc_fd[j]);
		nacc = 0;
	}
	CHECK(answers_ok);
	struct conn c;
	conn_init4(&c, "10.0.0.9", 50000, "192.0.2.99", 80);
	CHECK(conn_open(&c));
	close_stack();
}

static void one_instance(void)
{
	struct stack_env env = { .output = cap_output, .accepted = cap_accepted };
	struct stack other = { .ops = &stack_lwip_ops };
	char why[128] = "";

	open_stack();
	CHECK_EQ(other.ops->open(&other, &env, why, sizeof(why)), -EBUSY);
	CHECK(why[0] != 0);
	CHECK(st.ops->poll_fd(&st) >= 0);
	close_stack();
}

int main(void)
{
	test_suite_name = "stack_lwip";
	test_seed(0x1e1f);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* many_connections holds two fds per flow */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	RUN(v4_handshake_data_fin);
	RUN(v6_handshake_data_fin);
	RUN(syns_to_many_ports);
	RUN(synack_retransmit);
	RUN(backpressure);
	RUN(reset_from_tunnel);
	RUN(reset_from_server);
	RUN(reset_asked);
	RUN(connect_established);
	RUN(connect_refused);
	RUN(connect_timeout);
	RUN(connect_errors);
	RUN(drops_and_strays);
	RUN(many_connections);
	RUN(random_segments);
	RUN(one_instance);
	TEST_EXIT();
}
