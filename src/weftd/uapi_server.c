/* uapi_server.c: the UAPI socket /var/run/wireguard/IFNAME.sock: creating
 * it (replacing a stale one), accepting up to UAPI_MAX_CLIENTS nonblocking
 * connections behind one epoll fd, and feeding each to its struct uapi_conn
 * (uapi.c). One client's set holds the others back until it ends, as
 * wireguard-go's IPC lock does, but not forever: a set with no complete line
 * for UAPI_SET_STALL_NS, or older than UAPI_SET_MAX_NS, is dropped.
 *
 * While every slot is taken the listener leaves the epoll set and further
 * clients wait in the kernel's listen backlog; a slot is freed when its
 * client leaves, or, if someone is queued, when it made no progress (a
 * complete line read, reply bytes written) for UAPI_IDLE_NS, judged after
 * reading what its socket holds. A client is never dropped because others
 * arrived, so a complete request is always answered. */
#include "weftd/uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "weftd/log.h"

struct uapi_client {
	int fd;
	bool waiting;      /* parked (out of epoll) until another client's set ends */
	bool eof;          /* the client shut its side: flush the replies, then close */
	uint32_t events;   /* current epoll interest */
	uint64_t progress_ns;  /* last complete line consumed or reply bytes written */
	uint64_t set_start_ns; /* when it took the lock (valid while it is s->busy) */
	size_t in_off, in_len;
	char in[UAPI_READ_CHUNK];
	struct uapi_conn conn;
};

static int mkdir_p(const char *dir)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

static int socket_path(struct uapi_server *s, const char *dir, const char *ifname)
{
	int n = snprintf(s->path, sizeof(s->path), "%s/%s.sock", dir, ifname);

	return n < 0 || (size_t)n >= sizeof(s->path) ? -ENAMETOOLONG : 0;
}

static void server_reset(struct uapi_server *s)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	s->epfd = -1;
}

static int remember_inode(struct uapi_server *s)
{
	struct stat st;

	if (stat(s->path, &st) < 0)
		return -errno;
	s->st_dev = st.st_dev;
	s->st_ino = st.st_ino;
	return 0;
}

/* Is somebody answering on the socket file? A nonblocking connect to a live
 * listener succeeds (or would block on a full backlog). */
static bool socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return true; /* cannot tell: do not delete it */
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ||
	       errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return live;
}

int uapi_server_open(struct uapi_server *s, const char *dir, const char *ifname)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int r;

	server_reset(s);
	if ((r = socket_path(s, dir, ifname)) < 0 || (r = mkdir_p(dir)) < 0)
		return r;
	memcpy(addr.sun_path, s->path, strlen(s->path) + 1);

	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return -errno;
	old_umask = umask(0177); /* the socket is born 0600 */
	r = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	if (r < 0 && errno == EADDRINUSE) {
		if (socket_is_live(&addr)) {
			umask(old_umask);
			close(s->listen_fd);
			s->listen_fd = -1;
			return -EADDRINUSE;
		}
		unlink(s->path); /* stale, left by a daemon that died */
		r = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	}
	if (r < 0)
		r = -errno;
	umask(old_umask);
	if (r == 0 && listen(s->listen_fd, SOMAXCONN) < 0)
		r = -errno;
	if (r == 0)
		r = remember_inode(s);
	if (r < 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	return r;
}

int uapi_server_adopt(struct uapi_server *s, int fd, const char *dir, const char *ifname)
{
	int r, flags;

	server_reset(s);
	if ((r = socket_path(s, dir, ifname)) < 0)
		return r;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	s->listen_fd = fd;
	if (remember_inode(s) < 0)
		s->st_ino = 0; /* no file to watch */
	return 0;
}

int uapi_server_start(struct uapi_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		return -errno;
	s->accepting = true;
	return 0;
}

int uapi_server_fd(const struct uapi_server *s)
{
	return s->epfd;
}

/* The listener in or out of the epoll set: out while no slot is free, so a
 * level-triggered listener does not spin the loop. */
static void listener_watch(struct uapi_server *s, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = NULL };

	if (s->accepting != on && s->epfd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &ev) == 0)
		s->accepting = on;
}

static void client_close(struct uapi_server *s, struct uapi_client *c)
{
	for (size_t i = 0; i < UAPI_MAX_CLIENTS; i++)
		if (s->clients[i] == c)
			s->clients[i] = NULL;
	if (s->busy == c)
		s->busy = NULL;
	close(c->fd); /* also leaves the epoll set */
	uapi_conn_release(&c->conn);
	memzero(c->in, sizeof(c->in));
	free(c);
	listener_watch(s, true); /* a slot is free: the next queued client may come in */
}

static void client_set_events(struct uapi_server *s, struct uapi_client *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

static void client_park(struct uapi_server *s, struct uapi_client *c)
{
	if (c->waiting)
		return;
	/* Out of the set entirely, so a hang-up cannot spin the loop. */
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->waiting = true;
}

/* Writes what it can. false: the client is gone. */
static bool client_flush(struct uapi_client *c, uint64_t now_ns)
{
	while (uapi_conn_pending(&c->conn)) {
		ssize_t w = send(c->fd, uapi_conn_output(&c->conn), uapi_conn_pending(&c->conn),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		uapi_conn_consume(&c->conn, (size_t)w);
		c->progress_ns = now_ns;
	}
	return true;
}

#define UAPI_READS_PER_EVENT 16 /* 64 KiB of requests, then back to the data path */

/* Serves one client as far as it can go now. Returns false if it was closed. */
static bool client_serve(struct uapi_server *s, struct uapi_client *c, struct weft_device *dev,
			 const struct uapi_hooks *hooks, uint64_t now_ns, bool hangup)
{
	if (!client_flush(c, now_ns))
		goto close;
	for (int reads = 0; reads <= UAPI_READS_PER_EVENT;) {
		if (s->busy && s->busy != c) {
			client_park(s, c);
			return true;
		}
		if (c->in_off < c->in_len) {
			uint64_t lines = c->conn.lines;
			size_t used = uapi_conn_feed(&c->conn, dev, hooks, c->in + c->in_off,
						     c->in_len - c->in_off);
			memzero(c->in + c->in_off, used);
			c->in_off += used;
			if (used)
				s->changed = true;
			if (c->conn.lines != lines)
				c->progress_ns = now_ns;
			/* Sets sent back to back keep the lock: they count as one
			 * for UAPI_SET_MAX_NS. */
			if (uapi_conn_in_set(&c->conn) && s->busy != c) {
				s->busy = c;
				c->set_start_ns = now_ns;
			} else if (!uapi_conn_in_set(&c->conn) && s->busy == c) {
				s->busy = NULL;
			}
			if (!client_flush(c, now_ns))
				goto close;
			if (c->in_off < c->in_len)
				break; /* reply backlog: wait for the client to read */
			continue;
		}
		if (c->eof || uapi_conn_closing(&c->conn) || reads == UAPI_READS_PER_EVENT)
			break;
		ssize_t r = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		reads++;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			c->eof = true;
			break;
		}
		c->in_off = 0;
		c->in_len = (size_t)r;
	}
	/* A set cut short keeps what it applied, as in wireguard-go. */
	if (c->eof && c->in_off == c->in_len && s->busy == c)
		s->busy = NULL;
	if ((hangup || c->eof || uapi_conn_closing(&c->conn)) && !uapi_conn_pending(&c->conn))
		goto close;

	uint32_t want = 0;
	if (uapi_conn_pending(&c->conn))
		want |= EPOLLOUT;
	if (!c->eof && !uapi_conn_closing(&c->conn) && uapi_conn_pending(&c->conn) <= UAPI_OUT_HIGH &&
	    c->in_off == c->in_len)
		want |= EPOLLIN;
	client_set_events(s, c, want);
	return true;
close:
	client_close(s, c);
	return false;
}

/* A set ended or its client left: let the parked clients in, one by one
 * until one of them starts a set of its own. */
static void resume_parked(struct uapi_server *s, struct weft_device *dev,
			  const struct uapi_hooks *hooks, uint64_t now_ns)
{
	for (size_t i = 0; i < UAPI_MAX_CLIENTS && !s->busy; i++) {
		struct uapi_client *c = s->clients[i];
		if (!c || !c->waiting)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		c->waiting = false;
		c->events = EPOLLIN;
		c->progress_ns = now_ns; /* waiting for the lock was not idleness */
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			client_close(s, c);
			continue;
		}
		client_serve(s, c, dev, hooks, now_ns, false);
	}
}

static int free_slot(const struct uapi_server *s)
{
	for (size_t i = 0; i < UAPI_MAX_CLIENTS; i++)
		if (!s->clients[i])
			return (int)i;
	return -1;
}

/* Accepts while slots are free; when none is, the rest stay queued in the
 * backlog (a client there has sent its request into its socket already and
 * loses nothing by waiting). */
static void accept_clients(struct uapi_server *s, uint64_t now_ns)
{
	for (int n = 0; n < UAPI_MAX_CLIENTS; n++) {
		int slot = free_slot(s);
		if (slot < 0) {
			listener_watch(s, false);
			return;
		}
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct uapi_client *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (!c || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		c->progress_ns = now_ns;
		uapi_conn_init(&c->conn);
		s->clients[slot] = c;
	}
}

bool uapi_server_process(struct uapi_server *s, struct weft_device *dev,
			 const struct uapi_hooks *hooks, uint64_t now_ns)
{
	struct epoll_event evs[UAPI_MAX_CLIENTS + 1];
	bool changed;
	int n = epoll_wait(s->epfd, evs, UAPI_MAX_CLIENTS + 1, 0);

	for (int i = 0; i < n; i++) {
		struct uapi_client *c = evs[i].data.ptr;
		if (!c) {
			accept_clients(s, now_ns);
			continue;
		}
		/* An earlier event in this batch may have closed or parked it. */
		bool known = false;
		for (size_t j = 0; j < UAPI_MAX_CLIENTS; j++)
			known |= s->clients[j] == c;
		if (!known || c->waiting)
			continue;
		client_serve(s, c, dev, hooks, now_ns, evs[i].events & (EPOLLHUP | EPOLLERR));
	}
	if (!s->busy)
		resume_parked(s, dev, hooks, now_ns);
	changed = s->changed;
	s->changed = false;
	return changed;
}

/* Someone waits in the listen backlog. */
static bool listener_has_queue(const struct uapi_server *s)
{
	struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

void uapi_server_expire(struct uapi_server *s, struct weft_device *dev,
			const struct uapi_hooks *hooks, uint64_t now_ns)
{
	struct uapi_client *c = s->busy;

	if (c && (now_ns - c->progress_ns > UAPI_SET_STALL_NS || now_ns - c->set_start_ns > UAPI_SET_MAX_NS)) {
		log_error("UAPI: closing a client that held the configuration lock %s",
			  now_ns - c->progress_ns > UAPI_SET_STALL_NS ? "without sending a complete line"
								   : "for too long");
		client_close(s, c);
		resume_parked(s, dev, hooks, now_ns);
	}
	if (s->accepting || !listener_has_queue(s))
		return;
	/* Parked clients wait for the lock, which is bounded: they stay. A
	 * candidate is served first: a complete request that reached its
	 * socket since the last pass is progress, not idleness (this runs on
	 * its own timer, so it may come before the read). Every client still
	 * idle then goes: each had UAPI_IDLE_NS to send a line or read its
	 * answer, and the queue may be longer than one. */
	for (size_t i = 0; i < UAPI_MAX_CLIENTS; i++) {
		c = s->clients[i];
		if (!c || c == s->busy || c->waiting || now_ns - c->progress_ns <= UAPI_IDLE_NS)
			continue;
		if (!client_serve(s, c, dev, hooks, now_ns, false) || s->clients[i] != c)
			continue; /* it left */
		if (c != s->busy && !c->waiting && now_ns - c->progress_ns > UAPI_IDLE_NS) {
			log_verbose("UAPI: all client slots taken, closing an idle client");
			client_close(s, c);
		}
	}
}

bool uapi_server_socket_gone(const struct uapi_server *s)
{
	struct stat st;

	if (!s->st_ino)
		return false;
	if (stat(s->path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return st.st_ino != s->st_ino || st.st_dev != s->st_dev;
}

void uapi_server_close(struct uapi_server *s, bool remove_file)
{
	for (size_t i = 0; i < UAPI_MAX_CLIENTS; i++)
		if (s->clients[i])
			client_close(s, s->clients[i]);
	if (remove_file && s->st_ino && !uapi_server_socket_gone(s))
		unlink(s->path);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epfd >= 0)
		close(s->epfd);
	server_reset(s);
}
