/* backend.h: which backend drives an interface - the userspace daemon's
 * UAPI socket or the Linux module's netlink - chosen per interface by
 * wg(8)'s rule: a UAPI socket of that name that answers wins, else a link
 * of kind wireguard. device.h's device_list/get/set are built on it. */
#ifndef WEFT_CLI_BACKEND_H
#define WEFT_CLI_BACKEND_H

enum backend {
	BACKEND_NONE,   /* no WireGuard interface of that name */
	BACKEND_UAPI,   /* weftd, wireguard-go */
	BACKEND_KERNEL, /* the Linux module */
};

enum backend backend_of(const char *iface);

#endif
