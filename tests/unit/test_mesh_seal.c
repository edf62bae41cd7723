/* test_mesh_seal.c: a record sealed for the coord opens with the network
 * secret and network id it was sealed for, and with nothing else; a
 * changed byte is refused; every record can be cut to fit a coord blob,
 * private candidates dropped before public ones. */
#include <errno.h>
#include <sodium.h>

#include "coord/proto.h"
#include "crypto/crypto.h"
#include "mesh/seal.h"
#include "test.h"

_Static_assert((int)MESH_BLOB_MAX == (int)COORD_BLOB_MAX, "a sealed record must fit the coord's blob");

static uint8_t admin_pub[32], admin_sec[64], pub[32], sec[64], secret[32], nonce[24];

static struct mesh_record record(unsigned n_candidates, const char *name)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = MESH_MEMBER;
	mesh_network_id(r.network_id, admin_pub);
	memcpy(r.subject, pub, 32);
	r.version = 5, r.expires = 2000000000, r.joined = 1;
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.n_candidates = (uint8_t)n_candidates;
	for (unsigned i = 0; i < n_candidates; i++) {
		struct mesh_candidate *c = &r.candidates[i];
		c->family = 4;
		c->port = (uint16_t)(51820 + i);
		/* even: private (10.x), odd: public (198.51.100.x) */
		if (i % 2)
			c->addr[0] = 198, c->addr[1] = 51, c->addr[2] = 100, c->addr[3] = (uint8_t)i;
		else
			c->addr[0] = 10, c->addr[3] = (uint8_t)i;
	}
	mesh_record_admit(&r, admin_sec);
	CHECK_EQ(mesh_record_sign(&r, sec), 0);
	return r;
}

static void round_trip(void)
{
	struct mesh_record r = record(2, "web-1"), back;
	uint8_t blob[MESH_BLOB_MAX], other[32];
	int n = mesh_seal_record(blob, sizeof(blob), &r, secret, nonce);

	CHECK(n > 0 && n <= MESH_BLOB_MAX);
	CHECK_EQ(blob[0], 1);
	CHECK_EQ(mesh_open_blob(&back, blob, (size_t)n, secret, r.network_id), 0);
	CHECK(!strcmp(back.name, "web-1") && back.n_candidates == 2 && !memcmp(back.sig, r.sig, 64));
	CHECK(mesh_record_verify(&back, admin_pub));
	/* the name is nowhere in clear */
	CHECK(!memmem(blob, (size_t)n, "web-1", 5));
	memcpy(other, secret, 32);
	other[0] ^= 1;
	CHECK_EQ(mesh_open_blob(&back, blob, (size_t)n, other, r.network_id), -EBADMSG);
	uint8_t net2[MESH_ID_LEN];
	memcpy(net2, r.network_id, MESH_ID_LEN);
	net2[3] ^= 1;
	CHECK_EQ(mesh_open_blob(&back, blob, (size_t)n, secret, net2), -EBADMSG);
	int changed = 0;
	for (int i = 1; i < n; i++) {
		blob[i] ^= 0x40;
		changed += mesh_open_blob(&back, blob, (size_t)n, secret, r.network_id) == -EBADMSG;
		blob[i] ^= 0x40;
	}
	CHECK_EQ(changed, n - 1);
	CHECK_EQ(mesh_open_blob(&back, blob, 41, secret, r.network_id), -EINVAL);
	CHECK_EQ(mesh_open_blob(&back, blob, MESH_BLOB_MAX + 1, secret, r.network_id), -EINVAL);
	blob[0] = 2;
	CHECK_EQ(mesh_open_blob(&back, blob, (size_t)n, secret, r.network_id), -EINVAL);
}

static void fit(void)
{
	char name[64];
	struct mesh_record r, back;
	uint8_t blob[MESH_BLOB_MAX];

	memset(name, 'n', 63);
	name[63] = 0;
	r = record(8, name);
	CHECK_EQ(mesh_seal_record(blob, sizeof(blob), &r, secret, nonce), -ENOSPC);
	unsigned dropped = mesh_record_fit_blob(&r);
	CHECK(dropped > 0);
	CHECK_EQ(r.n_candidates + dropped, 8);
	/* the public ones (odd) are kept before any private one */
	unsigned kept_public = 0;
	for (unsigned i = 0; i < r.n_candidates; i++)
		kept_public += r.candidates[i].addr[0] == 198;
	CHECK_EQ(kept_public, r.n_candidates < 4 ? r.n_candidates : 4);
	CHECK_EQ(mesh_record_sign(&r, sec), 0);
	int n = mesh_seal_record(blob, sizeof(blob), &r, secret, nonce);
	CHECK(n > 0 && n <= MESH_BLOB_MAX);
	CHECK_EQ(mesh_open_blob(&back, blob, (size_t)n, secret, r.network_id), 0);
	/* a short name keeps more */
	struct mesh_record s = record(8, "a");
	mesh_record_fit_blob(&s);
	CHECK(s.n_candidates > r.n_candidates);
	/* with no candidate, the longest name fits */
	struct mesh_record z = record(0, name);
	CHECK_EQ(mesh_record_fit_blob(&z), 0);
	CHECK(mesh_seal_record(blob, sizeof(blob), &z, secret, nonce) > 0);
}

int main(void)
{
	test_suite_name = "mesh_seal";
	if (crypto_init() || sodium_init() < 0)
		return 1;
	mesh_keypair(admin_pub, admin_sec);
	mesh_keypair(pub, sec);
	randombytes_buf(secret, sizeof(secret));
	randombytes_buf(nonce, sizeof(nonce));
	RUN(round_trip);
	RUN(fit);
	TEST_EXIT();
}
