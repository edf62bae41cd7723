/* node_key.h: a mesh node's own key, kept in one file (node.key) that is
 * made once, 0600 and atomically, and read on every later start, so a
 * restarted node keeps its identity and with it the overlay addresses
 * derived from it (docs/weft-mesh.md, "A node's key"). The file holds the
 * Ed25519 seed in base64 on one line, as admin.key does; the node's
 * WireGuard key pair is the same key converted to X25519, so a member has a
 * single secret. */
#ifndef WEFT_MESH_NODE_KEY_H
#define WEFT_MESH_NODE_KEY_H

#include <stdbool.h>
#include <stdint.h>

#include "mesh/token.h"

struct mesh_node_key {
	uint8_t sec[MESH_SEC_LEN];   /* Ed25519 (seed || pub): secret */
	uint8_t pub[MESH_PUB_LEN];   /* Ed25519: the member's subject */
	uint8_t wg_priv[32];         /* X25519 from sec: secret */
	uint8_t wg_pub[32];          /* X25519 from pub: its WireGuard key */
};

/* Reads the key at path, or makes it when path does not exist (*created
 * then true). The caller holds the directory's lock (two processes making
 * the key at once would each keep their own). A file that others may read
 * or write (mode & 077), one owned by another user and a symlink are
 * refused with -EPERM, a file that is not one key with -EINVAL: neither is
 * ever replaced, so a damaged key is noticed, not silently swapped for a
 * new identity. 0 or -errno; on error *k is zeroed. */
int mesh_node_key_load(const char *path, struct mesh_node_key *k, bool *created);
/* Zeroes the secrets (and the rest) of k. */
void mesh_node_key_clear(struct mesh_node_key *k);

#endif
