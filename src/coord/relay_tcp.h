/* relay_tcp.h: the coord over TCP, for clients whose UDP is blocked
 * (`weft coord --relay-listen ADDR:PORT`). A connection carries exactly the
 * datagrams the UDP port would, handshake included, each one a frame
 * (frame.h); the server's core sees them as datagrams from the
 * connection's remote address, and what it sends to that address goes back
 * down the connection (relay_tcp_send; the caller falls back to UDP when no
 * connection has the address). So a session, the relay's included, lives
 * over TCP without the core knowing.
 *
 * Bounded: at most max_conns connections (the oldest idle one makes room),
 * FRAME_QUEUE_MAX bytes queued per connection (beyond that, frames are
 * dropped and counted: WireGuard copes with loss), connections silent for
 * idle_ms closed. Non-blocking sockets; the caller polls the fds. */
#ifndef WEFT_COORD_RELAY_TCP_H
#define WEFT_COORD_RELAY_TCP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/frame.h"
#include "coord/proto.h"

/* A whole datagram from a connection. */
typedef void (*relay_tcp_input_fn)(void *ctx, const uint8_t *pkt, size_t len,
				   const struct coord_addr *from, uint64_t now_ns);

struct relay_tcp_stats {
	uint64_t accepted, refused_full, closed_idle, closed_error, closed_bad_frame;
	uint64_t frames_in, frames_out, frames_dropped; /* dropped: queue full */
	uint64_t conns;                                  /* gauge */
};

struct relay_tcp;

/* Listens on addr (IPv4 or IPv6; port 0 picks one). NULL with errno. */
struct relay_tcp *relay_tcp_new(const struct coord_addr *addr, uint32_t max_conns, uint64_t idle_ns,
				relay_tcp_input_fn input, void *ctx);
void relay_tcp_free(struct relay_tcp *t);
/* The listening address (the port picked). */
void relay_tcp_local(const struct relay_tcp *t, struct coord_addr *out);

/* With an epoll set: the listener and every connection join it (data.fd
 * is the fd; EPOLLOUT is asked for only while a connection has frames
 * queued), and relay_tcp_event hands one event. 0 or -errno. */
int relay_tcp_use_epoll(struct relay_tcp *t, int epfd);
/* An epoll event: true when fd was one of ours (then it was handled). */
bool relay_tcp_event(struct relay_tcp *t, int fd, uint32_t events, uint64_t now_ns);

/* The fds to poll, with their events: the listener first, then each
 * connection (POLLOUT while it has frames queued). Returns how many. */
unsigned relay_tcp_pollfds(const struct relay_tcp *t, struct pollfd *out, unsigned max);
/* After poll: hands every pollfd that belongs to it (others are ignored). */
void relay_tcp_handle(struct relay_tcp *t, const struct pollfd *fds, unsigned n, uint64_t now_ns);
/* Closes connections idle for longer than idle_ns. */
void relay_tcp_tick(struct relay_tcp *t, uint64_t now_ns);

/* Queues pkt on the connection whose remote address is `to` and writes
 * what it can at once. 0, -ENOENT (no such connection: send by UDP),
 * -ENOBUFS (its queue is full; dropped and counted). */
int relay_tcp_send(struct relay_tcp *t, const struct coord_addr *to, const uint8_t *pkt, size_t len);

const struct relay_tcp_stats *relay_tcp_stats(const struct relay_tcp *t);

#endif
