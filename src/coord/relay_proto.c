/* relay_proto.c: encoding of the relay's control messages and sealing of
 * its data messages (see relay_proto.h). Data is sealed and opened in
 * place: the server opens a message where it was received and seals it for
 * the other side in the same buffer, so a relayed datagram is never copied. */
#include <errno.h>
#include <string.h>

#include "coord/relay_proto.h"
#include "crypto/crypto.h"

int relay_ctl_encode(uint8_t *out, size_t cap, const struct relay_ctl *m)
{
	size_t len;

	switch (m->type) {
	case RELAY_JOIN:
	case RELAY_LEAVE:
		len = RELAY_JOIN_LEN;
		break;
	case RELAY_JOINED:
		len = RELAY_JOINED_LEN;
		break;
	default:
		return -EINVAL;
	}
	if (cap < len)
		return -EMSGSIZE;
	memset(out, 0, len);
	out[0] = m->type;
	if (m->type == RELAY_JOINED) {
		out[1] = m->status;
		coord_put_le32(out + 4, m->channel);
		memcpy(out + 8, m->token, COORD_TOKEN_LEN);
	} else {
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
	}
	return (int)len;
}

/* trailing bytes must be the transport's zero padding */
static bool relay_zero_tail(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int relay_ctl_decode(struct relay_ctl *m, const uint8_t *in, size_t len)
{
	size_t want;

	memset(m, 0, sizeof(*m));
	if (len < 4)
		return -EBADMSG;
	switch (in[0]) {
	case RELAY_JOIN:
	case RELAY_LEAVE:
		want = RELAY_JOIN_LEN;
		if (len < want || in[1] || in[2] || in[3])
			return -EBADMSG;
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		break;
	case RELAY_JOINED:
		want = RELAY_JOINED_LEN;
		if (len < want || in[1] > RELAY_INVITED || in[2] || in[3])
			return -EBADMSG;
		m->status = in[1];
		m->channel = coord_get_le32(in + 4);
		memcpy(m->token, in + 8, COORD_TOKEN_LEN);
		break;
	default:
		return -EBADMSG;
	}
	if (!relay_zero_tail(in + want, len - want))
		return -EBADMSG;
	m->type = in[0];
	return 0;
}

static void relay_put_header(uint8_t *out, const struct coord_keys *k, uint64_t counter)
{
	memset(out, 0, RELAY_HEADER_LEN);
	out[0] = COORD_MSG_RELAY;
	coord_put_le32(out + COORD_TRANSPORT_RECEIVER, k->remote_index);
	coord_put_le64(out + COORD_TRANSPORT_COUNTER, counter);
}

static int relay_seal_body(struct coord_keys *k, uint8_t *out, size_t body_len)
{
	uint64_t counter;

	if (k->send_counter >= COORD_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	counter = k->send_counter++;
	relay_put_header(out, k, counter);
	aead_seal(out + RELAY_HEADER_LEN, out + RELAY_HEADER_LEN, body_len, out, RELAY_HEADER_LEN,
		  counter, k->send);
	return (int)(RELAY_HEADER_LEN + body_len + COORD_TAG_LEN);
}

int relay_data_seal(struct coord_keys *k, uint32_t channel, const uint8_t *dgram, size_t len,
		    uint8_t *out, size_t cap)
{
	if (len > RELAY_MAX_DATAGRAM || cap < len + RELAY_OVERHEAD)
		return -EMSGSIZE;
	memmove(out + RELAY_HEADER_LEN + 4, dgram, len);
	coord_put_le32(out + RELAY_HEADER_LEN, channel);
	return relay_seal_body(k, out, 4 + len);
}

int relay_data_open(struct coord_keys *k, uint8_t *pkt, size_t len, uint32_t *channel,
		    uint8_t **dgram)
{
	uint64_t counter;

	if (len < RELAY_MSG_MIN || len > RELAY_MSG_MAX || pkt[0] != COORD_MSG_RELAY ||
	    pkt[1] || pkt[2] || pkt[3])
		return -EBADMSG;
	counter = coord_get_le64(pkt + COORD_TRANSPORT_COUNTER);
	if (!coord_replay_check(&k->replay, counter))
		return -EALREADY;
	if (!aead_open(pkt + RELAY_HEADER_LEN, pkt + RELAY_HEADER_LEN, len - RELAY_HEADER_LEN,
		       pkt, RELAY_HEADER_LEN, counter, k->recv))
		return -EBADMSG;
	if (!coord_replay_update(&k->replay, counter))
		return -EALREADY;
	*channel = coord_get_le32(pkt + RELAY_HEADER_LEN);
	*dgram = pkt + RELAY_HEADER_LEN + 4;
	return (int)(len - RELAY_OVERHEAD);
}

int relay_data_reseal(struct coord_keys *to, uint32_t channel, uint8_t *pkt, size_t dgram_len)
{
	if (dgram_len > RELAY_MAX_DATAGRAM)
		return -EMSGSIZE;
	coord_put_le32(pkt + RELAY_HEADER_LEN, channel);
	return relay_seal_body(to, pkt, 4 + dgram_len);
}

const char *relay_status_name(uint8_t status)
{
	static const char *const names[] = {
		[RELAY_WAITING] = "waiting", [RELAY_READY] = "ready",
		[RELAY_REFUSED_UNKNOWN] = "refused (token not announced)",
		[RELAY_REFUSED_FULL] = "refused (server full)",
		[RELAY_REFUSED_BUSY] = "refused (token held by two others)",
		[RELAY_REFUSED_OFF] = "refused (relay off)", [RELAY_CLOSED] = "closed",
		[RELAY_INVITED] = "invited",
	};

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}
