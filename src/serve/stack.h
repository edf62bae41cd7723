/* stack.h: the contract between `weft serve`'s flow core and a TCP stack.
 *
 * The core (flow.c) owns everything that is the same for every stack:
 * parsing the tunnel's IP packets, guard rails, SYN interception (a SYN is
 * handed to the stack only once the real connection to its destination
 * exists), UDP and ICMP, and relaying bytes between two fds. A stack only
 * terminates TCP: it turns segments from the tunnel into a stream fd of this
 * process, and opens TCP connections into the tunnel (expose, SOCKS5).
 *
 * Two stacks: "kernel" (stack_kernel.c: the Linux stack in a user + network
 * namespace) and "lwip" (Debian's liblwip). Both are driven by one thread,
 * the server's loop; no callback is called from anywhere else.
 */
#ifndef WEFT_SERVE_STACK_H
#define WEFT_SERVE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct stack_env {
	void *ctx;
	/* An IP packet the stack sends into the tunnel (valid only during
	 * the call). */
	void (*output)(void *ctx, const uint8_t *pkt, size_t len);
	/* The stack accepted a TCP connection that a peer opened: fd is this
	 * process's end of it (SOCK_STREAM, non-blocking, the callee owns
	 * it); src is the peer's address, dst the original destination. */
	void (*accepted)(void *ctx, int fd, const struct sockaddr_storage *src,
			 const struct sockaddr_storage *dst);
};

/* Counters for the metrics; a stack fills what it knows, zero otherwise. */
struct stack_stats {
	uint64_t segments_in;   /* TCP segments taken from the tunnel */
	uint64_t packets_out;   /* IP packets sent into the tunnel */
	uint64_t accepted;      /* connections handed to env.accepted */
	uint64_t connects;      /* connections opened into the tunnel */
	uint64_t dropped;       /* segments the stack could not take */
	uint64_t active;        /* connections it holds now */
	uint64_t memory_bytes;  /* memory it holds for them, when it knows */
};

struct stack_ops;

/* One stack instance. The caller allocates it (zeroed) and sets ops;
 * open() keeps what it needs in priv. */
struct stack {
	const struct stack_ops *ops;
	void *priv;
};

struct stack_ops {
	const char *name; /* "kernel", "lwip" */
	/* Sets the stack up. -errno and one line in why (for the probe's
	 * log) when this stack cannot run here. */
	int (*open)(struct stack *s, const struct stack_env *env, char *why, size_t whylen);
	/* A TCP segment (whole IPv4/IPv6 packet) from the tunnel, already
	 * allowed. */
	void (*input)(struct stack *s, const uint8_t *pkt, size_t len);
	/* A TCP connection into the tunnel from src (a tunnel address of the
	 * server, may be NULL) to dst: a non-blocking stream fd whose connect
	 * completes (or fails, readable as SO_ERROR) asynchronously, owned by
	 * the caller: writable once connected. The lwip stack reports every
	 * failed handshake as ECONNRESET. -errno on failure. */
	int (*connect)(struct stack *s, const struct sockaddr_storage *src,
		       const struct sockaddr_storage *dst);
	/* An fd to poll for readability (-1: none) and work to do when it is
	 * readable or at the deadline (monotonic ms; UINT64_MAX: none). */
	int (*poll_fd)(struct stack *s);
	void (*run)(struct stack *s, uint64_t now_ms);
	uint64_t (*deadline)(struct stack *s);
	void (*close)(struct stack *s);
	void (*stats)(struct stack *s, struct stack_stats *out);
	/* Optional (NULL: SO_LINGER 0 on the fd is enough, as for a socket):
	 * the connection of fd, which this stack handed out, is to end with a
	 * reset into the tunnel rather than a FIN. Called before fd is closed. */
	void (*reset)(struct stack *s, int fd);
	/* Optional (NULL: a reset reads as ECONNRESET, as from a socket): fd,
	 * which this stack handed out and which just read end of stream, ended
	 * with a reset from the tunnel rather than a FIN. */
	bool (*was_reset)(struct stack *s, int fd);
};

/* A stack that is not built in (e.g. no liblwip at build time) is a weak
 * symbol left NULL: test &stack_lwip_ops before using it. */
extern const struct stack_ops stack_kernel_ops;
extern const struct stack_ops stack_lwip_ops __attribute__((weak));

#endif
