/* backend.h: which backend drives an interface - the userspace daemon's
 * UAPI socket or the Linux module's netlink - chosen per interface by
 * wg(8)'s rule: a UAPI socket of that name that answers wins, else a link
 * of kind wireguard. device.h's device_list/get/set are built on it. */
#ifndef WEFT_CLI_BACKEND_H
#define WEFT_CLI_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

enum backend {
	BACKEND_NONE,   /* no WireGuard interface of that name */
	BACKEND_UAPI,   /* weftd, wireguard-go */
	BACKEND_KERNEL, /* the Linux module */
};

enum backend backend_of(const char *iface);

/* Makes the WireGuard interface iface, as wg-quick's add_if does: a link
 * of kind wireguard when the kernel takes one, else (no module) the
 * userspace daemon; userspace, or WG_QUICK_USERSPACE_IMPLEMENTATION set,
 * goes straight to the daemon. Says once on stderr which it is ("weft:
 * using the kernel's WireGuard" or "weft: using the userspace weftd
 * (why)"); with trace, also wg-quick's "[#] ..." lines. 0 and *made, or
 * -errno with a message in err (a daemon that failed late may have left
 * its link: the caller looks). */
int backend_create(const char *iface, bool userspace, bool trace, enum backend *made, char *err, size_t errlen);

#endif
