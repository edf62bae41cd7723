/* socks5.c: the SOCKS5 messages `weft serve` reads and writes (RFC 1928
 * greeting, request and reply; RFC 1929 username/password). Parsers only:
 * the connection's state lives in reverse.c. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "crypto/crypto.h"
#include "serve/reverse.h"

#define SOCKS5_VERSION 5
#define SOCKS5_AUTH_VERSION 1 /* RFC 1929 section 2 */
#define SOCKS5_CMD_CONNECT 1
#define SOCKS5_ATYP_IPV4 1
#define SOCKS5_ATYP_NAME 3
#define SOCKS5_ATYP_IPV6 4

int socks5_greeting(const uint8_t *buf, size_t len, bool want_password, uint8_t *method)
{
	if (len < 2)
		return 0;
	if (buf[0] != SOCKS5_VERSION || buf[1] == 0)
		return -1;
	if (len < 2u + buf[1])
		return 0;
	*method = SOCKS5_AUTH_UNACCEPTABLE;
	for (size_t i = 0; i < buf[1]; i++) {
		uint8_t m = buf[2 + i];
		if (m == (want_password ? SOCKS5_AUTH_PASSWORD : SOCKS5_AUTH_NONE))
			*method = m;
	}
	return 2 + buf[1];
}

/* a == b for secrets: the lengths may differ, the time does not depend on
 * where the bytes differ. */
static bool field_equal(const uint8_t *a, size_t alen, const char *b)
{
	uint8_t x[SOCKS5_FIELD_MAX] = { 0 }, y[SOCKS5_FIELD_MAX] = { 0 };
	size_t blen = strlen(b);
	bool same;

	memcpy(x, a, alen);
	memcpy(y, b, blen < sizeof(y) ? blen : sizeof(y));
	same = memeq_ct(x, y, sizeof(x)) && alen == blen;
	memzero(x, sizeof(x));
	memzero(y, sizeof(y));
	return same;
}

int socks5_auth(const uint8_t *buf, size_t len, const char *user, const char *password, bool *ok)
{
	size_t ulen, plen;

	if (len < 2)
		return 0;
	if (buf[0] != SOCKS5_AUTH_VERSION || buf[1] == 0)
		return -1;
	ulen = buf[1];
	if (len < 3 + ulen)
		return 0;
	plen = buf[2 + ulen];
	if (len < 3 + ulen + plen)
		return 0;
	/* both compared whatever the first gives, so the time tells nothing */
	bool u = field_equal(buf + 2, ulen, user);
	bool p = field_equal(buf + 3 + ulen, plen, password);
	*ok = u & p;
	return (int)(3 + ulen + plen);
}

int socks5_request(const uint8_t *buf, size_t len, struct socks5_request *req, enum socks5_reply *reply)
{
	size_t alen, need;

	if (len < 5)
		return 0;
	if (buf[0] != SOCKS5_VERSION || buf[2] != 0)
		return -1;
	memset(req, 0, sizeof(*req));
	req->cmd = buf[1];
	req->atyp = buf[3];
	switch (req->atyp) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		need = 4 + alen + 2;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		need = 4 + alen + 2;
		break;
	case SOCKS5_ATYP_NAME:
		alen = buf[4];
		if (!alen)
			return -1;
		need = 5 + alen + 2;
		break;
	default:
		/* the rest of the message has no known length: answer and close */
		*reply = SOCKS5_BAD_ADDRESS;
		return (int)len;
	}
	if (len < need)
		return 0;
	req->port = (uint16_t)(buf[need - 2] << 8 | buf[need - 1]);
	if (req->atyp == SOCKS5_ATYP_IPV4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&req->addr;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, buf + 4, 4);
		s4->sin_port = htons(req->port);
	} else if (req->atyp == SOCKS5_ATYP_IPV6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&req->addr;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, buf + 4, 16);
		s6->sin6_port = htons(req->port);
	} else {
		memcpy(req->name, buf + 5, alen);
		req->name[alen] = '\0';
		if (strlen(req->name) != alen)
			return -1; /* a NUL inside the name */
	}
	*reply = req->cmd == SOCKS5_CMD_CONNECT ? SOCKS5_OK : SOCKS5_BAD_COMMAND;
	return (int)need;
}

size_t socks5_reply(uint8_t *out, enum socks5_reply code, const struct sockaddr_storage *bound)
{
	size_t n = 4;

	out[0] = SOCKS5_VERSION;
	out[1] = (uint8_t)code;
	out[2] = 0;
	if (bound && bound->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)bound;
		out[3] = SOCKS5_ATYP_IPV6;
		memcpy(out + 4, &s6->sin6_addr, 16);
		memcpy(out + 20, &s6->sin6_port, 2);
		n += 18;
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)bound;
		out[3] = SOCKS5_ATYP_IPV4;
		memset(out + 4, 0, 6);
		if (bound && bound->ss_family == AF_INET) {
			memcpy(out + 4, &s4->sin_addr, 4);
			memcpy(out + 8, &s4->sin_port, 2);
		}
		n += 6;
	}
	return n;
}

enum socks5_reply socks5_reply_for(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET: /* the lwip stack's word for a refused handshake */
		return SOCKS5_REFUSED;
	case ENETUNREACH:
		return SOCKS5_NET_UNREACH;
	case EHOSTUNREACH:
	case ETIMEDOUT:
		return SOCKS5_HOST_UNREACH;
	case EACCES:
	case EPERM:
		return SOCKS5_NOT_ALLOWED;
	default:
		return SOCKS5_FAILURE;
	}
}
