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

/* Insertion at its rank, after those of equal rank (stable). */
static bool insert(struct path *p, const struct path_cand *c, const struct local_addrs *local)
{
	unsigned r = rank(c, local), at = p->n;

	/* loopback only for a stand-in of our own (a probe's proxy) */
	if (p->n >= PATH_MAX_CANDS || !link_addr_is_set(&c->addr) || (link_addr_is_unusable(&c->addr) && !c->ours) ||
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
}

static void punch_from_top(struct path *p)
{
	p->state = p->n ? PATH_PUNCHING : PATH_IDLE;
	p->trying = 0;
	p->issued = false;
}

unsigned path_offer(struct path *p, const struct path_cand *c, unsigned n, const struct local_addrs *local,
		    int64_t now)
{
	struct path_cand relay[PATH_MAX_CANDS];
	unsigned nrelay = 0;
	bool in_use = false;

	(void)now;
	for (unsigned i = 0; i < p->n; i++)
		if (p->cands[i].type == PATH_RELAY || p->cands[i].ours)
			relay[nrelay++] = p->cands[i];
	p->n = 0;
	for (unsigned i = 0; i < n; i++)
		insert(p, &c[i], local);
	for (unsigned i = 0; i < nrelay; i++)
		insert(p, &relay[i], local);
	for (unsigned i = 0; i < p->n; i++)
		if (link_addr_equal(&p->cands[i].addr, &p->dev_endpoint))
			in_use = true;
	/* what the device talks to now, if the peer still offers it and the
	 * session is fresh, is the path (unless it is the relay while
	 * something better is offered) */
	if (in_use && p->last_handshake && now - p->last_handshake < PATH_FRESH_MS &&
	    !(p->type == PATH_RELAY && p->n > nrelay)) {
		if (p->state != PATH_UP)
			up(p, local, now, false);
		return p->n;
	}
	p->retry_ms = PATH_RETRY_MIN_MS;
	punch_from_top(p);
	return p->n;
}

bool path_add(struct path *p, const struct path_cand *c_in, const struct local_addrs *local, int64_t now)
{
	struct path_cand own = *c_in, *c = &own;

	(void)now;
	own.ours = true;
	if (!insert(p, c, local))
		return false;
	if (p->state == PATH_IDLE || p->state == PATH_FAILED) {
		/* straight to the new one: the others failed already */
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

int64_t path_tick(struct path *p, int64_t now, struct path_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	for (;;) {
		switch (p->state) {
		case PATH_IDLE:
			return INT64_MAX;
		case PATH_UP:
			if (p->last_handshake && now - p->last_handshake > PATH_STALE_MS) {
				punch_from_top(p);
				continue;
			}
			if (p->nudge) {
				p->nudge = false;
				cmd->set_endpoint = true;
				cmd->kick = true;
				cmd->endpoint = p->endpoint;
			}
			return p->last_handshake ? p->last_handshake + PATH_STALE_MS + 1 : INT64_MAX;
		case PATH_FAILED:
			if (now < p->retry_at)
				return p->retry_at;
			punch_from_top(p);
			continue;
		case PATH_PUNCHING:
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
	return p->state == PATH_FAILED;
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
