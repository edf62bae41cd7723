/* device_io.c: endpoint and keepalive changes on the device (device_io.h). */
#include "link/device_io.h"

#include <string.h>

#include "weft/device.h"

static int set_peer(const char *iface, const uint8_t key[32], const union link_addr *ep, bool has_ka,
		    uint16_t keepalive)
{
	struct device *dev = device_new(iface);
	struct dev_peer *p;
	int ret;

	if (!dev)
		return -ENOMEM;
	p = device_add_peer(dev);
	if (!p) {
		device_free(dev);
		return -ENOMEM;
	}
	p->flags = PEER_HAS_PUBLIC_KEY | PEER_UPDATE_ONLY;
	memcpy(p->public_key, key, 32);
	if (ep && link_addr_is_set(ep))
		memcpy(&p->endpoint, ep, link_addr_len(ep));
	if (has_ka) {
		p->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
		p->persistent_keepalive = keepalive;
	}
	ret = device_set(dev);
	device_free(dev);
	return ret;
}

int device_io_set_endpoint(const char *iface, const uint8_t key[32], const union link_addr *ep, bool kick,
			   uint16_t keepalive)
{
	int ret;

	if (!kick)
		return set_peer(iface, key, ep, false, 0);
	ret = set_peer(iface, key, ep, true, 0);
	if (!ret)
		ret = set_peer(iface, key, NULL, true, keepalive ? keepalive : 1);
	/* a keepalive of 1 s only for the kick, when the user wants none */
	if (!ret && !keepalive)
		ret = set_peer(iface, key, NULL, true, 0);
	return ret;
}

int device_io_set_keepalive(const char *iface, const uint8_t key[32], uint16_t keepalive)
{
	return set_peer(iface, key, NULL, true, keepalive);
}
