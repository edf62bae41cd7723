/* coord_io.c: the coord session of `weft link` (coord_io.h). */
#include "link/coord_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord/proto.h"
#include "crypto/crypto.h"
#include "link/log.h"

/* Datagrams read per coord_io_read: the rest waits for the next round. */
#define COORD_IO_READ_BUDGET 64

static uint64_t ns(int64_t ms)
{
	return (uint64_t)ms * 1000000ull;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void to_coord(struct coord_addr *out, const union link_addr *a)
{
	memset(out, 0, sizeof(*out));
	coord_addr_from_sockaddr(out, &a->sa, link_addr_len(a));
}

static bool from_coord(union link_addr *out, const struct coord_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = coord_addr_to_sockaddr(a, &ss);

	memset(out, 0, sizeof(*out));
	if (!len || len > sizeof(*out))
		return false;
	memcpy(out, &ss, len);
	return true;
}

int coord_io_open(struct coord_io *c, const union link_addr *server, const uint8_t server_pub[32],
		  const uint8_t priv[32], const struct link *l, const char *label)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->server = *server;
	memcpy(c->priv, priv, 32);
	ret = coord_client_init(&c->client, priv, server_pub);
	if (ret)
		goto fail;
	memcpy(c->pub, c->client.static_pub, 32);
	if (l->n_peers) {
		c->peers = calloc(l->n_peers, sizeof(*c->peers));
		if (!c->peers) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	c->n_peers = l->n_peers;
	for (uint32_t i = 0; i < l->n_peers; i++) {
		ret = coord_token(c->peers[i].token, c->pub, l->peers[i].public_key, label, label ? strlen(label) : 0);
		if (ret)
			goto fail;
	}
	c->fd = socket(server->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	coord_io_close(c);
	return ret;
}

void coord_io_close(struct coord_io *c)
{
	if (c->fd >= 0)
		close(c->fd);
	coord_client_clear(&c->client);
	memzero(c->priv, sizeof(c->priv));
	free(c->peers);
	c->peers = NULL;
	c->fd = -1;
}

static void send_dgram(struct coord_io *c, const uint8_t *buf, int len)
{
	if (len <= 0)
		return;
	if (sendto(c->fd, buf, (size_t)len, 0, &c->server.sa, link_addr_len(&c->server)) < 0)
		link_log_verbose("coord: send: %s", strerror(errno));
}

static void initiate(struct coord_io *c, int64_t now_ms)
{
	uint8_t pkt[COORD_INITIATION_LEN];
	int n = coord_client_initiate(&c->client, pkt, ns(now_ms), wall_ns());

	if (n < 0) {
		link_log_error("coord: cannot make a handshake initiation: %s", strerror(-n));
		return;
	}
	send_dgram(c, pkt, n);
	c->fresh_session = false;
}

static bool same_cands(const struct coord_peer *p, const struct path_cand *own, unsigned n)
{
	if (p->n_sealed != n || !p->blob_len)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!link_addr_equal(&p->sealed[i].addr, &own[i].addr))
			return false;
	return true;
}

static void send_announces(struct coord_io *c, struct link *l, int64_t now_ms)
{
	struct path_cand own[LINK_MAX_OWN_CANDS];
	struct coord_addr ca[LINK_MAX_OWN_CANDS];
	unsigned n = link_own_cands(l, own, LINK_MAX_OWN_CANDS);
	uint8_t pkt[COORD_TRANSPORT_MAX];

	for (unsigned i = 0; i < n; i++)
		to_coord(&ca[i], &own[i].addr);
	/* a PING first: if we moved, its PONG brings the challenge whose echo
	 * verifies our new address, and only then does the server push our
	 * new candidates to the peers */
	send_dgram(c, pkt, coord_client_ping(&c->client, 0, pkt, sizeof(pkt), ns(now_ms)));
	for (uint32_t i = 0; i < c->n_peers; i++) {
		struct coord_peer *p = &c->peers[i];
		struct coord_msg m = { .type = COORD_ANNOUNCE };

		/* the same candidates keep the same blob: a new one would make
		 * the server push it to the peer again */
		if (!same_cands(p, own, n)) {
			int b = coord_blob_seal(p->blob, sizeof(p->blob), c->priv, c->pub, l->peers[i].public_key,
						p->token, ca, n);
			if (b < 0) {
				link_log_error("coord: cannot seal candidates: %s", strerror(-b));
				continue;
			}
			p->blob_len = (uint16_t)b;
			memcpy(p->sealed, own, n * sizeof(own[0]));
			p->n_sealed = n;
		}
		memcpy(m.token, p->token, COORD_TOKEN_LEN);
		m.blob = p->blob;
		m.blob_len = p->blob_len;
		send_dgram(c, pkt, coord_client_seal(&c->client, &m, pkt, sizeof(pkt), ns(now_ms)));
	}
	c->announce_wanted = false;
	c->answered = false;
	if (!c->n_peers) /* nothing to announce: nothing to wait for */
		link_on_coord(l, true, now_ms);
	link_log_verbose("coord: announced %u candidates for %u peers", n, c->n_peers);
}

void coord_io_announce(struct coord_io *c, struct link *l, int64_t now_ms)
{
	c->announce_wanted = true;
	/* after a failure the server may have lost our session (it
	 * restarted): a new handshake first, then the announcements */
	if (coord_client_ready(&c->client) && !l->coord_failures && !c->fresh_session) {
		send_announces(c, l, now_ms);
		return;
	}
	initiate(c, now_ms);
}

static void on_peer(struct coord_io *c, struct link *l, const struct coord_msg *m, int64_t now_ms)
{
	struct coord_addr ca[COORD_CANDIDATES_MAX];
	struct path_cand pc[COORD_CANDIDATES_MAX + 1];
	union link_addr observed;
	unsigned k = 0;
	uint32_t i;
	int n;

	for (i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].token, m->token, COORD_TOKEN_LEN))
			break;
	if (i == c->n_peers || (m->status & COORD_PEER_GONE))
		return;
	n = coord_blob_open(ca, COORD_CANDIDATES_MAX, m->blob, m->blob_len, c->priv, l->peers[i].public_key,
			    m->token);
	if (n < 0) {
		c->rx_bad++;
		link_log_verbose("coord: a match whose candidates do not open (not our peer): ignored");
		return;
	}
	bool have_observed = from_coord(&observed, &m->addr);
	for (int j = 0; j < n; j++) {
		if (!from_coord(&pc[k].addr, &ca[j]))
			continue;
		pc[k].type = (have_observed && link_addr_same_host(&pc[k].addr, &observed)) ||
				     !link_addr_is_private(&pc[k].addr) ? PATH_DIRECT : PATH_LAN;
		k++;
	}
	/* the last guess: the host the server saw, with the peer's device
	 * port (a NAT that keeps ports maps it there) */
	if (have_observed && k) {
		bool seen = false;
		union link_addr guess = observed;

		link_addr_set_port(&guess, link_addr_port(&pc[k - 1].addr));
		for (unsigned j = 0; j < k; j++)
			seen |= link_addr_same_host(&pc[j].addr, &observed);
		if (!seen) {
			pc[k].type = PATH_DIRECT;
			pc[k].addr = guess;
			k++;
		}
	}
	c->matches++;
	link_on_match(l, i, pc, k, now_ms);
	link_log_verbose("coord: match for peer %u: %u candidates", i, k);
}

void coord_io_read(struct coord_io *c, struct link *l, int64_t now_ms)
{
	uint8_t buf[COORD_DATAGRAM_MAX];
	uint8_t pkt[COORD_TRANSPORT_MAX];

	for (int i = 0; i < COORD_IO_READ_BUDGET; i++) {
		union link_addr from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(c->fd, buf, sizeof(buf), 0, &from.sa, &fl);
		struct coord_msg m;
		int r;

		if (len < 0)
			return;
		if (!link_addr_equal(&from, &c->server)) {
			c->rx_bad++;
			continue;
		}
		r = coord_client_receive(&c->client, buf, (size_t)len, ns(now_ms), &m);
		if (r < 0) {
			c->rx_bad++;
			continue;
		}
		switch (r) {
		case COORD_RX_ESTABLISHED:
			link_log_verbose("coord: session up");
			/* the server takes the new keys on our first message */
			send_dgram(c, pkt, coord_client_ping(&c->client, 0, pkt, sizeof(pkt), ns(now_ms)));
			if (c->announce_wanted)
				send_announces(c, l, now_ms);
			break;
		case COORD_RX_COOKIE:
			initiate(c, now_ms);
			break;
		case COORD_RX_MESSAGE:
			if (m.type == COORD_ANNOUNCED && !c->answered) {
				c->answered = true;
				link_on_coord(l, true, now_ms);
			} else if (m.type == COORD_PEER) {
				on_peer(c, l, &m, now_ms);
			} else if (m.type == COORD_ERROR) {
				c->rx_errors++;
				link_log_error("coord: the server refused: error %u", m.status);
			}
			break;
		}
	}
}

int64_t coord_io_tick(struct coord_io *c, struct link *l, int64_t now_ms)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];
	unsigned want = coord_client_tick(&c->client, ns(now_ms));

	if (want & COORD_LOST) {
		link_log_verbose("coord: session lost");
		c->fresh_session = true;
	}
	if (want & COORD_WANT_HANDSHAKE)
		initiate(c, now_ms);
	if (want & COORD_WANT_PING)
		send_dgram(c, pkt, coord_client_ping(&c->client, 0, pkt, sizeof(pkt), ns(now_ms)));
	return (int64_t)(coord_client_next_deadline(&c->client, ns(now_ms)) / 1000000ull);
}
