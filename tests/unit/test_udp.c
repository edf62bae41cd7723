/* test_udp.c: weftd's UDP sockets (src/weftd/udp.c), over loopback only
 * (127.0.0.1, 127.0.0.2 and ::1 on ephemeral ports): both families bound on
 * one port; the sender and the local address a datagram reached recorded on
 * receive, and that address used as the sticky source on send; GSO batches
 * (mixed sizes, shorter last) received whole with GRO on and with it off;
 * the grouping rules and bounds of a GSO send; the fallback when a sticky
 * source has vanished (the errno each family really gives is probed first:
 * the regression test for ENETUNREACH/ENODEV not being taken as a refusal);
 * a GSO send over the path MTU (no datagram lost silently, no source
 * wrongly forgotten);
 * datagrams too big to send; send errors reported per datagram; and the bind
 * paths (port taken, port 0 retried until both families share it, run in an
 * anonymous network namespace that vanishes with its process).
 *
 * sendmmsg/recvmmsg go through a shim that records what udp.c handed the
 * kernel and can make a call fail: for the errors loopback never gives (EIO
 * from a device without checksum offload, EINTR, EAGAIN, a truncated
 * receive). Datagrams are matched by a tag and a sequence number, not by
 * arrival order, and every wait is a poll with a timeout. */
#include <sys/socket.h>
#include <time.h>

static int shim_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags);
static int shim_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags,
			 struct timespec *timeout);
#define sendmmsg shim_sendmmsg
#define recvmmsg shim_recvmmsg
/* The daemon's files are not in libweft.a: compile them in. */
#include "weftd/udp.c"
#undef sendmmsg
#undef recvmmsg
#include "weftd/log.c"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>

#include "test.h"

#define POLL_MS 2000            /* only a failing test ever waits this long */
#define GOT_MAX 1024            /* datagrams one receive step collects */
#define BATCH_MAX 256           /* datagrams one test sends at once */
#define V4_PAYLOAD_MAX 65507    /* 65535 - 20 (IPv4) - 8 (UDP) */
#define V6_PAYLOAD_MAX 65527    /* 65535 - 8 (UDP; the IPv6 header is not counted) */
#define PORT_RANGE_LOW 40000    /* the namespace's whole ephemeral range in the retry test */

/* ---- the shim ---- */

#define SHIM_RECORD_MAX 2048
static struct {
	/* one entry per message the kernel took, in order */
	size_t msgs;
	size_t iovlen[SHIM_RECORD_MAX];
	size_t bytes[SHIM_RECORD_MAX];
	uint16_t segment[SHIM_RECORD_MAX];  /* UDP_SEGMENT, 0 = none */
	bool pktinfo[SHIM_RECORD_MAX];      /* carried a sticky source */
	const void *lead[SHIM_RECORD_MAX];  /* the first datagram's buffer */
	/* faults */
	int gso_errno;          /* a message with UDP_SEGMENT fails with this (0: never) */
	const void *fail_lead;  /* the message led by this buffer fails .. */
	int fail_errno;         /* .. with this .. */
	unsigned fail_times;    /* .. this many more times */
	unsigned max_vlen;      /* the kernel takes at most this many messages a call (0: all) */
	size_t trunc_len;       /* recvmmsg marks the first datagram this long MSG_TRUNC (0: none) */
} shim;

static void shim_reset(void)
{
	memset(&shim, 0, sizeof(shim));
}

static uint16_t shim_segment(const struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm))
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_SEGMENT) {
			uint16_t s;
			memcpy(&s, CMSG_DATA(cm), sizeof(s));
			return s;
		}
	return 0;
}

static bool shim_pktinfo(const struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm))
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO))
			return true;
	return false;
}

/* The errno message mh is to fail with, 0 for none. */
static int shim_fault(const struct msghdr *mh)
{
	if (shim.gso_errno && shim_segment(mh))
		return shim.gso_errno;
	if (shim.fail_times && mh->msg_iovlen && mh->msg_iov[0].iov_base == shim.fail_lead)
		return shim.fail_errno;
	return 0;
}

static int shim_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags)
{
	unsigned pass = vlen;

	/* Like the kernel: the messages before a failing one go, and the
	 * failure is only reported when it is the first. */
	for (unsigned i = 0; i < vlen; i++) {
		int err = shim_fault(&msgs[i].msg_hdr);
		if (!err)
			continue;
		if (i == 0) {
			if (!(shim.gso_errno && shim_segment(&msgs[0].msg_hdr)))
				shim.fail_times--;
			errno = err;
			return -1;
		}
		pass = i;
		break;
	}
	if (shim.max_vlen && pass > shim.max_vlen)
		pass = shim.max_vlen;
	int r = sendmmsg(fd, msgs, pass, flags);
	for (int k = 0; k < r && shim.msgs < SHIM_RECORD_MAX; k++) {
		const struct msghdr *mh = &msgs[k].msg_hdr;
		size_t bytes = 0;
		for (size_t j = 0; j < mh->msg_iovlen; j++)
			bytes += mh->msg_iov[j].iov_len;
		shim.iovlen[shim.msgs] = mh->msg_iovlen;
		shim.bytes[shim.msgs] = bytes;
		shim.segment[shim.msgs] = shim_segment(mh);
		shim.pktinfo[shim.msgs] = shim_pktinfo(mh);
		shim.lead[shim.msgs] = mh->msg_iovlen ? mh->msg_iov[0].iov_base : NULL;
		shim.msgs++;
	}
	return r;
}

static int shim_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags,
			 struct timespec *timeout)
{
	int r = recvmmsg(fd, msgs, vlen, flags, timeout);

	for (int i = 0; shim.trunc_len && i < r; i++)
		if (msgs[i].msg_len == shim.trunc_len) {
			msgs[i].msg_hdr.msg_flags |= MSG_TRUNC;
			shim.trunc_len = 0;
		}
	return r;
}

/* ---- addresses and plain sockets ---- */

static int lo_ifindex(void)
{
	return (int)if_nametoindex("lo");
}

static struct weft_endpoint endpoint(int family, const char *ip, uint16_t port, const char *src, int src_ifindex)
{
	struct weft_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	if (family == AF_INET) {
		ep.addr.in4.sin_family = AF_INET;
		ep.addr.in4.sin_port = htons(port);
		CHECK(inet_pton(AF_INET, ip, &ep.addr.in4.sin_addr) == 1);
		if (src)
			CHECK(inet_pton(AF_INET, src, &ep.src.in4) == 1);
	} else {
		ep.addr.in6.sin6_family = AF_INET6;
		ep.addr.in6.sin6_port = htons(port);
		CHECK(inet_pton(AF_INET6, ip, &ep.addr.in6.sin6_addr) == 1);
		if (src)
			CHECK(inet_pton(AF_INET6, src, &ep.src.in6) == 1);
	}
	ep.src_ifindex = src_ifindex;
	return ep;
}

/* True if sa (an AF_INET or AF_INET6 address) is ip:port. */
static bool sockaddr_is(const void *sa, int family, const char *ip, uint16_t port)
{
	if (family == AF_INET) {
		struct sockaddr_in a, want;
		memcpy(&a, sa, sizeof(a));
		if (a.sin_family != AF_INET || inet_pton(AF_INET, ip, &want.sin_addr) != 1)
			return false;
		return a.sin_addr.s_addr == want.sin_addr.s_addr && ntohs(a.sin_port) == port;
	}
	struct sockaddr_in6 a, want;
	memcpy(&a, sa, sizeof(a));
	if (a.sin6_family != AF_INET6 || inet_pton(AF_INET6, ip, &want.sin6_addr) != 1)
		return false;
	return !memcmp(&a.sin6_addr, &want.sin6_addr, 16) && ntohs(a.sin6_port) == port;
}

static bool src_is(const struct weft_endpoint *ep, int family, const char *ip)
{
	uint8_t want[16];

	if (inet_pton(family, ip, want) != 1)
		return false;
	return !memcmp(family == AF_INET ? (const void *)&ep->src.in4 : (const void *)&ep->src.in6, want,
		       family == AF_INET ? 4 : 16);
}

/* A plain socket bound to ip:port (0: any), v6-only for IPv6; -1 on error. */
static int plain_socket(int family, const char *ip, uint16_t port, uint16_t *bound)
{
	union { struct sockaddr sa; struct sockaddr_in in4; struct sockaddr_in6 in6; } a;
	socklen_t len = family == AF_INET ? sizeof(a.in4) : sizeof(a.in6);
	int one = 1, fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		if (ip)
			inet_pton(AF_INET, ip, &a.in4.sin_addr);
	} else {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		if (ip)
			inet_pton(AF_INET6, ip, &a.in6.sin6_addr);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, &a.sa, len) < 0 || getsockname(fd, &a.sa, &len) < 0) {
		close(fd);
		return -1;
	}
	if (bound)
		*bound = ntohs(family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
	return fd;
}

static bool address_is_local(int family, const char *ip)
{
	int fd = plain_socket(family, ip, 0, NULL);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* An address of family that no interface here has: a sticky source that
 * has vanished. TEST-NET and documentation prefixes, in case one is
 * configured after all. */
static const char *vanished_address(int family)
{
	static const char *const v4[] = { "192.0.2.1", "198.51.100.1", "203.0.113.1" };
	static const char *const v6[] = { "2001:db8::1", "2001:db8:ffff::1", "3fff::1" };
	const char *const *list = family == AF_INET ? v4 : v6;

	for (size_t i = 0; i < 3; i++)
		if (!address_is_local(family, list[i]))
			return list[i];
	return NULL;
}

/* An interface index nothing has: the interface a v6 source was on is gone. */
static int vanished_ifindex(void)
{
	char name[IF_NAMESIZE];
	int i = 1000;

	while (if_indextoname((unsigned)i, name))
		i++;
	return i;
}

/* mh's one control message: len bytes of data (the buffer zeroed and big enough). */
static void put_cmsg(struct msghdr *mh, int level, int type, const void *data, size_t len)
{
	mh->msg_controllen = CMSG_SPACE(len);
	struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
}

/* What sendmsg says, without udp.c, to a datagram from src (with ifindex)
 * to dst:port: 0 when it was sent, else errno. */
static int probe_source_errno(int family, const char *src, int ifindex, const char *dst, uint16_t port)
{
	struct weft_endpoint ep = endpoint(family, dst, port, NULL, 0);
	union { struct cmsghdr align; uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))]; } ctrl;
	struct iovec iov = { .iov_base = "probe", .iov_len = 5 };
	struct msghdr mh = {
		.msg_name = &ep.addr,
		.msg_namelen = family == AF_INET ? sizeof(ep.addr.in4) : sizeof(ep.addr.in6),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctrl.buf,
	};
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	memset(&ctrl, 0, sizeof(ctrl));
	if (family == AF_INET) {
		struct in_pktinfo pi = { .ipi_ifindex = ifindex };
		inet_pton(AF_INET, src, &pi.ipi_spec_dst);
		put_cmsg(&mh, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = { .ipi6_ifindex = (unsigned)ifindex };
		inet_pton(AF_INET6, src, &pi.ipi6_addr);
		put_cmsg(&mh, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	CHECK(fd >= 0);
	err = sendmsg(fd, &mh, 0) < 0 ? errno : 0;
	close(fd);
	return err;
}

static int sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

/* udp_open with the GSO/GRO environment switches as asked. */
static int open_with(struct udp *u, bool gso, bool gro)
{
	int r;

	if (!gso)
		setenv("WEFT_DISABLE_UDP_GSO", "1", 1);
	if (!gro)
		setenv("WEFT_DISABLE_UDP_GRO", "1", 1);
	r = udp_open(u, 0, 0);
	unsetenv("WEFT_DISABLE_UDP_GSO");
	unsetenv("WEFT_DISABLE_UDP_GRO");
	CHECK_EQ(r, 0);
	return r;
}

static const char *loopback(int family)
{
	return family == AF_INET ? "127.0.0.1" : "::1";
}

static int family_fd(const struct udp *u, int family)
{
	return family == AF_INET ? u->fd4 : u->fd6;
}

/* What most tests send and receive with: a sending udp (GSO as asked), a
 * receiving one (GRO as asked) and the buffers datagrams land in. */
struct pair {
	struct udp tx, rx;
	struct udp_rx *in;
};

static void pair_open(struct pair *p, bool tx_gso, bool rx_gro)
{
	p->in = malloc(sizeof(*p->in));
	CHECK(p->in != NULL && udp_rx_init(p->in) == 0);
	CHECK_EQ(open_with(&p->tx, tx_gso, true), 0);
	CHECK_EQ(open_with(&p->rx, true, rx_gro), 0);
}

static void pair_close(struct pair *p)
{
	udp_close(&p->tx);
	udp_close(&p->rx);
	udp_rx_free(p->in);
	free(p->in);
}

/* ---- batches: datagrams tagged and numbered, so arrival order does not matter ---- */

struct batch {
	size_t n;
	uint32_t tag;
	struct weft_packet pkts[BATCH_MAX];
	bool lost[BATCH_MAX];             /* not expected to arrive */
	const char *from_ip[BATCH_MAX];   /* the source address it should arrive from */
	uint16_t from_port;               /* the sending udp's port */
};

static uint8_t pattern(uint32_t tag, uint32_t seq, size_t i)
{
	return (uint8_t)(tag * 31u + seq * 131u + i * 7u + (i >> 8));
}

/* Datagrams of the given sizes (at least 8 bytes each), all to `to`. */
static struct batch *batch_new(const size_t *lens, size_t n, const struct weft_endpoint *to,
			       const struct udp *from)
{
	struct batch *b = calloc(1, sizeof(*b));

	CHECK(b != NULL && n <= BATCH_MAX);
	b->n = n;
	b->tag = (uint32_t)test_rnd();
	b->from_port = from->port;
	for (size_t s = 0; s < n; s++) {
		struct weft_packet *p = &b->pkts[s];
		uint32_t seq = (uint32_t)s;
		p->data = malloc(lens[s]);
		CHECK(p->data != NULL && lens[s] >= 8);
		p->cap = p->len = lens[s];
		p->endpoint = *to;
		for (size_t i = 0; i < lens[s]; i++)
			p->data[i] = pattern(b->tag, seq, i);
		memcpy(p->data, &b->tag, 4);
		memcpy(p->data + 4, &seq, 4);
		b->from_ip[s] = loopback(to->addr.sa.sa_family);
	}
	return b;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->pkts[i].data);
	free(b);
}

/* What the hooks were told. */
struct hooks_seen {
	const struct batch *b;
	unsigned refused[BATCH_MAX], failed[BATCH_MAX];
	unsigned refused_total, failed_total, stray;
};

/* One report of pkt: counted in total, and in per[] at pkt's place in the
 * batch (a packet from elsewhere is a stray). */
static void hook_count(struct hooks_seen *h, const struct weft_packet *pkt, unsigned *total,
		       unsigned per[BATCH_MAX])
{
	(*total)++;
	if (pkt < h->b->pkts || pkt >= h->b->pkts + h->b->n)
		h->stray++;
	else
		per[pkt - h->b->pkts]++;
}

static void on_refused(void *ctx, const struct weft_packet *pkt)
{
	struct hooks_seen *h = ctx;

	hook_count(h, pkt, &h->refused_total, h->refused);
}

static void on_failed(void *ctx, const struct weft_packet *pkt)
{
	struct hooks_seen *h = ctx;

	hook_count(h, pkt, &h->failed_total, h->failed);
}

static void send_batch(struct udp *u, const struct batch *b, struct hooks_seen *h)
{
	struct udp_tx *tx = calloc(1, sizeof(*tx));
	struct udp_send_hooks hooks = { .src_refused = on_refused, .failed = on_failed, .ctx = h };

	memset(h, 0, sizeof(*h));
	h->b = b;
	CHECK(tx != NULL);
	udp_send_batch(u, tx, b->pkts, b->n, &hooks);
	free(tx);
}

/* What a receiver collected, GRO buffers split into their datagrams. */
struct got {
	size_t n, gro_buffers;
	size_t len[GOT_MAX];
	uint8_t *data[GOT_MAX];
	struct weft_endpoint from[GOT_MAX];
};

static void got_add(struct got *g, const uint8_t *p, size_t len, const struct weft_endpoint *from)
{
	if (g->n == GOT_MAX) {
		CHECK(g->n < GOT_MAX);
		return;
	}
	g->data[g->n] = malloc(len ? len : 1);
	memcpy(g->data[g->n], p, len);
	g->len[g->n] = len;
	g->from[g->n++] = *from;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->data[i]);
	free(g);
}

static void got_take(struct got *g, const struct udp_rx *rx, int k)
{
	for (int i = 0; i < k; i++) {
		size_t seg = rx->segment[i] ? rx->segment[i] : rx->lens[i];
		if (rx->segment[i])
			g->gro_buffers++;
		for (size_t off = 0; off < rx->lens[i]; off += seg)
			got_add(g, rx->bufs[i] + off, rx->lens[i] - off < seg ? rx->lens[i] - off : seg,
				&rx->from[i]);
	}
}

/* Receives on fd until want datagrams are in (or a poll times out), then
 * takes whatever else is already waiting. */
static struct got *receive(int fd, struct udp_rx *rx, size_t want)
{
	struct got *g = calloc(1, sizeof(*g));
	int k;

	CHECK(g != NULL);
	while (g->n < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, POLL_MS) <= 0)
			break; /* the count check says what is missing */
		k = udp_recv_batch(fd, rx);
		CHECK(k >= 0);
		if (k < 0)
			break;
		got_take(g, rx, k);
	}
	while ((k = udp_recv_batch(fd, rx)) > 0)
		got_take(g, rx, k);
	CHECK_EQ(k, 0);
	return g;
}

/* Every datagram of b not marked lost arrived exactly once, whole, from
 * its from_ip and b's port; nothing else arrived. */
static void check_arrived(const struct got *g, const struct batch *b)
{
	unsigned seen[BATCH_MAX] = { 0 };
	size_t expected = 0;

	for (size_t i = 0; i < g->n; i++) {
		uint32_t tag, seq;
		CHECK(g->len[i] >= 8);
		if (g->len[i] < 8)
			continue;
		memcpy(&tag, g->data[i], 4);
		memcpy(&seq, g->data[i] + 4, 4);
		CHECK_EQ(tag, b->tag);
		CHECK(seq < b->n);
		if (tag != b->tag || seq >= b->n)
			continue;
		seen[seq]++;
		CHECK_EQ(g->len[i], b->pkts[seq].len);
		if (g->len[i] == b->pkts[seq].len)
			CHECK_MEM(g->data[i], b->pkts[seq].data, g->len[i]);
		int family = b->pkts[seq].endpoint.addr.sa.sa_family;
		CHECK(sockaddr_is(&g->from[i].addr, family, b->from_ip[seq], b->from_port));
	}
	for (size_t s = 0; s < b->n; s++) {
		expected += !b->lost[s];
		if (seen[s] != !b->lost[s]) {
			fprintf(stderr, "  datagram %zu (%zu bytes) arrived %u times\n", s, b->pkts[s].len, seen[s]);
			CHECK_EQ(seen[s], !b->lost[s]);
		}
	}
	CHECK_EQ(g->n, expected);
}

/* ---- open ---- */

static void test_open_binds_both_families(void)
{
	struct udp u;
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	socklen_t l4 = sizeof(a4), l6 = sizeof(a6);
	struct timeval tv;
	socklen_t tl = sizeof(tv);

	CHECK_EQ(open_with(&u, true, true), 0);
	CHECK(u.port != 0);
	CHECK(u.fd4 >= 0 && u.fd6 >= 0);
	CHECK(udp_is_open(&u));
	CHECK(u.gso); /* UDP_SEGMENT has been in Linux since 4.18 */
	CHECK(getsockname(u.fd4, (struct sockaddr *)&a4, &l4) == 0);
	CHECK(getsockname(u.fd6, (struct sockaddr *)&a6, &l6) == 0);
	CHECK_EQ(a4.sin_family, AF_INET);
	CHECK_EQ(a6.sin6_family, AF_INET6);
	CHECK_EQ(ntohs(a4.sin_port), u.port);
	CHECK_EQ(ntohs(a6.sin6_port), u.port);
	CHECK_EQ(a4.sin_addr.s_addr, htonl(INADDR_ANY));
	CHECK(IN6_IS_ADDR_UNSPECIFIED(&a6.sin6_addr));
	/* the v6 socket leaves IPv4 to the v4 one */
	CHECK_EQ(sockopt_int(u.fd6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	CHECK_EQ(sockopt_int(u.fd4, IPPROTO_IP, IP_PKTINFO), 1);
	CHECK_EQ(sockopt_int(u.fd6, IPPROTO_IPV6, IPV6_RECVPKTINFO), 1);
	CHECK_EQ(sockopt_int(u.fd4, SOL_UDP, UDP_GRO), 1);
	CHECK_EQ(sockopt_int(u.fd6, SOL_UDP, UDP_GRO), 1);
	CHECK(getsockopt(u.fd4, SOL_SOCKET, SO_SNDTIMEO, &tv, &tl) == 0);
	CHECK_EQ((long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, UDP_SEND_TIMEOUT_MS);
	CHECK(fcntl(u.fd4, F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(u.fd6, F_GETFD) & FD_CLOEXEC);
	udp_close(&u);
	CHECK_EQ(u.fd4, -1);
	CHECK_EQ(u.fd6, -1);
	CHECK(!udp_is_open(&u));
	udp_close(&u); /* twice is harmless */

	/* the switches, read when the sockets open */
	CHECK_EQ(open_with(&u, false, false), 0);
	CHECK(!u.gso);
	CHECK_EQ(sockopt_int(u.fd4, SOL_UDP, UDP_GRO), 0);
	CHECK_EQ(sockopt_int(u.fd6, SOL_UDP, UDP_GRO), 0);
	udp_close(&u);
	setenv("WEFT_DISABLE_UDP_GSO", "0", 1); /* "0" means no */
	CHECK_EQ(udp_open(&u, 0, 0), 0);
	unsetenv("WEFT_DISABLE_UDP_GSO");
	CHECK(u.gso);
	udp_close(&u);
}

/* ---- receive: sender and local address; send: that address as the source ---- */

/* u sends one datagram of len bytes to `to`, at the plain socket c: it
 * leaves as one message, carrying a source (pktinfo) or not as `sticky`
 * says, and arrives whole from from_ip at u's port. */
static void send_one(struct udp *u, const struct weft_endpoint *to, size_t len, bool sticky, int c, int family,
		     const char *from_ip)
{
	struct batch *b = batch_new(&len, 1, to, u);
	struct hooks_seen h;
	uint8_t buf[64];
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	struct pollfd p = { .fd = c, .events = POLLIN };

	shim_reset();
	send_batch(u, b, &h);
	CHECK_EQ(h.failed_total + h.refused_total, 0);
	CHECK_EQ(shim.msgs, 1);
	CHECK_EQ(shim.pktinfo[0], sticky);
	CHECK(poll(&p, 1, POLL_MS) == 1);
	CHECK(recvfrom(c, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl) == (ssize_t)len);
	CHECK(!memcmp(buf, b->pkts[0].data, len));
	CHECK(sockaddr_is(&from, family, from_ip, u->port));
	batch_free(b);
}

/* Two clients, sending to two local addresses of family (v4: 127.0.0.2 and
 * 127.0.0.1, so the recorded local address is not just "loopback"). */
static void sticky_round_trip(int family)
{
	const char *dst[2] = { family == AF_INET ? "127.0.0.2" : "::1", loopback(family) };
	struct udp u;
	struct udp_rx *rx = malloc(sizeof(*rx));
	uint16_t cport;
	int c = plain_socket(family, loopback(family), 0, &cport);

	CHECK(rx != NULL && udp_rx_init(rx) == 0);
	CHECK(c >= 0);
	CHECK_EQ(open_with(&u, true, true), 0);
	for (int i = 0; i < 2; i++) {
		struct weft_endpoint to = endpoint(family, dst[i], u.port, NULL, 0);
		char msg[16];
		snprintf(msg, sizeof(msg), "hello %d", i);
		CHECK(sendto(c, msg, strlen(msg), 0, &to.addr.sa,
			     family == AF_INET ? sizeof(to.addr.in4) : sizeof(to.addr.in6)) == (ssize_t)strlen(msg));
	}
	struct got *g = receive(family_fd(&u, family), rx, 2);
	CHECK_EQ(g->n, 2);
	for (size_t i = 0; i < g->n && i < 2; i++) {
		int which = g->len[i] == 7 && !memcmp(g->data[i], "hello 0", 7) ? 0 : 1;
		CHECK(g->len[i] == 7 && !memcmp(g->data[i], which ? "hello 1" : "hello 0", 7));
		CHECK(sockaddr_is(&g->from[i].addr, family, loopback(family), cport));
		CHECK(udp_endpoint_has_src(&g->from[i]));
		CHECK(src_is(&g->from[i], family, dst[which]));
		CHECK_EQ(g->from[i].src_ifindex, lo_ifindex());
		if (!which) /* reply to the first from where it arrived */
			send_one(&u, &g->from[i], 9, true, c, family, dst[0]);
	}
	got_free(g);

	/* without a sticky source the kernel picks one: no pktinfo goes out */
	struct weft_endpoint plain = endpoint(family, loopback(family), cport, NULL, 0);

	CHECK(!udp_endpoint_has_src(&plain));
	send_one(&u, &plain, 12, false, c, family, loopback(family));

	close(c);
	udp_close(&u);
	udp_rx_free(rx);
	free(rx);
}

static void test_sticky_source_v4(void) { sticky_round_trip(AF_INET); }
static void test_sticky_source_v6(void) { sticky_round_trip(AF_INET6); }

/* ---- GSO batches ---- */

/* Runs of one size, each ending in a shorter one, then a lone datagram:
 * four messages, three of them GSO. */
static const size_t mixed_lens[] = {
	1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 700,
	1000, 1000, 1000, 1000, 1000, 1000, 300,
	1400, 1400, 1400, 64,
	1500,
};
static const size_t mixed_runs[] = { 11, 7, 4, 1 };
static const uint16_t mixed_segments[] = { 1200, 1000, 1400, 0 };
#define MIXED_N (sizeof(mixed_lens) / sizeof(mixed_lens[0]))
#define MIXED_RUNS (sizeof(mixed_runs) / sizeof(mixed_runs[0]))

static void gso_batch(int family, bool gso, bool gro)
{
	struct pair p;
	struct hooks_seen h;

	pair_open(&p, gso, gro);
	CHECK_EQ(p.tx.gso, gso);
	CHECK_EQ(sockopt_int(family_fd(&p.rx, family), SOL_UDP, UDP_GRO), gro);

	/* with a sticky source, so pktinfo and UDP_SEGMENT share the control buffer */
	struct weft_endpoint to = endpoint(family, loopback(family), p.rx.port, loopback(family),
					   family == AF_INET ? 0 : lo_ifindex());
	struct batch *b = batch_new(mixed_lens, MIXED_N, &to, &p.tx);
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 0);
	CHECK_EQ(h.refused_total, 0);
	CHECK_EQ(h.stray, 0);
	if (gso) {
		CHECK_EQ(shim.msgs, MIXED_RUNS);
		for (size_t i = 0, at = 0; i < MIXED_RUNS && i < shim.msgs; at += mixed_runs[i++]) {
			CHECK_EQ(shim.iovlen[i], mixed_runs[i]);
			CHECK_EQ(shim.segment[i], mixed_segments[i]);
			CHECK(shim.lead[i] == b->pkts[at].data);
			CHECK(shim.pktinfo[i]);
		}
	} else {
		CHECK_EQ(shim.msgs, MIXED_N);
		for (size_t i = 0; i < shim.msgs; i++) {
			CHECK_EQ(shim.iovlen[i], 1);
			CHECK_EQ(shim.segment[i], 0);
			CHECK(shim.pktinfo[i]);
		}
	}

	struct got *g = receive(family_fd(&p.rx, family), p.in, MIXED_N);
	check_arrived(g, b);
	/* GRO on: each GSO send arrives as one buffer; off: the kernel splits it */
	CHECK_EQ(g->gro_buffers, gso && gro ? MIXED_RUNS - 1 : 0);
	got_free(g);
	batch_free(b);
	pair_close(&p);
}

static void test_gso_to_gro_v4(void) { gso_batch(AF_INET, true, true); }
static void test_gso_to_gro_v6(void) { gso_batch(AF_INET6, true, true); }
static void test_gso_to_no_gro_v4(void) { gso_batch(AF_INET, true, false); }
static void test_gso_to_no_gro_v6(void) { gso_batch(AF_INET6, true, false); }
static void test_no_gso_to_gro_v4(void) { gso_batch(AF_INET, false, true); }
static void test_no_gso_to_gro_v6(void) { gso_batch(AF_INET6, false, true); }

/* n datagrams of len to one place: every GSO send within the segment and
 * byte bounds, one of them at the bound that applies, all arriving. */
static void gso_bounds(int family, size_t n, size_t len)
{
	struct pair p;
	struct hooks_seen h;
	size_t lens[BATCH_MAX], most = 0, iovs = 0;
	size_t bound = UDP_GSO_MAX_BYTES / len < UDP_GSO_MAX_SEGMENTS ? UDP_GSO_MAX_BYTES / len
									 : UDP_GSO_MAX_SEGMENTS;

	pair_open(&p, true, true);
	for (size_t i = 0; i < n; i++)
		lens[i] = len;
	struct weft_endpoint to = endpoint(family, loopback(family), p.rx.port, NULL, 0);
	struct batch *b = batch_new(lens, n, &to, &p.tx);
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total + h.refused_total, 0);
	for (size_t i = 0; i < shim.msgs; i++) {
		CHECK(shim.iovlen[i] <= UDP_GSO_MAX_SEGMENTS);
		CHECK(shim.bytes[i] <= UDP_GSO_MAX_BYTES);
		CHECK(shim.iovlen[i] == 1 || shim.segment[i] == len);
		most = shim.iovlen[i] > most ? shim.iovlen[i] : most;
		iovs += shim.iovlen[i];
	}
	CHECK_EQ(most, bound);
	CHECK_EQ(iovs, n);
	struct got *g = receive(family_fd(&p.rx, family), p.in, n);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);
	pair_close(&p);
}

/* more than UDP_TX_BATCH datagrams, so udp_send_batch splits the call too */
static void test_gso_byte_bound(void) { gso_bounds(AF_INET, 150, 1400); gso_bounds(AF_INET6, 150, 1400); }
static void test_gso_segment_bound(void) { gso_bounds(AF_INET, 200, 100); gso_bounds(AF_INET6, 200, 100); }

/* A run is consecutive datagrams to one destination from one source. */
static void test_gso_runs_need_one_destination(void)
{
	struct pair p; /* p.rx is receiver a */
	struct udp c;
	struct hooks_seen h;
	size_t lens[12];

	pair_open(&p, true, false);
	CHECK_EQ(open_with(&c, true, false), 0);
	for (size_t i = 0; i < 12; i++)
		lens[i] = 500;
	struct weft_endpoint to_a = endpoint(AF_INET, "127.0.0.1", p.rx.port, NULL, 0);
	struct weft_endpoint to_c = endpoint(AF_INET, "127.0.0.1", c.port, NULL, 0);
	struct weft_endpoint to_a_src = endpoint(AF_INET, "127.0.0.1", p.rx.port, "127.0.0.2", 0);
	struct batch *b = batch_new(lens, 12, &to_a, &p.tx);
	/* a c a c | a a a | c c | a(src 127.0.0.2) a(src 127.0.0.2) a */
	static const int dest[12] = { 0, 1, 0, 1, 0, 0, 0, 1, 1, 2, 2, 0 };
	static const size_t runs[] = { 1, 1, 1, 1, 3, 2, 2, 1 };
	for (size_t i = 0; i < 12; i++) {
		b->pkts[i].endpoint = dest[i] == 0 ? to_a : dest[i] == 1 ? to_c : to_a_src;
		b->from_ip[i] = dest[i] == 2 ? "127.0.0.2" : "127.0.0.1";
	}
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total + h.refused_total, 0);
	CHECK_EQ(shim.msgs, sizeof(runs) / sizeof(runs[0]));
	for (size_t i = 0; i < shim.msgs && i < sizeof(runs) / sizeof(runs[0]); i++)
		CHECK_EQ(shim.iovlen[i], runs[i]);

	/* each receiver sees only its own: mark the other's as not expected */
	struct batch *view = calloc(1, sizeof(*view));
	for (int r = 0; r < 2; r++) {
		struct udp *u = r ? &c : &p.rx;
		*view = *b;
		for (size_t i = 0; i < 12; i++)
			view->lost[i] = (dest[i] == 1) != (r == 1);
		struct got *g = receive(u->fd4, p.in, r ? 4 : 8);
		check_arrived(g, view);
		got_free(g);
	}
	free(view);
	batch_free(b);
	udp_close(&c);
	pair_close(&p);
}

/* ---- sizes ---- */

/* The largest datagram of each family arrives whole; one byte more fails
 * on its own, and the datagrams around it still go. */
static void sizes(int family)
{
	struct pair p;
	struct hooks_seen h;
	size_t max = family == AF_INET ? V4_PAYLOAD_MAX : V6_PAYLOAD_MAX;
	size_t lens[] = { 500, max, max + 1, 500, UDP_DATAGRAM_MAX + 1, 8 };

	pair_open(&p, true, true);
	struct weft_endpoint to = endpoint(family, loopback(family), p.rx.port, NULL, 0);
	struct batch *b = batch_new(lens, 6, &to, &p.tx);
	b->lost[2] = b->lost[4] = true;
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 2);
	CHECK_EQ(h.failed[2], 1);
	CHECK_EQ(h.failed[4], 1);
	CHECK_EQ(h.refused_total, 0);
	CHECK(p.tx.gso); /* a datagram that is too big says nothing about GSO */
	struct got *g = receive(family_fd(&p.rx, family), p.in, 4);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);
	pair_close(&p);
}

static void test_max_and_oversize_v4(void) { sizes(AF_INET); }
static void test_max_and_oversize_v6(void) { sizes(AF_INET6); }

/* ---- a sticky source that has vanished ---- */

/* A batch whose first two datagrams (a GSO run) carry the vanished source
 * src/ifindex, the third none and the fourth a valid one (v4: 127.0.0.2):
 * all four arrive, the first two from the kernel's pick; src_refused names
 * only datagrams that carried the vanished source; nothing fails. */
static void vanished_source(int family, const char *src, int ifindex)
{
	struct pair p;
	struct hooks_seen h;
	const char *valid = family == AF_INET ? "127.0.0.2" : "::1";
	int valid_ifindex = family == AF_INET ? 0 : lo_ifindex();

	pair_open(&p, true, true);

	/* What this kernel says, which udp.c must read as a refusal. */
	int err = probe_source_errno(family, src, ifindex, loopback(family), p.rx.port);
	printf("# %s source %s (ifindex %d) refused with %s\n", family == AF_INET ? "IPv4" : "IPv6", src,
	       ifindex, err ? strerrorname_np(err) : "nothing: it was sent");
	CHECK(err != 0);
	CHECK(source_refusal(err));

	/* one datagram alone */
	struct weft_endpoint gone = endpoint(family, loopback(family), p.rx.port, src, ifindex);
	size_t one = 100;
	struct batch *b = batch_new(&one, 1, &gone, &p.tx);
	CHECK(udp_endpoint_has_src(&gone));
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 0);
	CHECK_EQ(h.refused_total, 1);
	CHECK_EQ(h.refused[0], 1);
	CHECK_EQ(shim.msgs, 1);
	CHECK(!shim.pktinfo[0]); /* what left had no source */
	struct got *g = receive(family_fd(&p.rx, family), p.in, 1);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);

	/* a batch mixing it with others */
	size_t lens[] = { 1000, 1000, 1000, 1000 };
	b = batch_new(lens, 4, &gone, &p.tx);
	b->pkts[2].endpoint = endpoint(family, loopback(family), p.rx.port, NULL, 0);
	b->pkts[3].endpoint = endpoint(family, loopback(family), p.rx.port, valid, valid_ifindex);
	b->from_ip[3] = valid;
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 0);
	CHECK_EQ(h.stray, 0);
	CHECK(h.refused[0] == 1);                /* the run: reported by its first datagram */
	CHECK(h.refused[1] <= 1);
	CHECK_EQ(h.refused[2] + h.refused[3], 0); /* never for one without it, or with a good one */
	CHECK_EQ(shim.msgs, 3);
	for (size_t i = 0; i < shim.msgs && i < 3; i++)
		CHECK_EQ(shim.pktinfo[i], i == 2); /* only the valid source was kept */
	g = receive(family_fd(&p.rx, family), p.in, 4);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);
	CHECK(p.tx.gso); /* a refused source says nothing about GSO */

	pair_close(&p);
}

/* IPv4: this kernel says ENETUNREACH (the regression), others EINVAL. */
static void test_vanished_source_v4(void)
{
	const char *src = vanished_address(AF_INET);

	CHECK(src != NULL);
	if (src)
		vanished_source(AF_INET, src, 0);
}

/* IPv6: an address no interface has (EINVAL). */
static void test_vanished_source_v6(void)
{
	const char *src = vanished_address(AF_INET6);

	CHECK(src != NULL);
	if (src)
		vanished_source(AF_INET6, src, 0);
}

/* IPv6: the address is there but its interface is gone (ENODEV). */
static void test_vanished_interface_v6(void)
{
	vanished_source(AF_INET6, "::1", vanished_ifindex());
}

/* A GSO send whose segments exceed the path MTU is refused by the kernel
 * (EMSGSIZE on 6.18, EINVAL on older kernels, which is also the errno of a
 * refused IPv6 source) although each datagram alone would leave, fragmented.
 * udp.c then sends that run's datagrams one by one: all must arrive, none be
 * reported failed, the good sticky source must not be taken for refused, and
 * GSO must stay on for the runs that fit. IPV6_MTU lowers the MTU for this
 * one socket, no root needed. */
static void test_gso_over_path_mtu(void)
{
	struct pair p;
	struct hooks_seen h;
	int mtu = 1280;
	size_t lens[8] = { 1400, 1400, 1400, 1400, 1400, 1400, 1400, 900 };

	pair_open(&p, true, false);
	CHECK(setsockopt(p.tx.fd6, IPPROTO_IPV6, IPV6_MTU, &mtu, sizeof(mtu)) == 0);
	struct weft_endpoint to = endpoint(AF_INET6, "::1", p.rx.port, "::1", lo_ifindex());
	struct batch *b = batch_new(lens, 8, &to, &p.tx);
	shim_reset();
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.refused_total, 0);
	CHECK_EQ(h.stray, 0);
	CHECK_EQ(h.failed_total, 0);
	for (size_t i = 0; i < shim.msgs; i++)
		CHECK(shim.pktinfo[i]); /* the source was kept */
	struct got *g = receive(p.rx.fd6, p.in, 8);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);
	CHECK(p.tx.gso);
	pair_close(&p);
}

/* ---- send errors (through the shim) ---- */

/* A device without checksum offload: EIO on every GSO send. GSO goes off
 * for good and the datagrams leave one by one. */
static void test_gso_eio_falls_back(void)
{
	struct pair p;
	struct hooks_seen h;

	pair_open(&p, true, true);
	for (int round = 0; round < 2; round++) {
		struct weft_endpoint to = endpoint(AF_INET, "127.0.0.1", p.rx.port, "127.0.0.1", 0);
		struct batch *b = batch_new(mixed_lens, MIXED_N, &to, &p.tx);
		shim_reset();
		shim.gso_errno = EIO;
		send_batch(&p.tx, b, &h);
		CHECK(!p.tx.gso);
		CHECK_EQ(h.failed_total + h.refused_total, 0);
		CHECK_EQ(shim.msgs, MIXED_N);
		for (size_t i = 0; i < shim.msgs; i++)
			CHECK_EQ(shim.iovlen[i], 1);
		struct got *g = receive(p.rx.fd4, p.in, MIXED_N);
		check_arrived(g, b);
		got_free(g);
		batch_free(b);
	}
	pair_close(&p);
}

/* EINTR is retried; EAGAIN (the send timeout) fails just the datagrams of
 * that message; a kernel taking one message a call loses nothing. */
static void test_send_errors_per_message(void)
{
	struct pair p;
	struct hooks_seen h;

	pair_open(&p, true, false);
	struct weft_endpoint to = endpoint(AF_INET6, "::1", p.rx.port, NULL, 0);

	/* runs: [0..10] [11..17] [18..21] [22] */
	struct batch *b = batch_new(mixed_lens, MIXED_N, &to, &p.tx);
	shim_reset();
	shim.fail_lead = b->pkts[11].data;
	shim.fail_errno = EINTR;
	shim.fail_times = 1;
	send_batch(&p.tx, b, &h);
	CHECK_EQ(shim.fail_times, 0);
	CHECK_EQ(h.failed_total + h.refused_total, 0);
	struct got *g = receive(p.rx.fd6, p.in, MIXED_N);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);

	b = batch_new(mixed_lens, MIXED_N, &to, &p.tx);
	shim_reset();
	shim.fail_lead = b->pkts[11].data;
	shim.fail_errno = EAGAIN;
	shim.fail_times = 1;
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 7);
	CHECK_EQ(h.refused_total, 0);
	for (size_t i = 0; i < MIXED_N; i++) {
		b->lost[i] = i >= 11 && i <= 17;
		CHECK_EQ(h.failed[i], b->lost[i]);
	}
	CHECK(p.tx.gso);
	g = receive(p.rx.fd6, p.in, MIXED_N - 7);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);

	b = batch_new(mixed_lens, MIXED_N, &to, &p.tx);
	shim_reset();
	shim.max_vlen = 1;
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total + h.refused_total, 0);
	CHECK_EQ(shim.msgs, MIXED_RUNS);
	g = receive(p.rx.fd6, p.in, MIXED_N);
	check_arrived(g, b);
	got_free(g);
	batch_free(b);

	pair_close(&p);
}

/* A family without a socket, and an endpoint of no family, fail once each;
 * the rest of the batch goes. */
static void test_missing_family(void)
{
	struct pair p;
	struct hooks_seen h;
	size_t lens[5] = { 100, 100, 100, 100, 100 };

	pair_open(&p, true, true);
	close(p.tx.fd6);
	p.tx.fd6 = -1;
	CHECK(udp_is_open(&p.tx));
	struct weft_endpoint to4 = endpoint(AF_INET, "127.0.0.1", p.rx.port, NULL, 0);
	struct weft_endpoint to6 = endpoint(AF_INET6, "::1", p.rx.port, NULL, 0);
	struct batch *b = batch_new(lens, 5, &to4, &p.tx);
	b->pkts[1].endpoint = to6;
	b->pkts[3].endpoint = to6;
	memset(&b->pkts[4].endpoint, 0, sizeof(b->pkts[4].endpoint)); /* AF_UNSPEC */
	b->lost[1] = b->lost[3] = b->lost[4] = true;
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 3);
	CHECK_EQ(h.failed[1], 1);
	CHECK_EQ(h.failed[3], 1);
	CHECK_EQ(h.failed[4], 1);
	CHECK_EQ(h.refused_total, 0);
	struct got *g = receive(p.rx.fd4, p.in, 2);
	check_arrived(g, b);
	got_free(g);
	CHECK_EQ(udp_recv_batch(p.rx.fd6, p.in), 0);

	/* closed altogether: everything fails, once */
	udp_close(&p.tx);
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 5);
	for (size_t i = 0; i < 5; i++)
		CHECK_EQ(h.failed[i], 1);
	batch_free(b);
	pair_close(&p); /* closes p.tx again: twice is harmless */
}

/* ---- receive edges ---- */

static void test_receive_edges(void)
{
	struct pair p;
	struct hooks_seen h;
	size_t lens[3] = { 40, 50, 60 };

	pair_open(&p, false, true);
	CHECK_EQ(udp_recv_batch(p.rx.fd4, p.in), 0); /* nothing waiting: no wait */
	CHECK_EQ(udp_recv_batch(-1, p.in), -EBADF);

	/* A truncated datagram is skipped and the batch stays dense: the kept
	 * ones are first, and the buffers are still the arena's, each once. */
	struct weft_endpoint to = endpoint(AF_INET, "127.0.0.1", p.rx.port, NULL, 0);
	struct batch *b = batch_new(lens, 3, &to, &p.tx);
	send_batch(&p.tx, b, &h);
	CHECK_EQ(h.failed_total, 0);
	struct pollfd pfd = { .fd = p.rx.fd4, .events = POLLIN };
	struct got *g = calloc(1, sizeof(*g));
	int k;
	shim.trunc_len = 50;
	while (g->n < 2 && poll(&pfd, 1, POLL_MS) == 1 && (k = udp_recv_batch(p.rx.fd4, p.in)) >= 0)
		got_take(g, p.in, k);
	CHECK_EQ(shim.trunc_len, 0); /* it was seen, and marked */
	CHECK_EQ(udp_recv_batch(p.rx.fd4, p.in), 0);
	b->lost[1] = true;
	check_arrived(g, b);
	got_free(g);
	batch_free(b);
	for (size_t i = 0; i < UDP_RX_BATCH; i++) {
		size_t off = (size_t)(p.in->bufs[i] - (uint8_t *)p.in->arena);
		CHECK(p.in->bufs[i] >= (uint8_t *)p.in->arena && off % UDP_DATAGRAM_MAX == 0 &&
		      off / UDP_DATAGRAM_MAX < UDP_RX_BATCH);
		for (size_t j = 0; j < i; j++)
			CHECK(p.in->bufs[i] != p.in->bufs[j]);
	}

	udp_rx_free(p.in);
	CHECK(p.in->arena == NULL && p.in->bufs[0] == NULL);
	pair_close(&p); /* frees p.in again: twice is harmless */
}

/* ---- bind ---- */

static void test_port_taken(void)
{
	struct udp u, v;
	int fds = test_open_fds();
	uint16_t p;

	CHECK_EQ(open_with(&u, true, true), 0);
	CHECK_EQ(udp_open(&v, u.port, 0), -EADDRINUSE);
	CHECK(!udp_is_open(&v));
	CHECK_EQ(v.fd4, -1);
	CHECK_EQ(v.fd6, -1);
	udp_close(&u);

	/* free on IPv4, taken on IPv6: the IPv4 socket is closed again */
	int s6 = plain_socket(AF_INET6, NULL, 0, &p);
	CHECK(s6 >= 0);
	CHECK_EQ(udp_open(&v, p, 0), -EADDRINUSE);
	CHECK(!udp_is_open(&v));
	int s4 = plain_socket(AF_INET, NULL, p, NULL);
	CHECK(s4 >= 0); /* the port is free on IPv4 again */
	close(s4);
	close(s6);
	CHECK_EQ(test_open_fds(), fds);

	/* and a port asked for by number is the one bound */
	s4 = plain_socket(AF_INET, NULL, 0, &p);
	CHECK(s4 >= 0);
	close(s4);
	int r = udp_open(&v, p, 0);
	CHECK(r == 0 || r == -EADDRINUSE); /* someone may have taken it meanwhile */
	if (r == 0)
		CHECK_EQ(v.port, p);
	udp_close(&v);
	CHECK_EQ(test_open_fds(), fds);
}

static int write_port_range(int low, int high)
{
	char s[32];
	int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_WRONLY | O_CLOEXEC);
	int n = snprintf(s, sizeof(s), "%d %d\n", low, high), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

#define SKIP_STATUS 77

/* In a network namespace of its own (gone when this process exits), with
 * the ephemeral range cut to two ports and the first taken on IPv6 only:
 * port 0 must end on the other, however often the kernel's IPv4 pick lands
 * on the taken one; with one port in the range it cannot, and says so. */
static int port_retry_child(void)
{
	struct udp u;

	if (unshare(CLONE_NEWNET) < 0)
		return errno == EPERM ? SKIP_STATUS : 1;
	CHECK_EQ(write_port_range(PORT_RANGE_LOW, PORT_RANGE_LOW + 1), 0);
	int s6 = plain_socket(AF_INET6, NULL, PORT_RANGE_LOW, NULL);
	CHECK(s6 >= 0);
	for (int i = 0; i < 32; i++) { /* each time a one-in-two chance of a retry */
		CHECK_EQ(udp_open(&u, 0, 0), 0);
		CHECK_EQ(u.port, PORT_RANGE_LOW + 1);
		CHECK(u.fd4 >= 0 && u.fd6 >= 0);
		udp_close(&u);
	}
	CHECK_EQ(write_port_range(PORT_RANGE_LOW, PORT_RANGE_LOW), 0);
	int fds = test_open_fds();
	CHECK_EQ(udp_open(&u, 0, 0), -EADDRINUSE);
	CHECK(!udp_is_open(&u));
	CHECK_EQ(test_open_fds(), fds);
	close(s6);
	return test_failures_in_case ? 1 : 0;
}

static void test_port_zero_retries(void)
{
	int status = 0;

	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(port_retry_child());
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
		SKIP("creating a network namespace needs root");
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static void test_fwmark(void)
{
	struct udp u;
	uint32_t mark = 0x5eed;

	if (geteuid() != 0) { /* SO_MARK needs CAP_NET_ADMIN */
		CHECK_EQ(udp_open(&u, 0, mark), -EPERM);
		CHECK(!udp_is_open(&u));
		return;
	}
	CHECK_EQ(udp_open(&u, 0, mark), 0);
	CHECK_EQ(sockopt_int(u.fd4, SOL_SOCKET, SO_MARK), (int)mark);
	CHECK_EQ(sockopt_int(u.fd6, SOL_SOCKET, SO_MARK), (int)mark);
	CHECK_EQ(udp_set_fwmark(&u, 7), 0);
	CHECK_EQ(sockopt_int(u.fd4, SOL_SOCKET, SO_MARK), 7);
	CHECK_EQ(sockopt_int(u.fd6, SOL_SOCKET, SO_MARK), 7);
	udp_close(&u);
	CHECK_EQ(udp_set_fwmark(&u, 9), 0); /* no sockets: nothing to do */
}

int main(void)
{
	test_suite_name = "udp";
	/* the switches are set per test, never inherited */
	unsetenv("WEFT_DISABLE_UDP_GSO");
	unsetenv("WEFT_DISABLE_UDP_GRO");
	test_seed(0x75647021);
	shim_reset();

	RUN(test_open_binds_both_families);
	RUN(test_sticky_source_v4);
	RUN(test_sticky_source_v6);
	RUN(test_gso_to_gro_v4);
	RUN(test_gso_to_gro_v6);
	RUN(test_gso_to_no_gro_v4);
	RUN(test_gso_to_no_gro_v6);
	RUN(test_no_gso_to_gro_v4);
	RUN(test_no_gso_to_gro_v6);
	RUN(test_gso_byte_bound);
	RUN(test_gso_segment_bound);
	RUN(test_gso_runs_need_one_destination);
	RUN(test_max_and_oversize_v4);
	RUN(test_max_and_oversize_v6);
	RUN(test_vanished_source_v4);
	RUN(test_vanished_source_v6);
	RUN(test_vanished_interface_v6);
	RUN(test_gso_over_path_mtu);
	RUN(test_gso_eio_falls_back);
	RUN(test_send_errors_per_message);
	RUN(test_missing_family);
	RUN(test_receive_edges);
	RUN(test_port_taken);
	RUN(test_port_zero_retries);
	RUN(test_fwmark);
	TEST_EXIT();
}
