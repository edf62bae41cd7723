/* chain_api.h: the client of a `weft serve` server's API: one small
 * HTTP/1.1 request (JSON body) to the server's API address, reached through
 * the tunnel by ordinary routing, with a deadline and bounded replies. */
#ifndef WEFT_CLI_CHAIN_API_H
#define WEFT_CLI_CHAIN_API_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define CHAIN_API_PORT 80           /* the API's TCP port on its address */
#define CHAIN_API_MAX_REPLY (256u << 10)

struct chain_api_reply {
	int status;        /* the HTTP status code */
	char *body;        /* NUL-terminated; NULL when none */
	size_t body_len;
	uint64_t rtt_us;   /* from the connect to the end of the reply */
};

/* method path [body] to api:port (port 0: CHAIN_API_PORT). 0 and *r
 * filled (any HTTP status: the caller judges it), or -errno with one line
 * in err: -ETIMEDOUT past timeout_ms, -ECONNREFUSED, -EHOSTUNREACH,
 * -EPROTO for a reply that is not HTTP, -E2BIG past CHAIN_API_MAX_REPLY.
 * *r is always safe to free. */
int chain_api_request(const struct conf_addr *api, uint16_t port, const char *method, const char *path,
		      const char *body, int timeout_ms, struct chain_api_reply *r, char *err, size_t errlen);

static inline int chain_api_get(const struct conf_addr *api, const char *path, int timeout_ms,
				struct chain_api_reply *r, char *err, size_t errlen)
{
	return chain_api_request(api, 0, "GET", path, NULL, timeout_ms, r, err, errlen);
}

void chain_api_reply_free(struct chain_api_reply *r);

/* A reply's {"error": "..."} message, or its status line's meaning. */
const char *chain_api_error(const struct chain_api_reply *r);

#endif
