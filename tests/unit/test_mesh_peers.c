/* test_mesh_peers.c: a node's peers from its view: every admitted member
 * but itself and the removed one, sorted by WireGuard key, each key the
 * X25519 conversion of the member's Ed25519 key, AllowedIPs the collision
 * rule's addresses over the admitted members (not the address a record
 * claims), distinct and inside the prefixes; no IPv6 without a prefix6;
 * a node alone has no peer. The difference of two lists: a removed
 * member dropped, a new one added, one whose candidates changed updated,
 * the others untouched. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/socket.h>

#include "mesh/peers.h"
#include "test.h"

enum { NODES = 6, NOW = 1700000000 };

static uint8_t admin_pub[MESH_PUB_LEN], admin_sec[MESH_SEC_LEN];
static uint8_t node_pub[NODES][MESH_PUB_LEN], node_sec[NODES][MESH_SEC_LEN];
static uint8_t net_id[MESH_ID_LEN];
static struct mesh_prefix p4, p6, none;

static void add(struct mesh_view *v, int i, uint8_t kind)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	memcpy(r.network_id, net_id, MESH_ID_LEN);
	memcpy(r.subject, node_pub[i], MESH_PUB_LEN);
	r.version = (uint64_t)NOW * 1000;
	r.expires = NOW + 86400;
	r.joined = NOW - 100 + (uint64_t)(i % 2); /* ties: the key decides */
	snprintf(r.name, sizeof(r.name), "node-%d", i);
	r.v4[0] = 10, r.v4[3] = 99; /* every record claims 10.0.0.99 */
	r.n_candidates = 1;
	r.candidates[0].family = 4;
	r.candidates[0].addr[0] = 192, r.candidates[0].addr[3] = (uint8_t)i;
	r.candidates[0].port = (uint16_t)(51820 + i);
	if (kind == MESH_REMOVE) {
		CHECK_EQ(mesh_record_sign(&r, admin_sec), 0);
	} else {
		mesh_record_admit(&r, admin_sec);
		CHECK_EQ(mesh_record_sign(&r, node_sec[i]), 0);
	}
	CHECK(mesh_view_add(v, &r, NOW) >= 0);
}

static int index_of(const uint8_t pub[MESH_PUB_LEN])
{
	for (int i = 0; i < NODES; i++)
		if (!memcmp(pub, node_pub[i], MESH_PUB_LEN))
			return i;
	return -1;
}

static void peers_of_a_node(void)
{
	struct mesh_view v;
	struct mesh_peer *peer = NULL, self;
	struct mesh_addr_member a4[NODES], a6[NODES];
	size_t na = 0;
	long n;

	mesh_view_init(&v, admin_pub);
	for (int i = 0; i < NODES; i++)
		add(&v, i, MESH_MEMBER);
	add(&v, 3, MESH_REMOVE);

	/* the table computed apart, over the admitted members 0 1 2 4 5 */
	memset(a4, 0, sizeof(a4));
	for (int i = 0; i < NODES; i++) {
		if (i == 3)
			continue;
		memcpy(a4[na].pub, node_pub[i], MESH_PUB_LEN);
		a4[na].joined = NOW - 100 + (uint64_t)(i % 2);
		na++;
	}
	memcpy(a6, a4, sizeof(a4));
	CHECK_EQ(mesh_addr_assign(&p4, a4, na), 0);
	CHECK_EQ(mesh_addr_assign(&p6, a6, na), 0);

	n = mesh_peers(&v, &p4, &p6, node_pub[0], NOW, &peer, &self);
	CHECK_EQ(n, NODES - 2);
	CHECK(!memcmp(self.pub, node_pub[0], MESH_PUB_LEN) && self.has_v4 && self.has_v6);
	CHECK_MEM(self.v4, a4[0].addr, 4);
	for (long i = 0; peer && i < n; i++) {
		uint8_t wg[32];
		int k = index_of(peer[i].pub);
		size_t j;
		CHECK(k > 0 && k != 3);
		CHECK(crypto_sign_ed25519_pk_to_curve25519(wg, peer[i].pub) == 0);
		CHECK_MEM(peer[i].wg_pub, wg, 32);
		if (i)
			CHECK(memcmp(peer[i - 1].wg_pub, peer[i].wg_pub, 32) < 0);
		for (j = 0; j < na && memcmp(a4[j].pub, peer[i].pub, MESH_PUB_LEN); j++)
			;
		CHECK(j < na && peer[i].has_v4 && peer[i].has_v6);
		if (j < na) {
			CHECK_MEM(peer[i].v4, a4[j].addr, 4);
			CHECK_MEM(peer[i].v6, a6[j].addr, 16);
		}
		CHECK(peer[i].v4[0] == 10 && peer[i].v4[1] == 42);
		CHECK(memcmp(peer[i].v4, self.v4, 4) != 0);
		CHECK(peer[i].n_candidates == 1 && peer[i].candidates[0].addr[3] == k);
		CHECK(strncmp(peer[i].name, "node-", 5) == 0);
	}
	free(peer);

	/* no IPv6 prefix: no IPv6 address */
	n = mesh_peers(&v, &p4, &none, node_pub[1], NOW, &peer, NULL);
	CHECK_EQ(n, NODES - 2);
	for (long i = 0; peer && i < n; i++)
		CHECK(peer[i].has_v4 && !peer[i].has_v6);
	free(peer);

	/* the removed node is no member: every admitted member is its peer,
	 * but no one lists it */
	n = mesh_peers(&v, &p4, &p6, node_pub[3], NOW, &peer, &self);
	CHECK_EQ(n, NODES - 1);
	CHECK(!self.has_v4);
	free(peer);
	mesh_view_free(&v);

	/* alone */
	mesh_view_init(&v, admin_pub);
	add(&v, 2, MESH_MEMBER);
	peer = (struct mesh_peer *)&v;
	CHECK_EQ(mesh_peers(&v, &p4, &p6, node_pub[2], NOW, &peer, &self), 0);
	CHECK(peer == NULL && self.has_v4);
	mesh_view_free(&v);
}

struct changes {
	int add, drop, update;
	uint8_t last[MESH_PUB_LEN];
};

static void note(enum mesh_peer_change c, const struct mesh_peer *p, void *arg)
{
	struct changes *ch = arg;

	if (c == MESH_PEER_ADD)
		ch->add++;
	else if (c == MESH_PEER_DROP)
		ch->drop++;
	else if (c == MESH_PEER_UPDATE)
		ch->update++;
	memcpy(ch->last, p->pub, MESH_PUB_LEN);
}

static void difference(void)
{
	struct mesh_view v;
	struct mesh_peer *before = NULL, *after = NULL;
	struct changes ch;
	long nb, na;

	mesh_view_init(&v, admin_pub);
	for (int i = 0; i < 4; i++)
		add(&v, i, MESH_MEMBER);
	nb = mesh_peers(&v, &p4, &p6, node_pub[0], NOW, &before, NULL);
	CHECK_EQ(nb, 3);

	/* the same view: nothing to do */
	na = mesh_peers(&v, &p4, &p6, node_pub[0], NOW, &after, NULL);
	memset(&ch, 0, sizeof(ch));
	mesh_peers_diff(before, (size_t)nb, after, (size_t)na, note, &ch);
	CHECK(ch.add == 0 && ch.drop == 0 && ch.update == 0);
	free(after);

	/* node 2 removed */
	add(&v, 2, MESH_REMOVE);
	na = mesh_peers(&v, &p4, &p6, node_pub[0], NOW, &after, NULL);
	CHECK_EQ(na, 2);
	memset(&ch, 0, sizeof(ch));
	mesh_peers_diff(before, (size_t)nb, after, (size_t)na, note, &ch);
	CHECK(ch.add == 0 && ch.drop == 1 && ch.update == 0);
	CHECK_MEM(ch.last, node_pub[2], MESH_PUB_LEN);
	free(after);

	/* node 4 joins, node 1's record comes with a new candidate */
	add(&v, 4, MESH_MEMBER);
	{
		const struct mesh_record *old = mesh_view_find(&v, MESH_MEMBER, node_pub[1]);
		struct mesh_record r = *old;
		r.version += 1000;
		r.candidates[0].port = 40000;
		CHECK_EQ(mesh_record_sign(&r, node_sec[1]), 0);
		CHECK_EQ(mesh_view_add(&v, &r, NOW), 1);
	}
	na = mesh_peers(&v, &p4, &p6, node_pub[0], NOW, &after, NULL);
	CHECK_EQ(na, 3);
	memset(&ch, 0, sizeof(ch));
	mesh_peers_diff(before, (size_t)nb, after, (size_t)na, note, &ch);
	CHECK(ch.add == 1 && ch.drop == 1 && ch.update == 1);
	/* from nothing: everyone added; to nothing: everyone dropped */
	memset(&ch, 0, sizeof(ch));
	mesh_peers_diff(NULL, 0, after, (size_t)na, note, &ch);
	CHECK(ch.add == 3 && ch.drop == 0);
	memset(&ch, 0, sizeof(ch));
	mesh_peers_diff(after, (size_t)na, NULL, 0, note, &ch);
	CHECK(ch.add == 0 && ch.drop == 3);
	free(after);
	free(before);
	mesh_view_free(&v);
}

int main(void)
{
	test_suite_name = "mesh_peers";
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(admin_pub, admin_sec);
	mesh_network_id(net_id, admin_pub);
	for (int i = 0; i < NODES; i++)
		crypto_sign_keypair(node_pub[i], node_sec[i]);
	if (mesh_prefix_parse(&p4, "10.42.0.0/16") || mesh_prefix_parse(&p6, "fd42::/48")) {
		printf("FAIL: mesh_peers/setup: prefixes\n");
		return 1;
	}
	RUN(peers_of_a_node);
	RUN(difference);
	TEST_EXIT();
}
