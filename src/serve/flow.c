/* flow.c: flows of `weft serve` (see flow.h): the flow table, SYN
 * interception, UDP and ping sockets, and the byte relay between a stack's
 * stream fd and the real connection. */
#include "serve/flow.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "serve/packet.h"
#include "weftd/log.h"

#define FLOW_BUCKETS 65536
#define FLOW_MAX_PEERS 4096
#define RELAY_BUF (64 << 10)          /* one direction's transfer buffer */
#define RELAY_ROUNDS 8                /* reads per direction per event, for fairness */
#define CONNECT_TIMEOUT_MS 20000      /* a peer's SYN waits this long for the real connect */
#define ACCEPT_TIMEOUT_MS 10000       /* and the stack this long for the handshake */
#define PING_IDLE_MS 30000
#define TICK_MS 1000
#define SYN_MAX 128                   /* IP + TCP headers with options */
#define FLOW_BUF (PKT_MAX + 1)

enum flow_type { FLOW_TCP, FLOW_UDP, FLOW_PING };
enum tcp_state { TCP_CONNECTING, TCP_ACCEPTING, TCP_RELAY };

struct relay_dir {
	uint8_t *buf;
	uint32_t off, len;
	bool eof;     /* read side ended */
	bool shut;    /* write side shut down after the eof was passed on */
	bool stalled; /* no buffer under the memory bound: retried by the tick */
};

struct peer_slot {
	const void *peer;
	uint32_t flows;
};

struct flow {
	struct watch w_out, w_in;      /* out: the real connection; in: the stack's fd */
	enum flow_type type;
	enum tcp_state state;
	uint8_t family;
	uint8_t src[16], dst[16];      /* the tunnel's view: src is the peer's address */
	uint16_t sport, dport;         /* ping: the echo id in sport */
	struct peer_slot *peer;
	int out_fd, in_fd;
	uint32_t mask_out, mask_in;    /* epoll interest now */
	uint64_t last_ms, deadline_ms;
	uint8_t *syn;
	uint16_t syn_len;
	struct relay_dir up, down;     /* up: in -> out (peer to destination) */
	struct flow *hnext, *prev, *next; /* hnext: the graveyard's link once dead */
	bool dead;                     /* freed, memory kept until the next tick */
};

struct flows {
	const struct serve_settings *set;
	struct stack *stack;
	int epfd;
	struct flow_env env;
	struct flow **buckets;
	struct flow *all;
	/* Flows ended during an epoll batch stay allocated until the next tick:
	 * a later event of the same batch may still name them. Their memory
	 * counts against the bound until then, or a peer opening and ending
	 * flows quickly would hold any amount of it. */
	struct flow *graveyard;
	struct peer_slot peers[FLOW_MAX_PEERS];
	size_t n_peers;
	uint64_t n_flows, now_ms;
	struct flow_counters c;
	bool ping_warned;
	uint8_t *buf;                  /* packets built for the tunnel, datagrams read */
};

/* ---- table ---- */

static uint32_t tuple_hash(int family, const uint8_t *src, uint16_t sport, const uint8_t *dst,
			   uint16_t dport, enum flow_type type)
{
	uint32_t h = 2166136261u ^ (uint32_t)family ^ (uint32_t)type << 8;
	size_t n = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		h = (h ^ src[i]) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ dst[i]) * 16777619u;
	h = (h ^ sport) * 16777619u;
	h = (h ^ dport) * 16777619u;
	return h % FLOW_BUCKETS;
}

static struct flow *lookup(struct flows *f, enum flow_type type, int family, const uint8_t *src,
			   uint16_t sport, const uint8_t *dst, uint16_t dport)
{
	size_t n = family == AF_INET ? 4 : 16;

	for (struct flow *fl = f->buckets[tuple_hash(family, src, sport, dst, dport, type)]; fl; fl = fl->hnext)
		if (fl->type == type && fl->family == family && fl->sport == sport && fl->dport == dport &&
		    !memcmp(fl->src, src, n) && !memcmp(fl->dst, dst, n))
			return fl;
	return NULL;
}

static struct peer_slot *peer_slot(struct flows *f, const void *peer)
{
	for (size_t i = 0; i < f->n_peers; i++)
		if (f->peers[i].peer == peer)
			return &f->peers[i];
	for (size_t i = 0; i < f->n_peers; i++)
		if (!f->peers[i].flows) {
			f->peers[i].peer = peer;
			return &f->peers[i];
		}
	if (f->n_peers == FLOW_MAX_PEERS)
		return NULL;
	f->peers[f->n_peers] = (struct peer_slot){ .peer = peer };
	return &f->peers[f->n_peers++];
}

static uint64_t *active_counter(struct flows *f, enum flow_type type)
{
	return type == FLOW_TCP ? &f->c.tcp_active : type == FLOW_UDP ? &f->c.udp_active : &f->c.ping_active;
}

/* A new flow for the tuple of p, or NULL (counted) over a limit. */
static struct flow *flow_new(struct flows *f, enum flow_type type, const struct pkt *p, const void *peer)
{
	struct peer_slot *ps = peer_slot(f, peer);
	struct flow *fl;
	uint32_t h;

	if (f->n_flows >= f->set->max_flows || !ps || ps->flows >= f->set->max_flows_per_peer) {
		f->c.limited++;
		return NULL;
	}
	if (f->c.memory + sizeof(*fl) > f->set->max_memory) {
		f->c.memory_refused++;
		return NULL;
	}
	fl = calloc(1, sizeof(*fl));
	if (!fl) {
		f->c.memory_refused++;
		return NULL;
	}
	fl->w_out.kind = WATCH_FLOW_OUT;
	fl->w_in.kind = WATCH_FLOW_IN;
	fl->type = type;
	fl->family = (uint8_t)p->family;
	memcpy(fl->src, p->src, sizeof(fl->src));
	memcpy(fl->dst, p->dst, sizeof(fl->dst));
	fl->sport = p->sport;
	fl->dport = type == FLOW_PING ? 0 : p->dport;
	fl->peer = ps;
	fl->out_fd = fl->in_fd = -1;
	fl->last_ms = f->now_ms;
	h = tuple_hash(fl->family, fl->src, fl->sport, fl->dst, fl->dport, type);
	fl->hnext = f->buckets[h];
	f->buckets[h] = fl;
	fl->next = f->all;
	if (f->all)
		f->all->prev = fl;
	f->all = fl;
	ps->flows++;
	f->n_flows++;
	(*active_counter(f, type))++;
	f->c.memory += sizeof(*fl);
	return fl;
}

static void dir_free(struct flows *f, struct relay_dir *d)
{
	if (d->buf) {
		free(d->buf);
		d->buf = NULL;
		f->c.memory -= RELAY_BUF;
	}
}

static void flow_free(struct flows *f, struct flow *fl)
{
	struct flow **pp = &f->buckets[tuple_hash(fl->family, fl->src, fl->sport, fl->dst, fl->dport, fl->type)];

	while (*pp != fl)
		pp = &(*pp)->hnext;
	*pp = fl->hnext;
	if (fl->prev)
		fl->prev->next = fl->next;
	else
		f->all = fl->next;
	if (fl->next)
		fl->next->prev = fl->prev;
	if (fl->out_fd >= 0)
		close(fl->out_fd); /* also leaves the epoll set */
	if (fl->in_fd >= 0)
		close(fl->in_fd);
	dir_free(f, &fl->up);
	dir_free(f, &fl->down);
	free(fl->syn);
	fl->peer->flows--;
	f->n_flows--;
	(*active_counter(f, fl->type))--;
	/* its memory counts until bury() frees it */
	fl->out_fd = fl->in_fd = -1;
	fl->dead = true;
	fl->hnext = f->graveyard;
	f->graveyard = fl;
}

static void bury(struct flows *f)
{
	while (f->graveyard) {
		struct flow *fl = f->graveyard;
		f->graveyard = fl->hnext;
		free(fl);
		f->c.memory -= sizeof(*fl);
	}
}

static int watch_fd(struct flows *f, int fd, struct watch *w, uint32_t events, uint32_t *mask)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*mask = events;
	return 0;
}

/* The mask of an fd taken out of the epoll set (park()). */
#define MASK_PARKED UINT32_MAX

static void set_mask(struct flows *f, int fd, struct watch *w, uint32_t events, uint32_t *mask)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (fd < 0 || events == *mask)
		return;
	if (*mask == MASK_PARKED) {
		if (events)
			watch_fd(f, fd, w, events, mask);
		return;
	}
	if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		*mask = events;
}

/* An fd that hung up or holds an error is reported by every epoll_wait
 * whatever its interest (EPOLLHUP and EPOLLERR cannot be masked): while
 * nothing of it is wanted (waiting for the other side to drain, or for the
 * stack's accept) it leaves the epoll set, and set_mask() brings it back. */
static void park(struct flows *f, int fd, uint32_t *mask)
{
	if (fd >= 0 && *mask == 0 && epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
		*mask = MASK_PARKED;
}

/* ---- answers built here ---- */

static void send_rst(struct flows *f, const struct pkt *p)
{
	size_t n = pkt_build_rst(f->buf, FLOW_BUF, p);
	if (n)
		f->env.to_tunnel(f->env.ctx, f->buf, n);
}

static void send_unreach(struct flows *f, const struct pkt *p, const uint8_t *pkt, size_t len,
			 enum pkt_unreach why)
{
	size_t n = pkt_build_unreach(f->buf, FLOW_BUF, p, pkt, len, why);
	if (n)
		f->env.to_tunnel(f->env.ctx, f->buf, n);
}

/* An error about a flow whose packet is gone: a header-only copy stands in
 * for it (what ICMP errors quote is the first bytes anyway). */
static void flow_error(struct flows *f, struct flow *fl, bool refused)
{
	uint8_t orig[PKT_IPV6_HDR + PKT_TCP_HDR];
	struct pkt p;
	size_t n;

	if (fl->type == FLOW_TCP && fl->syn) {
		if (pkt_parse(&p, fl->syn, fl->syn_len) != PKT_OK)
			return;
		if (refused)
			send_rst(f, &p);
		else
			send_unreach(f, &p, fl->syn, fl->syn_len, UNREACH_HOST);
		return;
	}
	if (fl->type != FLOW_UDP)
		return;
	n = pkt_build_udp(orig, sizeof(orig), fl->family, fl->src, fl->sport, fl->dst, fl->dport, NULL, 0);
	if (n && pkt_parse(&p, orig, n) == PKT_OK)
		send_unreach(f, &p, orig, n, refused ? UNREACH_PORT : UNREACH_HOST);
}

/* errno of a failed connect or send, as the peer should see it. */
static bool is_refusal(int err)
{
	return err == ECONNREFUSED || err == ECONNRESET;
}

/* ---- destinations ---- */

/* Where the real connection goes: dst itself, or with ServerLoopback the
 * reserved 240.0.0.0/4 mapped onto 127.0.0.0/8 (240.0.0.1 -> 127.0.0.1). */
static bool real_destination(struct flows *f, int family, const uint8_t *dst, uint16_t port,
			     struct sockaddr_storage *ss, bool *denied)
{
	uint8_t a[16];

	memcpy(a, dst, 16);
	*denied = false;
	if (family == AF_INET && (a[0] & 0xf0) == 0xf0 && a[0] != 255) {
		if (!f->set->server_loopback) {
			*denied = true;
			return false;
		}
		a[0] = 127;
	} else if (!guard_allows(&f->set->guard, family, a)) {
		*denied = true;
		return false;
	}
	pkt_sockaddr(ss, family, a, port);
	return true;
}

static bool is_local(const struct flows *f, const struct pkt *p)
{
	return f->env.has_local && p->family == f->env.local_family &&
	       !memcmp(p->dst, f->env.local, p->family == AF_INET ? 4 : 16);
}

static bool dst_allowed(struct flows *f, const struct pkt *p)
{
	struct sockaddr_storage ss;
	bool denied;
	return is_local(f, p) || real_destination(f, p->family, p->dst, p->dport, &ss, &denied);
}

/* ---- TCP ---- */

static void tcp_syn(struct flows *f, const void *peer, const struct pkt *p, const uint8_t *pkt, size_t len)
{
	struct sockaddr_storage ss;
	struct flow *fl;
	bool denied;
	int fd, one = 1;
	bool local = is_local(f, p);

	if (local) {
		if ((fd = f->env.local_connect(f->env.ctx, p->dport)) < 0) {
			f->c.tcp_refused++;
			send_rst(f, p);
			return;
		}
		fl = len <= SYN_MAX ? flow_new(f, FLOW_TCP, p, peer) : NULL;
		if (!fl || !(fl->syn = malloc(len))) {
			close(fd);
			if (fl)
				flow_free(f, fl);
			send_rst(f, p);
			return;
		}
		memcpy(fl->syn, pkt, len);
		fl->syn_len = (uint16_t)len;
		fl->out_fd = fd;
		fl->state = TCP_CONNECTING;
		fl->deadline_ms = f->now_ms + CONNECT_TIMEOUT_MS;
		/* connected already: writable at once, tcp_connected goes on */
		if (watch_fd(f, fd, &fl->w_out, EPOLLOUT, &fl->mask_out) < 0)
			flow_free(f, fl);
		return;
	}
	if (!real_destination(f, p->family, p->dst, p->dport, &ss, &denied)) {
		f->c.denied++;
		send_unreach(f, p, pkt, len, UNREACH_ADMIN);
		return;
	}
	if (len > SYN_MAX) {
		f->c.malformed++;
		return;
	}
	fl = flow_new(f, FLOW_TCP, p, peer);
	if (!fl) {
		send_rst(f, p);
		return;
	}
	fl->syn = malloc(len);
	fd = socket(p->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!fl->syn || fd < 0) {
		if (fd >= 0)
			close(fd);
		flow_free(f, fl);
		send_rst(f, p);
		return;
	}
	memcpy(fl->syn, pkt, len);
	fl->syn_len = (uint16_t)len;
	fl->out_fd = fd;
	fl->state = TCP_CONNECTING;
	fl->deadline_ms = f->now_ms + CONNECT_TIMEOUT_MS;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(fd, (struct sockaddr *)&ss, (socklen_t)pkt_addr_len(p->family)) < 0 && errno != EINPROGRESS) ||
	    watch_fd(f, fd, &fl->w_out, EPOLLOUT, &fl->mask_out) < 0) {
		bool refused = is_refusal(errno);
		if (refused)
			f->c.tcp_refused++;
		else
			f->c.tcp_unreachable++;
		flow_error(f, fl, refused);
		flow_free(f, fl);
	}
}

/* The real connection of a CONNECTING flow is done, one way or another. */
static void tcp_connected(struct flows *f, struct flow *fl)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fl->out_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		if (is_refusal(err))
			f->c.tcp_refused++;
		else
			f->c.tcp_unreachable++;
		flow_error(f, fl, is_refusal(err));
		flow_free(f, fl);
		return;
	}
	f->c.tcp_opened++;
	fl->state = TCP_ACCEPTING;
	fl->deadline_ms = f->now_ms + ACCEPT_TIMEOUT_MS;
	set_mask(f, fl->out_fd, &fl->w_out, 0, &fl->mask_out);
	f->stack->ops->input(f->stack, fl->syn, fl->syn_len);
}

static void tcp_segment(struct flows *f, const void *peer, const struct pkt *p, const uint8_t *pkt, size_t len)
{
	struct flow *fl = lookup(f, FLOW_TCP, p->family, p->src, p->sport, p->dst, p->dport);

	if ((p->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
		if (!fl)
			tcp_syn(f, peer, p, pkt, len);
		else if (fl->state != TCP_CONNECTING)
			f->stack->ops->input(f->stack, pkt, len);
		/* CONNECTING: a retransmitted SYN; the saved one goes on later */
		return;
	}
	/* Everything else belongs to the stack, which answers segments of
	 * connections it does not know with RST, as a host would. */
	if (!fl && !dst_allowed(f, p)) {
		f->c.denied++;
		return;
	}
	if (fl)
		fl->last_ms = f->now_ms;
	f->stack->ops->input(f->stack, pkt, len);
}

static void relay(struct flows *f, struct flow *fl);

void flows_accepted(void *ctx, int fd, const struct sockaddr_storage *src, const struct sockaddr_storage *dst)
{
	struct flows *f = ctx;
	uint8_t s[16], d[16];
	uint16_t sport, dport;
	struct flow *fl;
	int one = 1;

	pkt_sockaddr_parts(src, s, &sport);
	pkt_sockaddr_parts(dst, d, &dport);
	fl = src->ss_family == dst->ss_family ?
		lookup(f, FLOW_TCP, src->ss_family, s, sport, d, dport) : NULL;
	/* only connections whose real side exists are relayed */
	if (!fl || fl->state != TCP_ACCEPTING) {
		close(fd);
		return;
	}
	fl->in_fd = fd;
	fl->state = TCP_RELAY;
	fl->last_ms = f->now_ms;
	free(fl->syn);
	fl->syn = NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* the out fd stays registered from its connect, interest 0 */
	if (watch_fd(f, fd, &fl->w_in, EPOLLIN, &fl->mask_in) < 0) {
		flow_free(f, fl);
		return;
	}
	relay(f, fl);
}

int flows_adopt(struct flows *f, int stack_fd, int host_fd, int family, const uint8_t *peer,
		uint16_t peer_port, const uint8_t *self, uint16_t self_port)
{
	struct pkt p = { .family = family, .proto = IPPROTO_TCP, .sport = peer_port, .dport = self_port };
	struct flow *fl;
	int ret;

	memcpy(p.src, peer, sizeof(p.src));
	memcpy(p.dst, self, sizeof(p.dst));
	/* one peer slot (the NULL key) for everything the server opens */
	fl = flow_new(f, FLOW_TCP, &p, NULL);
	if (!fl) {
		close(stack_fd);
		close(host_fd);
		return -ENOBUFS;
	}
	fl->in_fd = stack_fd;
	fl->out_fd = host_fd;
	fl->state = TCP_RELAY;
	f->c.tcp_opened++;
	if ((ret = watch_fd(f, stack_fd, &fl->w_in, EPOLLIN, &fl->mask_in)) < 0 ||
	    (ret = watch_fd(f, host_fd, &fl->w_out, EPOLLIN, &fl->mask_out)) < 0) {
		flow_free(f, fl);
		return ret;
	}
	relay(f, fl);
	return 0;
}

/* Moves what it can from `from` to `to` through d. false on an error that
 * ends the flow. */
static bool relay_dir(struct flows *f, struct flow *fl, struct relay_dir *d, int from, int to, uint64_t *bytes)
{
	for (int round = 0; round < RELAY_ROUNDS; round++) {
		if (d->len) {
			ssize_t n = send(to, d->buf + d->off, d->len, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR;
			d->off += (uint32_t)n;
			d->len -= (uint32_t)n;
			*bytes += (uint64_t)n;
			if (d->len)
				return true; /* the other side is full: wait for EPOLLOUT */
			d->off = 0;
		}
		if (d->eof) {
			if (!d->shut) {
				shutdown(to, SHUT_WR);
				d->shut = true;
			}
			dir_free(f, d);
			return true;
		}
		if (!d->buf) {
			if (f->c.memory + RELAY_BUF > f->set->max_memory) {
				f->c.memory_refused++;
				d->stalled = true;
				return true;
			}
			if (!(d->buf = malloc(RELAY_BUF)))
				return true;
			f->c.memory += RELAY_BUF;
		}
		ssize_t n = recv(from, d->buf, RELAY_BUF, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				dir_free(f, d); /* an idle flow holds no buffer */
				return true;
			}
			return false;
		}
		if (n == 0) {
			/* the stack's end of stream may stand for a reset */
			if (from == fl->in_fd && f->stack->ops->was_reset &&
			    f->stack->ops->was_reset(f->stack, from))
				return false;
			d->eof = true;
		}
		d->len = (uint32_t)n;
		fl->last_ms = f->now_ms;
	}
	/* The rounds ran out: an end just read must still be passed on now,
	 * for with nothing left to read or write no event would come for it. */
	if (d->eof && !d->len && !d->shut) {
		shutdown(to, SHUT_WR);
		d->shut = true;
		dir_free(f, d);
	}
	return true;
}

static uint32_t want(const struct relay_dir *reading, const struct relay_dir *writing)
{
	uint32_t m = 0;

	if (!reading->eof && !reading->len && !reading->stalled)
		m |= EPOLLIN;
	if (writing->len)
		m |= EPOLLOUT;
	return m;
}

/* Both directions of a relayed TCP flow. */
static void relay(struct flows *f, struct flow *fl)
{
	if (!relay_dir(f, fl, &fl->up, fl->in_fd, fl->out_fd, &f->c.bytes_up) ||
	    !relay_dir(f, fl, &fl->down, fl->out_fd, fl->in_fd, &f->c.bytes_down)) {
		/* a reset on one side resets the other (linger 0 sends RST; a
		 * stack whose fd is no socket is told) */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		if (f->stack->ops->reset)
			f->stack->ops->reset(f->stack, fl->in_fd);
		setsockopt(fl->in_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		setsockopt(fl->out_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		flow_free(f, fl);
		return;
	}
	if (fl->up.shut && fl->down.shut) {
		flow_free(f, fl);
		return;
	}
	set_mask(f, fl->in_fd, &fl->w_in, want(&fl->up, &fl->down), &fl->mask_in);
	set_mask(f, fl->out_fd, &fl->w_out, want(&fl->down, &fl->up), &fl->mask_out);
}

/* ---- UDP ---- */

static void udp_datagram(struct flows *f, const void *peer, const struct pkt *p, const uint8_t *pkt, size_t len)
{
	struct flow *fl = lookup(f, FLOW_UDP, p->family, p->src, p->sport, p->dst, p->dport);
	struct sockaddr_storage ss;
	bool denied;

	if (!fl) {
		int fd;
		if (!real_destination(f, p->family, p->dst, p->dport, &ss, &denied)) {
			f->c.denied++;
			send_unreach(f, p, pkt, len, UNREACH_ADMIN);
			return;
		}
		if (!(fl = flow_new(f, FLOW_UDP, p, peer)))
			return;
		fd = socket(p->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		fl->out_fd = fd;
		if (fd < 0 || connect(fd, (struct sockaddr *)&ss, (socklen_t)pkt_addr_len(p->family)) < 0 ||
		    watch_fd(f, fd, &fl->w_out, EPOLLIN, &fl->mask_out) < 0) {
			f->c.udp_refused++;
			flow_error(f, fl, false);
			flow_free(f, fl);
			return;
		}
		f->c.udp_opened++;
	}
	fl->last_ms = f->now_ms;
	if (send(fl->out_fd, p->payload, p->payload_len, MSG_NOSIGNAL) < 0) {
		if (errno == EAGAIN || errno == ENOBUFS)
			return; /* UDP may be lost */
		f->c.udp_refused++;
		flow_error(f, fl, is_refusal(errno));
		flow_free(f, fl);
		return;
	}
	f->c.bytes_up += p->payload_len;
}

static void udp_readable(struct flows *f, struct flow *fl)
{
	size_t h = fl->family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR;

	for (int i = 0; i < 64; i++) {
		uint8_t *data = f->buf + h + PKT_UDP_HDR;
		ssize_t n = recv(fl->out_fd, data, FLOW_BUF - h - PKT_UDP_HDR, 0);
		size_t len;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			f->c.udp_refused++;
			flow_error(f, fl, is_refusal(errno));
			flow_free(f, fl);
			return;
		}
		len = pkt_build_udp(f->buf, FLOW_BUF, fl->family, fl->dst, fl->dport, fl->src, fl->sport,
				    data, (size_t)n);
		fl->last_ms = f->now_ms;
		f->c.bytes_down += (uint64_t)n;
		if (len)
			f->env.to_tunnel(f->env.ctx, f->buf, len);
	}
}

/* ---- ICMP echo ---- */

static void ping_request(struct flows *f, const void *peer, const struct pkt *p, const uint8_t *pkt, size_t len)
{
	struct flow *fl = lookup(f, FLOW_PING, p->family, p->src, p->sport, p->dst, 0);
	struct sockaddr_storage ss;
	bool denied;

	if (!fl) {
		int fd;
		if (!real_destination(f, p->family, p->dst, 0, &ss, &denied)) {
			f->c.denied++;
			send_unreach(f, p, pkt, len, UNREACH_ADMIN);
			return;
		}
		fd = socket(p->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    p->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		if (fd < 0) {
			f->c.ping_unavailable++;
			if (!f->ping_warned && (errno == EACCES || errno == EPERM)) {
				log_error("ICMP echo is not relayed: this group (gid %u) is outside "
					  "net.ipv4.ping_group_range, so unprivileged ping sockets are refused",
					  (unsigned)getgid());
				f->ping_warned = true;
			}
			return;
		}
		if (!(fl = flow_new(f, FLOW_PING, p, peer))) {
			close(fd);
			return;
		}
		fl->out_fd = fd;
		if (connect(fd, (struct sockaddr *)&ss, (socklen_t)pkt_addr_len(p->family)) < 0 ||
		    watch_fd(f, fd, &fl->w_out, EPOLLIN, &fl->mask_out) < 0) {
			send_unreach(f, p, pkt, len, UNREACH_HOST);
			flow_free(f, fl);
			return;
		}
		f->c.ping_flows++;
	}
	fl->last_ms = f->now_ms;
	/* the kernel sets the id (the socket's port) and the checksum */
	if (send(fl->out_fd, p->l4, p->l4_len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		send_unreach(f, p, pkt, len, UNREACH_HOST);
}

static void ping_readable(struct flows *f, struct flow *fl)
{
	uint8_t msg[2048];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fl->out_fd, msg, sizeof(msg), 0);
		size_t len;

		if (n < 0)
			return; /* EAGAIN, or an ICMP error we do not pass on */
		if (n < PKT_ICMP_HDR)
			continue;
		len = pkt_build_echo_reply(f->buf, FLOW_BUF, fl->family, fl->dst, fl->src, fl->sport,
					   (uint16_t)(msg[6] << 8 | msg[7]), msg + PKT_ICMP_HDR,
					   (size_t)n - PKT_ICMP_HDR);
		fl->last_ms = f->now_ms;
		if (len)
			f->env.to_tunnel(f->env.ctx, f->buf, len);
	}
}

/* ---- entry points ---- */

void flows_from_tunnel(struct flows *f, const void *peer, const uint8_t *pkt, size_t len)
{
	struct pkt p;

	switch (pkt_parse(&p, pkt, len)) {
	case PKT_OK:
		break;
	case PKT_FRAGMENT:
		f->c.fragments++;
		return;
	case PKT_EXTENSION:
		f->c.extensions++;
		return;
	case PKT_UNSUPPORTED:
		f->c.unsupported++;
		return;
	default:
		f->c.malformed++;
		return;
	}
	switch (p.proto) {
	case IPPROTO_TCP:
		tcp_segment(f, peer, &p, pkt, len);
		break;
	case IPPROTO_UDP:
		udp_datagram(f, peer, &p, pkt, len);
		break;
	default:
		if (p.echo_request)
			ping_request(f, peer, &p, pkt, len);
		else
			f->c.unsupported++;
	}
}

void flows_event(struct flows *f, struct watch *w, uint32_t events)
{
	struct flow *fl = w->kind == WATCH_FLOW_OUT ? (struct flow *)((char *)w - offsetof(struct flow, w_out))
						    : (struct flow *)((char *)w - offsetof(struct flow, w_in));

	if (fl->dead)
		return; /* ended by an earlier event of this batch */
	switch (fl->type) {
	case FLOW_TCP:
		if (fl->state == TCP_CONNECTING)
			tcp_connected(f, fl);
		else if (fl->state == TCP_RELAY)
			relay(f, fl);
		if (!fl->dead && (events & (EPOLLHUP | EPOLLERR))) {
			if (w == &fl->w_out)
				park(f, fl->out_fd, &fl->mask_out);
			else
				park(f, fl->in_fd, &fl->mask_in);
		}
		break;
	case FLOW_UDP:
		udp_readable(f, fl);
		break;
	case FLOW_PING:
		ping_readable(f, fl);
		break;
	}
}

void flows_set_now(struct flows *f, uint64_t now_ms)
{
	f->now_ms = now_ms;
}

uint64_t flows_tick(struct flows *f, uint64_t now_ms)
{
	struct flow *next;

	f->now_ms = now_ms;
	bury(f);
	for (struct flow *fl = f->all; fl; fl = next) {
		uint64_t idle_ms;
		next = fl->next;
		switch (fl->type) {
		case FLOW_TCP:
			if (fl->state != TCP_RELAY) {
				if (now_ms >= fl->deadline_ms) {
					if (fl->state == TCP_CONNECTING) {
						f->c.tcp_unreachable++;
						flow_error(f, fl, false);
					}
					flow_free(f, fl);
				}
				continue;
			}
			idle_ms = (uint64_t)f->set->tcp_idle_s * 1000;
			break;
		case FLOW_UDP:
			idle_ms = (uint64_t)f->set->udp_idle_s * 1000;
			break;
		default:
			idle_ms = PING_IDLE_MS;
		}
		if (now_ms - fl->last_ms >= idle_ms) {
			f->c.idle_closed++;
			flow_free(f, fl);
		} else if (fl->up.stalled || fl->down.stalled) {
			fl->up.stalled = fl->down.stalled = false;
			relay(f, fl); /* waited for memory: try again */
		}
	}
	return now_ms + TICK_MS;
}

void flows_counters(const struct flows *f, struct flow_counters *out)
{
	*out = f->c;
}

struct flows *flows_new(const struct serve_settings *set, struct stack *stack, int epfd,
			const struct flow_env *env)
{
	struct flows *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->set = set;
	f->stack = stack;
	f->epfd = epfd;
	f->env = *env;
	f->buckets = calloc(FLOW_BUCKETS, sizeof(*f->buckets));
	f->buf = malloc(FLOW_BUF);
	if (!f->buckets || !f->buf) {
		flows_free(f);
		return NULL;
	}
	return f;
}

void flows_free(struct flows *f)
{
	if (!f)
		return;
	while (f->all)
		flow_free(f, f->all);
	bury(f);
	free(f->buckets);
	free(f->buf);
	free(f);
}
