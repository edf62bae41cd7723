/* fuzz_mesh.c: libFuzzer target for what a mesh node reads from others:
 * the first byte picks the parser, the rest is its input.
 *   0: a join token line: parsed or refused; what parses has fields in
 *      range (its signature held, so a random input almost never parses).
 *   1: a membership record: decoded or refused; what decodes encodes back
 *      to the same bytes, and a view refuses it without crashing.
 *   2: a hosts file: the mesh block rendered into it keeps the bytes before
 *      the block (and adds at most the missing final newline), and
 *      rendering the result again changes nothing.
 *   3: a coord blob: opened or refused (a random one is never opened).
 *   4: a node's view file: loaded or refused, and a view never takes a
 *      record from it that no key signed. */
#include "mesh/hosts.h"
#include "mesh/member.h"
#include "mesh/seal.h"
#include "mesh/token.h"
#include "mesh/view_store.h"
#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void token(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct mesh_token t;

	memcpy(line, data, size);
	line[size] = 0;
	if (!mesh_token_parse(&t, line, 0)) {
		if (!t.uses || t.n_bootstrap > MESH_MAX_BOOTSTRAP || strlen(t.coord) > MESH_MAX_HOSTPORT)
			abort();
	}
	free(line);
}

static void record(const uint8_t *data, size_t size)
{
	struct mesh_record r;
	uint8_t out[MESH_RECORD_MAX], admin[MESH_PUB_LEN] = { 1 };
	struct mesh_view v;

	if (mesh_record_decode(&r, data, size))
		return;
	int n = mesh_record_encode(&r, out, sizeof(out));
	if (n < 0 || (size_t)n != size || memcmp(out, data, size)) {
		fprintf(stderr, "a decoded record does not encode back to its bytes\n");
		abort();
	}
	mesh_view_init(&v, admin);
	memcpy(r.network_id, v.network_id, MESH_ID_LEN); /* get past the network check */
	if (mesh_view_add(&v, &r, 0) == 1) {
		fprintf(stderr, "a view took a record no key signed\n");
		abort();
	}
	mesh_view_free(&v);
}

static void hosts(const uint8_t *data, size_t size)
{
	struct mesh_host h[2];
	char *out, *again;
	size_t len, again_len;

	memset(h, 0, sizeof(h));
	strcpy(h[0].name, "a"), h[0].family = AF_INET;
	inet_pton(AF_INET, "10.0.0.1", h[0].addr);
	strcpy(h[1].name, "b-2"), h[1].family = AF_INET6;
	inet_pton(AF_INET6, "fd00::2", h[1].addr);
	if (mesh_hosts_render((const char *)data, size, "lab", h, 2, &out, &len))
		return;
	const char *begin = memmem(out, len, "# BEGIN weft mesh lab", 21);
	size_t pre = begin ? (size_t)(begin - out) : len;
	/* the bytes before the block are the input's; appended after a last
	 * line without a newline, the block brings that newline */
	if (!begin || pre > size + 1 || memcmp(out, data, pre < size ? pre : size) ||
	    (pre == size + 1 && out[size] != '\n'))
		abort();
	if (mesh_hosts_render(out, len, "lab", h, 2, &again, &again_len) || again_len != len || memcmp(again, out, len))
		abort();
	free(again);
	free(out);
}

static void blob(const uint8_t *data, size_t size)
{
	static const uint8_t secret[MESH_SECRET_LEN] = { 7 }, net[MESH_ID_LEN] = { 9 };
	struct mesh_record r;

	if (!mesh_open_blob(&r, data, size, secret, net)) {
		fprintf(stderr, "a blob no one sealed opened\n");
		abort();
	}
}

static void view_file(const uint8_t *data, size_t size)
{
	uint8_t admin[MESH_PUB_LEN] = { 1 };
	struct mesh_view v;
	char path[64];
	size_t dropped;
	int fd = memfd_create("view", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	mesh_view_init(&v, admin);
	(void)mesh_view_load(path, &v, 0, &dropped);
	if (v.count) {
		fprintf(stderr, "a view took a record from a file no key signed\n");
		abort();
	}
	mesh_view_free(&v);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready)
		ready = !crypto_init();
	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		token(data + 1, size - 1);
		break;
	case 1:
		record(data + 1, size - 1);
		break;
	case 2:
		hosts(data + 1, size - 1);
		break;
	case 3:
		blob(data + 1, size - 1);
		break;
	default:
		view_file(data + 1, size - 1);
	}
	return 0;
}
