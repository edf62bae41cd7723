/* peers.h: the WireGuard peers a mesh node configures, computed from its
 * view (docs/weft-mesh.md, "Peers"): every admitted member but the node
 * itself, its WireGuard key converted from its Ed25519 key, its AllowedIPs
 * the overlay addresses the collision rule gives it over the admitted
 * members (never the addresses its record claims), its candidates the
 * endpoints path finding tries. No I/O; the clock is an argument. */
#ifndef WEFT_MESH_PEERS_H
#define WEFT_MESH_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/addr.h"
#include "mesh/member.h"

struct mesh_peer {
	uint8_t pub[MESH_PUB_LEN];  /* the member's Ed25519 key */
	uint8_t wg_pub[32];         /* its WireGuard key */
	char name[MESH_NAME_MAX + 1];
	bool has_v4, has_v6;        /* false: no prefix, or no free address */
	uint8_t v4[4], v6[16];      /* AllowedIPs: v4/32, v6/128 */
	uint8_t n_candidates;
	struct mesh_candidate candidates[MESH_MAX_CANDIDATES];
};

/* The peers of node self at now, sorted by wg_pub; p4 and p6 are the
 * network's prefixes (family 0: none). *self_v4 / *self_v6 (either may be
 * NULL) get the node's own addresses when it is admitted. *out is
 * malloc'ed (free it; NULL when there are none). Returns how many, or
 * -ENOMEM / -EINVAL (a key that does not convert: never admitted). */
long mesh_peers(const struct mesh_view *v, const struct mesh_prefix *p4, const struct mesh_prefix *p6,
		const uint8_t self[MESH_PUB_LEN], uint64_t now, struct mesh_peer **out,
		struct mesh_peer *self_out);

enum mesh_peer_change {
	MESH_PEER_ADD = 1,     /* in the new list only */
	MESH_PEER_DROP = 2,    /* in the old list only: a removed or gone member */
	MESH_PEER_UPDATE = 3,  /* in both, its addresses, name or candidates changed */
};

/* Walks two lists from mesh_peers (sorted by wg_pub) and calls fn once for
 * each peer to add, drop or update (with the new entry, or the old one
 * for a drop), in key order; peers equal in both lists are skipped. */
void mesh_peers_diff(const struct mesh_peer *old, size_t n_old, const struct mesh_peer *cur, size_t n_cur,
		     void (*fn)(enum mesh_peer_change, const struct mesh_peer *, void *), void *arg);

#endif
