/* udp.c: the IPv4 + IPv6 UDP sockets, sticky source, batched I/O (see udp.h). */
#include "weftd/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "weftd/log.h"

void udp_init(struct udp *u)
{
	u->fd4 = u->fd6 = -1;
	u->port = 0;
	u->fwmark = 0;
}

bool udp_is_open(const struct udp *u)
{
	return u->fd4 >= 0 || u->fd6 >= 0;
}

static void set_buffer(int fd, int force_opt, int opt)
{
	int size = UDP_SOCKET_BUFFER;

	/* FORCE lifts net.core.[rw]mem_max for CAP_NET_ADMIN; otherwise take
	 * what the limit allows. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/* A socket of family bound to port; the bound port in *bound. */
static int open_one(int family, uint16_t port, uint32_t fwmark, int *fd_out, uint16_t *bound)
{
	union { struct sockaddr sa; struct sockaddr_in in4; struct sockaddr_in6 in6; } addr;
	socklen_t len;
	struct timeval send_timeout = { .tv_sec = 0, .tv_usec = UDP_SEND_TIMEOUT_MS * 1000 };
	int one = 1, fd, r;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	if (family == AF_INET) {
		addr.in4.sin_family = AF_INET;
		addr.in4.sin_port = htons(port);
		len = sizeof(addr.in4);
		r = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	} else {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		len = sizeof(addr.in6);
		r = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (r == 0)
			r = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (r == 0 && fwmark)
		r = setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark));
	/* Receives never block (MSG_DONTWAIT); sends may wait this long for
	 * buffer space, which paces the TUN side instead of dropping. */
	if (r == 0)
		r = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
	if (r == 0) {
		set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
		set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
		r = bind(fd, &addr.sa, len);
	}
	if (r == 0)
		r = getsockname(fd, &addr.sa, &len);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*bound = ntohs(family == AF_INET ? addr.in4.sin_port : addr.in6.sin6_port);
	*fd_out = fd;
	return 0;
}

int udp_open(struct udp *u, uint16_t port, uint32_t fwmark)
{
	uint16_t bound = port;
	int r4, r6;

	udp_init(u);
	for (int tries = 0; ; tries++) {
		r4 = open_one(AF_INET, port, fwmark, &u->fd4, &bound);
		if (r4 < 0 && r4 != -EAFNOSUPPORT)
			return r4;
		r6 = open_one(AF_INET6, r4 == 0 ? bound : port, fwmark, &u->fd6, &bound);
		if (r6 == -EADDRINUSE && port == 0 && r4 == 0 && tries < UDP_BIND_TRIES) {
			/* the kernel's IPv4 pick is taken on IPv6: pick again */
			close(u->fd4);
			u->fd4 = -1;
			continue;
		}
		if (r6 < 0 && r6 != -EAFNOSUPPORT) {
			udp_close(u);
			return r6;
		}
		break;
	}
	if (!udp_is_open(u))
		return -EAFNOSUPPORT;
	u->port = bound;
	u->fwmark = fwmark;
	return 0;
}

void udp_close(struct udp *u)
{
	if (u->fd4 >= 0)
		close(u->fd4);
	if (u->fd6 >= 0)
		close(u->fd6);
	u->fd4 = u->fd6 = -1;
}

int udp_set_fwmark(struct udp *u, uint32_t fwmark)
{
	int fds[2] = { u->fd4, u->fd6 };

	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0 && setsockopt(fds[i], SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
			return -errno;
	u->fwmark = fwmark;
	return 0;
}

int udp_rx_init(struct udp_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	for (size_t i = 0; i < UDP_RX_BATCH; i++) {
		rx->bufs[i] = malloc(UDP_DATAGRAM_MAX);
		if (!rx->bufs[i]) {
			udp_rx_free(rx);
			return -ENOMEM;
		}
	}
	return 0;
}

void udp_rx_free(struct udp_rx *rx)
{
	for (size_t i = 0; i < UDP_RX_BATCH; i++) {
		free(rx->bufs[i]);
		rx->bufs[i] = NULL;
	}
}

static void read_pktinfo(struct msghdr *mh, struct weft_endpoint *ep)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			ep->src.in4 = pi.ipi_spec_dst; /* the local address, as wireguard-go */
			ep->src_ifindex = pi.ipi_ifindex;
			return;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			ep->src.in6 = pi.ipi6_addr;
			ep->src_ifindex = (int)pi.ipi6_ifindex;
			return;
		}
	}
}

int udp_recv_batch(int fd, struct udp_rx *rx)
{
	int n, kept = 0;

	for (size_t i = 0; i < UDP_RX_BATCH; i++) {
		rx->iov[i].iov_base = rx->bufs[i];
		rx->iov[i].iov_len = UDP_DATAGRAM_MAX;
		rx->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &rx->names[i],
			.msg_namelen = sizeof(rx->names[i]),
			.msg_iov = &rx->iov[i],
			.msg_iovlen = 1,
			.msg_control = rx->ctrl[i].buf,
			.msg_controllen = sizeof(rx->ctrl[i].buf),
		};
		rx->msgs[i].msg_len = 0;
	}
	do
		n = recvmmsg(fd, rx->msgs, UDP_RX_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;

	for (int i = 0; i < n; i++) {
		struct msghdr *mh = &rx->msgs[i].msg_hdr;
		struct weft_endpoint *ep = &rx->from[kept];
		if (mh->msg_flags & MSG_TRUNC)
			continue;
		memset(ep, 0, sizeof(*ep));
		if (mh->msg_namelen > sizeof(ep->addr))
			continue;
		memcpy(&ep->addr, &rx->names[i], mh->msg_namelen);
		read_pktinfo(mh, ep);
		if (kept != i) { /* keep the batch dense: swap buffers */
			uint8_t *t = rx->bufs[kept];
			rx->bufs[kept] = rx->bufs[i];
			rx->bufs[i] = t;
		}
		rx->lens[kept++] = rx->msgs[i].msg_len;
	}
	return kept;
}

bool udp_endpoint_has_src(const struct weft_endpoint *ep)
{
	if (ep->addr.sa.sa_family == AF_INET)
		return ep->src.in4.s_addr != 0;
	if (ep->addr.sa.sa_family == AF_INET6)
		return !IN6_IS_ADDR_UNSPECIFIED(&ep->src.in6);
	return false;
}

/* Fills msg i for pkt; with_src adds the sticky source. */
static void build_msg(struct udp_tx *tx, size_t i, const struct weft_packet *pkt, bool with_src)
{
	const struct weft_endpoint *ep = &pkt->endpoint;
	struct msghdr *mh = &tx->msgs[i].msg_hdr;
	bool v4 = ep->addr.sa.sa_family == AF_INET;

	tx->iov[i].iov_base = pkt->data;
	tx->iov[i].iov_len = pkt->len;
	*mh = (struct msghdr){
		.msg_name = (void *)&ep->addr,
		.msg_namelen = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
		.msg_iov = &tx->iov[i],
		.msg_iovlen = 1,
	};
	if (!with_src || !udp_endpoint_has_src(ep))
		return;
	memset(tx->ctrl[i].buf, 0, sizeof(tx->ctrl[i].buf));
	mh->msg_control = tx->ctrl[i].buf;
	mh->msg_controllen = v4 ? CMSG_SPACE(sizeof(struct in_pktinfo)) : CMSG_SPACE(sizeof(struct in6_pktinfo));
	struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
	if (v4) {
		/* Only the address: the route picks the interface, as the kernel
		 * module does for IPv4. */
		struct in_pktinfo pi = { .ipi_spec_dst = ep->src.in4 };
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	} else {
		/* The interface too: link-local sources need it. */
		struct in6_pktinfo pi = { .ipi6_addr = ep->src.in6, .ipi6_ifindex = (unsigned)ep->src_ifindex };
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	}
}

/* Sends msgs [0, count) on fd; returns how many were dropped. */
static size_t send_msgs(int fd, struct udp_tx *tx, size_t count, const struct weft_packet *pkts,
			udp_src_refused_fn *refused, void *ctx)
{
	size_t i = 0, dropped = 0;

	while (i < count) {
		int n = sendmmsg(fd, &tx->msgs[i], (unsigned)(count - i), 0);
		if (n > 0) {
			i += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* msgs[i] failed */
		int err = n < 0 ? errno : EIO;
		const struct weft_packet *pkt = &pkts[tx->index[i]];
		if ((err == EINVAL || err == EADDRNOTAVAIL) && tx->msgs[i].msg_hdr.msg_control) {
			build_msg(tx, i, pkt, false);
			if (refused)
				refused(ctx, pkt);
			continue; /* retry it without a source */
		}
		dropped++;
		i++;
	}
	return dropped;
}

size_t udp_send_batch(struct udp *u, struct udp_tx *tx, const struct weft_packet *pkts, size_t n,
		      udp_src_refused_fn *refused, void *ctx)
{
	size_t dropped = 0;

	/* Per family, in order; the two sockets are independent queues. */
	for (int pass = 0; pass < 2; pass++) {
		int family = pass ? AF_INET6 : AF_INET;
		int fd = pass ? u->fd6 : u->fd4;
		size_t count = 0;
		for (size_t i = 0; i < n; i++) {
			if (pkts[i].endpoint.addr.sa.sa_family != family)
				continue;
			if (fd < 0) {
				dropped++;
				continue;
			}
			tx->index[count] = i;
			build_msg(tx, count, &pkts[i], true);
			if (++count == UDP_TX_BATCH) {
				dropped += send_msgs(fd, tx, count, pkts, refused, ctx);
				count = 0;
			}
		}
		if (count)
			dropped += send_msgs(fd, tx, count, pkts, refused, ctx);
	}
	for (size_t i = 0; i < n; i++) {
		int f = pkts[i].endpoint.addr.sa.sa_family;
		if (f != AF_INET && f != AF_INET6)
			dropped++;
	}
	return dropped;
}
