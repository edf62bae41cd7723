/* netlink.h: what weftd learns from rtnetlink (libmnl). Link events of our
 * interface: MTU and up/down changes are followed, deletion ends the daemon.
 * Address events of the host: when a local address goes away, every peer
 * whose sticky source is that address must forget it, or replies would keep
 * leaving from an address the host no longer has. */
#ifndef WEFTD_NETLINK_H
#define WEFTD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

#define NL_RECV_BUFFER (64 * 1024)
#define NL_SOCKET_BUFFER (1 << 20) /* room for bursts of address events */

struct nl_events {
	void (*link)(void *ctx, bool up, unsigned mtu); /* our interface changed */
	void (*link_deleted)(void *ctx);
	void (*addr_deleted)(void *ctx, int family, const void *addr); /* 4 or 16 bytes */
	void (*lost_events)(void *ctx); /* the kernel dropped events: re-check everything */
	void *ctx;
};

struct mnl_socket;

struct nl_watch {
	struct mnl_socket *nl;
	int ifindex; /* 0: the link left this namespace; address events only */
	struct nl_events ev;
	uint8_t *buf;
};

int nl_watch_open(struct nl_watch *w, int ifindex, const struct nl_events *ev);
int nl_watch_fd(const struct nl_watch *w);
/* Handles every pending event. 0 or -errno. */
int nl_watch_process(struct nl_watch *w);
void nl_watch_close(struct nl_watch *w);

/* One-shot queries on a socket of their own. */
int nl_link_state(int ifindex, bool *up, unsigned *mtu);
/* Calls fn for every local address of the host (4 or 16 bytes). */
int nl_addr_dump(void (*fn)(void *ctx, int family, const void *addr), void *ctx);

#endif
