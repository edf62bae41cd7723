/* test_mesh_node_key.c: a mesh node's key file: made once (0600, one
 * base64 line), read back unchanged on the next start; its WireGuard
 * public key is the one `wg pubkey` (wireguard-tools) derives from its
 * WireGuard private key when wg is installed, and the Ed25519 key signs
 * what verifies; a file others can read, a symlink, and a damaged or
 * overlong file are refused and left as they were. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/node_key.h"
#include "util/encoding.h"
#include "test.h"

static char dir[] = "/tmp/weft-node-key-XXXXXX";
static char path[256];

static void put(const char *file, const char *text, mode_t mode)
{
	int fd;

	unlink(file);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static void made_then_kept(void)
{
	struct mesh_node_key a, b;
	uint8_t sig[crypto_sign_BYTES];
	bool created = false;
	struct stat st;
	char text[128] = "";
	FILE *f;

	unlink(path);
	CHECK_EQ(mesh_node_key_load(path, &a, &created), 0);
	CHECK(created);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(st.st_size == WEFT_KEY_B64_LEN + 1);
	CHECK_EQ(mesh_node_key_load(path, &b, &created), 0);
	CHECK(!created);
	CHECK_MEM(a.sec, b.sec, sizeof(a.sec));
	CHECK_MEM(a.wg_priv, b.wg_priv, 32);
	CHECK_MEM(a.wg_pub, b.wg_pub, 32);
	CHECK(crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, b.sec) == 0);
	CHECK(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, a.pub) == 0);
	/* a different key each time a node is made */
	unlink(path);
	CHECK_EQ(mesh_node_key_load(path, &b, &created), 0);
	CHECK(created && memcmp(a.pub, b.pub, 32) != 0 && memcmp(a.wg_pub, b.wg_pub, 32) != 0);

	/* wireguard-tools reads the same file and names the same key */
	if (access("/usr/bin/wg", X_OK) == 0) {
		char cmd[512], want[WEFT_KEY_B64_LEN + 1], wg_path[300];
		snprintf(wg_path, sizeof(wg_path), "%s/wg.key", dir);
		key_to_base64(want, b.wg_priv);
		put(wg_path, want, 0600);
		snprintf(cmd, sizeof(cmd), "wg pubkey < %s", wg_path);
		f = popen(cmd, "r");
		CHECK(f != NULL);
		if (f) {
			CHECK(fgets(text, sizeof(text), f) != NULL);
			pclose(f);
		}
		text[strcspn(text, "\n")] = 0;
		key_to_base64(want, b.wg_pub);
		CHECK(strcmp(text, want) == 0);
		unlink(wg_path);
	}
}

static void refused(void)
{
	struct mesh_node_key k;
	bool created = true;
	char link_path[300], good[WEFT_KEY_B64_LEN + 2];
	struct stat st;

	unlink(path);
	CHECK_EQ(mesh_node_key_load(path, &k, &created), 0);
	{
		FILE *f = fopen(path, "r");
		CHECK(f && fgets(good, sizeof(good), f));
		if (f)
			fclose(f);
	}

	/* readable by others: refused, not replaced */
	chmod(path, 0644);
	CHECK_EQ(mesh_node_key_load(path, &k, &created), -EPERM);
	CHECK(!created);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	chmod(path, 0600);

	/* a symlink to a good key is not followed */
	snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
	unlink(link_path);
	CHECK(symlink(path, link_path) == 0);
	CHECK_EQ(mesh_node_key_load(link_path, &k, &created), -EPERM);
	unlink(link_path);

	/* damaged: not base64, cut short, empty, too long */
	put(path, "not a key at all, not a key at all, not a k=\n", 0600);
	CHECK_EQ(mesh_node_key_load(path, &k, &created), -EINVAL);
	CHECK(stat(path, &st) == 0 && st.st_size == WEFT_KEY_B64_LEN + 1);
	put(path, "AAAA\n", 0600);
	CHECK_EQ(mesh_node_key_load(path, &k, &created), -EINVAL);
	put(path, "", 0600);
	CHECK_EQ(mesh_node_key_load(path, &k, &created), -EINVAL);
	{
		char longer[200];
		snprintf(longer, sizeof(longer), "%.*s%s", WEFT_KEY_B64_LEN, good, "\nextra line\n");
		put(path, longer, 0600);
		CHECK_EQ(mesh_node_key_load(path, &k, &created), -EINVAL);
	}
	/* CRLF and a missing final newline are read */
	{
		char crlf[64];
		snprintf(crlf, sizeof(crlf), "%.*s\r\n", WEFT_KEY_B64_LEN, good);
		put(path, crlf, 0600);
		CHECK_EQ(mesh_node_key_load(path, &k, &created), 0);
		snprintf(crlf, sizeof(crlf), "%.*s", WEFT_KEY_B64_LEN, good);
		put(path, crlf, 0600);
		CHECK_EQ(mesh_node_key_load(path, &k, &created), 0);
		CHECK(!created);
	}
	/* a directory that is not there: an error, nothing made */
	CHECK_EQ(mesh_node_key_load("/nonexistent/weft/node.key", &k, &created), -ENOENT);
	/* a key that could not be loaded leaves no secret behind */
	CHECK(sodium_is_zero(k.wg_priv, 32) && sodium_is_zero(k.sec, sizeof(k.sec)));
}

int main(void)
{
	test_suite_name = "mesh_node_key";
	if (!mkdtemp(dir)) {
		printf("FAIL: mesh_node_key/setup: mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/node.key", dir);
	RUN(made_then_kept);
	RUN(refused);
	unlink(path);
	rmdir(dir);
	TEST_EXIT();
}
