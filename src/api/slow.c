/* slow.c: shutting down `weft api` connections whose requests do not
 * arrive in time (slow.h). MHD's thread reports connections opening
 * and closing and each request's arrival and answer; the server's main
 * thread sweeps once a second. A connection is only shut down while it is
 * in the list, under the lock: MHD reports the close (and takes the lock
 * for it) before it closes the socket, so the descriptor shut down is
 * always that connection's, never one reused by a newer connection.
 * shutdown() rather than close(): MHD then sees the end of the stream and
 * closes and frees the connection itself, in its own thread. */
#include <stdlib.h>
#include <sys/socket.h>

#include "api.h"
#include "slow.h"

struct api_slow_conn {
	struct api_slow_conn *prev, *next;
	int fd;
	bool request_in;   /* a request is all in, being handled: not bound here */
	bool shut;
	double since;      /* the connection, or its last answer */
};

void api_slow_init(struct api_slow *s, unsigned seconds)
{
	pthread_mutex_init(&s->lock, NULL);
	s->conns = NULL;
	s->seconds = seconds;
}

void api_slow_fini(struct api_slow *s)
{
	/* MHD has stopped: it reported every close */
	pthread_mutex_destroy(&s->lock);
}

void api_slow_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode code)
{
	struct api_slow *s = cls;
	struct api_slow_conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = calloc(1, sizeof(*c));
		if (!c || !ci) {
			free(c); /* not watched: MHD's idle timeout still applies */
			return;
		}
		c->fd = ci->connect_fd;
		c->since = api_mono_now();
		pthread_mutex_lock(&s->lock);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->lock);
		*socket_context = c;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED || !c)
		return;
	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->lock);
	free(c);
	*socket_context = NULL;
}

void api_slow_request(struct api_slow *s, struct MHD_Connection *conn, bool request_in)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_slow_conn *c = ci ? ci->socket_context : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&s->lock);
	c->request_in = request_in;
	if (!request_in)
		c->since = api_mono_now();
	pthread_mutex_unlock(&s->lock);
}

unsigned api_slow_sweep(struct api_slow *s, double now)
{
	unsigned n = 0;

	pthread_mutex_lock(&s->lock);
	for (struct api_slow_conn *c = s->conns; c; c = c->next) {
		if (c->request_in || c->shut || now - c->since <= s->seconds)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->shut = true;
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}
