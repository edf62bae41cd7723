/* test_mesh_device.c: a mesh node's peer changes as one device change: a
 * new member added with its key and its overlay addresses (/32, /128) as
 * its only AllowedIPs, a removed member removed, a member whose address
 * moved updated in place (update-only, AllowedIPs replaced), no endpoint
 * set, and no change at all when the lists are equal. */
#include <arpa/inet.h>
#include <errno.h>

#include "weft/mesh_device.h"
#include "test.h"

static struct mesh_peer peer(uint8_t k, uint8_t host)
{
	struct mesh_peer p;

	memset(&p, 0, sizeof(p));
	memset(p.pub, k, sizeof(p.pub));
	memset(p.wg_pub, k, sizeof(p.wg_pub));
	snprintf(p.name, sizeof(p.name), "n%u", k);
	p.has_v4 = true;
	p.v4[0] = 10, p.v4[1] = 42, p.v4[3] = host;
	p.has_v6 = true;
	p.v6[0] = 0xfd, p.v6[15] = host;
	return p;
}

static const struct dev_peer *find(const struct device *d, uint8_t k)
{
	for (size_t i = 0; i < d->n_peers; i++)
		if (d->peers[i].public_key[0] == k)
			return &d->peers[i];
	return NULL;
}

static void change(void)
{
	struct mesh_peer old[3] = { peer(1, 1), peer(2, 2), peer(3, 3) };
	struct mesh_peer cur[3] = { peer(1, 1), peer(3, 9), peer(4, 4) };
	struct device *d = NULL;
	const struct dev_peer *p;
	char text[INET6_ADDRSTRLEN];

	CHECK_EQ(mesh_device_change(&d, "mesh0", old, 3, old, 3), 0);
	CHECK(d == NULL);

	CHECK_EQ(mesh_device_change(&d, "mesh0", old, 3, cur, 3), 0);
	CHECK(d != NULL);
	if (!d)
		return;
	CHECK(strcmp(d->name, "mesh0") == 0);
	CHECK_EQ(d->flags, 0); /* the device's own settings and other peers untouched */
	CHECK_EQ(d->n_peers, 3);
	CHECK(find(d, 1) == NULL);

	p = find(d, 2); /* removed */
	CHECK(p && p->flags == (PEER_HAS_PUBLIC_KEY | PEER_REMOVE_ME) && p->n_allowedips == 0);

	p = find(d, 3); /* its address moved */
	CHECK(p && p->flags == (PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWEDIPS | PEER_UPDATE_ONLY));
	CHECK(p && p->n_allowedips == 2);
	if (p && p->n_allowedips == 2) {
		CHECK(p->allowedips[0].family == AF_INET && p->allowedips[0].cidr == 32);
		inet_ntop(AF_INET, &p->allowedips[0].ip4, text, sizeof(text));
		CHECK(strcmp(text, "10.42.0.9") == 0);
		CHECK(p->allowedips[1].family == AF_INET6 && p->allowedips[1].cidr == 128);
		inet_ntop(AF_INET6, &p->allowedips[1].ip6, text, sizeof(text));
		CHECK(strcmp(text, "fd00::9") == 0);
	}

	p = find(d, 4); /* new */
	CHECK(p && p->flags == (PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWEDIPS) && p->n_allowedips == 2);
	CHECK(p && !device_has_endpoint(p) && p->persistent_keepalive == 0);
	device_free(d);

	/* a member without an IPv6 prefix gets its IPv4 address alone */
	cur[2].has_v6 = false;
	CHECK_EQ(mesh_device_change(&d, "mesh0", NULL, 0, &cur[2], 1), 0);
	CHECK(d && d->n_peers == 1 && d->peers[0].n_allowedips == 1 && d->peers[0].allowedips[0].cidr == 32);
	device_free(d);
}

int main(void)
{
	test_suite_name = "mesh_device";
	RUN(change);
	TEST_EXIT();
}
