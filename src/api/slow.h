/* slow.h: the bound `weft api` puts on slow clients (slow.c). libmicrohttpd
 * closes a connection that sends nothing for the idle timeout, but every
 * byte counts as activity: a client that sends its request a byte a second
 * would hold its connection, and with enough of them every connection, for
 * as long as it liked. So each request (headers and body, at most 16 KiB)
 * must be all in within the same timeout, counted from the connection (or
 * from the answer to its previous request); a connection past that is shut
 * down. A request being handled, or waiting for its group to be saved, is
 * the server's time and is not counted. */
#ifndef WEFT_API_SLOW_H
#define WEFT_API_SLOW_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>

struct api_slow_conn;

struct api_slow {
	pthread_mutex_t lock;
	struct api_slow_conn *conns;  /* open connections */
	double seconds;               /* the bound */
};

void api_slow_init(struct api_slow *s, unsigned seconds);
void api_slow_fini(struct api_slow *s);
/* MHD_OPTION_NOTIFY_CONNECTION (cls: the struct api_slow). */
void api_slow_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode code);
/* From the request handler: conn's request is all in (true), or its
 * answer went out and the next request's clock starts (false). */
void api_slow_request(struct api_slow *s, struct MHD_Connection *conn, bool request_in);
/* Shuts down every connection past the bound at now (monotonic seconds);
 * call about once a second. The number shut down. */
unsigned api_slow_sweep(struct api_slow *s, double now);

#endif
