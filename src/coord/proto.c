/* proto.c: encoding and decoding of the coord protocol's inner messages and
 * addresses, and the classification of datagrams on the coord port (see
 * proto.h and docs/coord-protocol.md). Every read is checked against the
 * buffer's length first; nothing here allocates. */
#include "coord/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define STUN_MAGIC 0x2112A442u

enum coord_kind coord_classify(const uint8_t *pkt, size_t len)
{
	if (len < 4)
		return COORD_KIND_UNKNOWN;
	if ((pkt[0] & 0xc0) == 0) {
		/* STUN: 20-byte header, length a multiple of 4, magic cookie. */
		if (len >= 20 && (len & 3) == 0 &&
		    ((uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7]) == STUN_MAGIC)
			return COORD_KIND_STUN;
		return COORD_KIND_UNKNOWN;
	}
	if (pkt[1] || pkt[2] || pkt[3])
		return COORD_KIND_UNKNOWN;
	switch (pkt[0]) {
	case COORD_MSG_INITIATION:
		return len == COORD_INITIATION_LEN ? COORD_KIND_INITIATION : COORD_KIND_UNKNOWN;
	case COORD_MSG_RESPONSE:
		return len == COORD_RESPONSE_LEN ? COORD_KIND_RESPONSE : COORD_KIND_UNKNOWN;
	case COORD_MSG_COOKIE:
		return len == COORD_COOKIE_REPLY_LEN ? COORD_KIND_COOKIE : COORD_KIND_UNKNOWN;
	case COORD_MSG_TRANSPORT:
		/* at least one padded block, a whole number of blocks, bounded */
		if (len < COORD_TRANSPORT_OVERHEAD + COORD_PADDING || len > COORD_TRANSPORT_MAX ||
		    (len - COORD_TRANSPORT_OVERHEAD) % COORD_PADDING)
			return COORD_KIND_UNKNOWN;
		return COORD_KIND_TRANSPORT;
	case COORD_MSG_RELAY:
		return len <= COORD_DATAGRAM_MAX ? COORD_KIND_RELAY : COORD_KIND_UNKNOWN;
	default:
		return COORD_KIND_UNKNOWN;
	}
}

void coord_addr_encode(uint8_t out[COORD_ADDR_LEN], const struct coord_addr *a)
{
	memset(out, 0, COORD_ADDR_LEN);
	if (a->family != 4 && a->family != 6)
		return;
	out[0] = a->family;
	out[2] = (uint8_t)(a->port >> 8);
	out[3] = (uint8_t)a->port;
	memcpy(out + 4, a->ip, a->family == 4 ? 4 : 16);
}

bool coord_addr_decode(struct coord_addr *a, const uint8_t in[COORD_ADDR_LEN])
{
	memset(a, 0, sizeof(*a));
	if (in[1])
		return false;
	if (in[0] == 0) {
		/* "none": every byte zero */
		for (size_t i = 2; i < COORD_ADDR_LEN; i++)
			if (in[i])
				return false;
		return true;
	}
	if (in[0] != 4 && in[0] != 6)
		return false;
	if (in[0] == 4)
		for (size_t i = 8; i < COORD_ADDR_LEN; i++)
			if (in[i])
				return false;
	a->family = in[0];
	a->port = (uint16_t)(in[2] << 8 | in[3]);
	memcpy(a->ip, in + 4, a->family == 4 ? 4 : 16);
	return true;
}

bool coord_addr_from_sockaddr(struct coord_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->family = 4;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a->family = 4;
			memcpy(a->ip, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = 6;
			memcpy(a->ip, &s6->sin6_addr, 16);
		}
		return true;
	}
	return false;
}

socklen_t coord_addr_to_sockaddr(const struct coord_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		return sizeof(*s4);
	}
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
		return sizeof(*s6);
	}
	return 0;
}

bool coord_addr_equal(const struct coord_addr *a, const struct coord_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16);
}

void coord_addr_format(char *out, size_t cap, const struct coord_addr *a)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == 4 && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)))
		snprintf(out, cap, "%s:%u", ip, a->port);
	else if (a->family == 6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)))
		snprintf(out, cap, "[%s]:%u", ip, a->port);
	else
		snprintf(out, cap, "none");
}

static size_t msg_fixed_len(uint8_t type)
{
	switch (type) {
	case COORD_ANNOUNCE: return COORD_ANNOUNCE_LEN;
	case COORD_WITHDRAW: return COORD_WITHDRAW_LEN;
	case COORD_PING: return COORD_PING_LEN;
	case COORD_ANNOUNCED: return COORD_ANNOUNCED_LEN;
	case COORD_PEER: return COORD_PEER_LEN;
	case COORD_PONG: return COORD_PONG_LEN;
	case COORD_ERROR: return COORD_ERROR_LEN;
	default: return 0;
	}
}

const char *coord_msg_name(uint8_t type)
{
	switch (type) {
	case COORD_ANNOUNCE: return "announce";
	case COORD_WITHDRAW: return "withdraw";
	case COORD_PING: return "ping";
	case COORD_ANNOUNCED: return "announced";
	case COORD_PEER: return "peer";
	case COORD_PONG: return "pong";
	case COORD_ERROR: return "error";
	default: return "unknown";
	}
}

static bool has_blob(uint8_t type)
{
	return type == COORD_ANNOUNCE || type == COORD_PEER;
}

int coord_msg_encode(uint8_t *out, size_t cap, const struct coord_msg *m)
{
	size_t fixed = msg_fixed_len(m->type);

	if (!fixed)
		return -EINVAL;
	size_t blob = has_blob(m->type) ? m->blob_len : 0;
	if (blob > COORD_BLOB_MAX || (blob && !m->blob))
		return -EINVAL;
	if (cap < fixed + blob)
		return -EMSGSIZE;
	memset(out, 0, fixed);
	out[0] = m->type;
	switch (m->type) {
	case COORD_ANNOUNCE:
		out[2] = (uint8_t)blob;
		out[3] = (uint8_t)(blob >> 8);
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
		break;
	case COORD_WITHDRAW:
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
		break;
	case COORD_PING:
		coord_put_le64(out + 4, m->echo);
		memcpy(out + 12, m->challenge, COORD_CHALLENGE_LEN);
		break;
	case COORD_ANNOUNCED:
		if (m->status > COORD_MATCHED)
			return -EINVAL;
		out[1] = m->status;
		out[2] = (uint8_t)m->ttl;
		out[3] = (uint8_t)(m->ttl >> 8);
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
		break;
	case COORD_PEER:
		if (m->status & ~COORD_PEER_GONE)
			return -EINVAL;
		out[1] = m->status;
		out[2] = (uint8_t)blob;
		out[3] = (uint8_t)(blob >> 8);
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
		coord_addr_encode(out + 36, &m->addr);
		break;
	case COORD_PONG:
		coord_put_le64(out + 4, m->echo);
		coord_addr_encode(out + 12, &m->addr);
		memcpy(out + 32, m->challenge, COORD_CHALLENGE_LEN);
		break;
	case COORD_ERROR:
		if (!m->status)
			return -EINVAL;
		out[1] = m->status;
		memcpy(out + 4, m->token, COORD_TOKEN_LEN);
		break;
	}
	if (blob)
		memcpy(out + fixed, m->blob, blob);
	return (int)(fixed + blob);
}

static bool zeros(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return !acc;
}

int coord_msg_decode(struct coord_msg *m, const uint8_t *in, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (len < 1)
		return -EBADMSG;
	size_t fixed = msg_fixed_len(in[0]);
	if (!fixed || len < fixed)
		return -EBADMSG;
	m->type = in[0];
	size_t blob = 0;
	switch (m->type) {
	case COORD_ANNOUNCE:
		if (in[1])
			return -EBADMSG;
		blob = (size_t)in[2] | (size_t)in[3] << 8;
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		break;
	case COORD_WITHDRAW:
		if (!zeros(in + 1, 3))
			return -EBADMSG;
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		break;
	case COORD_PING:
		if (!zeros(in + 1, 3) || !zeros(in + 28, COORD_PING_LEN - 28))
			return -EBADMSG;
		m->echo = coord_get_le64(in + 4);
		memcpy(m->challenge, in + 12, COORD_CHALLENGE_LEN);
		break;
	case COORD_ANNOUNCED:
		if (in[1] > COORD_MATCHED)
			return -EBADMSG;
		m->status = in[1];
		m->ttl = (uint16_t)(in[2] | in[3] << 8);
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		break;
	case COORD_PEER:
		if (in[1] & ~COORD_PEER_GONE)
			return -EBADMSG;
		m->status = in[1];
		blob = (size_t)in[2] | (size_t)in[3] << 8;
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		if (!coord_addr_decode(&m->addr, in + 36))
			return -EBADMSG;
		break;
	case COORD_PONG:
		if (!zeros(in + 1, 3))
			return -EBADMSG;
		m->echo = coord_get_le64(in + 4);
		if (!coord_addr_decode(&m->addr, in + 12))
			return -EBADMSG;
		memcpy(m->challenge, in + 32, COORD_CHALLENGE_LEN);
		break;
	case COORD_ERROR:
		if (!in[1] || in[2] || in[3])
			return -EBADMSG;
		m->status = in[1];
		memcpy(m->token, in + 4, COORD_TOKEN_LEN);
		break;
	}
	if (blob > COORD_BLOB_MAX || len - fixed < blob)
		return -EBADMSG;
	if (!zeros(in + fixed + blob, len - fixed - blob))
		return -EBADMSG;
	m->blob_len = (uint16_t)blob;
	m->blob = blob ? in + fixed : NULL;
	return 0;
}
