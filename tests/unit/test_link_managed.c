/* test_link_managed.c: which peers `weft link` manages (src/link/managed.c),
 * from files in a temporary WEFT_CONFIG_DIR and a device built in memory:
 * no Endpoint in IFACE.conf, or Roaming = true in IFACE.weft; a peer added
 * by hand follows the device; no IFACE.conf at all: the device's peers
 * without an endpoint; the coord's settings; a broken file named by line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link/managed.h"
#include "test.h"
#include "util/encoding.h"
#include "weft/device.h"

static char dir[64];

static void key_n(uint8_t k[32], int n)
{
	memset(k, 0, 32);
	k[0] = (uint8_t)n;
	k[31] = 0x40; /* any 32 bytes are a public key here */
}

static const char *b64(int n)
{
	static char out[4][WEFT_KEY_B64_LEN + 1];
	static int i;
	uint8_t k[32];

	key_n(k, n);
	i = (i + 1) % 4;
	key_to_base64(out[i], k);
	return out[i];
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A device with peers 1..n; those in with_ep have an endpoint. */
static struct device *dev_with(int n, unsigned with_ep)
{
	struct device *d = device_new("wl0");

	for (int i = 1; d && i <= n; i++) {
		struct dev_peer *p = device_add_peer(d);
		if (!p)
			break;
		key_n(p->public_key, i);
		if (with_ep & (1u << i)) {
			p->endpoint.addr4.sin_family = AF_INET;
			p->endpoint.addr4.sin_port = htons(51820);
		}
	}
	return d;
}

static bool has(const struct managed *m, int n)
{
	uint8_t k[32];

	key_n(k, n);
	for (uint32_t i = 0; i < m->n; i++)
		if (!memcmp(m->v[i].public_key, k, 32))
			return true;
	return false;
}

static void test_from_files(void)
{
	char text[2048], err[256];
	struct managed m;
	struct device *d = dev_with(5, 1u << 2 | 1u << 3 | 1u << 5);

	/* 1: no Endpoint; 2: static; 3: static and Roaming; 4: not in the file,
	 * no endpoint on the device; 5: not in the file, with one */
	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.1/32\n\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\nEndpoint = 192.0.2.1:51820\n\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.3/32\nEndpoint = 192.0.2.1:51821\n",
		 b64(9), b64(1), b64(2), b64(3));
	write_file("wl0.conf", text);
	snprintf(text, sizeof(text), "[Weft]\nCoord = 192.0.2.7:51819\nCoordKey = %s\n\n[Peer]\nPublicKey = %s\nRoaming = true\n",
		 b64(8), b64(3));
	write_file("wl0.weft", text);
	CHECK_EQ(managed_load(&m, "wl0", d, err, sizeof(err)), 0);
	CHECK(m.from_files);
	CHECK_EQ(m.n, 3);
	CHECK(has(&m, 1) && !has(&m, 2) && has(&m, 3) && has(&m, 4) && !has(&m, 5));
	for (uint32_t i = 0; i < m.n; i++)
		CHECK_EQ(m.v[i].roaming, m.v[i].public_key[0] == 3);
	CHECK(m.coord && !strcmp(m.coord, "192.0.2.7:51819"));
	uint8_t k[32];
	key_n(k, 8);
	CHECK(m.has_coord_key && !memcmp(m.coord_key, k, 32));
	managed_free(&m);

	/* a broken .weft is an error naming the file and line */
	write_file("wl0.weft", "[Weft]\nCoord = 192.0.2.7:51819\nBogus = 1\n");
	CHECK_EQ(managed_load(&m, "wl0", d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "wl0.weft:3") != NULL);
	device_free(d);
}

static void test_no_files(void)
{
	char path[128], err[256];
	struct managed m;
	struct device *d = dev_with(3, 1u << 2);

	snprintf(path, sizeof(path), "%s/wl0.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/wl0.weft", dir);
	unlink(path);
	CHECK_EQ(managed_load(&m, "wl0", d, err, sizeof(err)), 0);
	CHECK(!m.from_files);
	CHECK(m.n == 2 && has(&m, 1) && !has(&m, 2) && has(&m, 3));
	CHECK(!m.coord && !m.has_coord_key);
	managed_free(&m);
	device_free(d);
}

int main(void)
{
	test_suite_name = "link_managed";
	snprintf(dir, sizeof(dir), "/tmp/weft-test-managed.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: link_managed/tmpdir: %s\n", strerror(errno));
		return 1;
	}
	setenv("WEFT_CONFIG_DIR", dir, 1);
	RUN(test_from_files);
	RUN(test_no_files);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	TEST_EXIT();
}
