/* loop.c: `weft link`'s I/O loop (daemon.h): one epoll over the netlink
 * socket, the coord socket, the STUN raw socket while a request is out and
 * a signalfd; the device read on a timer. Every input goes to the core,
 * every action the core returns is carried out here. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "link/daemon.h"
#include "link/device_io.h"
#include "link/log.h"
#include "link/managed.h"
#include "link/status.h"
#include "util/encoding.h"
#include "weft/device.h"

#define LINK_MAX_ACTIONS 64

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall time minus monotonic time: the device's handshake times are wall
 * clock, the core's monotonic. */
static int64_t wall_offset(void)
{
	return clock_ms(CLOCK_REALTIME) - clock_ms(CLOCK_MONOTONIC);
}

/* "host:port" or "host" (the default port), names resolved once. */
static int resolve_coord(union link_addr *out, const char *s, char *err, size_t errlen)
{
	struct conf_endpoint e = { 0 };
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	char port[8];
	int ret;

	if (!conf_endpoint_parse(&e, s)) {
		/* a host alone ("[v6]" too): the protocol's port */
		size_t n = strlen(s);
		bool bracketed = n > 2 && s[0] == '[' && s[n - 1] == ']';

		e.host = bracketed ? strndup(s + 1, n - 2) : strdup(s);
		e.port = COORD_DEFAULT_PORT;
		if (!e.host)
			return -ENOMEM;
	}
	snprintf(port, sizeof(port), "%u", e.port);
	ret = getaddrinfo(e.host, port, &hints, &res);
	free(e.host);
	if (ret || !res) {
		snprintf(err, errlen, "coord address '%s': %s", s, ret ? gai_strerror(ret) : "no address");
		return -EADDRNOTAVAIL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen <= sizeof(*out) ? res->ai_addrlen : sizeof(*out));
	freeaddrinfo(res);
	return 0;
}

static void epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The device's view of our peers; its listen port and key too. */
static int poll_device(struct link_daemon *d, int64_t now)
{
	struct device *dev = NULL;
	int64_t off = wall_offset();
	int ret = device_get(&dev, d->opt.iface);

	if (ret)
		return ret;
	if (dev->listen_port && dev->listen_port != d->core.listen_port) {
		if (d->core.listen_port)
			link_log_info("the device's port is now %u", dev->listen_port);
		d->core.listen_port = dev->listen_port;
		relay_client_set_device_port(&d->relay, dev->listen_port);
		link_on_route_change(&d->core, now); /* a new port: a new mapping */
	}
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];
		int k = link_find_peer(&d->core, p->public_key);
		union link_addr ep = { 0 };
		int64_t hs = 0;

		if (k < 0)
			continue;
		if (device_has_endpoint(p))
			memcpy(&ep, &p->endpoint, sizeof(ep));
		if (p->last_handshake_sec)
			hs = p->last_handshake_sec * 1000 + p->last_handshake_nsec / 1000000 - off;
		link_on_device(&d->core, (uint32_t)k, hs, p->rx_bytes, &ep, now);
	}
	nat_on_device(&d->nat, dev, now);
	device_free(dev);
	return 0;
}

/* ---- the relay client's plumbing (relay_client.h) ---- */

static uint64_t ms_to_ns(int64_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

static int relay_send(void *ctx, const uint8_t *msg, size_t len)
{
	coord_io_send(ctx, msg, len);
	return 0;
}

/* a stand-in socket for peer; its address is the relay's candidate.
 * invited: the peer is on the relay already, go there now */
static void open_relay(struct link_daemon *d, uint32_t peer, bool invited, int64_t now)
{
	char name[LINK_PEER_NAME_LEN], ep[LINK_ADDR_STRLEN];
	struct path_cand c = { .type = PATH_RELAY };
	int ret;

	link_peer_name(name, d->core.peers[peer].public_key);
	ret = relay_client_open(&d->relay, peer, d->coord.peers[peer].token, &c.addr);
	if (ret < 0) {
		link_log_error("%s: no relay: %s", name, strerror(-ret));
		return;
	}
	epoll_add(d->epfd, d->relay.peers[ret].fd);
	link_addr_format(ep, &c.addr);
	if (invited) {
		link_log_info("%s: the peer uses the coord's relay: so do we (%s)", name, ep);
		link_on_relay_invite(&d->core, peer, &c, now);
	} else {
		link_log_info("%s: no direct path found: through the coord's relay (%s)", name, ep);
		link_on_candidate(&d->core, peer, &c, now);
	}
}

static void relay_ctl(void *ctx, const uint8_t *pt, size_t len, int64_t now)
{
	struct link_daemon *d = ctx;
	uint8_t token[COORD_TOKEN_LEN];
	int slot, rc = relay_client_on_ctl(&d->relay, pt, len, token);

	if (rc == 1) {
		for (uint32_t i = 0; i < d->coord.n_peers; i++)
			if (!memcmp(d->coord.peers[i].token, token, COORD_TOKEN_LEN)) {
				/* the peer found no direct path: a birthday probe
				 * (it asked for one too), the relay meanwhile */
				bday_run_want(&d->bday, i, now, clock_ms(CLOCK_REALTIME));
				open_relay(d, i, true, now);
			}
		return;
	}
	if (rc < 0)
		return;
	/* a refusal is worth a line: the peer stays without a path */
	for (slot = 0; slot < RELAY_CLIENT_MAX; slot++) {
		struct relay_peer *p = &d->relay.peers[slot];

		if (p->fd >= 0 && p->joined && p->status >= RELAY_REFUSED_UNKNOWN && p->status != RELAY_CLOSED &&
		    p->join_sent) {
			char name[LINK_PEER_NAME_LEN];

			link_peer_name(name, d->core.peers[p->peer].public_key);
			link_log_error("%s: the coord does not relay: %s", name, relay_status_name(p->status));
		}
	}
}

static void relay_msg(void *ctx, uint8_t *pkt, size_t len, int64_t now)
{
	struct link_daemon *d = ctx;

	relay_client_on_message(&d->relay, &d->coord.client, pkt, len, ms_to_ns(now));
}

static void do_action(struct link_daemon *d, const struct link_action *a, int64_t now)
{
	struct link_peer *p = a->what >= LINK_DO_SET_ENDPOINT ? &d->core.peers[a->peer] : NULL;
	char name[LINK_PEER_NAME_LEN], ep[LINK_ADDR_STRLEN];
	int ret;

	if (p) {
		link_peer_name(name, p->public_key);
		link_addr_format(ep, &a->endpoint);
	}
	switch (a->what) {
	case LINK_DO_STUN:
		if (!d->core.listen_port)
			break;
		ret = stun_port_send(&d->stun, &d->server, d->core.listen_port);
		if (ret)
			link_log_error("STUN from port %u: %s", d->core.listen_port, strerror(-ret));
		else
			epoll_add(d->epfd, d->stun.fd);
		break;
	case LINK_DO_ANNOUNCE:
		coord_io_announce(&d->coord, &d->core, now);
		break;
	case LINK_DO_SET_ENDPOINT:
		ret = device_io_set_endpoint(d->opt.iface, p->public_key, &a->endpoint, a->kick, p->keepalive);
		if (ret)
			link_log_error("%s: cannot set endpoint %s: %s", name, ep, strerror(-ret));
		else
			link_log_verbose("%s: trying %s", name, ep);
		if (!ret && a->kick && !p->user_keepalive)
			d->keepalive_set[a->peer] = true;
		d->next_device_poll = now + LINK_DEVICE_POLL_PUNCH_MS;
		break;
	case LINK_DO_WANT_RELAY:
		/* first a birthday probe, in case a NAT maps per destination;
		 * the relay meanwhile (the probes move off it on a hit) */
		bday_run_want(&d->bday, a->peer, now, clock_ms(CLOCK_REALTIME));
		open_relay(d, a->peer, false, now);
		break;
	case LINK_DO_PATH_CHANGED:
		if (p->path.rtt_ms >= 0)
			link_log_info("%s: path %s %s (rtt %d ms)", name, path_type_name(p->path.type), ep, p->path.rtt_ms);
		else
			link_log_info("%s: path %s %s", name, path_type_name(p->path.type), ep);
		break;
	}
}

static int setup(struct link_daemon *d, char *err, size_t errlen)
{
	struct device *dev = NULL;
	struct managed m;
	uint8_t server_key[32];
	const char *coord;
	bool *has_endpoint = NULL;
	int ret;

	ret = device_get(&dev, d->opt.iface);
	if (ret) {
		snprintf(err, errlen, "%s: no WireGuard interface answers: %s", d->opt.iface, strerror(-ret));
		return ret;
	}
	ret = managed_load(&m, d->opt.iface, dev, err, errlen);
	if (ret)
		goto out_dev;
	coord = d->opt.coord ? d->opt.coord : m.coord;
	if (!coord) {
		snprintf(err, errlen, "%s: no coord: give --coord HOST:PORT or Coord = in [Weft] of %s.weft",
			 d->opt.iface, d->opt.iface);
		ret = -EINVAL;
		goto out_m;
	}
	snprintf(d->coord_name, sizeof(d->coord_name), "%s", coord);
	if (d->opt.coord_key) {
		if (!key_from_base64(server_key, d->opt.coord_key)) {
			snprintf(err, errlen, "--coord-key: '%.48s' is not a base64 key of 44 characters", d->opt.coord_key);
			ret = -EINVAL;
			goto out_m;
		}
	} else if (m.has_coord_key) {
		memcpy(server_key, m.coord_key, 32);
	} else {
		snprintf(err, errlen, "%s: no coord key: give --coord-key KEY or CoordKey = in [Weft] of %s.weft",
			 d->opt.iface, d->opt.iface);
		ret = -EINVAL;
		goto out_m;
	}
	ret = resolve_coord(&d->server, coord, err, errlen);
	if (ret)
		goto out_m;
	has_endpoint = calloc(m.n ? m.n : 1, sizeof(*has_endpoint));
	if (!has_endpoint) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_m;
	}
	ret = link_init(&d->core, d->opt.iface, m.n, clock_ms(CLOCK_MONOTONIC));
	if (ret) {
		snprintf(err, errlen, "%s: %u peers to manage: %s", d->opt.iface, m.n, strerror(-ret));
		goto out_m;
	}
	d->core.ifindex = (int)if_nametoindex(d->opt.iface);
	d->core.listen_port = dev->listen_port;
	for (uint32_t i = 0; i < m.n; i++) {
		struct link_peer *p = &d->core.peers[i];

		memcpy(p->public_key, m.v[i].public_key, 32);
		p->roaming = m.v[i].roaming;
		for (size_t j = 0; j < dev->n_peers; j++)
			if (!memcmp(dev->peers[j].public_key, p->public_key, 32)) {
				p->user_keepalive = dev->peers[j].persistent_keepalive;
				has_endpoint[i] = device_has_endpoint(&dev->peers[j]);
			}
		p->keepalive = p->user_keepalive ? p->user_keepalive : LINK_KEEPALIVE_S;
	}
	ret = coord_io_open(&d->coord, &d->server, server_key, dev->private_key, &d->core, d->opt.label);
	if (ret) {
		snprintf(err, errlen, "coord session: %s", strerror(-ret));
		goto out_m;
	}
	ret = netmon_open(&d->net, d->core.ifindex);
	if (ret) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(-ret));
		goto out_m;
	}
	/* the keepalive that keeps NAT holes open, from the start for a peer
	 * that has an endpoint (one already talking is never kicked, which
	 * would set it). Not for one without: the keepalive turning on would
	 * make the device try a handshake with nowhere to send it, and start
	 * the 5 s that must pass between two initiations just before our
	 * first punch needs one. */
	for (uint32_t i = 0; i < d->core.n_peers; i++) {
		struct link_peer *p = &d->core.peers[i];

		if (!p->user_keepalive && has_endpoint[i] &&
		    !device_io_set_keepalive(d->opt.iface, p->public_key, p->keepalive))
			d->keepalive_set[i] = true;
	}
	link_log_info("managing %u of %zu peers (%s), coord %s", m.n, dev->n_peers,
		      m.from_files ? "no Endpoint in the config, or Roaming in the .weft file" :
				     "no config file: those without an endpoint",
		      coord);
out_m:
	free(has_endpoint);
	managed_free(&m);
out_dev:
	memzero(server_key, sizeof(server_key));
	device_free(dev);
	return ret;
}

static void restore(struct link_daemon *d)
{
	/* keepalives we turned on go back off; endpoints stay (they work) */
	for (uint32_t i = 0; i < d->core.n_peers; i++)
		if (d->keepalive_set[i])
			device_io_set_keepalive(d->opt.iface, d->core.peers[i].public_key, 0);
}

/* SIGHUP: the same command again, as a new process image (the state is
 * the device's and the files'; the coord session starts afresh). */
static int reexec_link(const struct link_options *opt, const sigset_t *mask)
{
	char *args[opt->argc + 2];

	args[0] = (char *)"weft";
	for (int i = 0; i < opt->argc; i++)
		args[i + 1] = opt->argv[i];
	args[opt->argc + 1] = NULL;
	sigprocmask(SIG_UNBLOCK, mask, NULL);
	execv("/proc/self/exe", args);
	fprintf(stderr, "weft: link %s: cannot start again: %s\n", opt->iface, strerror(errno));
	return 1;
}

int link_daemon_run(const struct link_options *opt)
{
	struct link_daemon *d = calloc(1, sizeof(*d));
	struct link_action acts[LINK_MAX_ACTIONS];
	char err[512] = "";
	sigset_t mask;
	bool reexec = false;
	int rc = 1;

	if (!d) {
		fprintf(stderr, "weft: out of memory\n");
		return 1;
	}
	d->opt = *opt;
	d->epfd = d->sigfd = d->lockfd = -1;
	d->coord.fd = -1;
	d->coord.tcp_fd = -1;
	d->tcp_fd_polled = -1;
	relay_client_init(&d->relay, 0, relay_send, &d->coord);
	stun_port_init(&d->stun);
	nat_init(&d->nat, opt->portmap_use, opt->resolve_every_ms);
	link_log_init(opt->iface);
	d->lockfd = status_lock(opt->iface);
	if (d->lockfd < 0) {
		if (d->lockfd == -EWOULDBLOCK)
			fprintf(stderr, "weft: link %s runs already (see weft link status %s)\n", opt->iface, opt->iface);
		else
			fprintf(stderr, "weft: link %s: cannot take its lock: %s\n", opt->iface, strerror(-d->lockfd));
		goto out;
	}
	if (setup(d, err, sizeof(err))) {
		fprintf(stderr, "weft: %s\n", err);
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->epfd < 0) {
		fprintf(stderr, "weft: epoll: %s\n", strerror(errno));
		goto out;
	}
	epoll_add(d->epfd, d->sigfd);
	epoll_add(d->epfd, netmon_fd(&d->net));
	epoll_add(d->epfd, d->coord.fd);
	relay_client_set_device_port(&d->relay, d->core.listen_port);
	d->coord.relay_ctl = relay_ctl;
	d->coord.relay_msg = relay_msg;
	d->coord.relay_ctx = d;
	if (nat_open(&d->nat, opt->iface, &d->core, d->epfd))
		link_log_error("host-name endpoints: out of memory");
	if (bday_run_init(&d->bday, d->core.n_peers, d->epfd)) {
		fprintf(stderr, "weft: out of memory\n");
		goto out;
	}

	int64_t now = clock_ms(CLOCK_MONOTONIC);
	link_on_local_addrs(&d->core, &d->net.addrs, now);
	poll_device(d, now);
	d->status_written = UINT64_MAX;
	for (;;) {
		int64_t next_core, next_coord, wait;
		struct epoll_event ev[8];
		bool punching = false;

		now = clock_ms(CLOCK_MONOTONIC);
		if (now >= d->next_device_poll) {
			int ret = poll_device(d, now);
			/* said once, not every second, until it answers again */
			if (ret && !d->device_silent)
				link_log_error("the device does not answer: %s", strerror(-ret));
			else if (!ret && d->device_silent)
				link_log_info("the device answers again");
			d->device_silent = ret != 0;
			for (uint32_t i = 0; i < d->core.n_peers; i++)
				/* on the relay too: its probes judge by the device's counters */
				punching |= d->core.peers[i].path.state == PATH_PUNCHING ||
					    (d->core.peers[i].path.state == PATH_UP &&
					     d->core.peers[i].path.type == PATH_RELAY);
			d->next_device_poll = now + (punching ? LINK_DEVICE_POLL_PUNCH_MS : LINK_DEVICE_POLL_IDLE_MS);
		}
		d->core.wall_offset = wall_offset();
		for (int slot = 0; slot < RELAY_CLIENT_MAX; slot++)
			if (d->relay.peers[slot].fd >= 0)
				link_on_relay_rx(&d->core, d->relay.peers[slot].peer,
						 d->relay.peers[slot].from_coord_bytes);
		size_t n = link_poll(&d->core, now, acts, LINK_MAX_ACTIONS, &next_core);
		for (size_t i = 0; i < n; i++)
			do_action(d, &acts[i], now);
		for (uint32_t i = 0; i < d->core.n_peers; i++) {
			struct path *pp = &d->core.peers[i].path;

			if (pp->probes != d->probes_logged[i] && !pp->probing) {
				char name[LINK_PEER_NAME_LEN], e[LINK_ADDR_STRLEN];

				d->probes_logged[i] = pp->probes;
				link_peer_name(name, d->core.peers[i].public_key);
				link_addr_format(e, &pp->dev_endpoint);
				link_log_verbose("%s: probe %u: heard %llu bytes, %llu through the relay, endpoint %s: %s",
						 name, pp->probes, (unsigned long long)(pp->rx_bytes - pp->probe_rx),
						 (unsigned long long)(pp->relay_rx - pp->probe_relay_rx), e,
						 pp->type == PATH_RELAY ? "relay stays" : "off the relay");
			}
		}
		if (!d->core.stun_pending && d->stun.fd >= 0)
			stun_port_close(&d->stun); /* timed out: stop seeing every datagram */
		next_coord = coord_io_tick(&d->coord, &d->core, now);
		/* a new coord session forgets the relay's channels: join again */
		bool rejoin = d->coord.sessions != d->relay_sessions;
		d->relay_sessions = d->coord.sessions;
		int64_t next_relay = relay_client_tick(&d->relay, &d->coord.client, rejoin, now, ms_to_ns(now));
		if (next_relay < next_coord)
			next_coord = next_relay;
		if (d->coord.tcp_fd != d->tcp_fd_polled) {
			/* the session moved to TCP (a closed fd left epoll by itself) */
			epoll_add(d->epfd, d->coord.tcp_fd);
			d->tcp_fd_polled = d->coord.tcp_fd;
		}
		int64_t next_bday = bday_run_tick(&d->bday, d, now);
		if (d->core.status_gen != d->status_written) {
			int ret = status_write(&d->core, d->coord_name, wall_offset(), (int)getpid());
			if (ret)
				link_log_error("status file: %s", strerror(-ret));
			d->status_written = d->core.status_gen;
		}
		wait = d->next_device_poll;
		if (next_core < wait)
			wait = next_core;
		if (next_coord < wait)
			wait = next_coord;
		if (next_bday < wait)
			wait = next_bday;
		wait -= now;
		wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
		int k = epoll_wait(d->epfd, ev, 8, (int)wait);
		now = clock_ms(CLOCK_MONOTONIC);
		for (int i = 0; i < k; i++) {
			int fd = ev[i].data.fd;

			if (fd == d->sigfd) {
				struct signalfd_siginfo si;
				if (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
					rc = 0;
					if (si.ssi_signo == SIGHUP) {
						link_log_info("SIGHUP: starting again from the files");
						reexec = true;
					} else {
						link_log_info("signal %u: stopping", si.ssi_signo);
					}
					goto out;
				}
			} else if (fd == netmon_fd(&d->net)) {
				int ret = netmon_read(&d->net);
				if (ret)
					link_log_error("rtnetlink: %s", strerror(-ret));
				if (!local_addrs_equal(&d->core.local, &d->net.addrs))
					link_log_info("local addresses changed: announcing again");
				link_on_local_addrs(&d->core, &d->net.addrs, now);
				if (d->net.route_changed) {
					d->net.route_changed = false;
					link_on_route_change(&d->core, now);
				}
			} else if (nat_on_fd(&d->nat, fd, d->opt.iface, &d->core, now)) {
				/* the port mapping or a lookup: handled */
			} else if (bday_run_on_fd(&d->bday, d, fd, now)) {
				/* a birthday probe's socket or its proxy */
			} else if (fd == d->coord.fd) {
				coord_io_read(&d->coord, &d->core, now);
			} else if (fd >= 0 && fd == d->coord.tcp_fd) {
				coord_io_tcp_event(&d->coord, &d->core, now);
			} else if (fd == d->stun.fd) {
				union link_addr mapped;
				if (stun_port_read(&d->stun, &mapped) == 1) {
					char s[LINK_ADDR_STRLEN];
					bool changed = !link_addr_equal(&mapped, &d->core.mapped);

					link_on_stun(&d->core, &mapped, now);
					link_addr_format(s, &mapped);
					if (changed)
						link_log_info("public address %s", s);
				}
			} else {
				for (int slot = 0; slot < RELAY_CLIENT_MAX; slot++)
					if (d->relay.peers[slot].fd == fd) {
						relay_client_on_readable(&d->relay, &d->coord.client, slot,
									 ms_to_ns(now));
						break;
					}
			}
		}
	}
out:
	nat_close(&d->nat); /* the gateway's mapping goes first */
	bday_run_close(&d->bday);
	if (d->core.peers) {
		restore(d);
		status_remove(opt->iface);
	}
	stun_port_close(&d->stun);
	netmon_close(&d->net);
	relay_client_free(&d->relay);
	coord_io_close(&d->coord);
	link_free(&d->core);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->lockfd >= 0)
		close(d->lockfd); /* after the status file went */
	memzero(d, sizeof(*d));
	free(d);
	if (reexec)
		return reexec_link(opt, &mask);
	return rc;
}
