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

#include "serve/server.h"
#include "serve/packet.h"
#include "util/encoding.h"

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

char serve_role_server;

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

/* A plaintext packet for the relay device. */
static void relay_send(struct server *sv, const uint8_t *pkt, size_t len)
{
	if (sv->io.tx.send_count + SERVE_SEND_MARGIN > sv->io.tx.send_max)
		flush(sv, &sv->io.tx);
	weft_send(sv->dev, pkt, len, &sv->io.tx);
}

/* The e2e device's datagrams go into the relay layer: IPv6/UDP from this
 * server's relay address and e2e port to the client's relay address. */
static void flush_e2e(struct server *sv, struct weft_out *out)
{
	for (size_t i = 0; i < out->send_count; i++) {
		const struct weft_packet *d = &out->send[i];
		size_t n;
		if (d->endpoint.addr.sa.sa_family != AF_INET6) {
			sv->cc.dropped++;
			continue;
		}
		n = pkt_build_udp(sv->wrap, SERVE_PACKET_CAP, AF_INET6, sv->self.relay, sv->self.e2e_port,
				  (const uint8_t *)&d->endpoint.addr.in6.sin6_addr,
				  ntohs(d->endpoint.addr.in6.sin6_port), d->data, d->len);
		if (!n) {
			sv->cc.dropped++;
			continue;
		}
		sv->cc.e2e_out++;
		relay_send(sv, sv->wrap, n);
	}
	out->send_count = 0;
}

/* A packet for a peer: from the stack or built by the flows. It goes to
 * the e2e device when one of its peers has the destination. */
static void to_tunnel(void *ctx, const uint8_t *pkt, size_t len)
{
	struct server *sv = ctx;

	if (sv->e2e && len >= 20) {
		int family = (pkt[0] >> 4) == 6 ? AF_INET6 : AF_INET;
		const uint8_t *dst = family == AF_INET6 ? pkt + 24 : pkt + 16;
		if ((family == AF_INET || len >= 40) && weft_peer_for_address(sv->e2e, family, dst)) {
			if (sv->e2e_io.tx.send_count + SERVE_SEND_MARGIN > sv->e2e_io.tx.send_max)
				flush_e2e(sv, &sv->e2e_io.tx);
			weft_send(sv->e2e, pkt, len, &sv->e2e_io.tx);
			return;
		}
	}
	relay_send(sv, pkt, len);
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

/* Reverse connections may go to any peer's address, of either layer and
 * added at any time. */
static bool routable(void *ctx, int family, const uint8_t *addr)
{
	struct server *sv = ctx;
	return weft_peer_for_address(sv->dev, family, addr) || (sv->e2e && weft_peer_for_address(sv->e2e, family, addr));
}

static int local_connect(void *ctx, uint16_t port)
{
	struct server *sv = ctx;
	return api_connect(sv->api, port);
}

/* ---- receiving ---- */

/* A packet for the flows (exit or API), or for the reverse direction. */
static void to_flows(struct server *sv, const void *peer, const uint8_t *pkt, size_t len)
{
	if (!reverse_from_tunnel(sv->reverse, pkt, len))
		flows_from_tunnel(sv->flows, peer, pkt, len);
}

/* What the e2e device decrypted: every peer of it is a client. */
static void e2e_deliver(struct server *sv)
{
	flush_e2e(sv, &sv->e2e_io.out);
	for (size_t i = 0; i < sv->e2e_io.out.deliver_count; i++)
		to_flows(sv, sv->e2e_io.out.deliver[i].peer, sv->e2e_io.out.deliver[i].data,
			 sv->e2e_io.out.deliver[i].len);
	sv->e2e_io.out.deliver_count = 0;
}

/* An e2e datagram that came through the relay layer. */
static void e2e_input(struct server *sv, const uint8_t *data, size_t len, const uint8_t src[16], uint16_t sport)
{
	struct weft_endpoint from = { 0 };

	if (!sv->e2e) {
		sv->cc.dropped++;
		return;
	}
	from.addr.in6.sin6_family = AF_INET6;
	memcpy(&from.addr.in6.sin6_addr, src, 16);
	from.addr.in6.sin6_port = htons(sport);
	memcpy(&from.src.in6, sv->self.relay, 16);
	if (sv->e2e_io.out.send_count + SERVE_SEND_MARGIN > sv->e2e_io.out.send_max ||
	    sv->e2e_io.out.deliver_count >= sv->e2e_io.out.deliver_max)
		e2e_deliver(sv);
	sv->cc.e2e_in++;
	weft_receive(sv->e2e, data, len, &from, &sv->e2e_io.out);
	e2e_deliver(sv);
}

/* A packet the relay device decrypted, from peer. */
static void relay_packet(struct server *sv, struct weft_peer *peer, uint8_t *pkt, size_t len)
{
	bool from_client = weft_peer_user(peer) != &serve_role_server;
	const uint8_t *payload;
	size_t payload_len;
	uint8_t src[16];
	uint16_t sport;
	struct weft_peer *to;

	if (!sv->self.has_relay && !sv->self.has_api) {
		to_flows(sv, peer, pkt, len); /* a single tunnel, as ever */
		return;
	}
	switch (chain_classify(&sv->self, from_client, pkt, len, &payload, &payload_len, src, &sport)) {
	case CHAIN_E2E:
		e2e_input(sv, payload, payload_len, src, sport);
		break;
	case CHAIN_API:
	case CHAIN_EXIT:
		to_flows(sv, peer, pkt, len);
		break;
	case CHAIN_RELAYED:
		to = weft_peer_for_address(sv->dev, AF_INET6, pkt + 24);
		if (!to || to == peer || !chain_forward_hop(pkt, len)) {
			sv->cc.dropped++;
			break;
		}
		sv->cc.forwarded++;
		sv->cc.forwarded_bytes += len;
		relay_send(sv, pkt, len);
		break;
	case CHAIN_DROP:
		sv->cc.dropped++;
		break;
	}
}

static void deliver(struct server *sv)
{
	flush(sv, &sv->io.out); /* handshake answers first */
	for (size_t i = 0; i < sv->io.out.deliver_count; i++)
		relay_packet(sv, sv->io.out.deliver[i].peer, sv->io.out.deliver[i].data, sv->io.out.deliver[i].len);
	sv->io.out.deliver_count = 0;
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
			if (sv->io.out.send_count + SERVE_SEND_MARGIN > sv->io.out.send_max ||
			    sv->io.out.deliver_count >= sv->io.out.deliver_max)
				deliver(sv);
			weft_receive(sv->dev, sv->rx.bufs[i] + off, len - off < step ? len - off : step,
				     &sv->rx.from[i], &sv->io.out);
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
		  "dropped=%llu; engine drops=%llu; relay forwarded=%llu (%llu bytes) dropped=%llu; "
		  "e2e in=%llu out=%llu; api requests=%llu",
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
		  (unsigned long long)drops, (unsigned long long)sv->cc.forwarded,
		  (unsigned long long)sv->cc.forwarded_bytes, (unsigned long long)sv->cc.dropped,
		  (unsigned long long)sv->cc.e2e_in, (unsigned long long)sv->cc.e2e_out,
		  (unsigned long long)api_requests(sv->api));
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

static bool make_endpoint(const char *host, uint16_t port, struct weft_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (inet_pton(AF_INET, host, &ep->addr.in4.sin_addr) == 1) {
		ep->addr.in4.sin_family = AF_INET;
		ep->addr.in4.sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &ep->addr.in6.sin6_addr) == 1) {
		ep->addr.in6.sin6_family = AF_INET6;
		ep->addr.in6.sin6_port = htons(port);
	} else {
		return false;
	}
	return true;
}

int server_peer_apply(struct server *sv, struct weft_device *dev, const uint8_t key[32], bool is_server,
		      const struct conf_prefix *ips, uint32_t n_ips, const char *endpoint, bool has_keepalive,
		      uint16_t keepalive)
{
	struct weft_endpoint ep;
	struct weft_peer *p;
	int ret;

	if (endpoint && *endpoint) {
		struct conf_endpoint ce = { 0 };
		bool ok = conf_endpoint_parse(&ce, endpoint) && make_endpoint(ce.host, ce.port, &ep);
		free(ce.host);
		if (!ok)
			return -EINVAL;
	}
	if ((ret = weft_peer_add(dev, key, &p)) < 0)
		return ret;
	if (dev == sv->dev)
		weft_peer_set_user(p, is_server ? &serve_role_server : NULL);
	for (uint32_t j = 0; j < n_ips; j++)
		if ((ret = weft_peer_allowed_ip_add(p, ips[j].addr.family, ips[j].addr.bytes, ips[j].cidr)) < 0)
			return ret;
	if (endpoint && *endpoint)
		weft_peer_set_endpoint(p, &ep);
	if (has_keepalive)
		weft_peer_set_persistent_keepalive(p, keepalive);
	return 0;
}

int server_save_state(struct server *sv)
{
	int ret;

	if (!sv->set.chain.state_path)
		return -ENOENT;
	if ((ret = state_save(&sv->state, sv->set.chain.state_path)) < 0)
		log_error("Cannot write the state file %s: %s", sv->set.chain.state_path, strerror(-ret));
	return ret;
}

static int add_conf_peers(struct server *sv, struct weft_device *dev, const struct conf *c)
{
	for (uint32_t i = 0; i < c->n_peers; i++) {
		const struct conf_peer *cp = &c->peers[i];
		char ep[CONF_ENDPOINT_STRLEN] = "";
		struct weft_peer *p;
		int ret;

		if (cp->endpoint.host) {
			struct weft_endpoint tmp;
			if (!make_endpoint(cp->endpoint.host, cp->endpoint.port, &tmp))
				log_error("Endpoint %s of a peer is not an IP address: left out", cp->endpoint.host);
			else
				conf_endpoint_format(ep, sizeof(ep), &cp->endpoint);
		}
		ret = server_peer_apply(sv, dev, cp->public_key, dev == sv->dev && settings_is_server(&sv->set, cp->public_key),
					cp->allowed_ips.v, cp->allowed_ips.n, ep, cp->persistent_keepalive != 0,
					cp->persistent_keepalive);
		if (ret < 0)
			return ret;
		if (cp->has_preshared_key && (p = weft_peer_lookup(dev, cp->public_key)))
			weft_peer_set_preshared_key(p, cp->preshared_key);
	}
	return 0;
}

/* The run-time changes of an earlier run, from the state file. */
static int load_state(struct server *sv)
{
	struct serve_settings st;
	char err[CONF_ERR_LEN];
	int ret = settings_load_state(&st, sv->set.chain.state_path, err, sizeof(err));

	if (ret == -ENOENT) {
		settings_free(&st);
		return 0;
	}
	if (ret < 0) {
		log_error("%s", err);
		settings_free(&st);
		return ret;
	}
	ret = state_from_settings(&sv->state, &st);
	settings_free(&st);
	if (ret < 0)
		return ret;
	if (sv->state.has_e2e_key && sv->set.chain.e2e.iface.has_private_key) {
		/* the config's own key wins; the made one is forgotten */
		memzero(sv->state.e2e_key, 32);
		sv->state.has_e2e_key = false;
	}
	for (unsigned i = 0, kept = 0, n = sv->state.n_expose; i < n; i++) {
		struct reverse_settings *rs = &sv->set.reverse;
		bool known, dup = false;
		const char *what;
		/* one the config now has too is the config's: opened once, and
		 * no longer a run-time rule */
		for (unsigned j = 0; j < rs->n_expose && !dup; j++) {
			char text[160];
			state_expose_text(&rs->expose[j], text, sizeof(text));
			dup = !strcmp(text, sv->state.expose[i]);
		}
		if (dup || rs->n_expose >= REVERSE_MAX_EXPOSE) {
			sv->state.n_expose--;
			continue;
		}
		if ((what = reverse_setting(rs, "Expose", sv->state.expose[i], &known))) {
			log_error("%s: Expose %s: expected %s", sv->set.chain.state_path, sv->state.expose[i], what);
			sv->state.n_expose--;
			continue;
		}
		if (kept != i)
			memcpy(sv->state.expose[kept], sv->state.expose[i], sizeof(sv->state.expose[0]));
		kept++;
	}
	if (sv->state.has_routes) {
		sv->set.chain.routes.n = 0;
		for (uint32_t i = 0; i < sv->state.routes.n; i++)
			conf_prefix_list_add(&sv->set.chain.routes, &sv->state.routes.v[i]);
		sv->set.chain.has_routes = true;
	}
	log_verbose("State from %s: %u peer record%s, %u Expose rule%s", sv->set.chain.state_path,
		    sv->state.n_peers, sv->state.n_peers == 1 ? "" : "s", sv->state.n_expose,
		    sv->state.n_expose == 1 ? "" : "s");
	return 0;
}

/* The state's peers onto the devices (after the config's). */
static int apply_state_peers(struct server *sv)
{
	for (uint32_t i = 0; i < sv->state.n_peers; i++) {
		struct state_peer *sp = &sv->state.peers[i];
		bool e2e = sp->layer == STATE_E2E;
		struct weft_device *dev = e2e ? sv->e2e : sv->dev;
		const struct conf *c = e2e ? &sv->set.chain.e2e : &sv->set.conf;
		int ret;

		if (!dev) {
			log_error("The state file names an end-to-end peer, but there is no RelayAddress: left out");
			continue;
		}
		sp->added = !conf_peer_find(c, sp->key);
		ret = server_peer_apply(sv, dev, sp->key, sp->layer == STATE_RELAY_SERVER, sp->allowed_ips.v,
					sp->allowed_ips.n, sp->endpoint, sp->has_keepalive, sp->keepalive);
		if (ret < 0) {
			char b64[WEFT_KEY_B64_LEN + 1];
			key_to_base64(b64, sp->key);
			log_error("Peer %s of the state file %s cannot be added (%s): left out", b64,
				  sv->set.chain.state_path, strerror(-ret));
		}
	}
	return 0;
}

static int io_init(struct dev_io *io)
{
	io->arena = malloc((size_t)(2 * SERVE_SEND_SLOTS + SERVE_DELIVER_SLOTS) * SERVE_PACKET_CAP);
	if (!io->arena)
		return -ENOMEM;
	for (size_t i = 0; i < SERVE_SEND_SLOTS; i++) {
		io->send[i] = (struct weft_packet){ .data = io->arena + i * SERVE_PACKET_CAP, .cap = SERVE_PACKET_CAP };
		io->tx_send[i] = (struct weft_packet){ .data = io->arena + (SERVE_SEND_SLOTS + i) * SERVE_PACKET_CAP,
						       .cap = SERVE_PACKET_CAP };
	}
	for (size_t i = 0; i < SERVE_DELIVER_SLOTS; i++)
		io->deliver[i] = (struct weft_packet){
			.data = io->arena + (2 * SERVE_SEND_SLOTS + i) * SERVE_PACKET_CAP, .cap = SERVE_PACKET_CAP };
	io->out = (struct weft_out){ .send = io->send, .send_max = SERVE_SEND_SLOTS,
				     .deliver = io->deliver, .deliver_max = SERVE_DELIVER_SLOTS };
	io->tx = (struct weft_out){ .send = io->tx_send, .send_max = SERVE_SEND_SLOTS };
	return 0;
}

static void io_free(struct dev_io *io)
{
	if (io->arena) {
		memzero(io->arena, (size_t)(2 * SERVE_SEND_SLOTS + SERVE_DELIVER_SLOTS) * SERVE_PACKET_CAP);
		free(io->arena);
	}
	io->arena = NULL;
}

/* The end-to-end layer: its device and key (the config's, the state's, or
 * one made now and saved). */
static int e2e_open(struct server *sv, const struct weft_env *env)
{
	struct serve_chain *c = &sv->set.chain;
	uint8_t pub[32];
	char b64[WEFT_KEY_B64_LEN + 1];
	int ret;

	if ((ret = io_init(&sv->e2e_io)) < 0 || !(sv->wrap = malloc(SERVE_PACKET_CAP)))
		return ret < 0 ? ret : -ENOMEM;
	if ((ret = weft_device_new(env, &sv->e2e)) < 0)
		return ret;
	if (!c->e2e.iface.has_private_key && !sv->state.has_e2e_key) {
		uint8_t rnd[32];
		env_random(NULL, rnd, sizeof(rnd));
		x25519_generate_private(sv->state.e2e_key, rnd);
		memzero(rnd, sizeof(rnd));
		sv->state.has_e2e_key = true;
		if ((ret = server_save_state(sv)) < 0 && ret != -ENOENT)
			return ret;
		log_verbose("Made an end-to-end key%s", sv->set.chain.state_path ? ", kept in the state file" :
			    " (no state file: it changes at every start)");
	}
	ret = weft_device_set_private_key(sv->e2e, c->e2e.iface.has_private_key ? c->e2e.iface.private_key
										 : sv->state.e2e_key);
	if (ret < 0)
		return ret;
	weft_device_set_mtu(sv->e2e, (sv->set.conf.iface.has_mtu ? sv->set.conf.iface.mtu : SERVE_RELAY_MTU) -
					     SERVE_E2E_OVERHEAD);
	weft_device_set_listen_port(sv->e2e, sv->self.e2e_port);
	if ((ret = add_conf_peers(sv, sv->e2e, &c->e2e)) < 0)
		return ret;
	weft_device_public_key(sv->e2e, pub);
	key_to_base64(b64, pub);
	{
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, sv->self.relay, a, sizeof(a));
		log_verbose("Relay address %s; end-to-end layer on port %u with key %s and %zu peer%s", a,
			    sv->self.e2e_port, b64, weft_peer_count(sv->e2e), weft_peer_count(sv->e2e) == 1 ? "" : "s");
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
	struct serve_chain *c = &sv->set.chain;
	uint16_t port = sv->set.conf.iface.listen_port;
	sigset_t mask;
	int ret;

	sv->epfd = sv->sigfd = -1;
	udp_init(&sv->udp);
	if (crypto_init() < 0) {
		log_error("Crypto initialisation failed");
		return -EIO;
	}
	sv->self = (struct chain_self){ .has_relay = c->has_relay_address, .has_api = c->has_api,
					.relay_prefix = c->relay_prefix, .e2e_port = c->e2e.iface.listen_port };
	memcpy(sv->self.relay, c->relay_address, 16);
	memcpy(sv->self.api, c->api_address, 16);
	if ((ret = io_init(&sv->io)) < 0 || udp_rx_init(&sv->rx) < 0)
		return -ENOMEM;
	if ((ret = weft_device_new(&env, &sv->dev)) < 0)
		return ret;
	if ((ret = weft_device_set_private_key(sv->dev, sv->set.conf.iface.private_key)) < 0)
		return ret;
	if (sv->set.conf.iface.has_mtu)
		weft_device_set_mtu(sv->dev, sv->set.conf.iface.mtu);
	if ((ret = add_conf_peers(sv, sv->dev, &sv->set.conf)) < 0) {
		log_error("Adding the peers failed: %s", strerror(-ret));
		return ret;
	}
	if (c->state_path && (c->has_relay_address || c->has_api) && (ret = load_state(sv)) < 0)
		return ret;
	if (c->has_relay_address && (ret = e2e_open(sv, &env)) < 0) {
		log_error("The end-to-end layer cannot start: %s", strerror(-ret));
		return ret;
	}
	if ((ret = apply_state_peers(sv)) < 0)
		return ret;
	if ((ret = udp_open(&sv->udp, port, 0)) < 0) {
		log_error("Cannot listen on UDP port %u: %s", port, strerror(-ret));
		return ret;
	}
	weft_device_set_listen_port(sv->dev, sv->udp.port);
	raise_fd_limit(&sv->set);

	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->epfd < 0)
		return -errno;
	if (c->has_api) {
		if (!(sv->api = api_new(sv->epfd, api_routes, sv)))
			return -ENOMEM;
		fenv.has_local = true;
		fenv.local_family = AF_INET6;
		memcpy(fenv.local, c->api_address, 16);
		fenv.local_connect = local_connect;
	}
	sv->flows = flows_new(&sv->set, &sv->stack, sv->epfd, &fenv);
	if (!sv->flows)
		return -ENOMEM;
	if ((ret = probe_open_stack(sv->set.stack, &sv->stack, &senv)) < 0)
		return ret;
	struct reverse_env renv = { .ctx = sv, .epfd = sv->epfd, .stack = &sv->stack, .flows = sv->flows,
				    .conf = &sv->set.conf, .udp_idle_s = sv->set.udp_idle_s,
				    .to_tunnel = to_tunnel, .always = c->has_api, .routable = routable };
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
	log_verbose("Listening on UDP port %u with %zu peer%s; %s", sv->udp.port, weft_peer_count(sv->dev),
		    weft_peer_count(sv->dev) == 1 ? "" : "s",
		    sv->set.server_loopback ? "240.0.0.0/4 reaches this machine's loopback"
					     : "this machine's loopback is not reachable");
	if (c->has_api) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, c->api_address, a, sizeof(a));
		log_verbose("API on http://[%s]:%u/ for clients, inside the tunnel only", a, API_PORT);
	}
	return 0;
}

static void server_close(struct server *sv)
{
	api_free(sv->api);
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
	if (sv->e2e)
		weft_device_free(sv->e2e);
	io_free(&sv->io);
	io_free(&sv->e2e_io);
	if (sv->wrap) {
		memzero(sv->wrap, SERVE_PACKET_CAP);
		free(sv->wrap);
	}
	state_free(&sv->state);
	settings_free(&sv->set);
}

static void run(struct server *sv)
{
	struct epoll_event ev[SERVE_EVENTS];

	sv->running = true;
	sv->engine_deadline_ns = 0;
	sv->e2e_deadline_ns = 0;
	sv->flows_deadline_ms = 0;
	sv->reverse_deadline_ms = 0;
	while (sv->running) {
		uint64_t now = mono_ns(), now_ms = now / 1000000, wake_ms, sd, api_ms;
		int timeout, n;

		if (now >= sv->engine_deadline_ns) {
			sv->engine_deadline_ns = weft_tick(sv->dev, &sv->io.out);
			deliver(sv);
		}
		if (sv->e2e && now >= sv->e2e_deadline_ns) {
			sv->e2e_deadline_ns = weft_tick(sv->e2e, &sv->e2e_io.out);
			e2e_deliver(sv);
		}
		if (now_ms >= sv->flows_deadline_ms)
			sv->flows_deadline_ms = flows_tick(sv->flows, now_ms);
		if (now_ms >= sv->reverse_deadline_ms)
			sv->reverse_deadline_ms = reverse_tick(sv->reverse, now_ms);
		api_ms = api_tick(sv->api, now_ms);
		sd = sv->stack.ops->deadline(&sv->stack);
		if (sd <= now_ms)
			sv->stack.ops->run(&sv->stack, now_ms);
		flush_e2e(sv, &sv->e2e_io.tx);
		flush(sv, &sv->io.tx);

		wake_ms = sv->flows_deadline_ms;
		if (sv->reverse_deadline_ms < wake_ms)
			wake_ms = sv->reverse_deadline_ms;
		if (api_ms < wake_ms)
			wake_ms = api_ms;
		if (sv->engine_deadline_ns != UINT64_MAX && sv->engine_deadline_ns / 1000000 + 1 < wake_ms)
			wake_ms = sv->engine_deadline_ns / 1000000 + 1;
		if (sv->e2e && sv->e2e_deadline_ns != UINT64_MAX && sv->e2e_deadline_ns / 1000000 + 1 < wake_ms)
			wake_ms = sv->e2e_deadline_ns / 1000000 + 1;
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
			case WATCH_API:
				api_event(sv->api, w, ev[i].events);
				break;
			default:
				flows_event(sv->flows, w, ev[i].events);
			}
		}
		/* what the events sent may have started a handshake */
		sv->engine_deadline_ns = 0;
		sv->e2e_deadline_ns = 0;
		flush_e2e(sv, &sv->e2e_io.tx);
		flush(sv, &sv->io.tx);
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
