/* mesh_device.h: a mesh node's peer changes as one device change for the
 * CLI's backends (device_set: weftd or wireguard-go over the UAPI, the
 * kernel module over netlink): the difference of two peer lists
 * (mesh/peers.h) becomes peers added with their overlay addresses as
 * AllowedIPs, peers removed, and peers whose AllowedIPs are replaced.
 * Endpoints are left to `weft link`'s path finding; nothing here touches
 * a peer the mesh does not know (a change names its peers, it does not
 * replace the device's list). */
#ifndef WEFT_CLI_MESH_DEVICE_H
#define WEFT_CLI_MESH_DEVICE_H

#include <stddef.h>

#include "device.h"
#include "mesh/peers.h"

/* The change from old to cur for device iface: *out is NULL when there is
 * nothing to do (free it with device_free). 0 or -ENOMEM. */
int mesh_device_change(struct device **out, const char *iface, const struct mesh_peer *old, size_t n_old,
		       const struct mesh_peer *cur, size_t n_cur);

#endif
