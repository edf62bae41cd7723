/* addr.c: overlay addresses from public keys, and the deterministic
 * collision resolution (docs/weft-mesh.md). The table is a pure function of
 * the set of members: sorting by (joined, key) before assigning is what
 * makes every node agree without talking to an allocator. */
#include "mesh/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/crypto.h"

static const char addr_key[] = "weft mesh v1 addr";

static unsigned addr_len(const struct mesh_prefix *p)
{
	return p->family == AF_INET ? 4 : 16;
}

int mesh_prefix_parse(struct mesh_prefix *p, const char *text)
{
	char buf[64], *slash, *end;
	unsigned long bits;

	memset(p, 0, sizeof(*p));
	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = 0;
	errno = 0;
	bits = strtoul(slash + 1, &end, 10);
	if (*end || errno || slash[1] == '-' || slash[1] == '+')
		return -EINVAL;
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		if (bits < 8 || bits > 30)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		if (bits < 8 || bits > 124)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	p->bits = (unsigned)bits;
	for (unsigned i = p->bits; i < addr_len(p) * 8; i++)
		if (p->addr[i / 8] & (0x80 >> (i % 8))) {
			memset(p, 0, sizeof(*p));
			return -EINVAL;
		}
	return 0;
}

void mesh_prefix_format(char *out, size_t len, const struct mesh_prefix *p)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(out, len, "%s/%u", a, p->bits);
}

void mesh_addr_candidate(uint8_t out[16], const struct mesh_prefix *p, const uint8_t pub[32], uint32_t attempt)
{
	uint8_t in[32 + 1 + 4], h[BLAKE2S_HASH_LEN];
	unsigned len = addr_len(p), host_bits = len * 8 - p->bits;
	uint64_t v = 0, range;

	memcpy(in, pub, 32);
	in[32] = p->family == AF_INET ? 4 : 6;
	for (unsigned i = 0; i < 4; i++)
		in[33 + i] = (uint8_t)(attempt >> (8 * i));
	b2s(h, sizeof(h), in, sizeof(in), (const uint8_t *)addr_key, strlen(addr_key));
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)h[i] << (8 * i);
	/* host parts 1 .. 2^host_bits - 2: never the network's all-zeros or
	 * all-ones address */
	range = host_bits >= 64 ? UINT64_MAX - 1 : ((uint64_t)1 << host_bits) - 2;
	v = v % range + 1;

	memset(out, 0, 16);
	memcpy(out, p->addr, len);
	for (unsigned i = 0; i < 8 && i < len; i++)
		out[len - 1 - i] |= (uint8_t)(v >> (8 * i));
}

static int order(const void *a, const void *b)
{
	const struct mesh_addr_member *x = *(struct mesh_addr_member *const *)a;
	const struct mesh_addr_member *y = *(struct mesh_addr_member *const *)b;

	if (x->joined != y->joined)
		return x->joined < y->joined ? -1 : 1;
	return memcmp(x->pub, y->pub, 32);
}

/* An open-addressing set of the addresses taken so far. */
struct taken {
	uint8_t (*slot)[16];
	bool *used;
	size_t mask;
};

static size_t slot_of(const struct taken *t, const uint8_t a[16])
{
	uint64_t h = 1469598103934665603ULL;

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ULL;
	return (size_t)h & t->mask;
}

/* Inserts a; false when it was there already. */
static bool take(struct taken *t, const uint8_t a[16])
{
	for (size_t i = slot_of(t, a);; i = (i + 1) & t->mask) {
		if (!t->used[i]) {
			t->used[i] = true;
			memcpy(t->slot[i], a, 16);
			return true;
		}
		if (!memcmp(t->slot[i], a, 16))
			return false;
	}
}

int mesh_addr_assign(const struct mesh_prefix *p, struct mesh_addr_member *m, size_t n)
{
	struct mesh_addr_member **sorted;
	struct taken t = { 0 };
	size_t cap = 16;

	if (n > SIZE_MAX / 4)
		return -ENOMEM;
	while (cap < 2 * n)
		cap *= 2;
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	t.slot = calloc(cap, sizeof(*t.slot));
	t.used = calloc(cap, sizeof(*t.used));
	if (!sorted || !t.slot || !t.used) {
		free(sorted), free(t.slot), free(t.used);
		return -ENOMEM;
	}
	t.mask = cap - 1;
	for (size_t i = 0; i < n; i++)
		sorted[i] = &m[i];
	qsort(sorted, n, sizeof(*sorted), order);
	for (size_t i = 0; i < n; i++) {
		struct mesh_addr_member *x = sorted[i];
		x->assigned = false;
		memset(x->addr, 0, sizeof(x->addr));
		for (uint32_t a = 0; a < MESH_ADDR_ATTEMPTS; a++) {
			uint8_t c[16];
			mesh_addr_candidate(c, p, x->pub, a);
			if (take(&t, c)) {
				x->assigned = true;
				x->attempt = a;
				memcpy(x->addr, c, 16);
				break;
			}
		}
	}
	free(sorted), free(t.slot), free(t.used);
	return 0;
}
