/* api.h: the HTTP side of a chained server's API (docs/weft-serve-chain.md).
 * Connections come from the tunnel only: the flows hand every SYN to the
 * API address to api_connect(), which makes a socketpair whose one end
 * the flows relay to the stack's connection and whose other end is read
 * here. HTTP/1.1, one request per connection, bounded in size, count and
 * time; the request is handed to the routes (a callback) whole. */
#ifndef WEFT_SERVE_API_H
#define WEFT_SERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "serve/flow.h"

#define API_PORT 80
#define API_MAX_CONNS 16
#define API_REQUEST_MAX (16 * 1024)  /* headers and body */
#define API_TIMEOUT_MS 10000

struct api_request {
	const char *method;   /* "GET", ... */
	const char *path;     /* "/v1/status", query included */
	const char *body;     /* NUL-terminated */
	size_t body_len;
};

/* The routes: the answer's status and body (malloc'd, taken; NULL: none). */
typedef int (*api_handler)(void *ctx, const struct api_request *req, char **body, size_t *body_len);

/* Parses what has arrived of a request: buf holds len bytes and has room
 * for one more (a NUL). 1 when it is whole (req points into buf, which is
 * changed), 0 when more is needed, or -400 / -413 with the reason in *why. */
int api_parse(char *buf, size_t len, struct api_request *req, const char **why);

struct api;

struct api *api_new(int epfd, api_handler handler, void *ctx);
void api_free(struct api *a);
/* A new connection to port: the flows' end of it, or -ECONNREFUSED (not
 * the API's port), -EBUSY (too many at once), -errno. */
int api_connect(struct api *a, uint16_t port);
void api_event(struct api *a, struct watch *w, uint32_t events);
/* Timeouts; when it wants to run again (monotonic ms, UINT64_MAX: never). */
uint64_t api_tick(struct api *a, uint64_t now_ms);
/* Requests answered so far. */
uint64_t api_requests(const struct api *a);

#endif
