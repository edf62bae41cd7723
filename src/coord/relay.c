/* relay.c: the relay of last resort's server side (see relay.h): control
 * messages in, JOINED out, and relay messages opened, routed by the pair
 * table, re-sealed in place and sent on. No allocation per message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/relay.h"
#include "crypto/crypto.h"

struct relay_server {
	struct relay_table *table;
	const struct relay_server_ops *ops;
	void *ctx;
	struct relay_server_counters c;
};

struct relay_server *relay_server_new(const struct relay_limits *l, const struct relay_server_ops *ops,
				      void *ctx)
{
	struct relay_server *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->table = relay_table_new(l);
	if (!rs->table) {
		free(rs);
		return NULL;
	}
	rs->ops = ops;
	rs->ctx = ctx;
	return rs;
}

void relay_server_free(struct relay_server *rs)
{
	if (!rs)
		return;
	relay_table_free(rs->table);
	free(rs);
}

/* JOINED to a client, sealed in a transport message of its session */
static int relay_send_joined(struct relay_server *rs, uint64_t client, const uint8_t token[COORD_TOKEN_LEN],
		       uint8_t status, uint32_t channel)
{
	struct relay_ctl m = { .type = RELAY_JOINED, .status = status, .channel = channel };
	uint8_t pt[RELAY_JOINED_LEN], out[COORD_TRANSPORT_MAX];
	struct coord_keys *k = rs->ops->keys_of(rs->ctx, client);
	int n;

	if (!k)
		return -ENOTCONN;
	memcpy(m.token, token, COORD_TOKEN_LEN);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	if (n > 0)
		n = coord_transport_seal(k, pt, (size_t)n, out, sizeof(out));
	if (n > 0)
		n = rs->ops->send(rs->ctx, client, out, (size_t)n);
	if (n < 0)
		rs->c.send_failed++;
	return n < 0 ? n : 0;
}

static void relay_tell_closed(void *arg, uint64_t other, const uint8_t token[RELAY_TOKEN_LEN])
{
	struct relay_server *rs = arg;

	relay_send_joined(rs, other, token, RELAY_CLOSED, 0);
}

int relay_server_on_ctl(struct relay_server *rs, uint64_t client, const uint8_t *pt, size_t len,
			uint64_t now_ns)
{
	struct relay_ctl m;
	uint32_t channel = 0;
	bool ready = false;
	uint8_t status;
	int rc;

	rs->c.ctl_in++;
	if (relay_ctl_decode(&m, pt, len) < 0 || (m.type != RELAY_JOIN && m.type != RELAY_LEAVE)) {
		rs->c.bad_messages++;
		return -EBADMSG;
	}
	if (m.type == RELAY_LEAVE) {
		rs->c.leaves++;
		relay_table_leave(rs->table, client, m.token, relay_tell_closed, rs);
		return 0;
	}
	rs->c.joins++;
	/* only a token this client announced: a relay never helps anyone reach
	 * a peer who did not ask for it too */
	if (!rs->ops->announced(rs->ctx, client, m.token)) {
		rs->c.refused_unknown++;
		return relay_send_joined(rs, client, m.token, RELAY_REFUSED_UNKNOWN, 0);
	}
	rc = relay_table_join(rs->table, m.token, client, now_ns, &channel, &ready);
	if (rc == -ENOSPC)
		return relay_send_joined(rs, client, m.token, RELAY_REFUSED_FULL, 0);
	if (rc == -EBUSY)
		return relay_send_joined(rs, client, m.token, RELAY_REFUSED_BUSY, 0);
	if (rc < 0)
		return rc;
	status = ready ? RELAY_READY : RELAY_WAITING;
	if (!ready && rs->ops->other_holder) {
		uint64_t other = rs->ops->other_holder(rs->ctx, client, m.token);

		if (other && other != client) {
			rs->c.invites++;
			relay_send_joined(rs, other, m.token, RELAY_INVITED, 0);
		}
	}
	if (ready) {
		/* the side that waited learns it may send now */
		uint32_t other_ch = relay_channel_other(channel);
		uint64_t other = relay_table_peer_of(rs->table, channel);

		if (other)
			relay_send_joined(rs, other, m.token, RELAY_READY, other_ch);
	}
	return relay_send_joined(rs, client, m.token, status, channel);
}

int relay_server_on_message(struct relay_server *rs, uint8_t *pkt, size_t len, uint64_t now_ns)
{
	struct coord_keys *in, *out;
	uint64_t from, to;
	uint32_t ch, to_ch;
	uint8_t *dg;
	int n, rc;

	rs->c.messages_in++;
	if (len < RELAY_MSG_MIN || len > RELAY_MSG_MAX) {
		rs->c.bad_messages++;
		return -EBADMSG;
	}
	in = rs->ops->keys_by_index(rs->ctx, coord_transport_receiver(pkt), &from);
	if (!in) {
		rs->c.bad_messages++;
		return -ENOTCONN;
	}
	n = relay_data_open(in, pkt, len, &ch, &dg);
	if (n < 0) {
		if (n == -EALREADY)
			rs->c.replayed++;
		else
			rs->c.bad_messages++;
		return n;
	}
	rc = relay_table_route(rs->table, from, ch, (size_t)n, now_ns, &to, &to_ch);
	if (rc < 0)
		return rc; /* counted by the table */
	out = rs->ops->keys_of(rs->ctx, to);
	if (!out) {
		rs->c.send_failed++;
		return -ENOTCONN;
	}
	rc = relay_data_reseal(out, to_ch, pkt, (size_t)n);
	if (rc > 0)
		rc = rs->ops->send(rs->ctx, to, pkt, (size_t)rc);
	if (rc < 0) {
		rs->c.send_failed++;
		return rc;
	}
	return 0;
}

void relay_server_client_gone(struct relay_server *rs, uint64_t client, uint64_t now_ns)
{
	(void)now_ns;
	relay_table_leave(rs->table, client, NULL, relay_tell_closed, rs);
}

void relay_server_tick(struct relay_server *rs, uint64_t now_ns)
{
	relay_table_expire(rs->table, now_ns);
}

const struct relay_server_counters *relay_server_counters(const struct relay_server *rs)
{
	return &rs->c;
}

const struct relay_counters *relay_server_table_counters(const struct relay_server *rs)
{
	return relay_table_counters(rs->table);
}

size_t relay_server_pairs(const struct relay_server *rs)
{
	return relay_table_pairs(rs->table);
}
