/* stack_lwip.c: the "lwip" stack: Debian's liblwip (2.1.3, raw API) terminates
 * the tunnel's TCP flows in this process when the kernel stack cannot run.
 *
 * lwIP's ip_input() accepts only its own addresses, so segments go straight
 * to tcp_input() with lwIP's per-packet globals (ip_data) filled in here: a
 * connection to any address and port is then ordinary to lwIP. One listening
 * pcb serves every port: its port is set to the SYN's destination port just
 * before the SYN goes in (tcp_input() is synchronous and copies the port into
 * the new pcb). Everything lwIP sends leaves through one netif whose output
 * hands the IP packet to the server (env.output).
 *
 * Each connection is one socketpair: the server gets one end, exactly as it
 * gets an accepted socket from the kernel stack, and this file pumps the
 * other end both ways:
 *   tunnel -> server  lwIP's recv callback; the bytes are written to the
 *                     socketpair and only what the server side took is
 *                     tcp_recved(), so a slow reader closes lwIP's window;
 *   server -> tunnel  read no more than tcp_sndbuf() and tcp_write() it;
 *                     reading stops while lwIP's send buffer is full and
 *                     starts again from the sent callback.
 * FIN travels both ways as FIN (shutdown(SHUT_WR) / tcp_shutdown()). A reset
 * from the tunnel closes the socketpair; the server reads end of stream and
 * learns from was_reset() that it was a reset. A server end that goes away
 * with unread data (ECONNRESET), or one the server names in reset(), resets
 * the tunnel side.
 *
 * Active opens (connect): lwIP's handshake is asynchronous but a socketpair
 * is connected at once, so the caller's end is made unwritable until the
 * handshake is done: its send buffer is shrunk to the minimum and filled
 * with filler bytes that this side reads and drops once lwIP's connected
 * callback fires (the send buffer is then restored). A failed handshake
 * (RST, or lwIP's six SYN retransmissions over 18.5 s) closes this side with
 * the filler unread, which the caller reads as SO_ERROR ECONNRESET (the
 * kernel stack says ECONNREFUSED or ETIMEDOUT).
 *
 * lwIP has one global state, so there is one lwip stack per process. Its
 * timers are not lwIP's cyclic ones (ARP, IGMP, MLD, ND are never used
 * here): run() calls tcp_tmr() every TCP_TMR_INTERVAL while lwIP has
 * connections, on the caller's clock.
 *
 * Limits of Debian's build (lwipopts.h): TCP_WND and TCP_SND_BUF are 64 KiB,
 * so one connection carries at most 64 KiB per round trip each way (about
 * 50 Mbit/s at 10 ms, 17 Mbit/s at 30 ms). Memory per connection is bounded
 * by those two windows plus lwIP's out-of-order queue (trimmed to the
 * window) and the socketpair's buffers; the number of connections by
 * LWIP_MAX_FLOWS, their memory together by LWIP_MAX_MEMORY. Initial
 * sequence numbers are lwIP's (a counter plus its timer ticks): predictable
 * to a peer, which can only use that against its own connections, since
 * WireGuard authenticates every packet and checks its source address. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"

#include "serve/stack.h"

/* The tunnel's MTU (WireGuard's usual 1420): lwIP derives the MSS it
 * announces and sends from it. */
#define LWIP_TUNNEL_MTU 1420
/* The netif's own IPv4 address: lwIP's router needs one, and a packet to it
 * would loop back inside lwIP, so it is the IPv4 dummy address (RFC 7600),
 * which is never a real destination. */
#define LWIP_NETIF_ADDR "192.0.0.8"
#define LWIP_MAX_FLOWS 65536
/* lwIP starts every pcb with a 3 s retransmission timeout (6 ticks of its
 * 500 ms slow timer) and backs off from there: a SYN-ACK whose ACK is lost
 * goes again at 3 s and 9 s, while the server's flows give a handshake 10 s.
 * A connection from the tunnel starts at 1 s instead (RFC 6298), like
 * Linux: 1, 3, 7 s. */
#define LWIP_SYN_RCVD_RTO_TICKS 2
/* New connections are refused (RST) while the connections held take more
 * than this: what lwIP queues to send, what it took but the server has not
 * read, what was read but lwIP could not take yet. */
#define LWIP_MAX_MEMORY (256u << 20)
#define LWIP_EVENTS 64
#define LWIP_IOV 16
#define LWIP_RESET_MEMORY 256 /* handed-out fds whose flow the tunnel reset */

struct lwstack;

struct lwflow {
	struct lwstack *st;
	struct lwflow *prev, *next;
	struct tcp_pcb *pcb;    /* NULL once lwIP freed it or we let it go */
	int fd;                 /* our end of the socketpair, -1 once closed */
	int peer_fd;            /* the number of the end we handed out (for reset) */
	uint32_t ev;            /* epoll events registered (0: not registered) */
	/* tunnel -> server: received, not yet written to fd */
	struct pbuf *pending;
	/* server -> tunnel: read from fd, not yet taken by tcp_write() */
	uint8_t *held;
	size_t held_len;
	/* an active open whose handshake is not done yet */
	bool connecting;
	int caller_dup;         /* connecting: the caller's end, to restore its send buffer */
	int caller_sndbuf;
	size_t filler;          /* connecting: filler bytes in our receive queue */
	bool tunnel_fin;        /* FIN from the tunnel */
	bool fd_shut;           /* ... passed on: shutdown(fd, SHUT_WR) done */
	bool fd_eof;            /* end of stream read from fd */
	bool fin_sent;          /* ... passed on: lwIP has our FIN */
	bool dead;              /* to be freed at the end of this call */
	size_t mem;             /* what it counts in st->mem */
};

struct lwstack {
	struct stack_env env;
	struct netif netif;
	struct tcp_pcb *listener;
	int epfd;
	struct lwflow *flows;   /* every flow not yet freed */
	size_t nflows;          /* ... of which live: */
	size_t nlive;
	uint64_t mem;           /* bytes the live flows hold (flow_account) */
	bool tmr_armed;
	uint64_t next_tmr, now;
	/* the pcb flow_reset() aborted last: a callback that aborted its own
	 * pcb must return ERR_ABRT, and only then */
	struct tcp_pcb *aborted;
	struct stack_stats stats;
	/* the numbers of handed-out fds whose connection the tunnel reset, until
	 * the server asks (was_reset) or the number is handed out again */
	int reset_fds[LWIP_RESET_MEMORY];
	unsigned reset_next;
	uint8_t buf[65536];     /* reads from the socketpairs; chained output (tot_len is 16 bits) */
};

static struct lwstack *lwip_instance; /* lwIP is one global state */
static bool lwip_initialized;

/* ---- flows ---- */

static void flow_set_events(struct lwflow *f);
static void flow_reset(struct lwflow *f);

static struct lwflow *flow_new(struct lwstack *st, struct tcp_pcb *pcb, int fd)
{
	struct lwflow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->st = st;
	f->pcb = pcb;
	f->fd = fd;
	f->caller_dup = -1;
	f->next = st->flows;
	if (st->flows)
		st->flows->prev = f;
	st->flows = f;
	st->nflows++;
	st->nlive++;
	return f;
}

/* The memory a flow holds, as far as it can be known from outside lwIP. */
static size_t flow_usage(const struct lwflow *f)
{
	size_t m = sizeof(*f) + f->held_len;

	if (f->pcb)
		m += sizeof(struct tcp_pcb) + (TCP_SND_BUF - tcp_sndbuf(f->pcb)) +
		     (TCP_WND_MAX(f->pcb) - f->pcb->rcv_wnd); /* pending is in the latter */
	else if (f->pending)
		m += f->pending->tot_len;
	return m;
}

static void flow_account(struct lwflow *f)
{
	size_t m = f->dead ? 0 : flow_usage(f);

	f->st->mem = f->st->mem - f->mem + m;
	f->mem = m;
}

/* Detaches our callbacks, so lwIP keeps a pcb we no longer follow (closing)
 * or calls nothing of ours while it frees it (abort). */
static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
}

static void flow_close_fd(struct lwflow *f)
{
	if (f->fd >= 0) {
		if (f->ev)
			epoll_ctl(f->st->epfd, EPOLL_CTL_DEL, f->fd, NULL);
		close(f->fd);
		f->fd = -1;
		f->ev = 0;
	}
	if (f->caller_dup >= 0) {
		close(f->caller_dup);
		f->caller_dup = -1;
	}
}

/* Marks a flow for freeing; its pcb must already be gone or detached. */
static void flow_kill(struct lwflow *f)
{
	flow_close_fd(f);
	if (f->pending) {
		pbuf_free(f->pending);
		f->pending = NULL;
	}
	free(f->held);
	f->held = NULL;
	f->held_len = 0;
	f->pcb = NULL;
	if (!f->dead)
		f->st->nlive--;
	f->dead = true;
	flow_account(f);
}

static void reap(struct lwstack *st)
{
	struct lwflow *f = st->flows, *next;

	for (; f; f = next) {
		next = f->next;
		if (!f->dead)
			continue;
		if (f->prev)
			f->prev->next = f->next;
		else
			st->flows = f->next;
		if (f->next)
			f->next->prev = f->prev;
		st->nflows--;
		free(f);
	}
}

/* Both directions have ended: lwIP finishes the close on its own. */
static void flow_maybe_done(struct lwflow *f)
{
	if (f->dead || !(f->fd_shut && f->fin_sent) || f->pending || f->held)
		return;
	if (f->pcb) {
		pcb_detach(f->pcb);
		if (tcp_close(f->pcb) != ERR_OK)
			tcp_abort(f->pcb);
		f->pcb = NULL;
	}
	flow_kill(f);
}

/* tunnel -> server: writes what is pending; tcp_recved() what was taken.
 * 0, or -1 when the server's end is gone (the caller resets the flow). */
static int flow_flush(struct lwflow *f)
{
	while (f->pending) {
		struct iovec iov[LWIP_IOV];
		int n = 0;

		for (struct pbuf *q = f->pending; q && n < LWIP_IOV; q = q->next)
			if (q->len)
				iov[n++] = (struct iovec){ .iov_base = q->payload, .iov_len = q->len };
		ssize_t w = writev(f->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		u16_t took = (u16_t)w; /* a pending chain holds at most 0xffff bytes */
		if (w >= f->pending->tot_len) {
			pbuf_free(f->pending);
			f->pending = NULL;
		} else {
			f->pending = pbuf_free_header(f->pending, took);
		}
		if (f->pcb)
			tcp_recved(f->pcb, took);
	}
	if (!f->pending && f->tunnel_fin && !f->fd_shut) {
		shutdown(f->fd, SHUT_WR);
		f->fd_shut = true;
	}
	return 0;
}

static void flow_send_fin(struct lwflow *f)
{
	if (f->fin_sent || f->held || !f->fd_eof)
		return;
	if (!f->pcb) {
		f->fin_sent = true;
		return;
	}
	err_t e = tcp_shutdown(f->pcb, 0, 1);
	if (e == ERR_MEM)
		return; /* retried from the sent callback */
	f->fin_sent = true;
	tcp_output(f->pcb);
}

/* Gives lwIP what was read but not yet taken. */
static void flow_push_held(struct lwflow *f)
{
	if (!f->held || !f->pcb || tcp_sndbuf(f->pcb) < f->held_len)
		return;
	if (tcp_write(f->pcb, f->held, (u16_t)f->held_len, TCP_WRITE_FLAG_COPY) != ERR_OK)
		return;
	free(f->held);
	f->held = NULL;
	f->held_len = 0;
}

/* server -> tunnel: reads at most what lwIP can take now. */
static void flow_pump(struct lwflow *f)
{
	struct lwstack *st = f->st;

	flow_push_held(f);
	for (int round = 0; round < 4 && f->pcb && !f->held && !f->fd_eof; round++) {
		size_t room = tcp_sndbuf(f->pcb);
		if (room == 0 || tcp_sndqueuelen(f->pcb) >= TCP_SND_QUEUELEN)
			break;
		if (room > sizeof(st->buf))
			room = sizeof(st->buf);
		/* tcp_write takes a u16_t length: read no more than it can take
		 * (with window scaling tcp_sndbuf is 32 bits, and the buffer is
		 * 64 KiB: a full read would be cut to 0 bytes, lost) */
		if (room > UINT16_MAX)
			room = UINT16_MAX;
		ssize_t n = read(f->fd, st->buf, room);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			flow_reset(f); /* ECONNRESET: the server's end went away mid-stream */
			return;
		}
		if (n == 0) {
			f->fd_eof = true;
			break;
		}
		if (tcp_write(f->pcb, st->buf, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
			f->held = malloc((size_t)n);
			if (!f->held) {
				flow_reset(f);
				return;
			}
			memcpy(f->held, st->buf, (size_t)n);
			f->held_len = (size_t)n;
		}
	}
	if (f->pcb)
		tcp_output(f->pcb);
	flow_send_fin(f);
}

/* Registers for what the flow can act on now. An fd with nothing to do is
 * taken out of epoll, so a hung-up end does not wake the loop again and
 * again while lwIP's buffers are full. */
static void flow_set_events(struct lwflow *f)
{
	uint32_t want = 0;

	flow_account(f);
	if (f->dead || f->fd < 0)
		return;
	if (!f->connecting) {
		if (f->pending)
			want |= EPOLLOUT;
		if (f->pcb && !f->fd_eof && !f->held && tcp_sndbuf(f->pcb) > 0)
			want |= EPOLLIN | EPOLLRDHUP;
	}
	if (want == f->ev)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = f };
	if (!want)
		epoll_ctl(f->st->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	else if (epoll_ctl(f->st->epfd, f->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, f->fd, &ev) < 0) {
		flow_reset(f);
		return;
	}
	f->ev = want;
}

/* Resets the tunnel side (RST) and drops the server side. */
static void flow_reset(struct lwflow *f)
{
	if (f->pcb) {
		pcb_detach(f->pcb);
		f->st->aborted = f->pcb;
		tcp_abort(f->pcb);
		f->pcb = NULL;
	}
	flow_kill(f);
}

/* What a callback about pcb returns: ERR_ABRT if it aborted pcb. */
static err_t cb_result(struct lwstack *st, struct tcp_pcb *pcb)
{
	err_t e = st->aborted == pcb ? ERR_ABRT : ERR_OK;

	st->aborted = NULL;
	return e;
}

static void flow_on_fd(struct lwflow *f, uint32_t events)
{
	if (f->dead)
		return;
	if (f->pending && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && flow_flush(f) < 0) {
		flow_reset(f);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		flow_pump(f);
	if (f->dead)
		return;
	if (!f->pcb && !f->pending && f->fd_shut) {
		flow_kill(f); /* lwIP closed it and the server has everything */
		return;
	}
	flow_maybe_done(f);
	flow_set_events(f);
}

/* ---- lwIP callbacks ---- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct lwflow *f = arg;

	if (!f || f->dead) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	f->st->aborted = NULL;
	if (!p) {
		f->tunnel_fin = true;
	} else if (err != ERR_OK) {
		pbuf_free(p);
		return ERR_OK;
	} else if (f->pending) {
		/* tot_len is 16 bits: lwIP keeps the rest and offers it again */
		if ((uint32_t)f->pending->tot_len + p->tot_len > 0xffff)
			return ERR_MEM;
		pbuf_cat(f->pending, p);
	} else {
		f->pending = p;
	}
	if (f->connecting)
		return ERR_OK; /* written once the filler is gone */
	if (flow_flush(f) < 0)
		flow_reset(f);
	flow_maybe_done(f);
	flow_set_events(f);
	return cb_result(f->st, pcb);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct lwflow *f = arg;

	(void)len;
	if (!f || f->dead)
		return ERR_OK;
	f->st->aborted = NULL;
	flow_push_held(f);
	flow_send_fin(f);
	flow_maybe_done(f);
	flow_set_events(f);
	return cb_result(f->st, pcb);
}

/* lwIP has freed the pcb: a reset, an abort (retransmissions exhausted) or
 * the end of a close we did not detach from (ERR_CLSD). */
static void on_err(void *arg, err_t err)
{
	struct lwflow *f = arg;

	if (!f || f->dead)
		return;
	f->pcb = NULL;
	if (err == ERR_CLSD && !f->connecting) {
		f->tunnel_fin = true;
		if (flow_flush(f) < 0 || (!f->pending && f->fd_shut))
			flow_kill(f);
		else
			flow_set_events(f);
		return;
	}
	if (!f->connecting) {
		struct lwstack *st = f->st;
		st->reset_fds[st->reset_next++ % LWIP_RESET_MEMORY] = f->peer_fd;
	}
	flow_kill(f); /* a connecting flow's filler goes unread: ECONNRESET */
}

/* A number handed out again no longer stands for an old reset. */
static void reset_forget(struct lwstack *st, int fd)
{
	for (unsigned i = 0; i < LWIP_RESET_MEMORY; i++)
		if (st->reset_fds[i] == fd)
			st->reset_fds[i] = -1;
}

static void flow_watch(struct lwflow *f, struct tcp_pcb *pcb)
{
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb); /* reads are already as large as what is there */
}

static void to_sockaddr(struct sockaddr_storage *ss, const ip_addr_t *a, u16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (IP_IS_V6(a)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip_2_ip6(a)->addr, 16);
		s6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = ip4_addr_get_u32(ip_2_ip4(a));
		s4->sin_port = htons(port);
	}
}

static int from_sockaddr(ip_addr_t *a, u16_t *port, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		ip_addr_set_zero_ip4(a);
		ip4_addr_set_u32(ip_2_ip4(a), s4->sin_addr.s_addr);
		*port = ntohs(s4->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		ip_addr_set_zero_ip6(a);
		memcpy(ip_2_ip6(a)->addr, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lwstack *st = arg;
	int sv[2];

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	st->aborted = NULL;
	if (st->nflows >= LWIP_MAX_FLOWS || st->mem > LWIP_MAX_MEMORY ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		st->stats.dropped++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	struct lwflow *f = flow_new(st, pcb, sv[0]);
	if (!f) {
		close(sv[0]);
		close(sv[1]);
		st->stats.dropped++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	f->peer_fd = sv[1];
	reset_forget(st, sv[1]);
	flow_watch(f, pcb);
	flow_set_events(f);
	if (f->dead) { /* epoll refused it */
		close(sv[1]);
		return cb_result(st, pcb);
	}
	struct sockaddr_storage src, dst;
	to_sockaddr(&src, &pcb->remote_ip, pcb->remote_port);
	to_sockaddr(&dst, &pcb->local_ip, pcb->local_port);
	st->stats.accepted++;
	st->env.accepted(st->env.ctx, sv[1], &src, &dst);
	return cb_result(st, pcb);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lwflow *f = arg;

	if (!f || f->dead)
		return ERR_OK;
	f->st->aborted = NULL;
	/* Drop the filler: the caller's end becomes writable. */
	while (f->filler > 0) {
		ssize_t n = read(f->fd, f->st->buf,
				 f->filler < sizeof(f->st->buf) ? f->filler : sizeof(f->st->buf));
		if (n <= 0)
			break;
		f->filler -= (size_t)n;
	}
	if (f->filler > 0 || err != ERR_OK) {
		flow_reset(f);
		return cb_result(f->st, pcb);
	}
	setsockopt(f->caller_dup, SOL_SOCKET, SO_SNDBUF, &f->caller_sndbuf, sizeof(f->caller_sndbuf));
	close(f->caller_dup);
	f->caller_dup = -1;
	f->connecting = false;
	if (f->pending && flow_flush(f) < 0)
		flow_reset(f);
	flow_set_events(f);
	return cb_result(f->st, pcb);
}

/* ---- netif: lwIP's output into the tunnel ---- */

static err_t netif_emit(struct netif *n, struct pbuf *p)
{
	struct lwstack *st = n->state;
	const uint8_t *pkt = p->payload;

	if (p->next || p->len != p->tot_len) {
		pbuf_copy_partial(p, st->buf, p->tot_len, 0);
		pkt = st->buf;
	}
	/* Only TCP belongs to the stack; lwIP has nothing else to say here. */
	if (p->tot_len < 20 || ((pkt[0] >> 4) == 4 ? pkt[9] : pkt[6]) != IPPROTO_TCP)
		return ERR_OK;
	st->stats.packets_out++;
	st->env.output(st->env.ctx, pkt, p->tot_len);
	return ERR_OK;
}

static err_t netif_out4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)dst;
	return netif_emit(n, p);
}

static err_t netif_out6(struct netif *n, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return netif_emit(n, p);
}

static err_t netif_setup(struct netif *n)
{
	n->name[0] = 'w';
	n->name[1] = 't';
	n->output = netif_out4;
	n->output_ip6 = netif_out6;
	n->mtu = LWIP_TUNNEL_MTU;
	n->flags = 0; /* no ARP, broadcast, IGMP or MLD: a point-to-point tunnel */
	return ERR_OK;
}

/* ---- the stack ---- */

static struct lwstack *lw(struct stack *s) { return s->priv; }

static int lw_open(struct stack *s, const struct stack_env *env, char *why, size_t whylen)
{
	ip4_addr_t addr, mask, gw;

	if (lwip_instance) {
		snprintf(why, whylen, "lwIP is already in use in this process");
		return -EBUSY;
	}
	struct lwstack *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	st->env = *env;
	for (unsigned i = 0; i < LWIP_RESET_MEMORY; i++)
		st->reset_fds[i] = -1;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0) {
		int e = errno;
		snprintf(why, whylen, "epoll_create1: %s", strerror(e));
		free(st);
		return -e;
	}
	if (!lwip_initialized) {
		lwip_init();
		lwip_initialized = true;
	}
	ip4addr_aton(LWIP_NETIF_ADDR, &addr);
	IP4_ADDR(&mask, 255, 255, 255, 255);
	IP4_ADDR(&gw, 0, 0, 0, 0);
	if (!netif_add(&st->netif, &addr, &mask, &gw, st, netif_setup, netif_input)) {
		snprintf(why, whylen, "lwIP refused its network interface");
		close(st->epfd);
		free(st);
		return -EIO;
	}
	netif_set_default(&st->netif);
	netif_set_up(&st->netif);
	netif_set_link_up(&st->netif);

	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	err_t e = pcb ? tcp_bind(pcb, IP_ANY_TYPE, 1) : ERR_MEM;
	st->listener = e == ERR_OK ? tcp_listen(pcb) : NULL;
	if (!st->listener) {
		if (pcb)
			tcp_abort(pcb);
		netif_remove(&st->netif);
		close(st->epfd);
		free(st);
		snprintf(why, whylen, "lwIP could not listen");
		return -ENOMEM;
	}
	tcp_arg(st->listener, st);
	tcp_accept(st->listener, on_accept);
	lwip_instance = st;
	s->priv = st;
	return 0;
}

/* Where the TCP header starts: the IPv4 header or the IPv6 header and its
 * extension headers; 0 for what lwIP must not see (fragments, not TCP). */
static size_t tcp_offset(const uint8_t *pkt, size_t len, size_t *iplen)
{
	if (len >= 20 && pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 15) * 4;
		size_t tot = (size_t)pkt[2] << 8 | pkt[3];
		if (ihl < 20 || tot < ihl || tot > len || pkt[9] != IPPROTO_TCP ||
		    ((pkt[6] << 8 | pkt[7]) & 0x3fff)) /* MF or an offset */
			return 0;
		*iplen = tot;
		return ihl;
	}
	if (len >= 40 && pkt[0] >> 4 == 6) {
		size_t tot = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		size_t off = 40;
		uint8_t next = pkt[6];
		if (tot > len)
			return 0;
		while (next == 0 || next == 43 || next == 60) { /* hop-by-hop, routing, destination */
			if (off + 8 > tot)
				return 0;
			next = pkt[off];
			off += ((size_t)pkt[off + 1] + 1) * 8;
		}
		if (next != IPPROTO_TCP || off > tot)
			return 0;
		*iplen = tot;
		return off;
	}
	return 0;
}

static void lw_input(struct stack *s, const uint8_t *pkt, size_t len)
{
	struct lwstack *st = lw(s);
	size_t iplen = 0, hl = tcp_offset(pkt, len, &iplen);

	if (!hl || iplen - hl < 20 || iplen > 0xffff) {
		st->stats.dropped++;
		return;
	}
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)iplen, PBUF_RAM);
	if (!p) {
		st->stats.dropped++;
		return;
	}
	memcpy(p->payload, pkt, iplen);
	const uint8_t *hdr = p->payload;
	const uint8_t *tcp = hdr + hl;
	st->stats.segments_in++;

	/* What ip4_input()/ip6_input() would have set up for tcp_input(). */
	ip_data.current_netif = &st->netif;
	ip_data.current_input_netif = &st->netif;
	ip_data.current_ip_header_tot_len = (u16_t)hl;
	if (hdr[0] >> 4 == 4) {
		const struct ip_hdr *h4 = (const struct ip_hdr *)hdr;
		ip_data.current_ip4_header = h4;
		ip_data.current_ip6_header = NULL;
		ip_addr_copy_from_ip4(ip_data.current_iphdr_dest, h4->dest);
		ip_addr_copy_from_ip4(ip_data.current_iphdr_src, h4->src);
	} else {
		struct ip6_hdr *h6 = (struct ip6_hdr *)p->payload;
		ip_data.current_ip4_header = NULL;
		ip_data.current_ip6_header = h6;
		ip_addr_copy_from_ip6_packed(ip_data.current_iphdr_dest, h6->dest);
		ip_addr_copy_from_ip6_packed(ip_data.current_iphdr_src, h6->src);
		ip6_addr_assign_zone(ip_2_ip6(&ip_data.current_iphdr_dest), IP6_UNKNOWN, &st->netif);
		ip6_addr_assign_zone(ip_2_ip6(&ip_data.current_iphdr_src), IP6_UNICAST, &st->netif);
	}
	/* A SYN (and only a SYN) meets the listener on its own port. */
	bool syn = (tcp[13] & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;
	u16_t sport = (u16_t)(tcp[0] << 8 | tcp[1]), dport = (u16_t)(tcp[2] << 8 | tcp[3]);
	struct tcp_pcb *head = tcp_active_pcbs;
	if (syn)
		st->listener->local_port = dport;
	pbuf_remove_header(p, hl);
	tcp_input(p, &st->netif);
	/* a new connection goes to the front of the active list */
	struct tcp_pcb *n = tcp_active_pcbs;
	if (syn && n && n != head && n->state == SYN_RCVD && n->nrtx == 0 &&
	    n->remote_port == sport && n->local_port == dport) {
		n->rto = LWIP_SYN_RCVD_RTO_TICKS;
		n->sv = LWIP_SYN_RCVD_RTO_TICKS;
	}

	ip_data.current_netif = NULL;
	ip_data.current_input_netif = NULL;
	ip_data.current_ip4_header = NULL;
	ip_data.current_ip6_header = NULL;
	ip_data.current_ip_header_tot_len = 0;
	ip_addr_set_zero(&ip_data.current_iphdr_src);
	ip_addr_set_zero(&ip_data.current_iphdr_dest);
	reap(st);
}

static int lw_connect(struct stack *s, const struct sockaddr_storage *src,
		      const struct sockaddr_storage *dst)
{
	struct lwstack *st = lw(s);
	ip_addr_t sip, dip;
	u16_t sport, dport;
	int sv[2];

	if (!src)
		return -EDESTADDRREQ; /* lwIP has no address of its own in the tunnel */
	if (src->ss_family != dst->ss_family || from_sockaddr(&sip, &sport, src) < 0 ||
	    from_sockaddr(&dip, &dport, dst) < 0)
		return -EAFNOSUPPORT;
	if (st->nflows >= LWIP_MAX_FLOWS || st->mem > LWIP_MAX_MEMORY)
		return -ENOBUFS;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;

	/* The caller's end: smallest send buffer, filled, so it is not
	 * writable before the handshake is done. */
	int orig = 0, one = 1;
	socklen_t ol = sizeof(orig);
	size_t filler = 0;
	getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &orig, &ol);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	memset(st->buf, 0, 4096);
	for (;;) {
		ssize_t n = write(sv[1], st->buf, 4096);
		if (n <= 0)
			break;
		filler += (size_t)n;
	}
	int dup_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&dip));
	struct lwflow *f = NULL;
	if (dup_fd < 0 || !pcb || filler == 0)
		goto fail;
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, &sip, sport) != ERR_OK)
		goto fail;
	f = flow_new(st, pcb, sv[0]);
	if (!f)
		goto fail;
	f->connecting = true;
	f->peer_fd = sv[1];
	reset_forget(st, sv[1]);
	f->caller_dup = dup_fd;
	f->caller_sndbuf = orig / 2; /* the kernel doubles what is set */
	f->filler = filler;
	flow_watch(f, pcb);
	if (tcp_connect(pcb, &dip, dport, on_connected) != ERR_OK) {
		flow_reset(f); /* closes sv[0] and dup_fd */
		reap(st);
		close(sv[1]);
		return -ENOBUFS;
	}
	st->stats.connects++;
	return sv[1];
fail:
	if (pcb)
		tcp_abort(pcb);
	if (dup_fd >= 0)
		close(dup_fd);
	close(sv[0]);
	close(sv[1]);
	return -ENOBUFS;
}

/* The newest live flow handed out as fd wins: an older one with the same
 * number is one whose end was closed already. */
static void lw_reset(struct stack *s, int fd)
{
	struct lwstack *st = lw(s);

	for (struct lwflow *f = st->flows; f; f = f->next)
		if (!f->dead && f->peer_fd == fd) {
			flow_reset(f);
			break;
		}
	reap(st);
}

static bool lw_was_reset(struct stack *s, int fd)
{
	struct lwstack *st = lw(s);

	for (unsigned i = 0; i < LWIP_RESET_MEMORY; i++)
		if (st->reset_fds[i] == fd) {
			st->reset_fds[i] = -1;
			return true;
		}
	return false;
}

static int lw_poll_fd(struct stack *s) { return lw(s)->epfd; }

static bool lwip_busy(void) { return tcp_active_pcbs || tcp_tw_pcbs; }

static void lw_run(struct stack *s, uint64_t now_ms)
{
	struct lwstack *st = lw(s);
	struct epoll_event evs[LWIP_EVENTS];

	st->now = now_ms;
	int n = epoll_wait(st->epfd, evs, LWIP_EVENTS, 0);
	for (int i = 0; i < n; i++)
		flow_on_fd(evs[i].data.ptr, evs[i].events);
	reap(st);

	if (!lwip_busy()) {
		st->tmr_armed = false;
		return;
	}
	if (!st->tmr_armed) {
		st->tmr_armed = true;
		st->next_tmr = now_ms + TCP_TMR_INTERVAL;
	} else if (now_ms >= st->next_tmr) {
		tcp_tmr();
		st->next_tmr += TCP_TMR_INTERVAL;
		if (st->next_tmr <= now_ms)
			st->next_tmr = now_ms + TCP_TMR_INTERVAL;
		reap(st);
	}
}

static uint64_t lw_deadline(struct stack *s)
{
	struct lwstack *st = lw(s);

	if (!lwip_busy())
		return UINT64_MAX;
	return st->tmr_armed ? st->next_tmr : st->now;
}

static void lw_close(struct stack *s)
{
	struct lwstack *st = lw(s);

	if (!st)
		return;
	for (struct lwflow *f = st->flows; f; f = f->next)
		if (!f->dead)
			flow_reset(f);
	reap(st);
	/* Connections we let go, still closing, and TIME_WAIT. */
	while (tcp_active_pcbs) {
		pcb_detach(tcp_active_pcbs);
		tcp_abort(tcp_active_pcbs);
	}
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	tcp_close(st->listener);
	netif_remove(&st->netif);
	close(st->epfd);
	lwip_instance = NULL;
	free(st);
	s->priv = NULL;
}

static void lw_stats(struct stack *s, struct stack_stats *out)
{
	struct lwstack *st = lw(s);

	*out = st->stats;
	out->active = st->nlive;
	out->memory_bytes = sizeof(*st) + st->mem;
}

const struct stack_ops stack_lwip_ops = {
	.name = "lwip",
	.open = lw_open,
	.input = lw_input,
	.connect = lw_connect,
	.poll_fd = lw_poll_fd,
	.run = lw_run,
	.deadline = lw_deadline,
	.close = lw_close,
	.stats = lw_stats,
	.reset = lw_reset,
	.was_reset = lw_was_reset,
};
