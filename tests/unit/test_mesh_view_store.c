/* test_mesh_view_store.c: a node's view saved to a file and loaded into an
 * empty view gives the same digest (members, a leave, a remove, a
 * revocation); records that expired since, or whose bytes changed, are
 * dropped and counted while the rest load; a file of another network
 * loads nothing; a broken frame, a truncated file or a wrong header give
 * -EINVAL; the file is 0600. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "mesh/view_store.h"
#include "test.h"

enum { NODES = 6, NOW = 1700000000 };

static uint8_t admin_pub[MESH_PUB_LEN], admin_sec[MESH_SEC_LEN];
static uint8_t node_pub[NODES][MESH_PUB_LEN], node_sec[NODES][MESH_SEC_LEN];
static uint8_t net_id[MESH_ID_LEN];
static char dir[] = "/tmp/weft-view-store-XXXXXX";
static char path[256];

static struct mesh_record record(int i, uint8_t kind, uint64_t expires)
{
	struct mesh_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	memcpy(r.network_id, net_id, MESH_ID_LEN);
	memcpy(r.subject, node_pub[i], MESH_PUB_LEN);
	r.version = (uint64_t)(NOW + i) * 1000;
	r.expires = expires;
	r.joined = NOW - 100 + (uint64_t)i;
	snprintf(r.name, sizeof(r.name), "node-%d", i);
	r.v4[0] = 10, r.v4[3] = (uint8_t)(i + 1);
	if (kind == MESH_REMOVE) {
		CHECK_EQ(mesh_record_sign(&r, admin_sec), 0);
		return r;
	}
	mesh_record_admit(&r, admin_sec);
	CHECK_EQ(mesh_record_sign(&r, node_sec[i]), 0);
	return r;
}

static void full_view(struct mesh_view *v)
{
	struct mesh_record r;

	mesh_view_init(v, admin_pub);
	for (int i = 0; i < NODES; i++) {
		/* node 5's record expires an hour from NOW */
		r = record(i, i == 4 ? MESH_LEAVE : MESH_MEMBER, i == 5 ? NOW + 3600 : NOW + 86400);
		CHECK_EQ(mesh_view_add(v, &r, NOW), 1);
	}
	r = record(3, MESH_REMOVE, NOW + 86400);
	CHECK_EQ(mesh_view_add(v, &r, NOW), 1);
	memset(&r, 0, sizeof(r));
	r.kind = MESH_REVOKE;
	memcpy(r.network_id, net_id, MESH_ID_LEN);
	memset(r.subject, 0xbb, MESH_TOKEN_ID_LEN);
	r.version = (uint64_t)NOW * 1000, r.expires = NOW + 86400, r.joined = NOW;
	CHECK_EQ(mesh_record_sign(&r, admin_sec), 0);
	CHECK_EQ(mesh_view_add(v, &r, NOW), 1);
}

static void count_one(const struct mesh_record *r, void *arg)
{
	(void)r;
	++*(size_t *)arg;
}

static size_t n_records(const struct mesh_view *v)
{
	size_t n = 0;
	mesh_view_each(v, count_one, &n);
	return n;
}

static void round_trip(void)
{
	struct mesh_view a, b;
	uint8_t da[32], db[32];
	size_t dropped = 99;
	struct stat st;

	full_view(&a);
	unlink(path);
	CHECK_EQ(mesh_view_save(path, &a), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), 0);
	CHECK_EQ(dropped, 0);
	CHECK_EQ(n_records(&b), n_records(&a));
	CHECK_EQ(mesh_view_digest(&a, da), 0);
	CHECK_EQ(mesh_view_digest(&b, db), 0);
	CHECK_MEM(da, db, 32);
	CHECK(mesh_view_find(&b, MESH_REMOVE, node_pub[3]) != NULL);
	CHECK(mesh_view_find(&b, MESH_MEMBER, node_pub[4]) &&
	      mesh_view_find(&b, MESH_MEMBER, node_pub[4])->kind == MESH_LEAVE);
	mesh_view_free(&b);

	/* loaded two hours later: node 5's record has expired */
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW + 7200, &dropped), 0);
	CHECK_EQ(dropped, 1);
	CHECK_EQ(n_records(&b), n_records(&a) - 1);
	CHECK(mesh_view_find(&b, MESH_MEMBER, node_pub[5]) == NULL);
	mesh_view_free(&b);

	/* an empty view saves and loads */
	mesh_view_free(&a);
	mesh_view_init(&a, admin_pub);
	CHECK_EQ(mesh_view_save(path, &a), 0);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), 0);
	CHECK_EQ(n_records(&b), 0);
	mesh_view_free(&a);
	mesh_view_free(&b);
}

static long file_size(void)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void patch(long off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(pread(fd, &c, 1, off) == 1);
	c ^= x;
	CHECK(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

static void damaged(void)
{
	struct mesh_view a, b;
	size_t dropped;
	uint8_t other_pub[MESH_PUB_LEN], other_sec[MESH_SEC_LEN];
	long size;

	full_view(&a);
	CHECK_EQ(mesh_view_save(path, &a), 0);
	size = file_size();

	/* one byte changed inside the last record: it is dropped, the rest load */
	patch(size - 70, 0x01);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), 0);
	CHECK_EQ(dropped, 1);
	CHECK_EQ(n_records(&b), n_records(&a) - 1);
	mesh_view_free(&b);

	/* another network's view takes none of them */
	CHECK_EQ(mesh_view_save(path, &a), 0);
	crypto_sign_keypair(other_pub, other_sec);
	mesh_view_init(&b, other_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), 0);
	CHECK_EQ(n_records(&a), NODES + 2);
	CHECK_EQ(dropped, NODES + 2);
	CHECK_EQ(n_records(&b), 0);
	mesh_view_free(&b);

	/* truncated inside the last record */
	CHECK(truncate(path, size - 10) == 0);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), -EINVAL);
	CHECK_EQ(n_records(&b), n_records(&a) - 1);
	mesh_view_free(&b);

	/* a length that runs past the end; a zero length; a wrong header */
	CHECK_EQ(mesh_view_save(path, &a), 0);
	patch(11, 0x40);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), -EINVAL);
	mesh_view_free(&b);
	CHECK_EQ(mesh_view_save(path, &a), 0);
	patch(10, 0), patch(11, 0);
	{
		int fd = open(path, O_RDWR);
		uint8_t z[2] = { 0, 0 };
		CHECK(fd >= 0 && pwrite(fd, z, 2, 10) == 2);
		if (fd >= 0)
			close(fd);
	}
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), -EINVAL);
	CHECK_EQ(n_records(&b), 0);
	mesh_view_free(&b);
	CHECK_EQ(mesh_view_save(path, &a), 0);
	patch(0, 0x20);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), -EINVAL);
	mesh_view_free(&b);
	unlink(path);
	mesh_view_init(&b, admin_pub);
	CHECK_EQ(mesh_view_load(path, &b, NOW, &dropped), -ENOENT);
	mesh_view_free(&b);
	mesh_view_free(&a);
	memzero(other_sec, sizeof(other_sec));
}

int main(void)
{
	test_suite_name = "mesh_view_store";
	if (sodium_init() < 0 || !mkdtemp(dir)) {
		printf("FAIL: mesh_view_store/setup\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/view", dir);
	crypto_sign_keypair(admin_pub, admin_sec);
	mesh_network_id(net_id, admin_pub);
	for (int i = 0; i < NODES; i++)
		crypto_sign_keypair(node_pub[i], node_sec[i]);
	RUN(round_trip);
	RUN(damaged);
	unlink(path);
	rmdir(dir);
	TEST_EXIT();
}
