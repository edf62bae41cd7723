/* mesh_device.c: a mesh node's peer changes as a device change (mesh_device.h). */
#include "mesh_device.h"

#include <errno.h>

struct build {
	struct device *dev;
	int err;
};

static int add_ip(struct dev_peer *p, int family, const uint8_t *addr)
{
	struct dev_allowedip ip;

	memset(&ip, 0, sizeof(ip));
	ip.family = (uint16_t)family;
	if (family == AF_INET) {
		ip.cidr = 32;
		memcpy(&ip.ip4, addr, 4);
	} else {
		ip.cidr = 128;
		memcpy(&ip.ip6, addr, 16);
	}
	return peer_add_allowedip(p, &ip);
}

static void one(enum mesh_peer_change c, const struct mesh_peer *mp, void *arg)
{
	struct build *b = arg;
	struct dev_peer *p;

	if (b->err)
		return;
	p = device_add_peer(b->dev);
	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	memcpy(p->public_key, mp->wg_pub, WG_KEY_LEN);
	p->flags = PEER_HAS_PUBLIC_KEY;
	if (c == MESH_PEER_DROP) {
		p->flags |= PEER_REMOVE_ME;
		return;
	}
	/* added or updated: its AllowedIPs are exactly its overlay addresses
	 * (an update keeps the session and the endpoint link found) */
	p->flags |= PEER_REPLACE_ALLOWEDIPS;
	if (c == MESH_PEER_UPDATE)
		p->flags |= PEER_UPDATE_ONLY;
	if ((mp->has_v4 && add_ip(p, AF_INET, mp->v4)) || (mp->has_v6 && add_ip(p, AF_INET6, mp->v6)))
		b->err = -ENOMEM;
}

int mesh_device_change(struct device **out, const char *iface, const struct mesh_peer *old, size_t n_old,
		       const struct mesh_peer *cur, size_t n_cur)
{
	struct build b = { .dev = device_new(iface) };

	*out = NULL;
	if (!b.dev)
		return -ENOMEM;
	mesh_peers_diff(old, n_old, cur, n_cur, one, &b);
	if (b.err || !b.dev->n_peers) {
		device_free(b.dev);
		return b.err;
	}
	*out = b.dev;
	return 0;
}
