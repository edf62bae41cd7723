/* peer_pools.c: the address pools of an interface with every address in
 * use marked (peer_pools.h), shared by `weft peer add` and `weft api`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "conf_change.h"
#include "device.h"
#include "peer_pools.h"

#define IPV4_BITS 32
#define IPV6_BITS 128

void peer_pools_free(struct peer_pools *p)
{
	for (size_t i = 0; i < p->n; i++)
		addrpool_free(p->v[i]);
	free(p->v);
	p->n = 0;
	p->v = NULL;
}

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? IPV4_BITS : IPV6_BITS;
}

static int mark_prefix(struct peer_pools *p, const struct conf_prefix *range)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < p->n; i++)
		if (addrpool_covers(p->v[i], range))
			ret = addrpool_mark(p->v[i], range);
	return ret;
}

/* One pool per network of the interface's Addresses that has room for
 * peers (shorter than /32 or /128), with every address already in use
 * marked: the interface's own, and every peer's AllowedIPs inside it, in
 * the config, in disabled peers' records and on the running device. */
int peer_pools_build(struct peer_pools *p, const struct peer_ctx *c)
{
	const struct conf_prefix_list *addrs = &c->st.conf.iface.addresses;
	int ret = 0;

	p->v = calloc(addrs->n ? addrs->n : 1, sizeof(*p->v));
	p->n = 0;
	if (!p->v)
		return -ENOMEM;
	for (uint32_t i = 0; !ret && i < addrs->n; i++) {
		const struct conf_prefix *a = &addrs->v[i];
		bool have = false;

		if (a->cidr >= family_bits(a->addr.family))
			continue;
		/* A second address in a network we have: one pool (the loop
		 * below reserves both). */
		for (size_t k = 0; k < p->n && !have; k++)
			have = addrpool_network(p->v[k])->cidr == a->cidr && addrpool_contains(p->v[k], &a->addr);
		if (!have && !(ret = addrpool_new_for_address(&p->v[p->n], a)))
			p->n++;
	}
	/* Every interface address in every pool it lies in (a /32 within a /24,
	 * too). */
	for (uint32_t i = 0; !ret && i < addrs->n; i++)
		for (size_t k = 0; !ret && k < p->n; k++)
			if (addrpool_contains(p->v[k], &addrs->v[i].addr))
				ret = addrpool_reserve(p->v[k], &addrs->v[i].addr);
	for (uint32_t i = 0; !ret && i < c->st.conf.n_peers; i++)
		for (uint32_t j = 0; !ret && j < c->st.conf.peers[i].allowed_ips.n; j++)
			ret = mark_prefix(p, &c->st.conf.peers[i].allowed_ips.v[j]);
	/* disabled peers keep their addresses */
	for (uint32_t i = 0; !ret && i < c->st.w.n; i++)
		for (uint32_t j = 0; !ret && !c->st.w.recs[i].enabled && j < c->st.w.recs[i].held.allowed_ips.n; j++)
			ret = mark_prefix(p, &c->st.w.recs[i].held.allowed_ips.v[j]);
	for (size_t i = 0; !ret && c->dev && i < c->dev->n_peers; i++) {
		const struct dev_peer *dp = &c->dev->peers[i];

		for (size_t j = 0; !ret && j < dp->n_allowedips; j++) {
			struct conf_prefix r;

			allowedip_to_prefix(&r, &dp->allowedips[j]);
			ret = mark_prefix(p, &r);
		}
	}
	if (ret < 0)
		peer_pools_free(p);
	return ret;
}

int peer_pools_take(struct peer_pools *p, struct conf_prefix_list *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n; i++) {
		struct conf_prefix a;
		int ret = addrpool_take(p->v[i], &a.addr);

		if (ret < 0) {
			char net[CONF_PREFIX_STRLEN];

			conf_prefix_format(net, addrpool_network(p->v[i]));
			snprintf(err, errlen, ret == -ENOSPC ? "no free address left in %s" : "%s: out of memory", net);
			return ret;
		}
		a.cidr = (uint8_t)family_bits(a.addr.family);
		if (conf_prefix_list_add(out, &a) < 0) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}
