/* device_io.h: what `weft link` changes on the WireGuard device, through
 * the CLI's backends (a UAPI socket for weftd and wireguard-go, generic
 * netlink for the Linux module): one peer's endpoint and persistent
 * keepalive, nothing else - every change is an update-only peer change
 * without keys or allowed IPs.
 *
 * To make the device send a handshake initiation at once (the punch), the
 * keepalive is set to 0 and then to its value: every implementation sends
 * a keepalive when the interval turns on, and without a session that
 * keepalive starts a handshake. */
#ifndef WEFT_LINK_DEVICE_IO_H
#define WEFT_LINK_DEVICE_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "link/addr.h"

/* Sets the peer's endpoint (when ep is set) and, with kick, provokes an
 * initiation, leaving the keepalive at keepalive. 0 or -errno. */
int device_io_set_endpoint(const char *iface, const uint8_t key[32], const union link_addr *ep, bool kick,
			   uint16_t keepalive);
/* Sets the persistent keepalive alone (restoring the user's at exit). */
int device_io_set_keepalive(const char *iface, const uint8_t key[32], uint16_t keepalive);

#endif
