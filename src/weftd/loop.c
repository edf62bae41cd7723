/* loop.c: the epoll loop that moves packets between the TUN device, the UDP
 * sockets and the engine, and serves the control plane (see loop.h). */
#include "weftd/loop.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/env.h"
#include "util/random.h"
#include "weftd/handshake_rate.h"
#include "weftd/log.h"
#include "weftd/workers.h"

#define NSEC_PER_SEC UINT64_C(1000000000)
#define NSEC_PER_MSEC UINT64_C(1000000)
#define LOOP_MAX_EVENTS 16

enum source {
	SRC_TUN = 1,
	SRC_UDP4,
	SRC_UDP6,
	SRC_UAPI,
	SRC_NETLINK,
	SRC_TIMER,
	SRC_HOUSEKEEPING,
	SRC_SIGNAL,
};

static void service_engine(struct loop *l);
static size_t handshake_backlog(struct loop *l);

/* ---- engine environment ---- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The engine asks for the time several times per packet; reading the clock
 * once per wake-up (dispatch() refreshes it) is enough, since a batch takes
 * microseconds and the protocol's timers count in seconds. Each loop keeps
 * its own reading: the environment's contexts point to the loop, so nothing
 * here is process-wide. */
static uint64_t refresh_now(struct loop *l)
{
	return l->now = clock_ns(CLOCK_MONOTONIC);
}

static uint64_t env_now(void *ctx)
{
	struct loop *l = ctx;

	return l->now ? l->now : refresh_now(l);
}

static uint64_t env_wall(void *ctx)
{
	(void)ctx;
	return clock_ns(CLOCK_REALTIME);
}

static void env_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	if (!random_fill(buf, len)) {
		/* No randomness means no safe keys or nonces: stop. */
		log_error("getrandom failed: %s", strerror(errno));
		abort();
	}
}

void loop_env(struct weft_env *env, struct loop *l)
{
	*env = (struct weft_env){
		.clock = { .now_ns = env_now, .wall_ns = env_wall, .ctx = l },
		.random = { .fill = env_random },
		.log = { .write = log_engine },
		/* The helper threads are started by loop_init (after the fork:
		 * threads do not survive it); until then batches run inline. */
		.parallel = { .run = workers_run, .ctx = &l->workers },
	};
}

/* ---- epoll helpers ---- */

static int watch(struct loop *l, int fd, enum source src)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = src };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void arm_timer(struct loop *l, uint64_t deadline)
{
	struct itimerspec its = { 0 };

	if (deadline == l->armed_deadline)
		return;
	if (deadline != UINT64_MAX) {
		if (deadline == 0)
			deadline = 1; /* a zero it_value would disarm */
		its.it_value.tv_sec = (time_t)(deadline / NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(deadline % NSEC_PER_SEC);
	}
	if (timerfd_settime(l->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		l->armed_deadline = deadline;
}

/* ---- UDP sockets: open while the link is up, as wireguard-go and the
 * kernel module do ----
 *
 * The device reports a listen port only if it is true: while up, the port
 * the sockets hold (none if the bind failed); while down, the port asked for,
 * which was free when it was set (a set checks it, so `wg setconf` with a
 * taken port fails at once instead of at `ip link set up`). */

static void close_sockets(struct loop *l)
{
	udp_close(&l->udp); /* closing also removes them from the epoll set */
}

static int open_sockets(struct loop *l, uint16_t port)
{
	struct udp fresh;
	int r = udp_open(&fresh, port, weft_device_fwmark(l->dev));

	if (r < 0)
		return r;
	if ((fresh.fd4 >= 0 && (r = watch(l, fresh.fd4, SRC_UDP4)) < 0) ||
	    (fresh.fd6 >= 0 && (r = watch(l, fresh.fd6, SRC_UDP6)) < 0)) {
		udp_close(&fresh);
		return r;
	}
	close_sockets(l);
	l->udp = fresh;
	/* a port the kernel picked is kept for the next up, as wireguard-go */
	l->port = fresh.port;
	weft_device_set_listen_port(l->dev, fresh.port);
	log_verbose("UDP bind has been updated");
	return 0;
}

static int hook_listen_port(void *ctx, uint16_t port)
{
	struct loop *l = ctx;
	int r;

	if (!l->up) {
		if (port && (r = udp_port_check(port)) < 0)
			return r;
		l->port = port;
		weft_device_set_listen_port(l->dev, port);
		return 0;
	}
	if (udp_is_open(&l->udp) && port && port == l->udp.port)
		return 0;
	return open_sockets(l, port); /* the old sockets stay if the new port is taken */
}

static int hook_fwmark(void *ctx, uint32_t fwmark)
{
	struct loop *l = ctx;

	return udp_set_fwmark(&l->udp, fwmark); /* no sockets yet: they open with it */
}

/* ---- sticky sources ---- */

/* The sticky source's address bytes (4 or 16, by the endpoint's family). */
static const void *src_addr(const struct weft_endpoint *ep)
{
	return ep->addr.sa.sa_family == AF_INET ? (const void *)&ep->src.in4 : (const void *)&ep->src.in6;
}

static void on_addr_deleted(void *ctx, int family, const void *addr)
{
	struct loop *l = ctx;
	size_t n = weft_device_forget_source(l->dev, family, addr);

	if (n)
		log_verbose("Local address gone: cleared the sticky source of %zu peer(s)", n);
}

#define LOOP_ADDR_MAX 1024

struct addr_list {
	size_t count;
	bool overflow;
	struct { int family; uint8_t addr[16]; } a[LOOP_ADDR_MAX];
};

static void collect_addr(void *ctx, int family, const void *addr)
{
	struct addr_list *list = ctx;

	if (list->count == LOOP_ADDR_MAX) {
		list->overflow = true;
		return;
	}
	list->a[list->count].family = family;
	memcpy(list->a[list->count].addr, addr, family == AF_INET ? 4 : 16);
	list->count++;
}

static bool addr_listed(const struct addr_list *list, int family, const void *addr)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->a[i].family == family && !memcmp(list->a[i].addr, addr, family == AF_INET ? 4 : 16))
			return true;
	return false;
}

/* Every sticky source that is no longer a local address is forgotten, as if
 * its deletion had been seen. */
static void forget_unlisted_sources(struct loop *l, const struct addr_list *list)
{
	struct weft_peer_info info;

	for (struct weft_peer *p = weft_peer_first(l->dev); p; p = weft_peer_next(l->dev, p)) {
		weft_peer_get_info(p, &info);
		int family = info.endpoint.addr.sa.sa_family;
		if (info.has_endpoint && udp_endpoint_has_src(&info.endpoint) &&
		    !addr_listed(list, family, src_addr(&info.endpoint)))
			on_addr_deleted(l, family, src_addr(&info.endpoint));
		memzero(&info, sizeof(info));
	}
}

static void on_link(void *ctx, bool up, unsigned mtu);

/* The kernel dropped netlink events: compare with the current state. */
static void on_lost_events(void *ctx)
{
	struct loop *l = ctx;
	struct addr_list *list = calloc(1, sizeof(*list));
	bool up;
	unsigned mtu;

	log_verbose("Netlink events were lost: re-reading link and addresses");
	if (l->nl.ifindex && nl_link_state(l->nl.ifindex, &up, &mtu) == 0)
		on_link(l, up, mtu);
	if (list && nl_addr_dump(collect_addr, list) == 0 && !list->overflow)
		forget_unlisted_sources(l, list);
	free(list);
}

/* A datagram's sticky source was refused: the address is gone (or no
 * longer routable), for every peer that answers from it. */
static void on_src_refused(void *ctx, const struct weft_packet *pkt)
{
	on_addr_deleted(ctx, pkt->endpoint.addr.sa.sa_family, src_addr(&pkt->endpoint));
}

/* ---- link events ---- */

static void on_link(void *ctx, bool up, unsigned mtu)
{
	struct loop *l = ctx;

	if (mtu && mtu != l->mtu) {
		l->mtu = mtu;
		weft_device_set_mtu(l->dev, mtu);
		log_verbose("MTU updated: %u", mtu);
	}
	if (up == l->up)
		return;
	log_verbose("Interface state was %s, requested %s, now %s", l->up ? "Up" : "Down",
		    up ? "Up" : "Down", up ? "Up" : "Down");
	l->up = up;
	weft_device_set_up(l->dev, up);
	if (up) {
		int r = open_sockets(l, l->port);
		if (r < 0) {
			/* no socket: no port to report; the next up tries again */
			weft_device_set_listen_port(l->dev, 0);
			if (l->port)
				log_error("Unable to update bind: listen port %u: %s", l->port, strerror(-r));
			else
				log_error("Unable to update bind: %s", strerror(-r));
		}
	} else {
		close_sockets(l);
		weft_device_set_listen_port(l->dev, l->port);
	}
	service_engine(l);
}

/* A TUN call's result: -EBADFD says the interface was deleted, which ends
 * the daemon. */
static bool tun_gone(struct loop *l, int r)
{
	if (r != -EBADFD)
		return false;
	if (l->running)
		log_verbose("Interface deleted");
	l->running = false;
	return true;
}

static void on_link_deleted(void *ctx)
{
	struct loop *l = ctx;

	/* A move to another network namespace also says "deleted" here; the
	 * TUN fd knows whether the interface is really gone. */
	if (tun_gone(l, tun_attached(l->tun)))
		return;
	/* Moved (the container set-up: created here, used there). Its events
	 * are no longer visible from this namespace, and its ifindex may be
	 * reused here, so stop listening for it and treat it as up: the
	 * sockets stay in this namespace, where they were bound. */
	log_verbose("Interface moved to another network namespace; treating it as up");
	l->nl.ifindex = 0;
	on_link(l, true, 0);
}

/* ---- data path ---- */

static void on_send_failed(void *ctx, const struct weft_packet *pkt)
{
	(void)ctx;
	weft_packet_unsent(pkt);
}

static int write_tun(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct loop *l = ctx;
	int r = tun_writev(l->tun, iov, iovcnt);

	tun_gone(l, r);
	/* -EIO: the link is down; other errors drop just this packet */
	return r;
}

/* Writes the decrypted packets to the TUN device: coalesced into
 * super-packets when it takes vnet headers (and GRO is on), one write per
 * packet else. */
static void deliver(struct loop *l)
{
	static const struct virtio_net_hdr plain; /* no offload: a zero header */
	size_t n = l->out.deliver_count;

	l->out.deliver_count = 0;
	if (l->gro_enabled) {
		_Static_assert(LOOP_DELIVER_SLOTS <= OFFLOAD_GRO_MAX_PKTS, "a batch fits one GRO flush");
		for (size_t i = 0; i < n; i++)
			offload_gro_add(l->gro, l->deliver[i].data, l->deliver[i].len);
		offload_gro_flush(l->gro, write_tun, l);
		return;
	}
	for (size_t i = 0; i < n && l->running; i++) {
		struct iovec iov[2] = { { (void *)&plain, sizeof(plain) },
					{ l->deliver[i].data, l->deliver[i].len } };
		int skip = !l->tun->vnet_hdr;
		write_tun(l, iov + skip, 2 - skip);
	}
}

static void flush(struct loop *l)
{
	if (l->out.send_count) {
		/* a datagram that cannot be sent is lost like any UDP datagram,
		 * and not counted as sent */
		const struct udp_send_hooks hooks = {
			.src_refused = on_src_refused, .failed = on_send_failed, .ctx = l,
		};
		udp_send_batch(&l->udp, &l->tx, l->out.send, l->out.send_count, &hooks);
		l->out.send_count = 0;
	}
	if (l->out.deliver_count)
		deliver(l);
}

/* The data path runs in engine batches, one per wake-up, so that their
 * crypto can be spread over threads. */
static void batch_begin(struct loop *l)
{
	weft_batch_begin(l->dev, &l->out);
}

static void batch_end(struct loop *l)
{
	weft_batch_end(l->dev);
	flush(l);
}

/* Before each engine call in a batch: room for what it may add, a datagram
 * to send and a few handshake messages (the margin), and the packet a
 * receive may deliver. weft_out_room counts the slots the batch's queued
 * work has taken, which out's counts show only when it ends. */
static void make_room(struct loop *l)
{
	size_t sends, delivers;

	weft_out_room(l->dev, &l->out, &sends, &delivers);
	if (sends < LOOP_SEND_MARGIN || delivers < WEFT_CALL_MAX_DELIVERS) {
		batch_end(l);
		batch_begin(l);
	}
}

/* Runs due timers and queued work, then sleeps until the next deadline.
 * While the link is down the engine is left alone, its work queued: there
 * is no socket to send from, and a handshake that a configuration asked for
 * before `ip link set up` (persistent keepalive) goes out the moment the
 * link comes up instead of being lost to a 5 s retry, as wireguard-go and
 * the kernel module start peers on up. */
static void service_engine(struct loop *l)
{
	uint64_t deadline = UINT64_MAX, now;

	if (!l->up) {
		arm_timer(l, UINT64_MAX);
		return;
	}
	for (int round = 0; round < LOOP_TICK_ROUNDS; round++) {
		deadline = weft_tick(l->dev, &l->out);
		bool produced = l->out.send_count || l->out.deliver_count;
		flush(l);
		now = refresh_now(l);
		if (deadline > now)
			break;
		/* Queued handshakes get one budget per wake-up: the timer fires
		 * again at once, after whatever else is waiting (a ping). */
		if (handshake_backlog(l))
			break;
		if (!produced) { /* due but idle: do not spin on it */
			deadline = now + NSEC_PER_MSEC;
			break;
		}
	}
	arm_timer(l, deadline);
}

static size_t handshake_backlog(struct loop *l)
{
	struct weft_device_stats st;

	weft_device_get_stats(l->dev, &st);
	return st.handshake_backlog;
}

static void send_plain(struct loop *l, const uint8_t *pkt, size_t len)
{
	make_room(l);
	weft_send(l->dev, pkt, len, &l->out);
}

/* One read behind a vnet header: a plain packet, one whose checksum is ours
 * to finish, or a TSO/USO super-packet to cut into MTU-sized packets. */
static void send_offloaded(struct loop *l, uint8_t *buf, size_t len)
{
	struct virtio_net_hdr hdr;
	uint8_t *pkt = buf + sizeof(hdr);

	if (len < sizeof(hdr))
		return;
	memcpy(&hdr, buf, sizeof(hdr));
	len -= sizeof(hdr);
	if (hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (offload_csum_inplace(&hdr, pkt, len) < 0)
			return;
		send_plain(l, pkt, len);
		return;
	}
	for (size_t first = 0;;) {
		int n = offload_split_from(&hdr, pkt, len, first, l->split_buf, LOOP_SPLIT_CAP,
					   l->split_off, l->split_len, LOOP_SPLIT_SEGS);
		if (n <= 0) {
			if (n < 0)
				log_verbose("Dropping a malformed offloaded packet from the TUN device");
			return;
		}
		for (int i = 0; i < n; i++)
			send_plain(l, l->split_buf + l->split_off[i], l->split_len[i]);
		first += (size_t)n;
	}
}

static void on_tun(struct loop *l)
{
	int n = tun_read_batch(l->tun, l->tun_bufs, LOOP_PACKET_CAP, l->tun_lens, LOOP_TUN_BATCH);

	if (tun_gone(l, n))
		return;
	if (n < 0) {
		log_error("Failed to read packet from TUN device: %s", strerror(-n));
		return;
	}
	batch_begin(l);
	for (int i = 0; i < n; i++) {
		if (l->tun->vnet_hdr)
			send_offloaded(l, l->tun_bufs[i], l->tun_lens[i]);
		else
			send_plain(l, l->tun_bufs[i], l->tun_lens[i]);
	}
	batch_end(l);
	service_engine(l);
}

static void on_udp(struct loop *l, int fd)
{
	int n = udp_recv_batch(fd, &l->rx);

	if (n < 0) {
		log_verbose("Failed to receive packets: %s", strerror(-n));
		return;
	}
	batch_begin(l);
	for (int i = 0; i < n; i++) {
		/* A GRO buffer holds several datagrams of one size (the last may
		 * be shorter), all from the same sender. */
		size_t len = l->rx.lens[i], step = l->rx.segment[i] ? l->rx.segment[i] : len;
		for (size_t off = 0; off < len; off += step) {
			make_room(l);
			weft_receive(l->dev, l->rx.bufs[i] + off, len - off < step ? len - off : step,
				     &l->rx.from[i], &l->out);
		}
	}
	batch_end(l);
	service_engine(l);
}

/* ---- control ---- */

/* Once a second, when verbose and something moved: what handshakes cost,
 * so a flood's effect can be read from the log. */
static void log_handshake_stats(struct loop *l)
{
	struct weft_device_stats st;

	if (log_level() < LOG_VERBOSE)
		return;
	weft_device_get_stats(l->dev, &st);
	if (st.x25519 == l->logged_stats.x25519 && st.cookie_replies == l->logged_stats.cookie_replies &&
	    st.handshake_backlog == l->logged_stats.handshake_backlog)
		return;
	log_verbose("Handshake stats: x25519=%" PRIu64 " cookie_replies=%" PRIu64 " queued=%" PRIu64
		    " backlog=%zu under_load_periods=%" PRIu64 " bad_mac2=%" PRIu64 " rate_limited=%" PRIu64
		    " backlog_dropped=%" PRIu64,
		    st.x25519, st.cookie_replies, st.handshakes_queued, st.handshake_backlog,
		    st.under_load_periods, weft_device_drops(l->dev, WEFT_DROP_BAD_MAC2),
		    weft_device_drops(l->dev, WEFT_DROP_RATE_LIMITED),
		    weft_device_drops(l->dev, WEFT_DROP_HANDSHAKE_BACKLOG));
	l->logged_stats = st;
}

static void on_housekeeping(struct loop *l)
{
	uint64_t expirations;

	if (read(l->housekeeping_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	if (uapi_server_socket_gone(l->uapi)) {
		log_verbose("UAPI socket file was removed");
		l->running = false;
	}
	tun_gone(l, tun_attached(l->tun));
	log_handshake_stats(l);
	uapi_server_expire(l->uapi, l->dev, &l->hooks, env_now(l));
}

static void on_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	if (read(l->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		log_verbose("Received signal %u", si.ssi_signo);
	l->running = false;
}

static void dispatch(struct loop *l, uint32_t src)
{
	refresh_now(l);
	uint64_t expirations;

	switch (src) {
	case SRC_TUN:
		on_tun(l);
		break;
	case SRC_UDP4:
		if (l->udp.fd4 >= 0)
			on_udp(l, l->udp.fd4);
		break;
	case SRC_UDP6:
		if (l->udp.fd6 >= 0)
			on_udp(l, l->udp.fd6);
		break;
	case SRC_UAPI:
		if (uapi_server_process(l->uapi, l->dev, &l->hooks, env_now(l)))
			service_engine(l); /* a set may have queued keepalives or handshakes */
		break;
	case SRC_NETLINK: {
		int r = nl_watch_process(&l->nl);
		if (r < 0)
			log_error("Failed to receive netlink message: %s", strerror(-r));
		break;
	}
	case SRC_TIMER:
		if (read(l->timerfd, &expirations, sizeof(expirations)) < 0) {
			/* EAGAIN: the timer was re-armed since it fired */
		}
		l->armed_deadline = 0; /* fired: re-arm whatever comes next */
		service_engine(l);
		break;
	case SRC_HOUSEKEEPING:
		on_housekeeping(l);
		break;
	case SRC_SIGNAL:
		on_signal(l);
		break;
	}
}

/* ---- setup ---- */

/* Every data-path buffer, in one mapping whose pages become resident only
 * once used: 64 KiB slots cost nothing until a super-packet needs them, and
 * an idle daemon stays small. */
_Static_assert(LOOP_PACKET_CAP >= OFFLOAD_READ_MAX, "a TUN read fits a packet slot");

static size_t arena_size(void)
{
	return (size_t)(LOOP_SEND_SLOTS + LOOP_DELIVER_SLOTS + LOOP_TUN_BATCH) * LOOP_PACKET_CAP +
	       LOOP_SPLIT_CAP + sizeof(struct offload_gro);
}

static int alloc_buffers(struct loop *l)
{
	int r = udp_rx_init(&l->rx);

	if (r < 0)
		return r;
	l->arena = mmap(NULL, arena_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l->arena == MAP_FAILED) {
		l->arena = NULL;
		return -ENOMEM;
	}
	uint8_t *next = l->arena;
	for (size_t i = 0; i < LOOP_SEND_SLOTS; i++, next += LOOP_PACKET_CAP)
		l->send[i] = (struct weft_packet){ .data = next, .cap = LOOP_PACKET_CAP };
	for (size_t i = 0; i < LOOP_DELIVER_SLOTS; i++, next += LOOP_PACKET_CAP)
		l->deliver[i] = (struct weft_packet){ .data = next, .cap = LOOP_PACKET_CAP };
	for (size_t i = 0; i < LOOP_TUN_BATCH; i++, next += LOOP_PACKET_CAP)
		l->tun_bufs[i] = next;
	l->split_buf = next;
	next += LOOP_SPLIT_CAP;
	l->gro = (struct offload_gro *)next; /* 8-byte aligned: the sizes above are */
	offload_gro_init(l->gro);
	l->gro_enabled = l->tun->vnet_hdr && !env_flag("WEFT_DISABLE_TUN_GRO");
	l->out = (struct weft_out){
		.send = l->send, .send_max = LOOP_SEND_SLOTS,
		.deliver = l->deliver, .deliver_max = LOOP_DELIVER_SLOTS,
	};
	return 0;
}

int loop_init(struct loop *l, struct weft_device *dev, struct tun *tun, struct uapi_server *uapi)
{
	struct nl_events ev = {
		.link = on_link, .link_deleted = on_link_deleted,
		.addr_deleted = on_addr_deleted, .lost_events = on_lost_events, .ctx = l,
	};
	struct itimerspec every_second = {
		.it_interval = { .tv_sec = (time_t)(LOOP_HOUSEKEEPING_NS / NSEC_PER_SEC) },
		.it_value = { .tv_sec = (time_t)(LOOP_HOUSEKEEPING_NS / NSEC_PER_SEC) },
	};
	sigset_t sigs;
	bool up = false;
	unsigned mtu = 0;
	int r;

	memset(l, 0, sizeof(*l));
	l->dev = dev;
	l->tun = tun;
	l->uapi = uapi;
	l->hooks = (struct uapi_hooks){ .set_listen_port = hook_listen_port, .set_fwmark = hook_fwmark, .ctx = l };
	l->epfd = l->timerfd = l->housekeeping_fd = l->signal_fd = -1;
	l->armed_deadline = UINT64_MAX;
	udp_init(&l->udp);
	weft_device_set_handshake_rate(dev, handshake_rate());

	if ((r = alloc_buffers(l)) < 0)
		return r;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->housekeeping_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	l->signal_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->epfd < 0 || l->timerfd < 0 || l->housekeeping_fd < 0 || l->signal_fd < 0)
		return -errno;
	if (timerfd_settime(l->housekeeping_fd, 0, &every_second, NULL) < 0)
		return -errno;
	if ((r = nl_watch_open(&l->nl, tun->ifindex, &ev)) < 0)
		return r;

	if ((r = watch(l, tun->fd, SRC_TUN)) < 0 || (r = watch(l, uapi_server_fd(uapi), SRC_UAPI)) < 0 ||
	    (r = watch(l, nl_watch_fd(&l->nl), SRC_NETLINK)) < 0 ||
	    (r = watch(l, l->timerfd, SRC_TIMER)) < 0 ||
	    (r = watch(l, l->housekeeping_fd, SRC_HOUSEKEEPING)) < 0 ||
	    (r = watch(l, l->signal_fd, SRC_SIGNAL)) < 0)
		return r;

	/* Start from the link as it is now (an adopted TUN may already be up). */
	if (nl_link_state(tun->ifindex, &up, &mtu) < 0 && tun_get_mtu(tun, &mtu) < 0)
		mtu = TUN_DEFAULT_MTU;
	if (!mtu)
		mtu = TUN_DEFAULT_MTU;
	on_link(l, up, mtu);
	if ((r = workers_start(&l->workers, workers_wanted())) < 0)
		log_error("Crypto helper threads: %s; encrypting on one thread", strerror(-r));
	else if (l->workers.count)
		log_verbose("Crypto spread over %d threads", l->workers.count + 1);
	return 0;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];

	l->running = true;
	service_engine(l);
	while (l->running) {
		int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n && l->running; i++)
			dispatch(l, evs[i].data.u32);
	}
	return 0;
}

void loop_free(struct loop *l)
{
	workers_stop(&l->workers);
	close_sockets(l);
	nl_watch_close(&l->nl);
	udp_rx_free(&l->rx);
	if (l->arena)
		munmap(l->arena, arena_size()); /* packets only: no key material */
	int fds[] = { l->epfd, l->timerfd, l->housekeeping_fd, l->signal_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	memset(l, 0, sizeof(*l));
}
