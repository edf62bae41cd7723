/* peers.c: a mesh node's WireGuard peers from its view (peers.h). */
#include "mesh/peers.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int by_wg_pub(const void *a, const void *b)
{
	return memcmp(((const struct mesh_peer *)a)->wg_pub, ((const struct mesh_peer *)b)->wg_pub, 32);
}

/* Runs the collision rule over the members for one prefix and stores each
 * member's address in its peer (same index). */
static int assign(const struct mesh_prefix *p, const struct mesh_record **m, struct mesh_peer *peer, size_t n)
{
	struct mesh_addr_member *a;

	if (!p->family || !n)
		return 0;
	a = calloc(n, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(a[i].pub, m[i]->subject, MESH_PUB_LEN);
		a[i].joined = m[i]->joined;
	}
	if (mesh_addr_assign(p, a, n)) {
		free(a);
		return -ENOMEM;
	}
	/* mesh_addr_assign keeps the array's order: member i is a[i] */
	for (size_t i = 0; i < n; i++) {
		if (!a[i].assigned)
			continue;
		if (p->family == AF_INET6) {
			peer[i].has_v6 = true;
			memcpy(peer[i].v6, a[i].addr, 16);
		} else {
			peer[i].has_v4 = true;
			memcpy(peer[i].v4, a[i].addr, 4);
		}
	}
	free(a);
	return 0;
}

long mesh_peers(const struct mesh_view *v, const struct mesh_prefix *p4, const struct mesh_prefix *p6,
		const uint8_t self[MESH_PUB_LEN], uint64_t now, struct mesh_peer **out,
		struct mesh_peer *self_out)
{
	const struct mesh_record **m = NULL;
	struct mesh_peer *peer;
	long n = mesh_view_members(v, now, &m);
	size_t k = 0;
	int r;

	*out = NULL;
	if (self_out)
		memset(self_out, 0, sizeof(*self_out));
	if (n < 0)
		return n;
	peer = calloc(n ? (size_t)n : 1, sizeof(*peer));
	if (!peer) {
		free(m);
		return -ENOMEM;
	}
	for (long i = 0; i < n; i++) {
		struct mesh_peer *x = &peer[i];
		memcpy(x->pub, m[i]->subject, MESH_PUB_LEN);
		if (crypto_sign_ed25519_pk_to_curve25519(x->wg_pub, m[i]->subject)) {
			free(peer), free(m);
			return -EINVAL;
		}
		memcpy(x->name, m[i]->name, sizeof(x->name));
		x->n_candidates = m[i]->n_candidates;
		memcpy(x->candidates, m[i]->candidates, sizeof(x->candidates));
	}
	r = assign(p4, m, peer, (size_t)n);
	if (!r)
		r = assign(p6, m, peer, (size_t)n);
	free(m);
	if (r) {
		free(peer);
		return r;
	}
	/* the node itself out of the list (into self_out) */
	for (long i = 0; i < n; i++) {
		if (!memcmp(peer[i].pub, self, MESH_PUB_LEN)) {
			if (self_out)
				*self_out = peer[i];
			continue;
		}
		peer[k++] = peer[i];
	}
	if (!k) {
		free(peer);
		return 0;
	}
	qsort(peer, k, sizeof(*peer), by_wg_pub);
	*out = peer;
	return (long)k;
}

/* Field by field: a candidate's padding byte is not part of its value. */
static bool same(const struct mesh_peer *a, const struct mesh_peer *b)
{
	if (a->has_v4 != b->has_v4 || a->has_v6 != b->has_v6 || memcmp(a->v4, b->v4, 4) ||
	    memcmp(a->v6, b->v6, 16) || strcmp(a->name, b->name) || a->n_candidates != b->n_candidates)
		return false;
	for (unsigned i = 0; i < a->n_candidates && i < MESH_MAX_CANDIDATES; i++) {
		const struct mesh_candidate *x = &a->candidates[i], *y = &b->candidates[i];
		if (x->family != y->family || x->port != y->port || memcmp(x->addr, y->addr, 16))
			return false;
	}
	return true;
}

void mesh_peers_diff(const struct mesh_peer *old, size_t n_old, const struct mesh_peer *cur, size_t n_cur,
		     void (*fn)(enum mesh_peer_change, const struct mesh_peer *, void *), void *arg)
{
	size_t i = 0, j = 0;

	while (i < n_old || j < n_cur) {
		int d = i == n_old ? 1 : j == n_cur ? -1 : memcmp(old[i].wg_pub, cur[j].wg_pub, 32);
		if (d < 0) {
			fn(MESH_PEER_DROP, &old[i++], arg);
		} else if (d > 0) {
			fn(MESH_PEER_ADD, &cur[j++], arg);
		} else {
			if (!same(&old[i], &cur[j]))
				fn(MESH_PEER_UPDATE, &cur[j], arg);
			i++, j++;
		}
	}
}
