/* udp.c: the IPv4 + IPv6 UDP sockets, sticky source, batched I/O (see udp.h). */
#include "weftd/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/env.h"
#include "weftd/log.h"

/* UDP_SEGMENT is there if the kernel knows the option (Linux 4.18). */
static bool gso_supported(int fd)
{
	int size;
	socklen_t len = sizeof(size);
	return !env_flag("WEFT_DISABLE_UDP_GSO") &&
	       getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
}

void udp_init(struct udp *u)
{
	u->fd4 = u->fd6 = -1;
	u->port = 0;
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
	if (r == 0 && !env_flag("WEFT_DISABLE_UDP_GRO"))
		setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)); /* best effort */
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
	u->gso = gso_supported(u->fd4 >= 0 ? u->fd4 : u->fd6);
	return 0;
}

int udp_port_check(uint16_t port)
{
	struct udp u;
	int r = udp_open(&u, port, 0);

	if (r == 0)
		udp_close(&u);
	return r;
}

void udp_close(struct udp *u)
{
	if (u->fd4 >= 0)
		close(u->fd4);
	if (u->fd6 >= 0)
		close(u->fd6);
	u->fd4 = u->fd6 = -1;
}

int udp_set_fwmark(const struct udp *u, uint32_t fwmark)
{
	int fds[2] = { u->fd4, u->fd6 };

	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0 && setsockopt(fds[i], SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
			return -errno;
	return 0;
}

int udp_rx_init(struct udp_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	/* One mapping: its pages become resident only as datagrams use them,
	 * so an idle daemon does not pay for 64 KiB GRO buffers. */
	rx->arena = mmap(NULL, (size_t)UDP_RX_BATCH * UDP_DATAGRAM_MAX, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rx->arena == MAP_FAILED) {
		rx->arena = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < UDP_RX_BATCH; i++)
		rx->bufs[i] = (uint8_t *)rx->arena + i * UDP_DATAGRAM_MAX;
	return 0;
}

void udp_rx_free(struct udp_rx *rx)
{
	if (rx->arena)
		munmap(rx->arena, (size_t)UDP_RX_BATCH * UDP_DATAGRAM_MAX);
	rx->arena = NULL;
	memset(rx->bufs, 0, sizeof(rx->bufs));
}

/* The local address (sticky source) and, with GRO, the datagram size. */
static void read_cmsgs(struct msghdr *mh, struct weft_endpoint *ep, size_t *segment)
{
	*segment = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int size;
			memcpy(&size, CMSG_DATA(cm), sizeof(size));
			*segment = size > 0 ? (size_t)size : 0;
			continue;
		}
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			ep->src.in4 = pi.ipi_spec_dst; /* the local address, as wireguard-go */
			ep->src_ifindex = pi.ipi_ifindex;
			continue;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			ep->src.in6 = pi.ipi6_addr;
			ep->src_ifindex = (int)pi.ipi6_ifindex;
			continue;
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
		size_t segment;
		read_cmsgs(mh, ep, &segment);
		if (kept != i) { /* keep the batch dense: swap buffers */
			uint8_t *t = rx->bufs[kept];
			rx->bufs[kept] = rx->bufs[i];
			rx->bufs[i] = t;
		}
		rx->segment[kept] = segment < rx->msgs[i].msg_len ? segment : 0;
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

static bool same_destination(const struct weft_endpoint *a, const struct weft_endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family || a->src_ifindex != b->src_ifindex)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_port == b->addr.in4.sin_port &&
		       a->addr.in4.sin_addr.s_addr == b->addr.in4.sin_addr.s_addr &&
		       a->src.in4.s_addr == b->src.in4.s_addr;
	return a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
	       a->addr.in6.sin6_scope_id == b->addr.in6.sin6_scope_id &&
	       !memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr, 16) &&
	       !memcmp(&a->src.in6, &b->src.in6, 16);
}

/* Appends a control message; the buffer (UDP_CTRL_LEN) fits the two we use.
 * Its padding is zeroed too: all of msg_controllen goes to the kernel. */
static void add_cmsg(struct msghdr *mh, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *cm = (struct cmsghdr *)((uint8_t *)mh->msg_control + mh->msg_controllen);

	memset(cm, 0, CMSG_SPACE(len));
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	mh->msg_controllen += CMSG_SPACE(len);
}

/* Fills msg i with the datagrams pkts[first .. first + count), of which all
 * but the last have pkts[first].len bytes: one UDP_SEGMENT send when count
 * is above one. with_src adds the sticky source. */
static void build_msg(struct udp_tx *tx, size_t i, const struct weft_packet *pkts, size_t first,
		      size_t count, size_t iov_at, bool with_src)
{
	const struct weft_endpoint *ep = &pkts[first].endpoint;
	struct msghdr *mh = &tx->msgs[i].msg_hdr;
	bool v4 = ep->addr.sa.sa_family == AF_INET;

	for (size_t k = 0; k < count; k++) {
		tx->iov[iov_at + k].iov_base = pkts[first + k].data;
		tx->iov[iov_at + k].iov_len = pkts[first + k].len;
	}
	tx->index[i] = first;
	tx->count[i] = count;
	*mh = (struct msghdr){
		.msg_name = (void *)&ep->addr,
		.msg_namelen = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
		.msg_iov = &tx->iov[iov_at],
		.msg_iovlen = count,
		.msg_control = tx->ctrl[i].buf,
	};
	if (with_src && udp_endpoint_has_src(ep)) {
		if (v4) {
			/* Only the address: the route picks the interface, as the
			 * kernel module does for IPv4. */
			struct in_pktinfo pi = { .ipi_spec_dst = ep->src.in4 };
			add_cmsg(mh, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		} else {
			/* The interface too: link-local sources need it. */
			struct in6_pktinfo pi = { .ipi6_addr = ep->src.in6,
						  .ipi6_ifindex = (unsigned)ep->src_ifindex };
			add_cmsg(mh, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
		}
	}
	if (count > 1) {
		uint16_t segment = (uint16_t)pkts[first].len;
		add_cmsg(mh, SOL_UDP, UDP_SEGMENT, &segment, sizeof(segment));
	}
	if (!mh->msg_controllen)
		mh->msg_control = NULL;
}

/* How the kernel refuses a source address that is gone: EINVAL (IPv6, and
 * IPv4 on some kernels), ENETUNREACH (IPv4 on others, Linux 6.18 among
 * them), EADDRNOTAVAIL, ENODEV (its IPv6 interface is gone). ENETUNREACH
 * also means "no route": only a resend without the source tells them apart. */
static bool source_refusal(int err)
{
	return err == EINVAL || err == ENETUNREACH || err == EADDRNOTAVAIL || err == ENODEV;
}

static bool has_src_cmsg(const struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm))
		if (cm->cmsg_type == IP_PKTINFO || cm->cmsg_type == IPV6_PKTINFO)
			return true;
	return false;
}

static void send_failed(const struct udp_send_hooks *hooks, const struct weft_packet *pkts, size_t n)
{
	for (size_t k = 0; k < n; k++)
		hooks->failed(hooks->ctx, &pkts[k]);
}

/* Sends message i's datagrams one message each, as built (with or without
 * its sticky source), failing only those the kernel refuses. */
static void send_singly(int fd, struct udp_tx *tx, size_t i, const struct weft_packet *pkts,
			const struct udp_send_hooks *hooks)
{
	struct msghdr *mh = &tx->msgs[i].msg_hdr;
	size_t first = tx->index[i], count = tx->count[i], iov_at = (size_t)(mh->msg_iov - tx->iov);
	bool with_src = has_src_cmsg(mh);

	for (size_t k = 0; k < count; k++) {
		ssize_t r;

		build_msg(tx, i, pkts, first + k, 1, iov_at + k, with_src);
		do
			r = sendmsg(fd, mh, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			hooks->failed(hooks->ctx, &pkts[first + k]);
	}
}

/* Sends the batch pkts[todo[0..n)] of one family on fd. */
static void send_family(struct udp *u, int fd, struct udp_tx *tx, const struct weft_packet *pkts,
			const size_t *todo, size_t n, const struct udp_send_hooks *hooks)
{
	size_t pos = 0;

	while (pos < n) {
		/* Build as many messages as fit, grouping GSO runs. */
		size_t msgs = 0, iovs = 0, scan = pos;
		while (scan < n && msgs < UDP_TX_BATCH && iovs < UDP_TX_BATCH) {
			size_t first = todo[scan], count = 1, bytes = pkts[first].len;
			/* A run needs consecutive packets (in pkts) to one place, all
			 * of the first one's size but a shorter last one, not empty:
			 * the kernel makes no segment of nothing. */
			while (u->gso && scan + count < n && iovs + count < UDP_TX_BATCH &&
			       count < UDP_GSO_MAX_SEGMENTS && todo[scan + count] == first + count &&
			       pkts[first + count - 1].len == pkts[first].len &&
			       pkts[first + count].len <= pkts[first].len && pkts[first + count].len &&
			       bytes + pkts[first + count].len <= UDP_GSO_MAX_BYTES &&
			       same_destination(&pkts[first].endpoint, &pkts[first + count].endpoint)) {
				bytes += pkts[first + count].len;
				count++;
			}
			build_msg(tx, msgs, pkts, first, count, iovs, true);
			msgs++;
			iovs += count;
			scan += count;
		}

		/* Send them; a GSO failure breaks out to build the rest again.
		 * unsourced: the message resent without its sticky source; once
		 * it leaves, the source was what the kernel refused. */
		size_t unsourced = SIZE_MAX;
		for (size_t i = 0; i < msgs;) {
			int r = sendmmsg(fd, &tx->msgs[i], (unsigned)(msgs - i), 0);
			if (r > 0) {
				for (int k = 0; k < r; k++, i++) {
					if (i == unsourced)
						hooks->src_refused(hooks->ctx, &pkts[tx->index[i]]);
					pos += tx->count[i];
				}
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			int err = r < 0 ? errno : EIO;
			struct msghdr *mh = &tx->msgs[i].msg_hdr;
			if (source_refusal(err) && has_src_cmsg(mh)) {
				build_msg(tx, i, pkts, tx->index[i], tx->count[i],
					  (size_t)(mh->msg_iov - tx->iov), false);
				unsourced = i;
				continue;
			}
			if (tx->count[i] > 1 && (err == EIO || err == ENOPROTOOPT)) {
				/* This path cannot segment (no checksum offload on
				 * the way out): never try again, resend one by one. */
				log_verbose("UDP GSO failed (%s): disabled", strerror(err));
				u->gso = false;
				break;
			}
			if (tx->count[i] > 1 && (err == EMSGSIZE || err == EINVAL)) {
				/* Segments longer than the path MTU allows (EMSGSIZE;
				 * EINVAL before Linux 6.x): alone, each is fragmented
				 * like any datagram. GSO stays on for the others. */
				size_t count = tx->count[i];
				send_singly(fd, tx, i, pkts, hooks);
				pos += count;
				i++;
				continue;
			}
			send_failed(hooks, &pkts[tx->index[i]], tx->count[i]);
			pos += tx->count[i];
			i++;
		}
	}
}

void udp_send_batch(struct udp *u, struct udp_tx *tx, const struct weft_packet *pkts, size_t n,
		    const struct udp_send_hooks *hooks)
{
	size_t todo[UDP_TX_BATCH];

	/* Per family, in order; the two sockets are independent queues. */
	for (int pass = 0; pass < 2; pass++) {
		int family = pass ? AF_INET6 : AF_INET;
		int fd = pass ? u->fd6 : u->fd4;
		size_t count = 0;
		for (size_t i = 0; i < n; i++) {
			int f = pkts[i].endpoint.addr.sa.sa_family;
			/* the IPv6 pass also fails what neither socket can send */
			if (f != family && (family == AF_INET || f == AF_INET))
				continue;
			if (f != family || fd < 0) {
				send_failed(hooks, &pkts[i], 1);
				continue;
			}
			todo[count++] = i;
			if (count == UDP_TX_BATCH) {
				send_family(u, fd, tx, pkts, todo, count, hooks);
				count = 0;
			}
		}
		if (count)
			send_family(u, fd, tx, pkts, todo, count, hooks);
	}
}
