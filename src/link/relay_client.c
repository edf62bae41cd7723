/* relay_client.c: the local stand-in sockets of relayed peers and the
 * wrapping of their datagrams for the coord's relay (see relay_client.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "link/relay_client.h"

#define NS_PER_S 1000000000ull

void relay_client_init(struct relay_client *rc, uint16_t device_port, relay_send_fn send, void *ctx)
{
	memset(rc, 0, sizeof(*rc));
	for (int i = 0; i < RELAY_CLIENT_MAX; i++)
		rc->peers[i].fd = -1;
	rc->device_port = device_port;
	rc->send = send;
	rc->send_ctx = ctx;
}

void relay_client_free(struct relay_client *rc)
{
	for (int i = 0; i < RELAY_CLIENT_MAX; i++)
		if (rc->peers[i].fd >= 0) {
			close(rc->peers[i].fd);
			rc->peers[i].fd = -1;
		}
}

int relay_client_find_token(const struct relay_client *rc, const uint8_t token[COORD_TOKEN_LEN])
{
	for (int i = 0; i < RELAY_CLIENT_MAX; i++)
		if (rc->peers[i].fd >= 0 && !memcmp(rc->peers[i].token, token, COORD_TOKEN_LEN))
			return i;
	return -1;
}

int relay_client_find(const struct relay_client *rc, uint32_t peer)
{
	for (int i = 0; i < RELAY_CLIENT_MAX; i++)
		if (rc->peers[i].fd >= 0 && rc->peers[i].peer == peer)
			return i;
	return -1;
}

/* the session's current keys, when they may still be used */
static struct coord_keys *session_keys(struct coord_client *c, uint64_t now_ns)
{
	if (!c || !c->have_cur || now_ns - c->cur.birth_ns >= COORD_REJECT_AFTER_TIME * NS_PER_S)
		return NULL;
	return &c->cur;
}

int relay_client_open(struct relay_client *rc, uint32_t peer, const uint8_t token[COORD_TOKEN_LEN],
		      union link_addr *endpoint)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int slot = relay_client_find(rc, peer), fd;

	if (slot >= 0) {
		*endpoint = rc->peers[slot].local;
		return slot;
	}
	for (slot = 0; slot < RELAY_CLIENT_MAX && rc->peers[slot].fd >= 0; slot++)
		;
	if (slot == RELAY_CLIENT_MAX)
		return -ENOSPC;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	struct relay_peer *p = &rc->peers[slot];

	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->peer = peer;
	memcpy(p->token, token, COORD_TOKEN_LEN);
	p->status = RELAY_WAITING;
	memcpy(&p->local.in4, &sin, sizeof(sin));
	*endpoint = p->local;
	return slot;
}

static int send_ctl(struct relay_client *rc, struct coord_client *c, uint8_t type,
		    const uint8_t token[COORD_TOKEN_LEN], uint64_t now_ns)
{
	struct relay_ctl m = { .type = type };
	uint8_t pt[64], out[COORD_TRANSPORT_MAX];
	struct coord_keys *k = session_keys(c, now_ns);
	int n;

	if (!k)
		return -ENOTCONN;
	memcpy(m.token, token, COORD_TOKEN_LEN);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	if (n < 0)
		return n;
	n = coord_transport_seal(k, pt, (size_t)n, out, sizeof(out));
	if (n < 0)
		return n;
	c->last_sent_ns = now_ns;
	return rc->send(rc->send_ctx, out, (size_t)n);
}

void relay_client_close(struct relay_client *rc, struct coord_client *c, uint32_t peer, int64_t now_ms,
			uint64_t now_ns)
{
	int slot = relay_client_find(rc, peer);
	struct relay_peer *p;

	(void)now_ms;
	if (slot < 0)
		return;
	p = &rc->peers[slot];
	send_ctl(rc, c, RELAY_LEAVE, p->token, now_ns);
	close(p->fd);
	memzero(p, sizeof(*p));
	p->fd = -1;
}

int64_t relay_client_tick(struct relay_client *rc, struct coord_client *c, bool rejoin,
			  int64_t now_ms, uint64_t now_ns)
{
	int64_t next = INT64_MAX;

	for (int i = 0; i < RELAY_CLIENT_MAX; i++) {
		struct relay_peer *p = &rc->peers[i];

		if (p->fd < 0)
			continue;
		if (rejoin) {
			/* a new session: the server forgot our channels */
			p->joined = false;
			p->channel = 0;
			p->join_sent = 0;
		}
		/* READY holds until the session changes (refreshed now and
		 * then); WAITING is asked again (it becomes READY by a JOINED
		 * the server pushes, or by asking again) */
		if (p->joined && p->status == RELAY_READY) {
			if (now_ms - p->join_sent >= RELAY_CLIENT_REFRESH_MS && send_ctl(rc, c, RELAY_JOIN, p->token, now_ns) == 0)
				p->join_sent = now_ms;
			if (p->join_sent + RELAY_CLIENT_REFRESH_MS < next)
				next = p->join_sent + RELAY_CLIENT_REFRESH_MS;
			continue;
		}
		if (!p->join_sent || now_ms - p->join_sent >= RELAY_CLIENT_JOIN_RETRY_MS) {
			if (send_ctl(rc, c, RELAY_JOIN, p->token, now_ns) == 0)
				p->join_sent = now_ms;
			else
				p->join_sent = now_ms; /* no session: try again later */
		}
		if (p->join_sent + RELAY_CLIENT_JOIN_RETRY_MS < next)
			next = p->join_sent + RELAY_CLIENT_JOIN_RETRY_MS;
	}
	return next;
}

int relay_client_on_ctl(struct relay_client *rc, const uint8_t *pt, size_t len,
			uint8_t token[COORD_TOKEN_LEN])
{
	struct relay_ctl m;

	if (relay_ctl_decode(&m, pt, len) < 0 || m.type != RELAY_JOINED)
		return -EBADMSG;
	if (m.status == RELAY_INVITED) {
		/* joined already (or about to): the JOIN answers it */
		if (relay_client_find_token(rc, m.token) >= 0)
			return 0;
		memcpy(token, m.token, COORD_TOKEN_LEN);
		return 1;
	}
	for (int i = 0; i < RELAY_CLIENT_MAX; i++) {
		struct relay_peer *p = &rc->peers[i];

		if (p->fd < 0 || memcmp(p->token, m.token, COORD_TOKEN_LEN))
			continue;
		p->joined = true;
		p->status = m.status;
		p->channel = m.status == RELAY_WAITING || m.status == RELAY_READY ? m.channel : 0;
		return 0;
	}
	return -ENOENT;
}

int relay_client_on_message(struct relay_client *rc, struct coord_client *c, uint8_t *pkt, size_t len,
			    uint64_t now_ns)
{
	struct sockaddr_in dev = { .sin_family = AF_INET, .sin_port = htons(rc->device_port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct coord_keys *k;
	uint32_t idx, ch;
	uint8_t *dg;
	int n;

	if (len < RELAY_MSG_MIN || !c) {
		rc->bad_messages++;
		return -EBADMSG;
	}
	idx = coord_transport_receiver(pkt);
	k = c->have_cur && idx == c->cur.local_index ? &c->cur :
	    c->have_prev && idx == c->prev.local_index ? &c->prev : NULL;
	if (!k || now_ns - k->birth_ns >= COORD_REJECT_AFTER_TIME * NS_PER_S) {
		rc->bad_messages++;
		return -ENOTCONN;
	}
	n = relay_data_open(k, pkt, len, &ch, &dg);
	if (n < 0) {
		rc->bad_messages++;
		return n;
	}
	c->last_recv_ns = now_ns;
	for (int i = 0; i < RELAY_CLIENT_MAX; i++) {
		struct relay_peer *p = &rc->peers[i];

		if (p->fd < 0 || !p->channel || p->channel != ch)
			continue;
		if (sendto(p->fd, dg, (size_t)n, 0, (struct sockaddr *)&dev, sizeof(dev)) < 0) {
			p->dropped++;
			return -errno;
		}
		p->from_coord++;
		p->from_coord_bytes += (uint64_t)n;
		return 0;
	}
	rc->unknown_channel++;
	return -ENOENT;
}

int relay_client_on_readable(struct relay_client *rc, struct coord_client *c, int slot, uint64_t now_ns)
{
	struct relay_peer *p = &rc->peers[slot];
	uint8_t buf[RELAY_MSG_MAX + 64];
	int sent = 0;

	if (slot < 0 || slot >= RELAY_CLIENT_MAX || p->fd < 0)
		return -EINVAL;
	for (int i = 0; i < RELAY_CLIENT_BATCH; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		/* read straight to where the seal wants the datagram */
		ssize_t n = recvfrom(p->fd, buf + RELAY_HEADER_LEN + 4, RELAY_MAX_DATAGRAM + 1, 0,
				     (struct sockaddr *)&from, &fl);
		struct coord_keys *k;
		int m;

		if (n < 0)
			break;
		/* the device alone speaks through the relay */
		if (from.sin_family != AF_INET || from.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
		    ntohs(from.sin_port) != rc->device_port || n > RELAY_MAX_DATAGRAM) {
			p->dropped++;
			continue;
		}
		k = session_keys(c, now_ns);
		if (!k || !p->channel || p->status != RELAY_READY) {
			p->dropped++;
			continue;
		}
		m = relay_data_seal(k, p->channel, buf + RELAY_HEADER_LEN + 4, (size_t)n, buf, sizeof(buf));
		if (m < 0 || rc->send(rc->send_ctx, buf, (size_t)m) < 0) {
			p->dropped++;
			continue;
		}
		c->last_sent_ns = now_ns;
		p->to_coord++;
		p->to_coord_bytes += (uint64_t)n;
		sent++;
	}
	return sent;
}

unsigned relay_client_fds(const struct relay_client *rc, int *fds, int *slots, unsigned max)
{
	unsigned n = 0;

	for (int i = 0; i < RELAY_CLIENT_MAX && n < max; i++)
		if (rc->peers[i].fd >= 0) {
			fds[n] = rc->peers[i].fd;
			slots[n++] = i;
		}
	return n;
}
