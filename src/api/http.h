/* http.h: the HTTP side of `weft api` - one request as the routes see it,
 * and the ways to answer it. Every answer carries the security headers
 * (CSP without inline script, no framing, nosniff, no referrer, no caching
 * of API answers); every error is {"error": "..."} with its status. */
#ifndef WEFT_API_HTTP_H
#define WEFT_API_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* A request body larger than this is refused (413) before it is read. */
#define API_BODY_MAX (16 * 1024)

struct api_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char client[64];   /* the client's address, numeric */
	char *body;        /* NUL-terminated, body_len bytes */
	size_t body_len;
	int status;        /* what was answered, for the metrics */
	const char *route; /* the route's pattern, for the metrics */
	/* The answer, sent when the request is not waiting (group.h). */
	struct MHD_Response *resp;
	enum { API_RUN, API_WAIT_SAVE, API_WAIT_RERUN, API_RERUN, API_SEND } wait;
	struct api_request *next; /* in the list it waits in */
};

/* Answers (kept in r, a later one replaces it): true when the answer was
 * made. body is copied. */
bool api_reply(struct api_request *r, int status, const char *type, const void *body, size_t len);
/* obj is taken (decref'd). */
bool api_reply_json(struct api_request *r, int status, json_t *obj);
bool api_reply_error(struct api_request *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool api_reply_empty(struct api_request *r, int status);

/* The security headers (and Cache-Control: no-store) onto resp. */
void api_security_headers(struct MHD_Response *resp);

/* A query argument, or NULL. */
const char *api_query(struct api_request *r, const char *name);
/* The header, or NULL. */
const char *api_header(struct api_request *r, const char *name);

#endif
