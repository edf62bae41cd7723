/* path.c: the hole-punching state machine of one peer (path.h). */
#include "link/path.h"

#include <string.h>

/* A handshake that completes this soon after our initiation went out is
 * taken as one round trip (ours answered); later ones say nothing of it. */
#define PATH_RTT_MAX_MS 1000

void path_init(struct path *p)
{
	memset(p, 0, sizeof(*p));
	p->state = PATH_IDLE;
	p->rtt_ms = -1;
	p->retry_ms = PATH_RETRY_MIN_MS;
}

static unsigned rank(const struct path_cand *c, const struct local_addrs *local)
{
	switch (c->type) {
	case PATH_LAN:
		return local && local_addrs_on_link(local, &c->addr) ? 0 : 2;
	case PATH_DIRECT:
		return 1;
	default:
		return 3;
	}
}

static int64_t window(uint8_t type)
{
	return type == PATH_LAN ? PATH_ATTEMPT_LAN_MS : type == PATH_RELAY ? PATH_ATTEMPT_RELAY_MS :
									  PATH_ATTEMPT_DIRECT_MS;
}

static bool has(const struct path *p, const struct path_cand *c)
{
	for (unsigned i = 0; i < p->n; i++)
		if (link_addr_equal(&p->cands[i].addr, &c->addr))
			return true;
	return false;
}

/* Insertion at its rank, after those of equal rank (stable). ours: a
 * candidate of our own making (the relay's stand-in on loopback), never
 * one a peer offered. */
static bool insert_cand(struct path *p, const struct path_cand *c, const struct local_addrs *local, bool ours)
{
	unsigned r = rank(c, local), at = p->n;

	/* our helpers' stand-ins (the relay's, a birthday probe's proxy) are
	 * on loopback: no other candidate may be */
	if (p->n >= PATH_MAX_CANDS || !link_addr_is_set(&c->addr) ||
	    (link_addr_is_unusable(&c->addr) && !ours) ||
	    !link_addr_port(&c->addr) || c->type < PATH_LAN || c->type > PATH_RELAY || has(p, c))
		return false;
	for (unsigned i = 0; i < p->n; i++)
		if (rank(&p->cands[i], local) > r) {
			at = i;
			break;
		}
	memmove(&p->cands[at + 1], &p->cands[at], (p->n - at) * sizeof(p->cands[0]));
	p->cands[at] = *c;
	p->n++;
	return true;
}

static bool insert(struct path *p, const struct path_cand *c, const struct local_addrs *local)
{
	return insert_cand(p, c, local, false);
}

static uint8_t classify(const struct path *p, const union link_addr *ep, const struct local_addrs *local);

/* The device's endpoint works: it is the path. */
static void up(struct path *p, const struct local_addrs *local, int64_t now, bool measured)
{
	int64_t hs = p->last_handshake;

	p->state = PATH_UP;
	p->endpoint = p->dev_endpoint;
	p->type = classify(p, &p->dev_endpoint, local);
	p->since = now;
	p->rtt_ms = measured && p->issued && hs > p->hs_at_issue && hs >= p->attempt_at &&
				    hs - p->attempt_at <= PATH_RTT_MAX_MS ? (int32_t)(hs - p->attempt_at) : -1;
	p->issued = false;
	p->nudge = false;
	p->retry_ms = PATH_RETRY_MIN_MS;
	p->punch_since = 0;
	p->relay_wanted = false;
}

static void punch_from_top(struct path *p)
{
	p->state = p->n ? PATH_PUNCHING : PATH_IDLE;
	p->trying = 0;
	p->issued = false;
}

/* a and b hold the same candidates, in any order. */
static bool same_set(const struct path_cand *a, unsigned na, const struct path_cand *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		unsigned j;
		for (j = 0; j < nb && !(a[i].type == b[j].type && link_addr_equal(&a[i].addr, &b[j].addr)); j++)
			;
		if (j == nb)
			return false;
	}
	return true;
}

unsigned path_offer(struct path *p, const struct path_cand *c, unsigned n, const struct local_addrs *local,
		    int64_t now)
{
	struct path_cand relay[PATH_MAX_CANDS], old[PATH_MAX_CANDS];
	unsigned nrelay = 0, nold = p->n;
	bool in_use = false;

	memcpy(old, p->cands, sizeof(old));
	for (unsigned i = 0; i < p->n; i++)
		if (p->cands[i].type == PATH_RELAY || p->cands[i].ours)
			relay[nrelay++] = p->cands[i];
	p->n = 0;
	for (unsigned i = 0; i < n; i++)
		insert(p, &c[i], local);
	for (unsigned i = 0; i < nrelay; i++)
		insert_cand(p, &relay[i], local, true);
	/* the same offer again (the coord repeats a match with every
	 * refresh): nothing new to try, whatever state the path is in */
	if (p->state != PATH_IDLE && same_set(old, nold, p->cands, p->n))
		return p->n;
	for (unsigned i = 0; i < p->n; i++)
		if (link_addr_equal(&p->cands[i].addr, &p->dev_endpoint) ||
		    (p->state == PATH_UP && link_addr_equal(&p->cands[i].addr, &p->endpoint)))
			in_use = true;
	/* what the device talks to now, if the peer still offers it, stays the
	 * path: kept when up (a dead one is found stale by path_tick; the
	 * relay too while something better is offered: its probes try that,
	 * relay_probe), taken when its session is fresh */
	if (in_use) {
		if (p->state == PATH_UP)
			return p->n;
		if (p->last_handshake && now - p->last_handshake < PATH_FRESH_MS) {
			up(p, local, now, false);
			return p->n;
		}
	}
	p->retry_ms = PATH_RETRY_MIN_MS;
	punch_from_top(p);
	/* with a relay at hand, new candidates are the probes' business:
	 * punching from the top again would leave the peer without a path
	 * for as long as offers keep coming */
	for (unsigned i = 0; nrelay && p->state == PATH_PUNCHING && i < p->n; i++)
		if (p->cands[i].type == PATH_RELAY) {
			p->trying = (uint8_t)i;
			break;
		}
	return p->n;
}

bool path_add(struct path *p, const struct path_cand *c_in, const struct local_addrs *local, int64_t now)
{
	struct path_cand own = *c_in, *c = &own;

	(void)now;
	own.ours = true;
	if (!insert_cand(p, c, local, true))
		return false;
	if (p->state == PATH_IDLE || p->state == PATH_FAILED ||
	    (c->type == PATH_RELAY && p->state == PATH_PUNCHING && p->relay_wanted)) {
		/* straight to the new one: the others failed already (or take
		 * too long: the relay now, direct paths by its probes) */
		p->state = PATH_PUNCHING;
		p->issued = false;
		for (unsigned i = 0; i < p->n; i++)
			if (link_addr_equal(&p->cands[i].addr, &c->addr))
				p->trying = (uint8_t)i;
	} else if (p->state == PATH_PUNCHING && !p->issued) {
		p->trying = 0;
	}
	return true;
}

void path_use_relay(struct path *p, const struct path_cand *c, const struct local_addrs *local, int64_t now)
{
	insert_cand(p, c, local, true);
	if (p->state == PATH_UP && p->type == PATH_RELAY)
		return;
	for (unsigned i = 0; i < p->n; i++)
		if (link_addr_equal(&p->cands[i].addr, &c->addr)) {
			p->trying = (uint8_t)i;
			p->state = PATH_PUNCHING;
			p->issued = false;
			p->probing = false;
			if (!p->punch_since)
				p->punch_since = now ? now : 1;
		}
}

void path_restart(struct path *p, int64_t now)
{
	(void)now;
	if (p->state == PATH_UP) {
		p->nudge = true;
		return;
	}
	p->retry_ms = PATH_RETRY_MIN_MS;
	punch_from_top(p);
}

static uint8_t classify(const struct path *p, const union link_addr *ep, const struct local_addrs *local)
{
	for (unsigned i = 0; i < p->n; i++)
		if (link_addr_equal(&p->cands[i].addr, ep))
			return p->cands[i].type;
	/* the device followed the peer to an address nobody offered (it
	 * roamed): name it by where it lies */
	return local && local_addrs_on_link(local, ep) ? PATH_LAN : PATH_DIRECT;
}

void path_on_device(struct path *p, int64_t last_handshake, uint64_t rx_bytes, const union link_addr *endpoint,
		    const struct local_addrs *local, int64_t now)
{
	p->last_handshake = last_handshake;
	p->rx_bytes = rx_bytes;
	p->dev_endpoint = *endpoint;
	if (!link_addr_is_set(endpoint))
		return;
	switch (p->state) {
	case PATH_UP:
		/* a probe moves the endpoint itself: judged when it ends */
		if (p->probing)
			return;
		/* the device followed the peer elsewhere (it roamed) */
		if (!link_addr_equal(endpoint, &p->endpoint)) {
			p->endpoint = *endpoint;
			p->type = classify(p, endpoint, local);
			p->since = now;
			p->rtt_ms = -1;
		}
		return;
	case PATH_PUNCHING:
		/* only the peer, authenticated, moves these */
		if (p->issued && (last_handshake > p->hs_at_issue || rx_bytes > p->rx_at_issue))
			up(p, local, now, true);
		return;
	default:
		/* a known endpoint at start-up, or one the peer found while we
		 * waited to retry: any fresh session will do */
		if (last_handshake && now - last_handshake < PATH_FRESH_MS)
			up(p, local, now, false);
		return;
	}
}

void path_on_relay_rx(struct path *p, uint64_t bytes)
{
	p->relay_rx = bytes;
}

/* the next multiple of the probe period on the wall clock, in our clock */
static int64_t probe_slot(const struct path *p, int64_t now)
{
	int64_t wall = now + p->wall_offset;

	return (wall / PATH_PROBE_PERIOD_MS + 1) * PATH_PROBE_PERIOD_MS - p->wall_offset;
}

/* On the relay: the probes of the direct candidates (see path.h). Returns
 * when it needs the next tick. */
static int64_t relay_probe(struct path *p, int64_t now, struct path_cmd *cmd)
{
	unsigned idx[PATH_MAX_CANDS], nd = 0, steps;

	/* direct candidates only: a LAN address behind another router was
	 * tried by the punch and cannot become reachable by a NAT's change;
	 * the last one tried (the settling endpoint) is the last offered, the
	 * guess of the peer's address with its device's port */
	for (unsigned i = 0; i < p->n; i++)
		if (p->cands[i].type == PATH_DIRECT)
			idx[nd++] = i;
	if (!nd) {
		p->probing = false;
		p->probe_next = 0;
		return INT64_MAX;
	}
	if (!p->probing) {
		if (!p->probe_next)
			p->probe_next = probe_slot(p, now);
		if (now < p->probe_next)
			return p->probe_next;
		p->probing = true;
		p->probe_step = 0;
		p->probe_step_at = now;
		p->relay_ep = p->endpoint;
		p->probes++;
	}
	steps = nd * PATH_PROBE_ROUNDS;
	if (p->probe_step < steps) {
		if (now < p->probe_step_at)
			return p->probe_step_at;
		cmd->set_endpoint = true;
		cmd->kick = true;
		cmd->endpoint = p->cands[idx[p->probe_step % nd]].addr;
		p->probe_step++;
		p->probe_sampled = false;
		p->probe_step_at = now + PATH_PROBE_STEP_MS;
		p->probe_until = now + PATH_PROBE_SETTLE_MS;
		return p->probe_step < steps ? p->probe_step_at : p->probe_until;
	}
	if (!p->probe_sampled) {
		if (now < p->probe_until - PATH_PROBE_SETTLE_MS + PATH_PROBE_SAMPLE_MS)
			return p->probe_until - PATH_PROBE_SETTLE_MS + PATH_PROBE_SAMPLE_MS;
		p->probe_sampled = true;
		p->probe_rx = p->rx_bytes;
		p->probe_relay_rx = p->relay_rx;
	}
	if (now < p->probe_until)
		return p->probe_until;
	p->probing = false;
	p->probe_next = probe_slot(p, now);
	/* more heard than the relay brought: some came another way; and the
	 * device did not follow the peer back to the stand-in (it moves the
	 * endpoint to each authenticated packet's source) */
	if (p->rx_bytes - p->probe_rx > p->relay_rx - p->probe_relay_rx && link_addr_is_set(&p->dev_endpoint) &&
	    !link_addr_equal(&p->dev_endpoint, &p->relay_ep)) {
		p->endpoint = p->dev_endpoint;
		p->type = classify(p, &p->dev_endpoint, NULL);
		p->since = now;
		p->rtt_ms = -1;
		p->probe_wins++;
		return now;
	}
	cmd->set_endpoint = true;
	cmd->endpoint = p->relay_ep;
	return p->probe_next;
}

int64_t path_tick(struct path *p, int64_t now, struct path_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	for (;;) {
		switch (p->state) {
		case PATH_IDLE:
			return INT64_MAX;
		case PATH_UP: {
			int64_t stale = p->last_handshake ? p->last_handshake + PATH_STALE_MS + 1 : INT64_MAX;

			if (p->last_handshake && now - p->last_handshake > PATH_STALE_MS) {
				p->probing = false;
				punch_from_top(p);
				continue;
			}
			if (p->nudge) {
				p->nudge = false;
				cmd->set_endpoint = true;
				cmd->kick = true;
				cmd->endpoint = p->endpoint;
				return now;
			}
			if (p->type == PATH_RELAY) {
				int64_t t = relay_probe(p, now, cmd);

				return t < stale ? t : stale;
			}
			p->probing = false;
			p->probe_next = 0;
			return stale;
		}
		case PATH_FAILED:
			if (now < p->retry_at)
				return p->retry_at;
			punch_from_top(p);
			continue;
		case PATH_PUNCHING:
			if (!p->punch_since)
				p->punch_since = now ? now : 1;
			if (!p->relay_wanted && now - p->punch_since >= PATH_RELAY_AFTER_MS) {
				bool have_relay = false;

				for (unsigned i = 0; i < p->n; i++)
					have_relay |= p->cands[i].type == PATH_RELAY;
				p->relay_wanted = !have_relay;
			}
			if (p->trying >= p->n) {
				p->state = PATH_FAILED;
				p->retry_at = now + p->retry_ms;
				p->retry_ms = p->retry_ms * 2 > PATH_RETRY_MAX_MS ? PATH_RETRY_MAX_MS : p->retry_ms * 2;
				continue;
			}
			if (!p->issued) {
				cmd->set_endpoint = true;
				cmd->kick = true;
				cmd->endpoint = p->cands[p->trying].addr;
				p->issued = true;
				p->attempt_at = now;
				p->hs_at_issue = p->last_handshake;
				p->rx_at_issue = p->rx_bytes;
				p->attempt_until = now + window(p->cands[p->trying].type);
				p->attempts++;
				return p->attempt_until;
			}
			if (now < p->attempt_until)
				return p->attempt_until;
			p->trying++;
			p->issued = false;
			continue;
		}
		return INT64_MAX;
	}
}

bool path_wants_relay(const struct path *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->cands[i].type == PATH_RELAY)
			return false;
	return p->state == PATH_FAILED || (p->state == PATH_PUNCHING && p->relay_wanted);
}

const char *path_type_name(uint8_t type)
{
	return type == PATH_LAN ? "lan" : type == PATH_DIRECT ? "direct" : type == PATH_RELAY ? "relay" : "none";
}

const char *path_state_name(uint8_t state)
{
	static const char *const n[] = { "idle", "punching", "up", "failed" };
	return state < 4 ? n[state] : "?";
}
