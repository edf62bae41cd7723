/* conf_change.c: a parsed config as a device change - what setconf,
 * addconf, syncconf, `up`, `interface add` and `peer add` send to a
 * device - and a device's allowed IPs back as config prefixes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf_change.h"
#include "device.h"
#include "endpoint.h"

static void to_allowedip(struct dev_allowedip *ip, const struct conf_prefix *p)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = p->addr.family;
	ip->cidr = p->cidr;
	memcpy(ip->family == AF_INET ? (void *)&ip->ip4 : (void *)&ip->ip6, p->addr.bytes,
	       ip->family == AF_INET ? 4 : 16);
}

void allowedip_to_prefix(struct conf_prefix *out, const struct dev_allowedip *ip)
{
	memset(out, 0, sizeof(*out));
	out->addr.family = (uint8_t)ip->family;
	out->cidr = ip->cidr;
	memcpy(out->addr.bytes, ip->family == AF_INET ? (const void *)&ip->ip4 : (const void *)&ip->ip6,
	       ip->family == AF_INET ? 4 : 16);
}

int device_peer_from_conf(struct device *dev, const struct conf_peer *cp)
{
	struct dev_peer *p = device_add_peer(dev);

	if (!p)
		return -ENOMEM;
	memcpy(p->public_key, cp->public_key, WG_KEY_LEN);
	p->flags = PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWEDIPS;
	if (cp->has_preshared_key) {
		memcpy(p->preshared_key, cp->preshared_key, WG_KEY_LEN);
		p->flags |= PEER_HAS_PRESHARED_KEY;
	}
	if (cp->has_persistent_keepalive) {
		p->persistent_keepalive = cp->persistent_keepalive;
		p->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
	}
	if (cp->endpoint.host) {
		char port[8], what[CONF_ENDPOINT_STRLEN];

		snprintf(port, sizeof(port), "%u", cp->endpoint.port);
		conf_endpoint_format(what, sizeof(what), &cp->endpoint);
		if (!endpoint_resolve(&p->endpoint, cp->endpoint.host, port, what))
			return -EINVAL;
	}
	for (uint32_t i = 0; i < cp->allowed_ips.n; i++) {
		struct dev_allowedip ip;
		int ret;

		to_allowedip(&ip, &cp->allowed_ips.v[i]);
		ret = peer_add_allowedip(p, &ip);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void device_settings_from_conf(struct device *dev, const struct conf_interface *ci)
{
	if (ci->has_private_key) {
		memcpy(dev->private_key, ci->private_key, WG_KEY_LEN);
		dev->flags |= DEV_HAS_PRIVATE_KEY;
	}
	if (ci->has_listen_port) {
		dev->listen_port = ci->listen_port;
		dev->flags |= DEV_HAS_LISTEN_PORT;
	}
	if (ci->has_fwmark) {
		dev->fwmark = ci->fwmark;
		dev->flags |= DEV_HAS_FWMARK;
	}
}

/* wg's warning for an AllowedIP written with host bits (the backends clear
 * them), once the peer is in the change. */
static void warn_host_bits(const struct conf_peer *cp)
{
	for (uint32_t i = 0; i < cp->allowed_ips.n; i++) {
		struct dev_allowedip ip;

		to_allowedip(&ip, &cp->allowed_ips.v[i]);
		if (dev_allowedip_has_host_bits(&ip)) {
			char s[CONF_PREFIX_STRLEN];

			conf_prefix_format(s, &cp->allowed_ips.v[i]);
			fprintf(stderr, "Warning: AllowedIP has nonzero host part: %s\n", s);
		}
	}
}

/* The change `setconf` (replace) or `addconf` (!replace) sends. */
struct device *file_change(const struct conf *conf, const char *iface, bool replace)
{
	struct device *dev = device_new(iface);

	if (!dev) {
		perror("device");
		return NULL;
	}
	/* setconf: what the file leaves out is reset (no key, port 0 = any,
	 * no fwmark, no other peers). */
	if (replace)
		dev->flags |= DEV_REPLACE_PEERS | DEV_HAS_PRIVATE_KEY | DEV_HAS_LISTEN_PORT | DEV_HAS_FWMARK;
	device_settings_from_conf(dev, &conf->iface);
	for (uint32_t i = 0; i < conf->n_peers; i++) {
		int e = device_peer_from_conf(dev, &conf->peers[i]);

		if (e < 0) {
			if (e != -EINVAL) /* a bad endpoint has been reported already */
				fprintf(stderr, "peer: %s\n", strerror(-e));
			device_free(dev);
			return NULL;
		}
		warn_host_bits(&conf->peers[i]);
	}
	return dev;
}
