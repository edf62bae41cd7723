/* netmon.h: the machine's addresses and route changes from rtnetlink
 * (libmnl): one dump at start, then RTM_NEWADDR/DELADDR and
 * RTM_NEWROUTE/DELROUTE events as they happen - never polling. The socket
 * is non-blocking, for the daemon's epoll loop. Addresses of the WireGuard
 * interface itself, and routes through it, are left out: they say nothing
 * about the way out, and `wg-quick up` adding them must not look like a
 * move. */
#ifndef WEFT_LINK_NETMON_H
#define WEFT_LINK_NETMON_H

#include <stdbool.h>

#include "link/addr.h"

struct mnl_socket;

struct netmon {
	struct mnl_socket *sock;
	int skip_ifindex;          /* the WireGuard interface */
	struct local_addrs addrs;  /* the current list */
	bool route_changed;        /* since the last netmon_read */
	bool overrun;              /* events were lost: dump again */
};

/* Opens the event socket and dumps the current addresses into nm->addrs.
 * 0 or -errno. */
int netmon_open(struct netmon *nm, int skip_ifindex);
int netmon_fd(const struct netmon *nm);
/* Reads the pending events into nm->addrs and nm->route_changed. 0 or
 * -errno; after ENOBUFS (events lost) the list is dumped afresh. */
int netmon_read(struct netmon *nm);
void netmon_close(struct netmon *nm);

#endif
