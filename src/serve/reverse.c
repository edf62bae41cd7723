/* reverse.c: Expose and SOCKS5 (see reverse.h): their settings, their
 * listening sockets, the connections on the way into the tunnel (SOCKS5
 * negotiation, name lookup, the stack's connect) until the flows take them
 * over, and UDP Expose with its source-port mappings. */
#include "serve/reverse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "serve/flow.h"
#include "serve/packet.h"
#include "serve/stack.h"
#include "weftd/log.h"

#define RV_MAX_CONNS 1024             /* connections not yet handed to the flows */
#define RV_HANDSHAKE_MS 10000         /* a SOCKS5 client has this long to ask */
#define RV_CONNECT_MS 15000           /* a connect into the tunnel this long to finish */
#define RV_LOOKUP_POLL_MS 20          /* how often a pending name lookup is looked at */
#define RV_UDP_MAPS 256               /* host sources per UDP Expose */
#define RV_PORT_BASE 40000            /* source ports of UDP Expose in the tunnel */
#define RV_PORTS 16384
#define RV_PEEK 600                   /* the longest SOCKS5 message is 262 bytes */
#define RV_UDP_BURST 64

/* ---- state ---- */

enum rv_kind { RV_TCP_LISTEN, RV_SOCKS_LISTEN, RV_UDP, RV_HOST, RV_TUNNEL };
enum rv_state { RV_GREETING, RV_AUTH, RV_REQUEST, RV_LOOKUP, RV_CONNECTING };

struct rv_watch {
	struct watch w;               /* first: epoll's data.ptr */
	enum rv_kind kind;
	void *obj;
};

struct rv_udp_map {
	struct sockaddr_storage host; /* the host's source */
	uint16_t port;                /* our source port in the tunnel; 0: unused */
	uint64_t last_ms;
};

struct rv_listener {
	struct rv_watch rw;
	int fd;
	const struct expose_rule *rule; /* NULL: SOCKS5 */
	struct rv_udp_map *maps;        /* UDP */
};

/* A name lookup and everything getaddrinfo_a() reads, in one block that
 * outlives its connection if need be. */
struct rv_lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char name[256];
	char port[8];
};

struct rv_conn {
	struct rv_watch host, tun;
	struct reverse *r;
	struct rv_conn *prev, *next;
	enum rv_state state;
	bool socks;
	int host_fd, tun_fd;
	struct sockaddr_storage to;   /* where it goes in the tunnel */
	uint64_t deadline_ms;
	struct rv_lookup *lookup;     /* RV_LOOKUP */
};

/* A lookup whose connection went away before it finished: kept until
 * getaddrinfo_a() is done with its memory. */
struct rv_orphan {
	struct rv_lookup *lk;
	struct rv_orphan *next;
};

struct reverse {
	struct reverse_env env;
	const struct reverse_settings *set;
	struct rv_listener *listeners;
	unsigned n_listeners;
	struct rv_conn *conns;
	unsigned n_conns, n_lookups;
	struct rv_orphan *orphans;
	struct rv_udp_map **ports;    /* UDP source port - RV_PORT_BASE -> its mapping */
	unsigned next_port;
	uint64_t now_ms;
	uint8_t *buf;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int watch_add(struct reverse *r, int fd, struct rv_watch *rw, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &rw->w };

	rw->w.kind = WATCH_REVERSE;
	return epoll_ctl(r->env.epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* ---- the tunnel side of the server ---- */

/* The server's own tunnel address of a family ([Interface] Address). */
static bool self_addr(const struct reverse *r, int family, uint8_t out[16])
{
	const struct conf_prefix_list *l = &r->env.conf->iface.addresses;

	memset(out, 0, 16);
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i].addr.family == family) {
			memcpy(out, l->v[i].addr.bytes, family == AF_INET ? 4 : 16);
			return true;
		}
	return false;
}

static bool is_self(const struct reverse *r, int family, const uint8_t *addr)
{
	const struct conf_prefix_list *l = &r->env.conf->iface.addresses;

	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i].addr.family == family &&
		    !memcmp(l->v[i].addr.bytes, addr, family == AF_INET ? 4 : 16))
			return true;
	return false;
}

static bool prefix_has(const struct conf_prefix *p, int family, const uint8_t *addr)
{
	unsigned bits = p->cidr, i = 0;

	if (p->addr.family != family)
		return false;
	for (; bits >= 8; bits -= 8, i++)
		if (p->addr.bytes[i] != addr[i])
			return false;
	return !bits || !((p->addr.bytes[i] ^ addr[i]) & (0xff00 >> bits));
}

/* Whether a peer's AllowedIPs hold the address: it is in the tunnel. */
static bool in_tunnel(const struct reverse *r, const struct sockaddr_storage *ss)
{
	const struct conf *c = r->env.conf;
	uint8_t a[16] = { 0 };
	int family = ss->ss_family;

	if (family == AF_INET)
		memcpy(a, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (family == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	else
		return false;
	if (r->env.routable)
		return r->env.routable(r->env.ctx, family, a);
	for (uint32_t i = 0; i < c->n_peers; i++)
		for (uint32_t j = 0; j < c->peers[i].allowed_ips.n; j++)
			if (prefix_has(&c->peers[i].allowed_ips.v[j], family, a))
				return true;
	return false;
}

/* ---- connections on their way in ---- */

static void conn_free(struct reverse *r, struct rv_conn *c, bool reset)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* out of the epoll set first: a stack may hold another reference to
	 * the connect fd (lwip does until the handshake), which would keep it
	 * registered past close() */
	if (c->host_fd >= 0)
		epoll_ctl(r->env.epfd, EPOLL_CTL_DEL, c->host_fd, NULL);
	if (c->tun_fd >= 0)
		epoll_ctl(r->env.epfd, EPOLL_CTL_DEL, c->tun_fd, NULL);
	if (c->host_fd >= 0) {
		if (reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(c->host_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->host_fd);
	}
	if (c->tun_fd >= 0)
		close(c->tun_fd);
	if (c->lookup) {
		r->n_lookups--;
		if (gai_cancel(&c->lookup->cb) == EAI_CANCELED || gai_error(&c->lookup->cb) != EAI_INPROGRESS) {
			if (c->lookup->cb.ar_result)
				freeaddrinfo(c->lookup->cb.ar_result);
			free(c->lookup);
		} else {
			struct rv_orphan *o = malloc(sizeof(*o));
			if (o) { /* without memory the lookup's block is left behind */
				o->lk = c->lookup;
				o->next = r->orphans;
				r->orphans = o;
			}
		}
	}
	r->n_conns--;
	free(c);
}

static void socks_fail(struct reverse *r, struct rv_conn *c, enum socks5_reply code)
{
	uint8_t msg[22];
	size_t n = socks5_reply(msg, code, NULL);

	if (send(c->host_fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more to say to a client that is gone */
	}
	conn_free(r, c, false);
}

/* Starts the connect into the tunnel to c->to. */
static void conn_connect(struct reverse *r, struct rv_conn *c)
{
	struct sockaddr_storage src;
	uint8_t self[16];
	int fd;

	if (!in_tunnel(r, &c->to)) {
		if (c->socks)
			socks_fail(r, c, SOCKS5_NET_UNREACH);
		else
			conn_free(r, c, true);
		return;
	}
	if (!self_addr(r, c->to.ss_family, self)) {
		log_error("No %s address of this server in the tunnel ([Interface] Address) to connect from",
			  c->to.ss_family == AF_INET ? "IPv4" : "IPv6");
		if (c->socks)
			socks_fail(r, c, SOCKS5_NET_UNREACH);
		else
			conn_free(r, c, true);
		return;
	}
	pkt_sockaddr(&src, c->to.ss_family, self, 0);
	fd = r->env.stack->ops->connect(r->env.stack, &src, &c->to);
	if (fd < 0) {
		if (c->socks)
			socks_fail(r, c, socks5_reply_for(-fd));
		else
			conn_free(r, c, true);
		return;
	}
	c->tun_fd = fd;
	c->state = RV_CONNECTING;
	c->deadline_ms = r->now_ms + RV_CONNECT_MS;
	if (watch_add(r, fd, &c->tun, EPOLLOUT) < 0) {
		if (c->socks)
			socks_fail(r, c, SOCKS5_FAILURE);
		else
			conn_free(r, c, true);
		return;
	}
	/* the host side waits (its bytes stay in its socket) */
	epoll_ctl(r->env.epfd, EPOLL_CTL_DEL, c->host_fd, NULL);
}

/* The connect into the tunnel finished one way or the other. */
static void conn_connected(struct reverse *r, struct rv_conn *c)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int err = 0;
	socklen_t elen = sizeof(err);
	uint8_t peer[16], self[16];
	uint16_t peer_port, self_port = 0;

	if (getsockopt(c->tun_fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		if (c->socks)
			socks_fail(r, c, socks5_reply_for(err));
		else
			conn_free(r, c, true);
		return;
	}
	epoll_ctl(r->env.epfd, EPOLL_CTL_DEL, c->tun_fd, NULL);
	self_addr(r, c->to.ss_family, self);
	memset(&bound, 0, sizeof(bound));
	if (getsockname(c->tun_fd, (struct sockaddr *)&bound, &blen) == 0 &&
	    bound.ss_family == c->to.ss_family) {
		uint8_t a[16];
		pkt_sockaddr_parts(&bound, a, &self_port);
	}
	if (c->socks) {
		uint8_t msg[22];
		struct sockaddr_storage b;
		pkt_sockaddr(&b, c->to.ss_family, self, self_port);
		size_t n = socks5_reply(msg, SOCKS5_OK, &b);
		if (send(c->host_fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
			conn_free(r, c, true);
			return;
		}
	}
	pkt_sockaddr_parts(&c->to, peer, &peer_port);
	int tun = c->tun_fd, host = c->host_fd, family = c->to.ss_family;
	c->tun_fd = c->host_fd = -1;
	conn_free(r, c, false);
	/* the flows own both fds from here on, whatever happens */
	flows_adopt(r->env.flows, tun, host, family, peer, peer_port, self, self_port);
}

static struct rv_conn *conn_new(struct reverse *r, int fd, bool socks)
{
	struct rv_conn *c;

	if (r->n_conns >= RV_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		return NULL;
	}
	c->r = r;
	c->host_fd = fd;
	c->tun_fd = -1;
	c->socks = socks;
	c->host.kind = RV_HOST;
	c->host.obj = c;
	c->tun.kind = RV_TUNNEL;
	c->tun.obj = c;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->n_conns++;
	return c;
}

static void start_lookup(struct reverse *r, struct rv_conn *c, const struct socks5_request *req)
{
	struct gaicb *list[1];
	struct rv_lookup *lk = calloc(1, sizeof(*lk));

	if (!lk) {
		socks_fail(r, c, SOCKS5_FAILURE);
		return;
	}
	c->lookup = lk;
	snprintf(lk->name, sizeof(lk->name), "%s", req->name);
	snprintf(lk->port, sizeof(lk->port), "%u", req->port);
	lk->hints.ai_socktype = SOCK_STREAM;
	lk->cb.ar_name = lk->name;
	lk->cb.ar_service = lk->port;
	lk->cb.ar_request = &lk->hints;
	list[0] = &lk->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
		free(c->lookup);
		c->lookup = NULL;
		socks_fail(r, c, SOCKS5_HOST_UNREACH);
		return;
	}
	r->n_lookups++;
	c->state = RV_LOOKUP;
	c->deadline_ms = r->now_ms + RV_CONNECT_MS;
	epoll_ctl(r->env.epfd, EPOLL_CTL_DEL, c->host_fd, NULL);
}

/* A finished lookup: the first address in the tunnel. */
static void lookup_done(struct reverse *r, struct rv_conn *c)
{
	struct addrinfo *res = c->lookup->cb.ar_result, *ai;
	bool found = false;

	for (ai = res; ai && !found; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(c->to))
			continue;
		memset(&c->to, 0, sizeof(c->to));
		memcpy(&c->to, ai->ai_addr, ai->ai_addrlen);
		found = in_tunnel(r, &c->to);
	}
	if (res)
		freeaddrinfo(res);
	free(c->lookup);
	c->lookup = NULL;
	r->n_lookups--;
	if (!found) {
		socks_fail(r, c, res ? SOCKS5_NET_UNREACH : SOCKS5_HOST_UNREACH);
		return;
	}
	conn_connect(r, c);
}

/* What the SOCKS5 client sent so far: one message at a time, taken from
 * the socket only once complete, so nothing after the request is lost. */
static void socks_readable(struct reverse *r, struct rv_conn *c)
{
	const struct reverse_settings *s = r->set;
	bool password = s->socks5_user[0] != '\0';

	for (;;) {
		uint8_t *b = r->buf;
		ssize_t n = recv(c->host_fd, b, RV_PEEK, MSG_PEEK);
		int used;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_free(r, c, false);
			return;
		}
		if (c->state == RV_GREETING) {
			uint8_t method, reply[2] = { 5, 0 };
			used = socks5_greeting(b, (size_t)n, password, &method);
			if (used > 0) {
				reply[1] = method;
				if (recv(c->host_fd, b, (size_t)used, 0) != used ||
				    send(c->host_fd, reply, 2, MSG_NOSIGNAL | MSG_DONTWAIT) != 2 ||
				    method == SOCKS5_AUTH_UNACCEPTABLE) {
					conn_free(r, c, false);
					return;
				}
				c->state = password ? RV_AUTH : RV_REQUEST;
				continue;
			}
		} else if (c->state == RV_AUTH) {
			bool ok = false;
			uint8_t reply[2] = { 1, 0 };
			used = socks5_auth(b, (size_t)n, s->socks5_user, s->socks5_password, &ok);
			if (used > 0) {
				reply[1] = ok ? 0 : 1;
				bool sent = recv(c->host_fd, b, (size_t)used, 0) == used &&
					    send(c->host_fd, reply, 2, MSG_NOSIGNAL | MSG_DONTWAIT) == 2;
				memzero(b, (size_t)used);
				if (!sent || !ok) {
					if (!ok)
						log_verbose("SOCKS5: a client failed to authenticate");
					conn_free(r, c, false);
					return;
				}
				c->state = RV_REQUEST;
				continue;
			}
		} else {
			struct socks5_request req;
			enum socks5_reply why = SOCKS5_OK;
			used = socks5_request(b, (size_t)n, &req, &why);
			if (used > 0) {
				if (recv(c->host_fd, b, (size_t)used, 0) != used) {
					conn_free(r, c, false);
					return;
				}
				if (why != SOCKS5_OK) {
					socks_fail(r, c, why);
					return;
				}
				if (req.atyp == 3) {
					struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->to;
					struct sockaddr_in *s4 = (struct sockaddr_in *)&c->to;
					memset(&c->to, 0, sizeof(c->to));
					if (inet_pton(AF_INET, req.name, &s4->sin_addr) == 1) {
						s4->sin_family = AF_INET;
						s4->sin_port = htons(req.port);
					} else if (inet_pton(AF_INET6, req.name, &s6->sin6_addr) == 1) {
						s6->sin6_family = AF_INET6;
						s6->sin6_port = htons(req.port);
					} else {
						start_lookup(r, c, &req);
						return;
					}
				} else {
					c->to = req.addr;
				}
				conn_connect(r, c);
				return;
			}
		}
		/* Only peeked: part of a password must not wait in the buffer
		 * for the rest, which may never come. */
		if (c->state == RV_AUTH)
			memzero(b, (size_t)n);
		if (used < 0 || n >= RV_PEEK) {
			conn_free(r, c, false); /* not SOCKS5, or not a message of it */
			return;
		}
		return; /* incomplete: wait for more */
	}
}

static void accept_all(struct reverse *r, struct rv_listener *l)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct rv_conn *c;

		if (fd < 0)
			return;
		if (!(c = conn_new(r, fd, !l->rule)))
			continue;
		if (l->rule) {
			c->to = l->rule->to;
			conn_connect(r, c);
			continue;
		}
		c->state = RV_GREETING;
		c->deadline_ms = r->now_ms + RV_HANDSHAKE_MS;
		if (watch_add(r, fd, &c->host, EPOLLIN) < 0)
			conn_free(r, c, true);
	}
}

/* ---- UDP Expose ---- */

static void map_release(struct reverse *r, struct rv_udp_map *m)
{
	if (m->port)
		r->ports[m->port - RV_PORT_BASE] = NULL;
	m->port = 0;
}

static uint16_t port_alloc(struct reverse *r, struct rv_udp_map *m)
{
	for (unsigned i = 0; i < RV_PORTS; i++) {
		unsigned p = (r->next_port + i) % RV_PORTS;
		if (!r->ports[p]) {
			r->ports[p] = m;
			r->next_port = (p + 1) % RV_PORTS;
			return (uint16_t)(RV_PORT_BASE + p);
		}
	}
	return 0;
}

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void udp_readable(struct reverse *r, struct rv_listener *l)
{
	const struct expose_rule *e = l->rule;
	int family = e->to.ss_family;
	size_t h = (family == AF_INET ? PKT_IPV4_HDR : PKT_IPV6_HDR) + PKT_UDP_HDR;
	uint8_t self[16], to[16];
	uint16_t to_port;

	pkt_sockaddr_parts(&e->to, to, &to_port);
	for (int i = 0; i < RV_UDP_BURST; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(l->fd, r->buf + h, PKT_MAX + 1 - h, 0, (struct sockaddr *)&from, &flen);
		struct rv_udp_map *m = NULL, *free_slot = NULL, *oldest = &l->maps[0];

		if (n < 0)
			return;
		if (!self_addr(r, family, self))
			continue; /* said at start */
		for (unsigned j = 0; j < RV_UDP_MAPS && !m; j++) {
			struct rv_udp_map *x = &l->maps[j];
			if (!x->port) {
				if (!free_slot)
					free_slot = x;
			} else if (same_sockaddr(&x->host, &from)) {
				m = x;
			} else if (x->last_ms < oldest->last_ms) {
				oldest = x;
			}
		}
		if (!m) {
			m = free_slot ? free_slot : oldest; /* else the longest idle one goes */
			map_release(r, m);
			m->host = from;
			if (!(m->port = port_alloc(r, m)))
				continue;
		}
		m->last_ms = r->now_ms;
		size_t len = pkt_build_udp(r->buf, PKT_MAX + 1, family, self, m->port, to, to_port,
					   r->buf + h, (size_t)n);
		if (len)
			r->env.to_tunnel(r->env.ctx, r->buf, len);
	}
}

/* An answer to UDP Expose: back to the host's source it was for. */
static void udp_answer(struct reverse *r, const struct pkt *p)
{
	struct rv_udp_map *m;
	struct sockaddr_storage from;

	if (p->dport < RV_PORT_BASE || p->dport >= RV_PORT_BASE + RV_PORTS ||
	    !(m = r->ports[p->dport - RV_PORT_BASE]))
		return;
	pkt_src_addr(p, &from);
	for (unsigned i = 0; i < r->n_listeners; i++) {
		struct rv_listener *l = &r->listeners[i];
		if (!l->maps || m < l->maps || m >= l->maps + RV_UDP_MAPS)
			continue;
		if (!same_sockaddr(&from, &l->rule->to))
			return; /* only the exposed address answers */
		m->last_ms = r->now_ms;
		sendto(l->fd, p->payload, p->payload_len, MSG_DONTWAIT, (struct sockaddr *)&m->host,
		       m->host.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		return;
	}
}

/* ---- entry points ---- */

bool reverse_from_tunnel(struct reverse *r, const uint8_t *pkt, size_t len)
{
	struct pkt p;

	if (!r || pkt_parse(&p, pkt, len) != PKT_OK || !is_self(r, p.family, p.dst))
		return false;
	if (p.proto == IPPROTO_TCP) {
		/* a SYN to the server itself is a flow like any other (the guard
		 * decides); everything else answers a connect of ours */
		if ((p.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			return false;
		r->env.stack->ops->input(r->env.stack, pkt, len);
		return true;
	}
	if (p.proto == IPPROTO_UDP) {
		udp_answer(r, &p);
		return true;
	}
	return false;
}

void reverse_event(struct reverse *r, struct watch *w, uint32_t events)
{
	struct rv_watch *rw = (struct rv_watch *)w;

	r->now_ms = mono_ms();
	switch (rw->kind) {
	case RV_TCP_LISTEN:
	case RV_SOCKS_LISTEN:
		accept_all(r, rw->obj);
		break;
	case RV_UDP:
		udp_readable(r, rw->obj);
		break;
	case RV_HOST:
		socks_readable(r, rw->obj);
		break;
	case RV_TUNNEL:
		conn_connected(r, rw->obj);
		break;
	}
}

uint64_t reverse_tick(struct reverse *r, uint64_t now_ms)
{
	struct rv_conn *next;

	if (!r)
		return UINT64_MAX;
	r->now_ms = now_ms;
	for (struct rv_conn *c = r->conns; c; c = next) {
		next = c->next;
		if (c->state == RV_LOOKUP && gai_error(&c->lookup->cb) != EAI_INPROGRESS)
			lookup_done(r, c);
		else if (now_ms >= c->deadline_ms) {
			if (c->socks)
				socks_fail(r, c, c->state >= RV_LOOKUP ? SOCKS5_HOST_UNREACH : SOCKS5_FAILURE);
			else
				conn_free(r, c, true);
		}
	}
	for (struct rv_orphan **op = &r->orphans; *op;) {
		struct rv_orphan *o = *op;
		if (gai_error(&o->lk->cb) == EAI_INPROGRESS) {
			op = &o->next;
			continue;
		}
		if (o->lk->cb.ar_result)
			freeaddrinfo(o->lk->cb.ar_result);
		free(o->lk);
		*op = o->next;
		free(o);
	}
	for (unsigned i = 0; i < r->n_listeners; i++) {
		struct rv_listener *l = &r->listeners[i];
		for (unsigned j = 0; l->maps && j < RV_UDP_MAPS; j++)
			if (l->maps[j].port && now_ms - l->maps[j].last_ms >= (uint64_t)r->env.udp_idle_s * 1000)
				map_release(r, &l->maps[j]);
	}
	if (r->n_lookups || r->orphans)
		return now_ms + RV_LOOKUP_POLL_MS;
	return now_ms + 1000;
}

static int listen_on(struct reverse *r, struct rv_listener *l, int proto, const struct sockaddr_storage *ss,
		     const char *what)
{
	int one = 1, fd = socket(ss->ss_family, (proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) |
				 SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	char a[64];

	reverse_addr_text(ss, a, sizeof(a));
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (proto == IPPROTO_TCP && listen(fd, 128) < 0)) {
		int e = errno;
		log_error("%s: cannot listen on %s %s: %s", what, proto == IPPROTO_UDP ? "udp" : "tcp", a,
			  strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	l->fd = fd;
	return watch_add(r, fd, &l->rw, EPOLLIN);
}

int reverse_expose_add(struct reverse *r, const struct expose_rule *e)
{
	struct rv_listener *l;
	uint8_t self[16];
	char text[160];
	int ret = 0;

	if (r->n_listeners >= REVERSE_MAX_EXPOSE + 1)
		return -ENOSPC;
	l = &r->listeners[r->n_listeners];
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->rule = e;
	l->rw.kind = e->proto == IPPROTO_UDP ? RV_UDP : RV_TCP_LISTEN;
	l->rw.obj = l;
	expose_rule_text(e, text, sizeof(text));
	if (!self_addr(r, e->to.ss_family, self)) {
		log_error("Expose %s: this server has no %s address in the tunnel ([Interface] Address)",
			  text, e->to.ss_family == AF_INET ? "IPv4" : "IPv6");
		return -EDESTADDRREQ;
	}
	if (!in_tunnel(r, &e->to))
		log_error("Expose %s: no peer's AllowedIPs hold the address: nothing will answer", text);
	if (e->proto == IPPROTO_UDP && !(l->maps = calloc(RV_UDP_MAPS, sizeof(*l->maps))))
		return -ENOMEM;
	if ((ret = listen_on(r, l, e->proto, &e->bind, "Expose")) < 0) {
		free(l->maps);
		l->maps = NULL;
		return ret;
	}
	r->n_listeners++;
	log_verbose("Expose %s", text);
	return 0;
}

int reverse_expose_remove(struct reverse *r, const struct expose_rule *e)
{
	for (unsigned i = 0; r && i < r->n_listeners; i++) {
		struct rv_listener *l = &r->listeners[i];
		char text[160];
		if (l->rule != e || l->fd < 0)
			continue;
		/* the rule stays (a UDP listener's events of this round read it) */
		close(l->fd);
		l->fd = -1;
		for (unsigned j = 0; l->maps && j < RV_UDP_MAPS; j++)
			map_release(r, &l->maps[j]);
		free(l->maps);
		l->maps = NULL;
		expose_rule_text(e, text, sizeof(text));
		log_verbose("Expose %s closed", text);
		return 0;
	}
	return -ENOENT;
}

int reverse_open(struct reverse **out, const struct reverse_settings *rs, const struct reverse_env *env)
{
	struct reverse *r;
	int ret = 0;

	*out = NULL;
	if (!rs->n_expose && !rs->socks5 && !env->always)
		return 0;
	if (rs->socks5 && !rs->socks5_user[0] != !rs->socks5_password[0]) {
		log_error("SOCKS5User and SOCKS5Password go together: set both or neither");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->env = *env;
	r->set = rs;
	r->now_ms = mono_ms();
	r->listeners = calloc(REVERSE_MAX_EXPOSE + 1, sizeof(*r->listeners));
	r->ports = calloc(RV_PORTS, sizeof(*r->ports));
	r->buf = malloc(PKT_MAX + 1);
	if (!r->listeners || !r->ports || !r->buf) {
		reverse_free(r);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < rs->n_expose && !ret; i++)
		ret = reverse_expose_add(r, &rs->expose[i]);
	if (!ret && rs->socks5) {
		struct rv_listener *l = &r->listeners[r->n_listeners++];
		char a[64];
		l->fd = -1;
		l->rw.kind = RV_SOCKS_LISTEN;
		l->rw.obj = l;
		reverse_addr_text(&rs->socks5_bind, a, sizeof(a));
		if (!(ret = listen_on(r, l, IPPROTO_TCP, &rs->socks5_bind, "SOCKS5")))
			log_verbose("SOCKS5 on %s%s, connections go into the tunnel", a,
				    rs->socks5_user[0] ? " with username/password" : " without authentication");
	}
	if (ret) {
		reverse_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void reverse_free(struct reverse *r)
{
	if (!r)
		return;
	while (r->conns)
		conn_free(r, r->conns, true);
	while (r->orphans) {
		/* getaddrinfo_a() may still write into these: wait for it */
		struct rv_orphan *o = r->orphans;
		const struct gaicb *list[1] = { &o->lk->cb };
		while (gai_error(&o->lk->cb) == EAI_INPROGRESS)
			gai_suspend(list, 1, NULL);
		if (o->lk->cb.ar_result)
			freeaddrinfo(o->lk->cb.ar_result);
		free(o->lk);
		r->orphans = o->next;
		free(o);
	}
	for (unsigned i = 0; r->listeners && i < r->n_listeners; i++) {
		if (r->listeners[i].fd >= 0)
			close(r->listeners[i].fd);
		free(r->listeners[i].maps);
	}
	free(r->listeners);
	free(r->ports);
	free(r->buf);
	free(r);
}
