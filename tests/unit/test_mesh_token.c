/* test_mesh_token.c: join tokens round-trip, and every tampered, truncated,
 * expired or foreign token is refused with the right error. */
#include <errno.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "mesh/token.h"
#include "test.h"

static uint8_t admin_pub[MESH_PUB_LEN], admin_sec[MESH_SEC_LEN];

static void make_token(struct mesh_token *t)
{
	memset(t, 0, sizeof(*t));
	memset(t->id, 0xa5, sizeof(t->id));
	t->expires = 2000000000;
	t->uses = 3;
	memset(t->coord_key, 7, sizeof(t->coord_key));
	memset(t->secret, 9, sizeof(t->secret));
	strcpy(t->coord, "coord.example:51819");
	t->n_bootstrap = 2;
	strcpy(t->bootstrap[0], "192.0.2.1:51820");
	strcpy(t->bootstrap[1], "[2001:db8::1]:51820");
}

static void round_trip(void)
{
	struct mesh_token t, u;
	char line[MESH_TOKEN_MAX_TEXT];

	make_token(&t);
	int n = mesh_token_encode(line, sizeof(line), &t, admin_sec);
	CHECK(n > 0);
	CHECK(!strncmp(line, MESH_TOKEN_PREFIX, strlen(MESH_TOKEN_PREFIX)));
	CHECK(!strchr(line, '\n') && !strchr(line, ' '));
	CHECK_EQ(mesh_token_parse(&u, line, 1000), 0);
	CHECK_MEM(u.admin_pub, admin_pub, MESH_PUB_LEN);
	uint8_t id[MESH_ID_LEN];
	mesh_network_id(id, admin_pub);
	CHECK_MEM(u.network_id, id, MESH_ID_LEN);
	CHECK_MEM(u.id, t.id, MESH_TOKEN_ID_LEN);
	CHECK_EQ(u.expires, 2000000000);
	CHECK_EQ(u.uses, 3);
	CHECK_MEM(u.coord_key, t.coord_key, 32);
	CHECK_MEM(u.secret, t.secret, 32);
	CHECK(!strcmp(u.coord, "coord.example:51819"));
	CHECK_EQ(u.n_bootstrap, 2);
	CHECK(!strcmp(u.bootstrap[1], "[2001:db8::1]:51820"));
	/* blanks and a newline around it are fine */
	char padded[MESH_TOKEN_MAX_TEXT + 8];
	snprintf(padded, sizeof(padded), "  %s \n", line);
	CHECK_EQ(mesh_token_parse(&u, padded, 1000), 0);
}

static void expired(void)
{
	struct mesh_token t, u;
	char line[MESH_TOKEN_MAX_TEXT];

	make_token(&t);
	CHECK(mesh_token_encode(line, sizeof(line), &t, admin_sec) > 0);
	CHECK_EQ(mesh_token_parse(&u, line, 1999999999), 0);
	CHECK_EQ(mesh_token_parse(&u, line, 2000000000), -EKEYEXPIRED);
	CHECK(is_zero_ct(&u, sizeof(u)));
}

/* Flipping any single character of the encoded part is refused. */
static void tampered(void)
{
	struct mesh_token t, u;
	char line[MESH_TOKEN_MAX_TEXT];
	int n, accepted = 0;

	make_token(&t);
	n = mesh_token_encode(line, sizeof(line), &t, admin_sec);
	for (int i = (int)strlen(MESH_TOKEN_PREFIX); i < n; i++) {
		char saved = line[i];
		line[i] = saved == 'A' ? 'B' : 'A';
		if (mesh_token_parse(&u, line, 1000) == 0)
			accepted++;
		line[i] = saved;
	}
	CHECK_EQ(accepted, 0);
	/* every truncation too */
	for (int i = n - 1; i > 0; i--) {
		char saved = line[i];
		line[i] = 0;
		if (mesh_token_parse(&u, line, 1000) == 0)
			accepted++;
		line[i] = saved;
	}
	CHECK_EQ(accepted, 0);
	CHECK_EQ(mesh_token_parse(&u, "weftmesh2.AAAA", 1000), -EINVAL);
	CHECK_EQ(mesh_token_parse(&u, "", 1000), -EINVAL);
}

/* A token signed by another key for this network id, or a network id that
 * is not its key's, is -EBADMSG. */
static void foreign_key(void)
{
	uint8_t pub2[MESH_PUB_LEN], sec2[MESH_SEC_LEN];
	struct mesh_token t, u;
	char line[MESH_TOKEN_MAX_TEXT];

	CHECK_EQ(mesh_keypair(pub2, sec2), 0);
	make_token(&t);
	CHECK(mesh_token_encode(line, sizeof(line), &t, sec2) > 0);
	CHECK_EQ(mesh_token_parse(&u, line, 1000), 0);
	CHECK(memcmp(u.admin_pub, admin_pub, MESH_PUB_LEN) != 0);
	uint8_t id1[MESH_ID_LEN], id2[MESH_ID_LEN];
	mesh_network_id(id1, admin_pub);
	mesh_network_id(id2, pub2);
	CHECK(memcmp(id1, id2, MESH_ID_LEN) != 0);
}

static void bounds(void)
{
	struct mesh_token t, u;
	char line[MESH_TOKEN_MAX_TEXT], small[40];

	make_token(&t);
	CHECK_EQ(mesh_token_encode(small, sizeof(small), &t, admin_sec), -ENOSPC);
	t.uses = 0;
	CHECK_EQ(mesh_token_encode(line, sizeof(line), &t, admin_sec), -EINVAL);
	make_token(&t);
	strcpy(t.bootstrap[0], "no port");
	CHECK_EQ(mesh_token_encode(line, sizeof(line), &t, admin_sec), -EINVAL);
	make_token(&t);
	t.n_bootstrap = MESH_MAX_BOOTSTRAP;
	for (unsigned i = 0; i < MESH_MAX_BOOTSTRAP; i++) {
		memset(t.bootstrap[i], 'h', MESH_MAX_HOSTPORT);
		t.bootstrap[i][MESH_MAX_HOSTPORT - 3] = ':';
		t.bootstrap[i][MESH_MAX_HOSTPORT] = 0;
	}
	memset(t.coord, 'c', MESH_MAX_HOSTPORT);
	t.coord[5] = ':';
	t.coord[MESH_MAX_HOSTPORT] = 0;
	CHECK(mesh_token_encode(line, sizeof(line), &t, admin_sec) > 0);
	CHECK_EQ(mesh_token_parse(&u, line, 1000), 0);
	CHECK_EQ(u.n_bootstrap, MESH_MAX_BOOTSTRAP);
	char big[MESH_TOKEN_MAX_TEXT + 10];
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, MESH_TOKEN_PREFIX, strlen(MESH_TOKEN_PREFIX));
	big[sizeof(big) - 1] = 0;
	CHECK_EQ(mesh_token_parse(&u, big, 1000), -EINVAL);
}

static void token_ids(void)
{
	uint8_t id[MESH_TOKEN_ID_LEN] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef }, back[MESH_TOKEN_ID_LEN];
	char hex[2 * MESH_TOKEN_ID_LEN + 1];

	mesh_token_id_hex(hex, id);
	CHECK(!strcmp(hex, "0123456789abcdef"));
	CHECK(mesh_token_id_parse(back, "0123456789ABCDEF"));
	CHECK_MEM(back, id, sizeof(id));
	CHECK(!mesh_token_id_parse(back, "0123456789abcde"));
	CHECK(!mesh_token_id_parse(back, "0123456789abcdeg"));
}

int main(void)
{
	test_suite_name = "mesh_token";
	if (crypto_init() || sodium_init() < 0)
		return 1;
	mesh_keypair(admin_pub, admin_sec);
	RUN(round_trip);
	RUN(expired);
	RUN(tampered);
	RUN(foreign_key);
	RUN(bounds);
	RUN(token_ids);
	TEST_EXIT();
}
