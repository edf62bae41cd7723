/* test_mesh_admit.c: a sponsor admits a node with a join token only while
 * the token is this network's, unexpired, unrevoked and not used up (a
 * removed node keeps its use; an outsider's admissions use nothing), and
 * the node is neither a member already nor removed; an admitted record,
 * completed and signed by the node, is a member in every view. */
#include <errno.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "mesh/admit.h"
#include "test.h"

enum { NOW = 1700000000 };

static uint8_t admin_pub[32], admin_sec[64], pub[6][32], sec[6][64];

static struct mesh_token make_token(uint16_t uses, uint8_t id, const uint8_t *signer)
{
	struct mesh_token t, parsed;
	char line[MESH_TOKEN_MAX_TEXT];

	memset(&t, 0, sizeof(t));
	memset(t.id, id, sizeof(t.id));
	t.expires = NOW + 3600;
	t.uses = uses;
	CHECK(mesh_token_encode(line, sizeof(line), &t, signer) > 0);
	CHECK_EQ(mesh_token_parse(&parsed, line, NOW), 0);
	return parsed;
}

/* The node completes and signs the record its sponsor admitted. */
static struct mesh_record finish(struct mesh_record r, int node)
{
	r.version = (uint64_t)NOW * 1000;
	r.expires = NOW + 7 * 86400;
	snprintf(r.name, sizeof(r.name), "n%d", node);
	CHECK_EQ(mesh_record_sign(&r, sec[node]), 0);
	return r;
}

static void founder(struct mesh_view *v)
{
	struct mesh_record r;

	mesh_view_init(v, admin_pub);
	memset(&r, 0, sizeof(r));
	r.kind = MESH_MEMBER;
	memcpy(r.network_id, v->network_id, MESH_ID_LEN);
	memcpy(r.subject, pub[0], 32);
	r.joined = NOW - 100;
	mesh_record_admit(&r, admin_sec);
	r = finish(r, 0);
	CHECK_EQ(mesh_view_add(v, &r, NOW), 1);
}

static void admits_up_to_uses(void)
{
	struct mesh_view v;
	struct mesh_token t = make_token(2, 0x11, admin_sec);
	struct mesh_record r;
	const struct mesh_record **m;

	founder(&v);
	for (int node = 1; node <= 2; node++) {
		CHECK_EQ(mesh_admit_check(&v, &t, pub[node], NOW), 0);
		mesh_admit(&r, &v, &t, pub[node], NOW, sec[0]);
		r = finish(r, node);
		CHECK_EQ(mesh_view_add(&v, &r, NOW), 1);
		CHECK_EQ(mesh_token_used(&v, t.id, NOW), node);
	}
	CHECK_EQ(mesh_view_members(&v, NOW, &m), 3);
	free(m);
	CHECK_EQ(mesh_admit_check(&v, &t, pub[3], NOW), -EUSERS);
	CHECK_EQ(mesh_admit_check(&v, &t, pub[1], NOW), -EEXIST);
	/* removing node 2 does not give its use back */
	struct mesh_record rm;
	memset(&rm, 0, sizeof(rm));
	rm.kind = MESH_REMOVE;
	memcpy(rm.network_id, v.network_id, MESH_ID_LEN);
	memcpy(rm.subject, pub[2], 32);
	rm.version = 1, rm.expires = UINT64_MAX;
	CHECK_EQ(mesh_record_sign(&rm, admin_sec), 0);
	CHECK_EQ(mesh_view_add(&v, &rm, NOW), 1);
	CHECK_EQ(mesh_view_members(&v, NOW, &m), 2);
	free(m);
	CHECK_EQ(mesh_token_used(&v, t.id, NOW), 2);
	CHECK_EQ(mesh_admit_check(&v, &t, pub[3], NOW), -EUSERS);
	/* a fresh token admits node 3 */
	struct mesh_token t2 = make_token(1, 0x22, admin_sec);
	CHECK_EQ(mesh_admit_check(&v, &t2, pub[3], NOW), 0);
	mesh_view_free(&v);
}

static void refusals(void)
{
	struct mesh_view v;
	struct mesh_token t = make_token(5, 0x33, admin_sec);
	struct mesh_record rv, rm;
	uint8_t other_pub[32], other_sec[64];

	founder(&v);
	CHECK_EQ(mesh_admit_check(&v, &t, pub[1], NOW + 3600), -EKEYEXPIRED);
	/* another network's token (its own admin key) */
	mesh_keypair(other_pub, other_sec);
	struct mesh_token foreign = make_token(5, 0x33, other_sec);
	CHECK_EQ(mesh_admit_check(&v, &foreign, pub[1], NOW), -EINVAL);
	/* revoked */
	memset(&rv, 0, sizeof(rv));
	rv.kind = MESH_REVOKE;
	memcpy(rv.network_id, v.network_id, MESH_ID_LEN);
	memcpy(rv.subject, t.id, MESH_TOKEN_ID_LEN);
	rv.version = (uint64_t)NOW * 1000, rv.joined = NOW - 1, rv.expires = NOW + 7200;
	CHECK_EQ(mesh_record_sign(&rv, admin_sec), 0);
	CHECK_EQ(mesh_view_add(&v, &rv, NOW), 1);
	CHECK_EQ(mesh_admit_check(&v, &t, pub[1], NOW), -EKEYREVOKED);
	/* a removed key never comes back, whatever the token */
	struct mesh_token t2 = make_token(5, 0x44, admin_sec);
	memset(&rm, 0, sizeof(rm));
	rm.kind = MESH_REMOVE;
	memcpy(rm.network_id, v.network_id, MESH_ID_LEN);
	memcpy(rm.subject, pub[4], 32);
	rm.version = 1, rm.expires = UINT64_MAX;
	CHECK_EQ(mesh_record_sign(&rm, admin_sec), 0);
	CHECK_EQ(mesh_view_add(&v, &rm, NOW), 1);
	CHECK_EQ(mesh_admit_check(&v, &t2, pub[4], NOW), -EEXIST);
	CHECK_EQ(mesh_admit_check(&v, &t2, pub[5], NOW), 0);
	mesh_view_free(&v);
}

/* A sponsor that is not a member admits no one: its admission does not
 * make the node a member of any view. */
static void outsider_sponsor(void)
{
	struct mesh_view v;
	struct mesh_token t = make_token(5, 0x55, admin_sec);
	struct mesh_record r;
	const struct mesh_record **m;

	founder(&v);
	mesh_admit(&r, &v, &t, pub[2], NOW, sec[5]); /* node 5 is no member */
	r = finish(r, 2);
	CHECK_EQ(mesh_view_add(&v, &r, NOW), 1);
	CHECK_EQ(mesh_view_members(&v, NOW, &m), 1);
	free(m);
	CHECK_EQ(mesh_token_used(&v, t.id, NOW), 0); /* outsiders cannot use a token up */
	mesh_view_free(&v);
}

int main(void)
{
	test_suite_name = "mesh_admit";
	if (crypto_init() || sodium_init() < 0)
		return 1;
	mesh_keypair(admin_pub, admin_sec);
	for (int i = 0; i < 6; i++)
		mesh_keypair(pub[i], sec[i]);
	RUN(admits_up_to_uses);
	RUN(refusals);
	RUN(outsider_sponsor);
	TEST_EXIT();
}
