/* nat.h: the NAT helpers' place in `weft link`'s loop (loop.c): the port
 * mapping of the device's listen port (portmap.h), whose external address
 * becomes one of our announced candidates, and the re-resolution of
 * host-name endpoints of the peers weft link does not manage itself
 * (resolve.h). Each hands the loop an fd to watch; nothing here blocks. */
#ifndef WEFT_LINK_NAT_H
#define WEFT_LINK_NAT_H

#include <stdbool.h>
#include <stdint.h>

#include "link/portmap.h"
#include "link/resolve.h"

struct link;
struct device;

struct nat_helpers {
	unsigned portmap_use;         /* PORTMAP_USE_*: 0 asks the gateway nothing */
	int64_t resolve_every_ms;     /* 0: RESOLVE_INTERVAL_MS */
	struct portmap *portmap;      /* NULL: none running */
	uint16_t portmap_port;        /* the port it maps */
	struct resolve_table *resolve;
	int epfd;
};

void nat_init(struct nat_helpers *h, unsigned portmap_use, int64_t resolve_every_ms);
/* Reads iface's config for host-name endpoints (peers core manages are
 * left out) and registers the fds with epfd. 0 or -errno. */
int nat_open(struct nat_helpers *h, const char *iface, const struct link *core, int epfd);
/* The device's view, read on the loop's timer: (re)starts the port mapping
 * when the listen port is new, starts the lookups that are due. */
void nat_on_device(struct nat_helpers *h, const struct device *dev, int64_t now);
/* fd was readable: true if it was one of ours (handled). */
bool nat_on_fd(struct nat_helpers *h, int fd, const char *iface, struct link *core, int64_t now);
/* Removes the mapping (bounded), cancels lookups. */
void nat_close(struct nat_helpers *h);

#endif
