/* stack_kernel.c: the "kernel" stack: Linux's own TCP in a user + network
 * namespace that ns_helper.c sets up. Segments from the tunnel are written
 * to the TUN device there; every destination is local on that side, so a
 * listener on the destination port (IP_TRANSPARENT, any address, created on
 * the port's first SYN) accepts the connection, and getsockname() on it
 * gives the original destination. What the namespace's kernel sends (SYN-ACK,
 * data, ACKs) comes back out of the TUN and goes into the tunnel.
 *
 * The TUN carries vnet headers (offload.c): reads are TSO super-packets cut
 * into segments here; segments from the tunnel are copied into a batch and
 * written coalesced when the loop comes round (deadline() says "now" while
 * any wait), so a window of data costs a few writes instead of one each.
 *
 * The TUN and the listeners sit in one epoll set of our own, so the server
 * polls a single fd for the whole stack. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "weftd/offload.h"

#include "serve/ns_helper.h"
#include "serve/packet.h"
#include "serve/stack.h"

#define KSTACK_MAX_LISTENERS 4096  /* distinct destination ports, both families */
#define KSTACK_READ_BATCH 128      /* TUN packets handled per run */
#define KSTACK_ACCEPT_BATCH 64     /* connections accepted per listener per run */
#define KSTACK_EVENTS 64
#define KSTACK_MTU 1420            /* WireGuard's default tunnel MTU */
#define KSTACK_SPLIT_SEGS 64
#define KSTACK_SPLIT_CAP (128 * 1024)
#define KSTACK_IN_SLOTS 64           /* segments coalesced per write batch */
#define KSTACK_IN_SLOT 2048          /* a segment of the tunnel (MTU 1420) fits */

struct listener {
	int fd;
	uint8_t family;
	uint16_t port;
};

struct kstack {
	struct stack_env env;
	struct ns_helper helper;
	int epfd;
	struct listener *listeners;
	size_t n_listeners;
	uint8_t *buf;                   /* a TUN read: vnet header + up to 64 KiB */
	uint8_t *split;                 /* its segments */
	size_t split_off[KSTACK_SPLIT_SEGS], split_len[KSTACK_SPLIT_SEGS];
	uint8_t *in;                    /* segments from the tunnel waiting for a write */
	size_t in_count;
	struct offload_gro *gro;
	struct stack_stats stats;
};

static void kernel_close(struct stack *s)
{
	struct kstack *k = s->priv;

	if (!k)
		return;
	for (size_t i = 0; i < k->n_listeners; i++)
		close(k->listeners[i].fd);
	if (k->epfd >= 0)
		close(k->epfd);
	ns_helper_stop(&k->helper);
	free(k->listeners);
	free(k->buf);
	free(k->split);
	free(k->in);
	free(k->gro);
	free(k);
	s->priv = NULL;
}

static int kernel_open(struct stack *s, const struct stack_env *env, char *why, size_t whylen)
{
	struct kstack *k = calloc(1, sizeof(*k));
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (!k)
		return -ENOMEM;
	k->env = *env;
	k->epfd = -1;
	k->helper.sock = k->helper.tun_fd = -1;
	s->priv = k;
	k->listeners = calloc(KSTACK_MAX_LISTENERS, sizeof(*k->listeners));
	k->buf = malloc(OFFLOAD_READ_MAX);
	k->split = malloc(KSTACK_SPLIT_CAP);
	k->in = malloc((size_t)KSTACK_IN_SLOTS * KSTACK_IN_SLOT);
	k->gro = malloc(sizeof(*k->gro));
	if (!k->listeners || !k->buf || !k->split || !k->in || !k->gro) {
		kernel_close(s);
		return -ENOMEM;
	}
	offload_gro_init(k->gro);
	ret = ns_helper_start(&k->helper, KSTACK_MTU, why, whylen);
	if (ret < 0) {
		kernel_close(s);
		return ret;
	}
	k->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = NULL; /* NULL: the TUN; otherwise a listener */
	if (k->epfd < 0 || epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->helper.tun_fd, &ev) < 0) {
		ret = -errno;
		snprintf(why, whylen, "epoll: %s", strerror(errno));
		kernel_close(s);
		return ret;
	}
	return 0;
}

static struct listener *listener_for(struct kstack *k, int family, uint16_t port)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct listener *l;
	int fd;

	for (size_t i = 0; i < k->n_listeners; i++)
		if (k->listeners[i].port == port && k->listeners[i].family == family)
			return &k->listeners[i];
	if (k->n_listeners == KSTACK_MAX_LISTENERS)
		return NULL;
	fd = ns_helper_listener(&k->helper, family, port);
	if (fd < 0)
		return NULL;
	l = &k->listeners[k->n_listeners];
	ev.data.ptr = l;
	if (epoll_ctl(k->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return NULL;
	}
	*l = (struct listener){ .fd = fd, .family = (uint8_t)family, .port = port };
	k->n_listeners++;
	return l;
}

static int write_tun(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct kstack *k = ctx;

	if (writev(k->helper.tun_fd, iov, iovcnt) < 0) {
		k->stats.dropped++;
		return -errno;
	}
	return 0;
}

/* The waiting segments, coalesced, into the namespace. */
static void flush_input(struct kstack *k)
{
	if (!k->in_count)
		return;
	offload_gro_flush(k->gro, write_tun, k);
	k->in_count = 0;
}

static void kernel_input(struct stack *s, const uint8_t *pkt, size_t len)
{
	struct kstack *k = s->priv;
	struct pkt p;

	if (pkt_parse(&p, pkt, len) != PKT_OK || p.proto != IPPROTO_TCP) {
		k->stats.dropped++;
		return;
	}
	/* the first SYN to a port opens its listener; without one the
	 * namespace's kernel would answer RST */
	if ((p.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && !listener_for(k, p.family, p.dport)) {
		k->stats.dropped++;
		return;
	}
	if (len > KSTACK_IN_SLOT) {
		k->stats.dropped++;
		return;
	}
	if (k->in_count == KSTACK_IN_SLOTS)
		flush_input(k);
	memcpy(k->in + k->in_count * KSTACK_IN_SLOT, pkt, len);
	offload_gro_add(k->gro, k->in + k->in_count * KSTACK_IN_SLOT, len);
	k->in_count++;
	k->stats.segments_in++;
}

static int kernel_connect(struct stack *s, const struct sockaddr_storage *src,
			  const struct sockaddr_storage *dst)
{
	struct kstack *k = s->priv;
	socklen_t len = dst->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = ns_helper_socket(&k->helper, dst->ss_family), ret;

	if (fd < 0)
		return fd;
	if (src && src->ss_family == dst->ss_family && bind(fd, (const struct sockaddr *)src, len) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)dst, len) < 0 && errno != EINPROGRESS)
		goto fail;
	k->stats.connects++;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

static int kernel_poll_fd(struct stack *s)
{
	struct kstack *k = s->priv;
	return k->epfd;
}

static void read_tun(struct kstack *k)
{
	for (int i = 0; i < KSTACK_READ_BATCH; i++) {
		ssize_t n = read(k->helper.tun_fd, k->buf, OFFLOAD_READ_MAX);
		struct virtio_net_hdr hdr;

		if (n < (ssize_t)OFFLOAD_VNET_HDR_LEN)
			return;
		memcpy(&hdr, k->buf, sizeof(hdr));
		for (size_t first = 0;;) {
			int segs = offload_split_from(&hdr, k->buf + OFFLOAD_VNET_HDR_LEN,
						      (size_t)n - OFFLOAD_VNET_HDR_LEN, first, k->split,
						      KSTACK_SPLIT_CAP, k->split_off, k->split_len,
						      KSTACK_SPLIT_SEGS);
			if (segs <= 0) {
				if (segs < 0)
					k->stats.dropped++; /* a super-packet offload.c refuses */
				break;
			}
			for (int j = 0; j < segs; j++) {
				k->stats.packets_out++;
				k->env.output(k->env.ctx, k->split + k->split_off[j], k->split_len[j]);
			}
			first += (size_t)segs;
		}
	}
}

static void accept_from(struct kstack *k, struct listener *l)
{
	for (int i = 0; i < KSTACK_ACCEPT_BATCH; i++) {
		struct sockaddr_storage src, dst;
		socklen_t slen = sizeof(src), dlen = sizeof(dst);
		int fd = accept4(l->fd, (struct sockaddr *)&src, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (getsockname(fd, (struct sockaddr *)&dst, &dlen) < 0) {
			close(fd);
			continue;
		}
		k->stats.accepted++;
		k->env.accepted(k->env.ctx, fd, &src, &dst);
	}
}

static void kernel_run(struct stack *s, uint64_t now_ms)
{
	struct kstack *k = s->priv;
	struct epoll_event ev[KSTACK_EVENTS];
	int n;

	flush_input(k);
	n = epoll_wait(k->epfd, ev, KSTACK_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		if (!ev[i].data.ptr)
			read_tun(k);
		else
			accept_from(k, ev[i].data.ptr);
	}
}

static uint64_t kernel_deadline(struct stack *s)
{
	struct kstack *k = s->priv;

	/* segments waiting for their write: at once; else never, the
	 * namespace's kernel keeps its own timers */
	return k->in_count ? 0 : UINT64_MAX;
}

static void kernel_stats(struct stack *s, struct stack_stats *out)
{
	struct kstack *k = s->priv;
	*out = k->stats;
}

const struct stack_ops stack_kernel_ops = {
	.name = "kernel",
	.open = kernel_open,
	.input = kernel_input,
	.connect = kernel_connect,
	.poll_fd = kernel_poll_fd,
	.run = kernel_run,
	.deadline = kernel_deadline,
	.close = kernel_close,
	.stats = kernel_stats,
};
