/* relay_tcp.c: the coord's TCP listener and its framed connections (see
 * relay_tcp.h). A connection's state is allocated when it is accepted and
 * freed when it closes; the table of them is fixed at max_conns. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "coord/relay_tcp.h"

struct conn {
	int fd;
	bool want_out;          /* EPOLLOUT asked for */
	struct coord_addr peer;
	uint64_t last_ns;
	struct frame_reader rd;
	struct frame_writer wr;
};

struct relay_tcp {
	int lfd, epfd;
	struct coord_addr local;
	struct conn **conns;
	uint32_t max_conns, n;
	uint64_t idle_ns;
	relay_tcp_input_fn input;
	void *ctx;
	struct relay_tcp_stats st;
};

struct relay_tcp *relay_tcp_new(const struct coord_addr *addr, uint32_t max_conns, uint64_t idle_ns,
				relay_tcp_input_fn input, void *ctx)
{
	struct sockaddr_storage ss;
	socklen_t sl = coord_addr_to_sockaddr(addr, &ss);
	struct relay_tcp *t;
	int one = 1;

	if (!sl || !max_conns || !idle_ns) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->epfd = -1;
	t->conns = calloc(max_conns, sizeof(*t->conns));
	t->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!t->conns || t->lfd < 0)
		goto fail;
	setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(t->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(t->lfd, 128) < 0)
		goto fail;
	sl = sizeof(ss);
	if (getsockname(t->lfd, (struct sockaddr *)&ss, &sl) < 0 ||
	    !coord_addr_from_sockaddr(&t->local, (struct sockaddr *)&ss, sl))
		goto fail;
	t->max_conns = max_conns;
	t->idle_ns = idle_ns;
	t->input = input;
	t->ctx = ctx;
	return t;
fail:;
	int e = errno;

	if (t->lfd >= 0)
		close(t->lfd);
	free(t->conns);
	free(t);
	errno = e;
	return NULL;
}

static void watch(struct relay_tcp *t, int op, int fd, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.fd = fd };

	if (t->epfd >= 0)
		epoll_ctl(t->epfd, op, fd, &ev);
}

/* EPOLLOUT while there is something to write, not otherwise (level
 * triggered: asked for always, it would wake the loop for nothing) */
static void want_out(struct relay_tcp *t, struct conn *c)
{
	bool w = !frame_writer_empty(&c->wr);

	if (w != c->want_out) {
		c->want_out = w;
		watch(t, EPOLL_CTL_MOD, c->fd, w);
	}
}

int relay_tcp_use_epoll(struct relay_tcp *t, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = t->lfd };

	t->epfd = epfd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, t->lfd, &ev) < 0 ? -errno : 0;
}

static void conn_close(struct relay_tcp *t, uint32_t i)
{
	struct conn *c = t->conns[i];

	/* close() takes the fd out of the epoll set */
	close(c->fd);
	frame_writer_free(&c->wr);
	free(c);
	t->conns[i] = t->conns[--t->n];
	t->conns[t->n] = NULL;
	t->st.conns = t->n;
}

void relay_tcp_free(struct relay_tcp *t)
{
	if (!t)
		return;
	while (t->n)
		conn_close(t, t->n - 1);
	close(t->lfd);
	free(t->conns);
	free(t);
}

void relay_tcp_local(const struct relay_tcp *t, struct coord_addr *out)
{
	*out = t->local;
}

unsigned relay_tcp_pollfds(const struct relay_tcp *t, struct pollfd *out, unsigned max)
{
	unsigned k = 0;

	if (max)
		out[k++] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
	for (uint32_t i = 0; i < t->n && k < max; i++)
		out[k++] = (struct pollfd){
			.fd = t->conns[i]->fd,
			.events = (short)(POLLIN | (frame_writer_empty(&t->conns[i]->wr) ? 0 : POLLOUT)),
		};
	return k;
}

/* the connection idle the longest, to make room for a new one */
static int oldest(const struct relay_tcp *t)
{
	int o = -1;

	for (uint32_t i = 0; i < t->n; i++)
		if (o < 0 || t->conns[i]->last_ns < t->conns[o]->last_ns)
			o = (int)i;
	return o;
}

static void accept_all(struct relay_tcp *t, uint64_t now_ns)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(t->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;

		if (fd < 0)
			return;
		if (t->n == t->max_conns) {
			int o = oldest(t);

			/* a full table drops its longest-idle connection, but only
			 * one idle for a while: a flood of new connections must not
			 * push out the ones in use */
			if (o < 0 || now_ns - t->conns[o]->last_ns < t->idle_ns / 4) {
				t->st.refused_full++;
				close(fd);
				continue;
			}
			t->st.closed_idle++;
			conn_close(t, (uint32_t)o);
		}
		c = calloc(1, sizeof(*c));
		if (!c || frame_writer_init(&c->wr) < 0 ||
		    !coord_addr_from_sockaddr(&c->peer, (struct sockaddr *)&ss, sl)) {
			if (c)
				frame_writer_free(&c->wr);
			free(c);
			close(fd);
			t->st.closed_error++;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->last_ns = now_ns;
		t->conns[t->n++] = c;
		watch(t, EPOLL_CTL_ADD, fd, false);
		t->st.accepted++;
		t->st.conns = t->n;
	}
}

/* writes what the socket takes; -errno when the connection is broken */
static int flush_out(struct conn *c)
{
	while (!frame_writer_empty(&c->wr)) {
		const uint8_t *a, *b;
		size_t al, bl;
		struct iovec iov[2];
		ssize_t n;

		frame_writer_pending(&c->wr, &a, &al, &b, &bl);
		iov[0] = (struct iovec){ (void *)a, al };
		iov[1] = (struct iovec){ (void *)b, bl };
		n = writev(c->fd, iov, bl ? 2 : 1);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		frame_writer_consume(&c->wr, (size_t)n);
	}
	return 0;
}

/* reads and hands out whole frames; -errno or -EPIPE when it must close */
static int read_in(struct relay_tcp *t, struct conn *c, uint64_t now_ns)
{
	for (int k = 0; k < 16; k++) {
		size_t cap;
		uint8_t *sp = frame_reader_space(&c->rd, &cap);
		ssize_t n = read(c->fd, sp, cap);
		const uint8_t *msg;
		size_t len;
		int rc;

		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		frame_reader_commit(&c->rd, (size_t)n);
		c->last_ns = now_ns;
		while ((rc = frame_reader_next(&c->rd, &msg, &len)) == 1) {
			t->st.frames_in++;
			/* the core may send to this connection meanwhile: the
			 * frame stays where it is until the next read */
			if (len <= COORD_DATAGRAM_MAX)
				t->input(t->ctx, msg, len, &c->peer, now_ns);
		}
		if (rc < 0) {
			t->st.closed_bad_frame++;
			return -EBADMSG;
		}
		if ((size_t)n < cap)
			return 0;
	}
	return 0;
}

static void conn_event(struct relay_tcp *t, uint32_t i, uint32_t revents, uint64_t now_ns)
{
	struct conn *c = t->conns[i];
	int rc = 0;

	if (revents & (POLLIN | POLLHUP | POLLERR))
		rc = read_in(t, c, now_ns);
	if (!rc && (revents & POLLOUT))
		rc = flush_out(c);
	if (rc < 0) {
		if (rc != -EBADMSG)
			t->st.closed_error++;
		conn_close(t, i);
		return;
	}
	want_out(t, c);
}

void relay_tcp_handle(struct relay_tcp *t, const struct pollfd *fds, unsigned n, uint64_t now_ns)
{
	for (unsigned k = 0; k < n; k++)
		if (fds[k].revents)
			relay_tcp_event(t, fds[k].fd, (uint32_t)fds[k].revents, now_ns);
}

/* POLLIN and friends have the values of EPOLLIN and friends */
bool relay_tcp_event(struct relay_tcp *t, int fd, uint32_t events, uint64_t now_ns)
{
	if (fd == t->lfd) {
		accept_all(t, now_ns);
		return true;
	}
	for (uint32_t i = 0; i < t->n; i++)
		if (t->conns[i]->fd == fd) {
			conn_event(t, i, events, now_ns);
			return true;
		}
	return false;
}

void relay_tcp_tick(struct relay_tcp *t, uint64_t now_ns)
{
	for (uint32_t i = 0; i < t->n;) {
		if (now_ns > t->conns[i]->last_ns && now_ns - t->conns[i]->last_ns > t->idle_ns) {
			t->st.closed_idle++;
			conn_close(t, i);
		} else {
			i++;
		}
	}
}

int relay_tcp_send(struct relay_tcp *t, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	for (uint32_t i = 0; i < t->n; i++) {
		struct conn *c = t->conns[i];
		int rc;

		if (!coord_addr_equal(&c->peer, to))
			continue;
		rc = frame_writer_push(&c->wr, pkt, len);
		if (rc < 0) {
			t->st.frames_dropped++;
			return rc;
		}
		t->st.frames_out++;
		/* a broken connection is found and closed by the next poll */
		flush_out(c);
		want_out(t, c);
		return 0;
	}
	return -ENOENT;
}

const struct relay_tcp_stats *relay_tcp_stats(const struct relay_tcp *t)
{
	return &t->st;
}
