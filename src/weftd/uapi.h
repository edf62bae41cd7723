/* uapi.h: the cross-platform userspace API of wireguard-go
 * (https://www.wireguard.com/xplatform/), served on
 * /var/run/wireguard/IFNAME.sock so that `wg` and `wg-quick` drive weftd as
 * they drive wireguard-go.
 *
 * Two layers. struct uapi_conn (uapi.c) is the protocol core: bytes in,
 * reply bytes out, against a struct weft_device, with no sockets, so unit
 * tests and the fuzzer drive it in memory. struct uapi_server
 * (uapi_server.c) owns the listening socket and up to UAPI_MAX_CLIENTS
 * nonblocking connections behind one epoll fd, so a slow or hostile client
 * never stalls the data path. Clients beyond that wait in the listen
 * backlog, and every client that sends a complete request gets its answer:
 * slots are taken back only from clients that made no progress for a while
 * (UAPI_IDLE_NS), and a set holds the others back for a bounded time.
 *
 * Semantics follow wireguard-go's device/uapi.go: a set is applied line by
 * line as it arrives; the first bad line ends the request with errno=-N
 * (-EINVAL bad key or value, -EPROTO a line without '=', -EADDRINUSE
 * listen_port or fwmark could not be applied, -EIO an over-long line) and the
 * rest of that request, up to its blank line, is skipped. Several requests may
 * follow each other on one connection. An unknown operation gets errno=-EINVAL
 * and the connection is closed. */
#ifndef WEFTD_UAPI_H
#define WEFTD_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft/engine.h>

#define UAPI_LINE_MAX 4096         /* longest line accepted; real lines are < 200 bytes */
#define UAPI_OUT_HIGH (64 * 1024)  /* stop reading requests while this much reply waits */
#define UAPI_MAX_CLIENTS 32
#define UAPI_READ_CHUNK 4096
/* How long one client may keep others waiting. Only complete lines count as
 * progress, so bytes trickled one at a time buy nothing. */
#define UAPI_SET_STALL_NS (5ULL * 1000000000ULL)  /* a set with no complete line for this long is dropped */
#define UAPI_SET_MAX_NS (60ULL * 1000000000ULL)   /* no set holds the lock longer (1M peers take ~4 s) */
#define UAPI_IDLE_NS (2ULL * 1000000000ULL)       /* with every slot taken and clients queued, one without
						   * progress for this long gives its slot up */
#define UAPI_SOCKET_DIR "/var/run/wireguard"

/* Side effects of a set that belong to the daemon. Each returns 0 or -errno.
 * set_listen_port also stores the port in the engine (the real one, once a
 * port-0 socket is bound); fwmark is stored by the UAPI after the hook
 * succeeds. A NULL hook just stores the value. */
struct uapi_hooks {
	int (*set_listen_port)(void *ctx, uint16_t port);
	int (*set_fwmark)(void *ctx, uint32_t fwmark);
	void *ctx;
};

/* Reply bytes waiting to be written; wiped when freed (a get carries the
 * private key). */
struct uapi_buf {
	char *data;
	size_t off, len, cap; /* pending bytes are data[off..len) */
};

enum uapi_state {
	UAPI_IDLE,    /* between requests */
	UAPI_GET,     /* after "get=1", waiting for its blank line */
	UAPI_SET,     /* inside "set=1" */
	UAPI_SKIP,    /* after an error: dropping lines up to the blank line */
	UAPI_CLOSING, /* bad operation: flush the reply, then close */
};

struct uapi_conn {
	enum uapi_state state;
	bool in_peer_section;   /* a public_key line has been seen */
	struct weft_peer *peer; /* peer being set; NULL = ignore its lines */
	bool peer_created;      /* created by this request (update_only undoes it) */
	bool line_too_long;
	uint64_t lines;         /* complete lines consumed so far: the server's measure of progress */
	size_t line_len;
	char line[UAPI_LINE_MAX + 1];
	struct uapi_buf out;
};

void uapi_conn_init(struct uapi_conn *c);
void uapi_conn_release(struct uapi_conn *c);
/* Consumes a prefix of in and returns its length; it stops early only while
 * more than UAPI_OUT_HIGH bytes of reply are pending (or when closing, where
 * everything is consumed and dropped). */
size_t uapi_conn_feed(struct uapi_conn *c, struct weft_device *dev,
		      const struct uapi_hooks *hooks, const char *in, size_t len);
/* Inside a set: no other connection may touch the device until it ends. */
bool uapi_conn_in_set(const struct uapi_conn *c);
bool uapi_conn_closing(const struct uapi_conn *c);
size_t uapi_conn_pending(const struct uapi_conn *c);
const char *uapi_conn_output(const struct uapi_conn *c);
void uapi_conn_consume(struct uapi_conn *c, size_t n);

struct uapi_client;

struct uapi_server {
	int listen_fd;
	int epfd;                 /* listener + clients; the caller polls this one fd */
	char path[108];           /* sizeof(sun_path) */
	dev_t st_dev;
	ino_t st_ino;
	struct uapi_client *clients[UAPI_MAX_CLIENTS];
	struct uapi_client *busy; /* the client inside a set, if any */
	bool accepting;           /* the listener is in the epoll set (off while every slot is taken) */
	bool changed;             /* a set ran since the caller last asked */
};

/* Creates DIR (0755) and DIR/IFNAME.sock (0600), replacing a stale socket
 * nobody answers on; -EADDRINUSE when a live daemon owns it. */
int uapi_server_open(struct uapi_server *s, const char *dir, const char *ifname);
/* Serves on an inherited listening socket (WG_UAPI_FD). */
int uapi_server_adopt(struct uapi_server *s, int fd, const char *dir, const char *ifname);
/* Sets up the epoll fd; call after daemonizing. */
int uapi_server_start(struct uapi_server *s);
int uapi_server_fd(const struct uapi_server *s);
/* Handles whatever is ready. Returns true if a set touched the device, so
 * the caller runs the engine's timers and flushes its output. */
bool uapi_server_process(struct uapi_server *s, struct weft_device *dev,
			 const struct uapi_hooks *hooks, uint64_t now_ns);
/* Housekeeping, about once a second: drops a set that stalled or ran past
 * its cap, and frees the slots of idle clients while others are queued. */
void uapi_server_expire(struct uapi_server *s, struct weft_device *dev,
			const struct uapi_hooks *hooks, uint64_t now_ns);
/* The socket file was deleted or replaced: time to exit, as wireguard-go. */
bool uapi_server_socket_gone(const struct uapi_server *s);
/* Closes everything; removes the socket file if it is still ours. */
void uapi_server_close(struct uapi_server *s, bool remove_file);

#endif
