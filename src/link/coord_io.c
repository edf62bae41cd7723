/* coord_io.c: the coord session of `weft link` (coord_io.h). */
#include "link/coord_io.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
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
	c->tcp_fd = -1;
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

static void tcp_close(struct coord_io *c)
{
	if (c->tcp_fd >= 0)
		close(c->tcp_fd);
	c->tcp_fd = -1;
	free(c->tcp_rd);
	c->tcp_rd = NULL;
	frame_writer_free(&c->tcp_wr);
}

/* A non-blocking connection to the server's port over TCP; what is sent
 * before it is up waits in the queue. */
static int tcp_open(struct coord_io *c)
{
	int one = 1, fd;

	c->tcp_rd = calloc(1, sizeof(*c->tcp_rd));
	if (!c->tcp_rd || frame_writer_init(&c->tcp_wr) < 0) {
		tcp_close(c);
		return -ENOMEM;
	}
	fd = socket(c->server.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tcp_close(c);
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, &c->server.sa, link_addr_len(&c->server)) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		tcp_close(c);
		return e;
	}
	c->tcp_fd = fd;
	c->heard = false;
	c->tcp_switches++;
	return 0;
}

static int tcp_flush(struct coord_io *c)
{
	while (!frame_writer_empty(&c->tcp_wr)) {
		const uint8_t *a, *b;
		size_t al, bl;
		struct iovec iov[2];
		ssize_t n;

		frame_writer_pending(&c->tcp_wr, &a, &al, &b, &bl);
		iov[0] = (struct iovec){ (void *)a, al };
		iov[1] = (struct iovec){ (void *)b, bl };
		n = writev(c->tcp_fd, iov, bl ? 2 : 1);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR || errno == ENOTCONN ? 0 : -errno;
		frame_writer_consume(&c->tcp_wr, (size_t)n);
	}
	return 0;
}

void coord_io_close(struct coord_io *c)
{
	tcp_close(c);
	if (c->fd >= 0)
		close(c->fd);
	coord_client_clear(&c->client);
	memzero(c->priv, sizeof(c->priv));
	free(c->peers);
	c->peers = NULL;
	c->fd = -1;
}

void coord_io_send(struct coord_io *c, const uint8_t *buf, size_t len)
{
	if (c->tcp_fd >= 0) {
		/* a full queue drops, as a full socket buffer would */
		if (frame_writer_push(&c->tcp_wr, buf, len) == 0 && tcp_flush(c) < 0)
			link_log_verbose("coord: send over TCP: %s", strerror(errno));
		return;
	}
	if (sendto(c->fd, buf, len, 0, &c->server.sa, link_addr_len(&c->server)) < 0)
		link_log_verbose("coord: send: %s", strerror(errno));
}

static void send_dgram(struct coord_io *c, const uint8_t *buf, int len)
{
	if (len > 0)
		coord_io_send(c, buf, (size_t)len);
}

static void initiate(struct coord_io *c, int64_t now_ms)
{
	uint8_t pkt[COORD_INITIATION_LEN];
	int n;

	/* UDP never answered: the network may block it; the same session
	 * over TCP to the server's port */
	if (c->tcp_fd < 0 && !c->heard && c->udp_unanswered >= COORD_IO_UDP_TRIES) {
		int ret = tcp_open(c);

		if (ret)
			link_log_error("coord: no answer over UDP, and TCP: %s", strerror(-ret));
		else
			link_log_info("coord: no answer over UDP: trying TCP");
	}
	if (c->tcp_fd < 0 && !c->heard)
		c->udp_unanswered++;
	n = coord_client_initiate(&c->client, pkt, ns(now_ms), wall_ns());

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
	union link_addr got[COORD_CANDIDATES_MAX], observed;
	unsigned k, ng = 0;
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
	for (int j = 0; j < n; j++)
		if (from_coord(&got[ng], &ca[j]))
			ng++;
	from_coord(&observed, &m->addr); /* zeroed when there is none */
	k = link_match_cands(pc, COORD_CANDIDATES_MAX + 1, got, ng, &observed);
	c->matches++;
	link_on_match(l, i, pc, k, now_ms);
	link_log_verbose("coord: match for peer %u: %u candidates", i, k);
}

/* One datagram from the server (over UDP or a TCP frame). */
static void input(struct coord_io *c, struct link *l, uint8_t *buf, size_t len, int64_t now_ms)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];
	struct coord_msg m;
	int r;

	if (len && buf[0] == COORD_MSG_RELAY) {
		if (c->relay_msg)
			c->relay_msg(c->relay_ctx, buf, len, now_ms);
		else
			c->rx_bad++;
		c->heard = true;
		return;
	}
	r = coord_client_receive(&c->client, buf, len, ns(now_ms), &m);
	if (r < 0) {
		c->rx_bad++;
		return;
	}
	c->heard = true;
	c->udp_unanswered = 0;
	switch (r) {
	case COORD_RX_ESTABLISHED:
		link_log_verbose("coord: session up%s", c->tcp_fd >= 0 ? " (TCP)" : "");
		c->sessions++;
		/* the server takes the new keys on our first message */
		send_dgram(c, pkt, coord_client_ping(&c->client, 0, pkt, sizeof(pkt), ns(now_ms)));
		if (c->announce_wanted)
			send_announces(c, l, now_ms);
		break;
	case COORD_RX_COOKIE:
		initiate(c, now_ms);
		break;
	case COORD_RX_RELAY:
		if (c->relay_ctl)
			c->relay_ctl(c->relay_ctx, c->client.rx, c->client.rx_len, now_ms);
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

void coord_io_read(struct coord_io *c, struct link *l, int64_t now_ms)
{
	uint8_t buf[COORD_DATAGRAM_MAX];

	for (int i = 0; i < COORD_IO_READ_BUDGET; i++) {
		union link_addr from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(c->fd, buf, sizeof(buf), 0, &from.sa, &fl);

		if (len < 0)
			return;
		if (!link_addr_equal(&from, &c->server)) {
			c->rx_bad++;
			continue;
		}
		input(c, l, buf, (size_t)len, now_ms);
	}
}

void coord_io_tcp_event(struct coord_io *c, struct link *l, int64_t now_ms)
{
	uint8_t buf[COORD_DATAGRAM_MAX];

	if (c->tcp_fd < 0)
		return;
	for (int i = 0; i < COORD_IO_READ_BUDGET; i++) {
		size_t cap, len;
		uint8_t *sp = frame_reader_space(c->tcp_rd, &cap);
		ssize_t n = read(c->tcp_fd, sp, cap);
		const uint8_t *msg;
		int rc;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			link_log_info("coord: the TCP connection ended: UDP again");
			tcp_close(c);
			c->heard = false;
			c->udp_unanswered = 0;
			c->fresh_session = true;
			return;
		}
		if (n < 0)
			break;
		frame_reader_commit(c->tcp_rd, (size_t)n);
		while ((rc = frame_reader_next(c->tcp_rd, &msg, &len)) == 1) {
			if (len > sizeof(buf))
				continue;
			/* a copy: the relay opens its messages in place */
			memcpy(buf, msg, len);
			input(c, l, buf, len, now_ms);
			if (c->tcp_fd < 0)
				return;
		}
		if (rc < 0) {
			tcp_close(c);
			c->fresh_session = true;
			return;
		}
	}
	if (c->tcp_fd >= 0 && tcp_flush(c) < 0) {
		tcp_close(c);
		c->fresh_session = true;
	}
}

int64_t coord_io_tick(struct coord_io *c, struct link *l, int64_t now_ms)
{
	uint8_t pkt[COORD_TRANSPORT_MAX];
	unsigned want = coord_client_tick(&c->client, ns(now_ms));

	/* a connection still being made takes its queue once it is up */
	if (c->tcp_fd >= 0 && !frame_writer_empty(&c->tcp_wr) && tcp_flush(c) < 0) {
		tcp_close(c);
		c->fresh_session = true;
	}

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
