/* birthday_run.c: the birthday probe in `weft link`'s loop (see
 * birthday_run.h): scheduling on wall-clock marks, roles, the pair's key,
 * and the hit handed to the path or the device. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "crypto/crypto.h"
#include "link/birthday_run.h"
#include "link/daemon.h"
#include "link/device_io.h"
#include "link/log.h"

int bday_run_init(struct bday_runner *r, uint32_t n_peers, int epfd)
{
	memset(r, 0, sizeof(*r));
	r->epfd = epfd;
	r->n_peers = n_peers;
	r->last_try = calloc(n_peers ? n_peers : 1, sizeof(*r->last_try));
	return r->last_try ? 0 : -ENOMEM;
}

void bday_run_want(struct bday_runner *r, uint32_t peer, int64_t now, int64_t wall_ms)
{
	if (peer >= r->n_peers || r->active || r->scheduled)
		return;
	/* a window of BDAY_RUN_TRIES attempts, then a long rest */
	if (r->last_try[peer] && now - r->last_try[peer] < BDAY_RUN_AGAIN_MS)
		return;
	r->last_try[peer] = now;
	r->peer = peer;
	r->tries = 0;
	r->mark = bday_mark(wall_ms);
	r->start_at = now + (r->mark - wall_ms);
	r->scheduled = true;
}

static void watch_all(struct bday_runner *r)
{
	struct pollfd p[BDAY_SOCKETS + 2];
	unsigned n = bday_io_fds(&r->io, p, BDAY_SOCKETS + 2);

	for (unsigned i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = p[i].fd };

		epoll_ctl(r->epfd, EPOLL_CTL_ADD, p[i].fd, &ev);
	}
}

static void stop(struct bday_runner *r, struct link *core)
{
	/* closing takes the fds out of the epoll set */
	core->bday_probes += r->io.b.counters.probes_sent;
	bday_io_close(&r->io);
	r->active = false;
	core->status_gen++;
}

/* The peer's public address (its first direct IPv4 candidate) and whether
 * its NAT looks hard: a direct candidate whose port is not the device port
 * its LAN candidates carry (its STUN mapping, when the NAT changed the
 * port; the coord's guess, its host with the device port, does not count
 * against it). No LAN candidate: nothing to compare, taken as hard. */
static bool peer_addrs(const struct path *p, struct sockaddr_in *pub, bool *hard)
{
	uint16_t lan_port = 0;
	bool found = false;

	for (unsigned i = 0; i < p->n; i++)
		if (p->cands[i].type == PATH_LAN && !lan_port)
			lan_port = link_addr_port(&p->cands[i].addr);
	*hard = !lan_port;
	for (unsigned i = 0; i < p->n; i++) {
		const struct path_cand *c = &p->cands[i];

		if (c->type != PATH_DIRECT || link_addr_is_unusable(&c->addr))
			continue;
		if (link_addr_port(&c->addr) != lan_port)
			*hard = true;
		if (c->addr.sa.sa_family == AF_INET && !found) {
			*pub = c->addr.in4;
			found = true;
		}
	}
	return found;
}

static int pair_key(uint8_t key[32], const struct link_daemon *d, uint32_t peer)
{
	uint8_t shared[32], k[32];

	if (!x25519(shared, d->coord.priv, d->core.peers[peer].public_key))
		return -EINVAL;
	kdf(k, NULL, NULL, shared, sizeof(shared), d->coord.peers[peer].token);
	bday_key(key, k);
	memzero(shared, sizeof(shared));
	memzero(k, sizeof(k));
	return 0;
}

static void start(struct bday_runner *r, struct link_daemon *d, int64_t now)
{
	struct link_peer *p = &d->core.peers[r->peer];
	struct sockaddr_in target;
	uint8_t key[32], session[BDAY_SESSION_LEN];
	char name[LINK_PEER_NAME_LEN], t[INET_ADDRSTRLEN];
	bool peer_hard;
	int ret;

	r->scheduled = false;
	link_peer_name(name, p->public_key);
	/* a path came up meanwhile (the relay, opened at the same time as
	 * this probe was asked for, does not count: a hit takes over from it) */
	if ((p->path.state == PATH_UP && p->path.type != PATH_RELAY) || !d->core.listen_port)
		return;
	if (!peer_addrs(&p->path, &target, &peer_hard)) {
		link_log_verbose("%s: birthday probe: no public IPv4 address of the peer", name);
		return;
	}
	/* a NAT that changed the device's port maps per destination, most likely */
	bool we_hard = !link_addr_is_set(&d->core.mapped) || link_addr_port(&d->core.mapped) != d->core.listen_port;
	enum bday_role role = bday_pick_role(we_hard, peer_hard, d->coord.pub, p->public_key);

	if (pair_key(key, d, r->peer)) {
		link_log_error("%s: birthday probe: no key with this peer", name);
		return;
	}
	bday_session(session, key, r->mark);
	ret = bday_io_start(&r->io, role, key, session, &target, BDAY_SOCKETS, 0,
			    role == BDAY_GUESS ? d->core.listen_port : 0, now);
	memzero(key, sizeof(key));
	if (ret) {
		link_log_error("%s: birthday probe: %s", name, strerror(-ret));
		return;
	}
	r->active = true;
	r->tries++;
	d->core.bday_attempts++;
	d->core.status_gen++;
	watch_all(r);
	inet_ntop(AF_INET, &target.sin_addr, t, sizeof(t));
	if (role == BDAY_SPRAY)
		link_log_info("%s: birthday probe: %u sockets toward %s:%u", name, r->io.n_fds, t,
			      ntohs(target.sin_port));
	else
		link_log_info("%s: birthday probe: up to %u random ports of %s from port %u", name,
			      BDAY_MAX_PROBES, t, d->core.listen_port);
}

/* Points the device at the pair found and makes it send an initiation
 * now: the path machine may be in the middle of another attempt, which
 * would otherwise keep the device elsewhere for up to 11 s; the handshake
 * that follows makes the path up on whatever endpoint the device has. */
static void point_device(struct link_daemon *d, uint32_t peer, const union link_addr *ep)
{
	struct link_peer *p = &d->core.peers[peer];
	int ret = device_io_set_endpoint(d->opt.iface, p->public_key, ep, true, p->keepalive);

	if (ret) {
		char name[LINK_PEER_NAME_LEN];

		link_peer_name(name, p->public_key);
		link_log_error("%s: birthday probe: cannot set the endpoint: %s", name, strerror(-ret));
	} else if (!p->user_keepalive) {
		d->keepalive_set[peer] = true; /* turned off again at exit */
	}
	d->next_device_poll = 0; /* look for the handshake at once */
}

static void follow(struct bday_runner *r, uint32_t peer, const union link_addr *ep, int64_t now)
{
	r->following = true;
	r->follow_peer = peer;
	r->follow_ep = *ep;
	r->follow_until = now + BDAY_RUN_FOLLOW_MS;
	r->follow_next = now + BDAY_RUN_FOLLOW_EVERY_MS;
}

/* Until the path is up on the pair: the path machine may hand the device
 * another candidate meanwhile (a match with a new mapping of the peer's
 * NAT); the pair goes back. Returns when to look again. */
static int64_t keep_following(struct bday_runner *r, struct link_daemon *d, int64_t now)
{
	const struct path *p = &d->core.peers[r->follow_peer].path;

	if (p->state == PATH_UP && link_addr_equal(&p->endpoint, &r->follow_ep)) {
		r->following = false;
		return INT64_MAX;
	}
	if (now >= r->follow_until) {
		r->following = false; /* the path machine's turn; the relay's, in the end */
		return INT64_MAX;
	}
	if (now >= r->follow_next) {
		if (!link_addr_equal(&p->dev_endpoint, &r->follow_ep))
			point_device(d, r->follow_peer, &r->follow_ep);
		r->follow_next = now + BDAY_RUN_FOLLOW_EVERY_MS;
	}
	return r->follow_next;
}

static void on_hit(struct bday_runner *r, struct link_daemon *d, int64_t now)
{
	struct link_peer *p = &d->core.peers[r->peer];
	char name[LINK_PEER_NAME_LEN], a[LINK_ADDR_STRLEN];
	union link_addr found = { 0 };
	uint64_t sent = r->io.b.counters.probes_sent;

	link_peer_name(name, p->public_key);
	found.in4 = r->io.b.hit_addr;
	link_addr_format(a, &found);
	d->core.bday_hits++;
	d->core.status_gen++;
	if (r->io.b.role == BDAY_GUESS) {
		/* the device talks to the address found, from its own port */
		struct path_cand c = { .type = PATH_DIRECT, .addr = found };

		link_log_info("%s: birthday probe hit %s after %llu probes", name, a, (unsigned long long)sent);
		link_on_candidate(&d->core, r->peer, &c, now);
		point_device(d, r->peer, &found);
		follow(r, r->peer, &found, now);
		stop(r, &d->core);
		return;
	}
	int ret = bday_io_proxy(&r->io, d->core.listen_port);
	union link_addr proxy = { 0 };

	if (ret) {
		link_log_error("%s: birthday probe: proxy: %s", name, strerror(-ret));
		stop(r, &d->core);
		return;
	}
	d->core.bday_probes += sent;
	r->io.b.counters.probes_sent = 0;
	watch_all(r); /* the proxy's socket; the found one is watched already */
	proxy.in4.sin_family = AF_INET;
	proxy.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	proxy.in4.sin_port = htons(r->io.proxy_port);
	link_log_info("%s: birthday probe hit %s after %llu probes: through 127.0.0.1:%u", name, a,
		      (unsigned long long)sent, r->io.proxy_port);
	struct path_cand c = { .type = PATH_DIRECT, .addr = proxy };

	link_on_candidate(&d->core, r->peer, &c, now);
	/* the device would learn it from the peer's handshake too (it roams to
	 * the proxy's address); pointing it there at once saves a round */
	point_device(d, r->peer, &proxy);
	follow(r, r->peer, &proxy, now);
}

int64_t bday_run_tick(struct bday_runner *r, struct link_daemon *d, int64_t now)
{
	int64_t next_follow = r->following ? keep_following(r, d, now) : INT64_MAX;

	if (r->scheduled && !r->active) {
		if (now < r->start_at)
			return r->start_at < next_follow ? r->start_at : next_follow;
		start(r, d, now);
	}
	if (!r->active)
		return next_follow;
	int64_t next = bday_io_tick(&r->io, now);

	if (next_follow < next)
		next = next_follow;

	if (r->io.b.state == BDAY_MISSED) {
		char name[LINK_PEER_NAME_LEN];

		link_peer_name(name, d->core.peers[r->peer].public_key);
		link_log_info("%s: birthday probe: no hit after %llu probes", name,
			      (unsigned long long)r->io.b.counters.probes_sent);
		stop(r, &d->core);
		if (r->tries < BDAY_RUN_TRIES) {
			int64_t wall = now + (r->mark - r->start_at);

			r->mark = bday_mark(wall);
			r->start_at = now + (r->mark - wall);
			r->scheduled = true;
			return r->start_at;
		}
		return INT64_MAX;
	}
	return next;
}

bool bday_run_on_fd(struct bday_runner *r, struct link_daemon *d, int fd, int64_t now)
{
	struct pollfd p[BDAY_SOCKETS + 2];
	unsigned n;
	bool ours = false;

	if (!r->active)
		return false;
	n = bday_io_fds(&r->io, p, BDAY_SOCKETS + 2);
	for (unsigned i = 0; i < n && !ours; i++)
		ours = p[i].fd == fd;
	if (!ours)
		return false;
	bool was_hit = r->io.b.state == BDAY_HIT;

	bday_io_readable(&r->io, fd, now);
	if (!was_hit && r->io.b.state == BDAY_HIT)
		on_hit(r, d, now);
	return true;
}

void bday_run_close(struct bday_runner *r)
{
	if (r->active)
		bday_io_close(&r->io);
	r->active = false;
	free(r->last_try);
	r->last_try = NULL;
}
