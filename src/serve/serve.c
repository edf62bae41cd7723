/* serve.c: `weft serve`, the unprivileged exit server: WireGuard on an
 * ordinary UDP socket (the engine embedded), flows terminated by a stack
 * (stack.h, chosen by probe.c) and relayed to the real destinations from
 * this process (flow.c). One thread, one epoll loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <weft/engine.h>

#include "crypto/crypto.h"
#include "serve/flow.h"
#include "serve/probe.h"
#include "serve/reverse.h"
#include "serve/settings.h"
#include "serve/stack.h"
#include "util/random.h"
#include "weft/commands.h"
#include "weft/options.h"
#include "weft/usage.h"
#include "weftd/log.h"
#include "weftd/udp.h"

#define SERVE_EVENTS 64
#define SERVE_SEND_SLOTS UDP_TX_BATCH
#define SERVE_DELIVER_SLOTS UDP_RX_BATCH
#define SERVE_SEND_MARGIN 4
#define SERVE_PACKET_CAP (65536 + 64)  /* any IP packet plus WireGuard's overhead */

struct server {
	struct serve_settings set;
	struct weft_device *dev;
	struct udp udp;
	struct udp_rx rx;
	struct udp_tx tx;
	struct weft_out out;          /* for weft_receive and weft_tick */
	struct weft_out tx_out;       /* for weft_send of what the flows and stack send */
	struct weft_packet send[SERVE_SEND_SLOTS], deliver[SERVE_DELIVER_SLOTS], tx_send[SERVE_SEND_SLOTS];
	uint8_t *arena;
	struct stack stack;
	struct flows *flows;
	struct reverse *reverse;      /* Expose and SOCKS5; NULL when neither is set */
	int epfd, sigfd;
	struct watch w_udp4, w_udp6, w_stack, w_signal;
	uint64_t engine_deadline_ns, flows_deadline_ms, reverse_deadline_ms;
	bool running;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}

static uint64_t env_now(void *ctx) { return mono_ns(); }

static uint64_t env_wall(void *ctx)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void env_random(void *ctx, uint8_t *buf, size_t len)
{
	if (!random_fill(buf, len)) {
		log_error("getrandom failed: %s", strerror(errno));
		abort(); /* no randomness means no safe keys or nonces */
	}
}

/* ---- sending ---- */

static void src_refused(void *ctx, const struct weft_packet *pkt)
{
	struct server *sv = ctx;
	if (pkt->endpoint.addr.sa.sa_family == AF_INET)
		weft_device_forget_source(sv->dev, AF_INET, &pkt->endpoint.src.in4);
	else
		weft_device_forget_source(sv->dev, AF_INET6, &pkt->endpoint.src.in6);
}

static void send_failed(void *ctx, const struct weft_packet *pkt)
{
	weft_packet_unsent(pkt);
}

static void flush(struct server *sv, struct weft_out *out)
{
	struct udp_send_hooks hooks = { .src_refused = src_refused, .failed = send_failed, .ctx = sv };

	if (out->send_count)
		udp_send_batch(&sv->udp, &sv->tx, out->send, out->send_count, &hooks);
	out->send_count = 0;
}

/* A packet for a peer: from the stack or built by the flows. */
static void to_tunnel(void *ctx, const uint8_t *pkt, size_t len)
{
	struct server *sv = ctx;

	if (sv->tx_out.send_count + SERVE_SEND_MARGIN > sv->tx_out.send_max)
		flush(sv, &sv->tx_out);
	weft_send(sv->dev, pkt, len, &sv->tx_out);
}

static void stack_output(void *ctx, const uint8_t *pkt, size_t len)
{
	to_tunnel(ctx, pkt, len);
}

static void stack_accepted(void *ctx, int fd, const struct sockaddr_storage *src,
			   const struct sockaddr_storage *dst)
{
	struct server *sv = ctx;
	flows_accepted(sv->flows, fd, src, dst);
}

/* ---- receiving ---- */

static void deliver(struct server *sv)
{
	flush(sv, &sv->out); /* handshake answers first */
	for (size_t i = 0; i < sv->out.deliver_count; i++)
		if (!reverse_from_tunnel(sv->reverse, sv->out.deliver[i].data, sv->out.deliver[i].len))
			flows_from_tunnel(sv->flows, sv->out.deliver[i].peer, sv->out.deliver[i].data,
					  sv->out.deliver[i].len);
	sv->out.deliver_count = 0;
}

static void on_udp(struct server *sv, int fd)
{
	int n = udp_recv_batch(fd, &sv->rx);

	if (n < 0) {
		log_verbose("Failed to receive packets: %s", strerror(-n));
		return;
	}
	for (int i = 0; i < n; i++) {
		size_t len = sv->rx.lens[i], step = sv->rx.segment[i] ? sv->rx.segment[i] : len;
		for (size_t off = 0; off < len; off += step) {
			if (sv->out.send_count + SERVE_SEND_MARGIN > sv->out.send_max ||
			    sv->out.deliver_count >= sv->out.deliver_max)
				deliver(sv);
			weft_receive(sv->dev, sv->rx.bufs[i] + off, len - off < step ? len - off : step,
				     &sv->rx.from[i], &sv->out);
		}
	}
	deliver(sv);
}

/* ---- counters ---- */

static void log_counters(struct server *sv)
{
	struct flow_counters c;
	struct stack_stats st = { 0 };
	uint64_t drops = 0;

	flows_counters(sv->flows, &c);
	if (sv->stack.ops && sv->stack.ops->stats)
		sv->stack.ops->stats(&sv->stack, &st);
	for (int i = 0; i < WEFT_DROP_COUNT; i++)
		drops += weft_device_drops(sv->dev, (enum weft_drop)i);
	log_error("Counters: flows tcp=%llu udp=%llu ping=%llu active; opened tcp=%llu udp=%llu ping=%llu; "
		  "refused tcp=%llu udp=%llu; unreachable=%llu; denied=%llu; limited=%llu; "
		  "memory refused=%llu, held=%llu bytes; idle closed=%llu; dropped fragments=%llu "
		  "extension headers=%llu malformed=%llu other protocols=%llu; ping unavailable=%llu; "
		  "bytes up=%llu down=%llu; stack %s: segments in=%llu packets out=%llu accepted=%llu "
		  "dropped=%llu; engine drops=%llu",
		  (unsigned long long)c.tcp_active, (unsigned long long)c.udp_active,
		  (unsigned long long)c.ping_active, (unsigned long long)c.tcp_opened,
		  (unsigned long long)c.udp_opened, (unsigned long long)c.ping_flows,
		  (unsigned long long)c.tcp_refused, (unsigned long long)c.udp_refused,
		  (unsigned long long)c.tcp_unreachable, (unsigned long long)c.denied,
		  (unsigned long long)c.limited, (unsigned long long)c.memory_refused,
		  (unsigned long long)c.memory, (unsigned long long)c.idle_closed,
		  (unsigned long long)c.fragments, (unsigned long long)c.extensions,
		  (unsigned long long)c.malformed, (unsigned long long)c.unsupported,
		  (unsigned long long)c.ping_unavailable, (unsigned long long)c.bytes_up,
		  (unsigned long long)c.bytes_down, sv->stack.ops ? sv->stack.ops->name : "none",
		  (unsigned long long)st.segments_in, (unsigned long long)st.packets_out,
		  (unsigned long long)st.accepted, (unsigned long long)st.dropped,
		  (unsigned long long)drops);
}

static void on_signal(struct server *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			log_counters(sv);
		else
			sv->running = false;
	}
}

/* ---- set-up ---- */

static int watch(struct server *sv, int fd, struct watch *w, enum watch_kind kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	w->kind = kind;
	return fd < 0 ? 0 : epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int add_peers(struct server *sv)
{
	const struct conf *c = &sv->set.conf;

	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct conf_peer *cp = &c->peers[i];
		struct weft_peer *p;
		int err = weft_peer_add(sv->dev, cp->public_key, &p);
		if (err < 0)
			return err;
		if (cp->has_preshared_key)
			weft_peer_set_preshared_key(p, cp->preshared_key);
		for (uint32_t j = 0; j < cp->allowed_ips.n; j++) {
			const struct conf_prefix *ap = &cp->allowed_ips.v[j];
			int ret = weft_peer_allowed_ip_add(p, ap->addr.family, ap->addr.bytes, ap->cidr);
			if (ret < 0)
				return ret;
		}
		if (cp->endpoint.host) {
			struct weft_endpoint ep = { 0 };
			if (inet_pton(AF_INET, cp->endpoint.host, &ep.addr.in4.sin_addr) == 1) {
				ep.addr.in4.sin_family = AF_INET;
				ep.addr.in4.sin_port = htons(cp->endpoint.port);
			} else if (inet_pton(AF_INET6, cp->endpoint.host, &ep.addr.in6.sin6_addr) == 1) {
				ep.addr.in6.sin6_family = AF_INET6;
				ep.addr.in6.sin6_port = htons(cp->endpoint.port);
			} else {
				log_error("Endpoint %s of a peer is not an IP address: left out", cp->endpoint.host);
				continue;
			}
			weft_peer_set_endpoint(p, &ep);
		}
		if (cp->persistent_keepalive)
			weft_peer_set_persistent_keepalive(p, cp->persistent_keepalive);
	}
	return 0;
}

/* Two fds per TCP flow, one per UDP or ping flow and one per listener of
 * the kernel stack: the soft limit goes up to the hard one, and a hard one
 * too low for MaxFlows is said once at start. */
static void raise_fd_limit(const struct serve_settings *set)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * (rlim_t)set->max_flows + 64)
		log_verbose("Open files are limited to %llu (ulimit -n): about %llu TCP flows fit, not MaxFlows = %u",
			  (unsigned long long)rl.rlim_cur, (unsigned long long)(rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 0),
			  set->max_flows);
}

static int server_open(struct server *sv)
{
	struct weft_env env = { .clock = { .now_ns = env_now, .wall_ns = env_wall },
				.random = { .fill = env_random }, .log = { .write = log_engine } };
	struct stack_env senv = { .ctx = sv, .output = stack_output, .accepted = stack_accepted };
	struct flow_env fenv = { .ctx = sv, .to_tunnel = to_tunnel };
	uint16_t port = sv->set.conf.iface.listen_port;
	sigset_t mask;
	int ret;

	sv->epfd = sv->sigfd = -1;
	udp_init(&sv->udp);
	if (crypto_init() < 0) {
		log_error("Crypto initialisation failed");
		return -EIO;
	}
	sv->arena = malloc((size_t)(2 * SERVE_SEND_SLOTS + SERVE_DELIVER_SLOTS) * SERVE_PACKET_CAP);
	if (!sv->arena || udp_rx_init(&sv->rx) < 0)
		return -ENOMEM;
	if ((ret = weft_device_new(&env, &sv->dev)) < 0)
		return ret;
	for (size_t i = 0; i < SERVE_SEND_SLOTS; i++) {
		sv->send[i] = (struct weft_packet){ .data = sv->arena + i * SERVE_PACKET_CAP, .cap = SERVE_PACKET_CAP };
		sv->tx_send[i] = (struct weft_packet){ .data = sv->arena + (SERVE_SEND_SLOTS + i) * SERVE_PACKET_CAP,
						       .cap = SERVE_PACKET_CAP };
	}
	for (size_t i = 0; i < SERVE_DELIVER_SLOTS; i++)
		sv->deliver[i] = (struct weft_packet){
			.data = sv->arena + (2 * SERVE_SEND_SLOTS + i) * SERVE_PACKET_CAP, .cap = SERVE_PACKET_CAP };
	sv->out = (struct weft_out){ .send = sv->send, .send_max = SERVE_SEND_SLOTS,
				     .deliver = sv->deliver, .deliver_max = SERVE_DELIVER_SLOTS };
	sv->tx_out = (struct weft_out){ .send = sv->tx_send, .send_max = SERVE_SEND_SLOTS };
	if ((ret = weft_device_set_private_key(sv->dev, sv->set.conf.iface.private_key)) < 0)
		return ret;
	if (sv->set.conf.iface.has_mtu)
		weft_device_set_mtu(sv->dev, sv->set.conf.iface.mtu);
	if ((ret = add_peers(sv)) < 0) {
		log_error("Adding the peers failed: %s", strerror(-ret));
		return ret;
	}
	if ((ret = udp_open(&sv->udp, port, 0)) < 0) {
		log_error("Cannot listen on UDP port %u: %s", port, strerror(-ret));
		return ret;
	}
	weft_device_set_listen_port(sv->dev, sv->udp.port);
	raise_fd_limit(&sv->set);

	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->epfd < 0)
		return -errno;
	sv->flows = flows_new(&sv->set, &sv->stack, sv->epfd, &fenv);
	if (!sv->flows)
		return -ENOMEM;
	if ((ret = probe_open_stack(sv->set.stack, &sv->stack, &senv)) < 0)
		return ret;
	struct reverse_env renv = { .ctx = sv, .epfd = sv->epfd, .stack = &sv->stack, .flows = sv->flows,
				    .conf = &sv->set.conf, .udp_idle_s = sv->set.udp_idle_s,
				    .to_tunnel = to_tunnel };
	if ((ret = reverse_open(&sv->reverse, &sv->set.reverse, &renv)) < 0)
		return ret;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sv->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sv->sigfd < 0 || watch(sv, sv->udp.fd4, &sv->w_udp4, WATCH_UDP) < 0 ||
	    watch(sv, sv->udp.fd6, &sv->w_udp6, WATCH_UDP) < 0 ||
	    watch(sv, sv->stack.ops->poll_fd(&sv->stack), &sv->w_stack, WATCH_STACK) < 0 ||
	    watch(sv, sv->sigfd, &sv->w_signal, WATCH_SIGNAL) < 0)
		return -errno;
	log_verbose("Listening on UDP port %u with %u peer%s; %s", sv->udp.port, sv->set.conf.n_peers,
		    sv->set.conf.n_peers == 1 ? "" : "s",
		    sv->set.server_loopback ? "240.0.0.0/4 reaches this machine's loopback"
					     : "this machine's loopback is not reachable");
	return 0;
}

static void server_close(struct server *sv)
{
	reverse_free(sv->reverse);
	flows_free(sv->flows);
	if (sv->stack.ops)
		sv->stack.ops->close(&sv->stack);
	if (sv->sigfd >= 0)
		close(sv->sigfd);
	if (sv->epfd >= 0)
		close(sv->epfd);
	udp_close(&sv->udp);
	udp_rx_free(&sv->rx);
	if (sv->dev)
		weft_device_free(sv->dev);
	if (sv->arena) {
		memzero(sv->arena, (size_t)(2 * SERVE_SEND_SLOTS + SERVE_DELIVER_SLOTS) * SERVE_PACKET_CAP);
		free(sv->arena);
	}
	settings_free(&sv->set);
}

static void run(struct server *sv)
{
	struct epoll_event ev[SERVE_EVENTS];

	sv->running = true;
	sv->engine_deadline_ns = 0;
	sv->flows_deadline_ms = 0;
	sv->reverse_deadline_ms = 0;
	while (sv->running) {
		uint64_t now = mono_ns(), now_ms = now / 1000000, wake_ms, sd;
		int timeout, n;

		if (now >= sv->engine_deadline_ns) {
			sv->engine_deadline_ns = weft_tick(sv->dev, &sv->out);
			deliver(sv);
		}
		if (now_ms >= sv->flows_deadline_ms)
			sv->flows_deadline_ms = flows_tick(sv->flows, now_ms);
		if (now_ms >= sv->reverse_deadline_ms)
			sv->reverse_deadline_ms = reverse_tick(sv->reverse, now_ms);
		sd = sv->stack.ops->deadline(&sv->stack);
		if (sd <= now_ms)
			sv->stack.ops->run(&sv->stack, now_ms);
		flush(sv, &sv->tx_out);

		wake_ms = sv->flows_deadline_ms;
		if (sv->reverse_deadline_ms < wake_ms)
			wake_ms = sv->reverse_deadline_ms;
		if (sv->engine_deadline_ns != UINT64_MAX && sv->engine_deadline_ns / 1000000 + 1 < wake_ms)
			wake_ms = sv->engine_deadline_ns / 1000000 + 1;
		if (sd < wake_ms)
			wake_ms = sd;
		timeout = wake_ms <= now_ms ? 0 : wake_ms - now_ms > 60000 ? 60000 : (int)(wake_ms - now_ms);
		n = epoll_wait(sv->epfd, ev, SERVE_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		flows_set_now(sv->flows, mono_ns() / 1000000);
		for (int i = 0; i < n; i++) {
			struct watch *w = ev[i].data.ptr;
			switch (w->kind) {
			case WATCH_UDP:
				on_udp(sv, w == &sv->w_udp4 ? sv->udp.fd4 : sv->udp.fd6);
				break;
			case WATCH_STACK:
				sv->stack.ops->run(&sv->stack, mono_ns() / 1000000);
				break;
			case WATCH_SIGNAL:
				on_signal(sv);
				break;
			case WATCH_REVERSE:
				reverse_event(sv->reverse, w, ev[i].events);
				break;
			default:
				flows_event(sv->flows, w, ev[i].events);
			}
		}
		/* what the events sent may have started a handshake */
		sv->engine_deadline_ns = 0;
		flush(sv, &sv->tx_out);
	}
}

static void serve_usage(FILE *f)
{
	command_usage(f, "serve");
}

int cmd_serve(int argc, char *argv[])
{
	struct server *sv;
	const char *file = NULL, *stack = NULL;
	char err[CONF_ERR_LEN];
	int ret;

	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--stack") && i + 1 < argc)
			stack = argv[++i];
		else if (!strncmp(argv[i], "--stack=", 8))
			stack = argv[i] + 8;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			serve_usage(stdout);
			return 0;
		} else {
			serve_usage(stderr);
			return 1;
		}
	}
	sv = calloc(1, sizeof(*sv));
	if (!sv) {
		fprintf(stderr, "%s serve: out of memory\n", prog_name);
		return 1;
	}
	if ((ret = settings_load(&sv->set, file, err, sizeof(err))) < 0) {
		fprintf(stderr, "%s serve: %s\n", prog_name, err);
		settings_free(&sv->set);
		free(sv);
		return 1;
	}
	if (stack) {
		if (!strcmp(stack, "auto"))
			sv->set.stack = SERVE_STACK_AUTO;
		else if (!strcmp(stack, "kernel"))
			sv->set.stack = SERVE_STACK_KERNEL;
		else if (!strcmp(stack, "lwip"))
			sv->set.stack = SERVE_STACK_LWIP;
		else {
			fprintf(stderr, "%s serve: --stack: expected kernel, lwip or auto, not `%s'\n", prog_name, stack);
			settings_free(&sv->set);
			free(sv);
			return 1;
		}
	}
	/* what a server does is worth seeing: start-up and events by default */
	log_init(getenv("LOG_LEVEL") ? log_level_from_env() : LOG_VERBOSE, "serve");
	ret = server_open(sv);
	if (ret == 0) {
		run(sv);
		log_counters(sv);
		log_verbose("Shutting down");
	}
	server_close(sv);
	free(sv);
	return ret == 0 ? 0 : 1;
}
