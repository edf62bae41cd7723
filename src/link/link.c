/* link.c: the sans-I/O core of `weft link` (link.h). */
#include "link/link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An announcement not answered within this is a failure. */
#define LINK_COORD_TIMEOUT_MS 2000

int link_init(struct link *l, const char *iface, uint32_t n_peers, int64_t now)
{
	memset(l, 0, sizeof(*l));
	if (n_peers > LINK_MAX_PEERS)
		return -E2BIG;
	strncpy(l->iface, iface, IFNAMSIZ - 1);
	if (n_peers) {
		l->peers = calloc(n_peers, sizeof(*l->peers));
		if (!l->peers)
			return -ENOMEM;
	}
	l->n_peers = n_peers;
	for (uint32_t i = 0; i < n_peers; i++)
		path_init(&l->peers[i].path);
	l->stun_wanted = true;
	l->stun_next = now;
	/* the first announcement waits for the first STUN answer, or not
	 * longer than after a change */
	l->announce_at = now + LINK_ANNOUNCE_AFTER_CHANGE_MS;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	l->started = now;
	return 0;
}

void link_free(struct link *l)
{
	free(l->peers);
	memset(l, 0, sizeof(*l));
}

int link_find_peer(const struct link *l, const uint8_t key[32])
{
	for (uint32_t i = 0; i < l->n_peers; i++)
		if (!memcmp(l->peers[i].public_key, key, 32))
			return (int)i;
	return -1;
}

static void changed_soon(struct link *l, int64_t now)
{
	/* requests in flight went out the old way (or found no route while
	 * the change was half done): ask again, not after their timeouts */
	l->stun_wanted = true;
	l->stun_pending = false;
	l->announce_pending = false;
	if (l->announce_at > now + LINK_ANNOUNCE_AFTER_CHANGE_MS)
		l->announce_at = now + LINK_ANNOUNCE_AFTER_CHANGE_MS;
	/* a new way out deserves a quick try even while backing off */
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	l->status_gen++;
}

void link_on_local_addrs(struct link *l, const struct local_addrs *now_addrs, int64_t now)
{
	if (local_addrs_equal(&l->local, now_addrs))
		return;
	l->local = *now_addrs;
	/* the mapping was that of the old way out: announcing it while STUN
	 * is under way would keep the peers on a dead path */
	memset(&l->mapped, 0, sizeof(l->mapped));
	changed_soon(l, now);
	for (uint32_t i = 0; i < l->n_peers; i++)
		path_restart(&l->peers[i].path, now);
}

void link_on_route_change(struct link *l, int64_t now)
{
	l->local.route_gen++;
	changed_soon(l, now);
}

void link_on_stun(struct link *l, const union link_addr *mapped, int64_t now)
{
	l->stun_pending = false;
	if (!link_addr_is_set(mapped) || link_addr_equal(mapped, &l->mapped))
		return;
	l->mapped = *mapped;
	l->announce_at = now;
	l->status_gen++;
}

void link_on_coord(struct link *l, bool ok, int64_t now)
{
	l->announce_pending = false;
	if (ok) {
		l->coord_up = true;
		l->coord_failures = 0;
		l->backoff_ms = LINK_BACKOFF_MIN_MS;
		l->announcements++;
		/* announce_at stays: the refresh link_poll set when it sent,
		 * or sooner, when our candidates changed while the answer was
		 * on its way (they must go out again, not in 20 s) */
	} else {
		l->coord_up = false;
		l->coord_failures++;
		l->announce_at = now + l->backoff_ms;
		/* STUN goes to the same server: no sooner than the next try */
		l->stun_next = l->announce_at;
		l->stun_wanted = false;
		l->backoff_ms = l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : l->backoff_ms * 2;
	}
	l->status_gen++;
}

void link_on_match(struct link *l, uint32_t peer, const struct path_cand *c, unsigned n, int64_t now)
{
	if (peer >= l->n_peers)
		return;
	path_offer(&l->peers[peer].path, c, n, &l->local, now);
	l->status_gen++;
}

void link_on_candidate(struct link *l, uint32_t peer, const struct path_cand *c, int64_t now)
{
	if (peer < l->n_peers && path_add(&l->peers[peer].path, c, &l->local, now))
		l->status_gen++;
}

void link_on_portmap(struct link *l, const union link_addr *mapped, int64_t now)
{
	union link_addr none = { 0 };

	if (!mapped)
		mapped = &none;
	if (link_addr_equal(mapped, &l->portmap) && mapped->sa.sa_family == l->portmap.sa.sa_family)
		return;
	l->portmap = *mapped;
	l->announce_at = now;
	l->status_gen++;
}

void link_on_device(struct link *l, uint32_t peer, int64_t last_handshake, uint64_t rx_bytes,
		    const union link_addr *endpoint, int64_t now)
{
	if (peer < l->n_peers)
		path_on_device(&l->peers[peer].path, last_handshake, rx_bytes, endpoint, &l->local, now);
}

void link_on_relay_invite(struct link *l, uint32_t peer, const struct path_cand *c, int64_t now)
{
	if (peer >= l->n_peers)
		return;
	path_use_relay(&l->peers[peer].path, c, &l->local, now);
	l->status_gen++;
}

void link_on_relay_rx(struct link *l, uint32_t peer, uint64_t bytes)
{
	if (peer < l->n_peers)
		path_on_relay_rx(&l->peers[peer].path, bytes);
}

static bool push(struct link_action *out, size_t max, size_t *n, const struct link_action *a)
{
	if (*n >= max)
		return false;
	out[(*n)++] = *a;
	return true;
}

static int64_t earlier(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

size_t link_poll(struct link *l, int64_t now, struct link_action *out, size_t max, int64_t *next)
{
	size_t n = 0;
	int64_t due = INT64_MAX;

	/* STUN */
	if (l->stun_pending && now - l->stun_sent_at >= LINK_STUN_TIMEOUT_MS)
		l->stun_pending = false; /* lost; the next refresh or change asks again */
	if (!l->stun_pending && (l->stun_wanted || now >= l->stun_next)) {
		struct link_action a = { .what = LINK_DO_STUN };

		if (push(out, max, &n, &a)) {
			l->stun_pending = true;
			l->stun_wanted = false;
			l->stun_sent_at = now;
			l->stun_next = now + LINK_STUN_REFRESH_MS;
		}
	}
	if (l->stun_pending)
		due = earlier(due, l->stun_sent_at + LINK_STUN_TIMEOUT_MS);
	else
		due = earlier(due, l->stun_next);

	/* the announcement */
	if (l->announce_pending && now - l->announce_sent_at >= LINK_COORD_TIMEOUT_MS)
		link_on_coord(l, false, now);
	if (!l->announce_pending && now >= l->announce_at) {
		struct link_action a = { .what = LINK_DO_ANNOUNCE };

		if (push(out, max, &n, &a)) {
			l->announce_pending = true;
			l->announce_sent_at = now;
			l->announce_at = now + LINK_ANNOUNCE_REFRESH_MS;
		}
	}
	due = earlier(due, l->announce_pending ? l->announce_sent_at + LINK_COORD_TIMEOUT_MS : l->announce_at);

	/* the peers */
	for (uint32_t i = 0; i < l->n_peers && n + 3 <= max; i++) {
		struct link_peer *p = &l->peers[i];
		struct path_cmd cmd;
		bool wanted = path_wants_relay(&p->path);
		int64_t t;

		p->path.wall_offset = l->wall_offset;
		t = path_tick(&p->path, now, &cmd);

		if (cmd.set_endpoint) {
			struct link_action a = { .what = LINK_DO_SET_ENDPOINT, .kick = cmd.kick, .peer = i,
						 .endpoint = cmd.endpoint };
			push(out, max, &n, &a);
			l->status_gen++;
		}
		if (!wanted && path_wants_relay(&p->path)) {
			struct link_action a = { .what = LINK_DO_WANT_RELAY, .peer = i };
			push(out, max, &n, &a);
		}
		if (p->path.state == PATH_UP &&
		    (p->path.type != p->last_type || !link_addr_equal(&p->path.endpoint, &p->last_endpoint))) {
			struct link_action a = { .what = LINK_DO_PATH_CHANGED, .peer = i, .endpoint = p->path.endpoint };
			push(out, max, &n, &a);
			p->last_type = p->path.type;
			p->last_endpoint = p->path.endpoint;
			l->status_gen++;
		}
		due = earlier(due, t);
	}
	if (n + 3 > max)
		due = now; /* more to do: call again at once */
	*next = due;
	return n;
}

unsigned link_own_cands(const struct link *l, struct path_cand *out, unsigned max)
{
	unsigned n = 0;

	if (n < max && link_addr_is_set(&l->mapped))
		out[n++] = (struct path_cand){ .type = PATH_DIRECT, .addr = l->mapped };
	if (n < max && link_addr_is_set(&l->portmap) && !link_addr_equal(&l->portmap, &l->mapped))
		out[n++] = (struct path_cand){ .type = PATH_DIRECT, .addr = l->portmap };
	for (uint32_t i = 0; i < l->local.n && n < max; i++) {
		const struct local_addr *a = &l->local.v[i];

		if (a->ifindex == l->ifindex || link_addr_is_unusable(&a->addr) ||
		    (a->addr.sa.sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a->addr.in6.sin6_addr)))
			continue;
		out[n] = (struct path_cand){ .type = PATH_LAN, .addr = a->addr };
		link_addr_set_port(&out[n].addr, l->listen_port);
		n++;
	}
	return n;
}

unsigned link_match_cands(struct path_cand *out, unsigned max, const union link_addr *cands, unsigned n,
			  const union link_addr *observed)
{
	bool have_observed = link_addr_is_set(observed), seen = false;
	union link_addr guess = { 0 };
	unsigned k = 0;

	if (have_observed && n) {
		guess = *observed;
		link_addr_set_port(&guess, link_addr_port(&cands[n - 1]));
	}
	for (unsigned i = 0; i < n && k < max; i++) {
		bool on_observed = have_observed && link_addr_same_host(&cands[i], observed);

		out[k].addr = cands[i];
		out[k].type = on_observed || !link_addr_is_private(&cands[i]) ? PATH_DIRECT : PATH_LAN;
		/* a mapping on that host with another port may be stale (a NAT
		 * that changed its ways since the peer's last STUN): the guess
		 * goes in unless it is there */
		seen |= link_addr_equal(&cands[i], &guess);
		k++;
	}
	if (have_observed && k && !seen && k < max) {
		out[k].type = PATH_DIRECT;
		out[k].addr = guess;
		k++;
	}
	return k;
}
