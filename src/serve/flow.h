/* flow.h: `weft serve`'s flows, the part that is the same for every stack.
 *
 * Packets from the tunnel come in through flows_from_tunnel():
 *   - TCP: a SYN opens the real connection from this process first; only
 *     when it is established is the SYN handed to the stack, so a peer's
 *     connect succeeds exactly when the destination's does. Refused: a RST
 *     at once; unreachable or timed out: ICMP unreachable. The stack then
 *     accepts (flows_accepted) and the two stream fds are relayed.
 *     Other segments go to the stack.
 *   - UDP: one connected socket per (peer address/port, destination); what
 *     comes back is built into IP/UDP packets; ICMP port unreachable when the
 *     destination refuses.
 *   - ICMP echo: one unprivileged ping socket per (peer, destination, id).
 *   - Fragments, IPv6 extension headers, IPv4 options, other protocols:
 *     dropped on purpose and counted.
 * The guard (guard.h) decides which destinations exist at all; limits on
 * flows per peer and in total, idle timeouts and a bound on relay memory
 * keep one peer from taking the server. */
#ifndef WEFT_SERVE_FLOW_H
#define WEFT_SERVE_FLOW_H

#include <stdint.h>
#include <sys/socket.h>

#include "serve/settings.h"
#include "serve/stack.h"

/* What an epoll event's data.ptr points at: serve.c's fds and the two ends
 * of each flow all start with one of these. */
enum watch_kind { WATCH_UDP, WATCH_STACK, WATCH_SIGNAL, WATCH_TIMER, WATCH_FLOW_OUT, WATCH_FLOW_IN,
		  WATCH_REVERSE /* reverse.c's listeners and connections */,
		  WATCH_API /* api.c's connections */ };
struct watch {
	enum watch_kind kind;
};

struct flow_env {
	void *ctx;
	/* An IP packet for the tunnel (valid during the call only). */
	void (*to_tunnel)(void *ctx, const uint8_t *pkt, size_t len);
	/* A service of this process on one address of the tunnel (the API):
	 * TCP to it skips the guard, and a SYN's "real connection" is
	 * local_connect's fd (connected at once), or -errno (a RST). */
	bool has_local;
	int local_family;
	uint8_t local[16];
	int (*local_connect)(void *ctx, uint16_t port);
};

struct flow_counters {
	uint64_t tcp_opened, tcp_refused, tcp_unreachable, udp_opened, udp_refused;
	uint64_t ping_flows, ping_unavailable;
	uint64_t denied, limited, memory_refused, idle_closed;
	uint64_t fragments, extensions, malformed, unsupported;
	uint64_t bytes_up, bytes_down;   /* relayed TCP and UDP payload, to and from destinations */
	uint64_t tcp_active, udp_active, ping_active;
	uint64_t memory;                 /* bytes held for flows now */
};

struct flows;

/* epfd: where the flows' fds are registered (data.ptr = a struct watch). */
struct flows *flows_new(const struct serve_settings *set, struct stack *stack, int epfd,
			const struct flow_env *env);
void flows_free(struct flows *f);
/* A packet from the tunnel that peer (the engine's peer, an opaque key for
 * the per-peer limit) sent. */
void flows_from_tunnel(struct flows *f, const void *peer, const uint8_t *pkt, size_t len);
/* struct stack_env.accepted, with ctx = the struct flows. */
void flows_accepted(void *ctx, int fd, const struct sockaddr_storage *src,
		    const struct sockaddr_storage *dst);
/* A connection the server opened into the tunnel (Expose, SOCKS5; see
 * reverse.h), relayed from here on like the others: stack_fd is the
 * stack's end, host_fd the server host's side. The tuple is the tunnel's
 * view (peer: the address connected to; self: the server's own). Both fds
 * belong to the flows afterwards, also when it fails (-errno: a limit). */
int flows_adopt(struct flows *f, int stack_fd, int host_fd, int family, const uint8_t *peer,
		uint16_t peer_port, const uint8_t *self, uint16_t self_port);
/* An epoll event on one of the flows' fds. */
void flows_event(struct flows *f, struct watch *w, uint32_t events);
/* Timeouts; returns when it wants to run again (monotonic ms). */
uint64_t flows_tick(struct flows *f, uint64_t now_ms);
void flows_counters(const struct flows *f, struct flow_counters *out);
/* Tell the flows the time (monotonic ms) before feeding them. */
void flows_set_now(struct flows *f, uint64_t now_ms);

#endif
