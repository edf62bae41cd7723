/* view_store.h: a node's view of the members kept in one file (view), so
 * that a restarted node knows the mesh at once, with the coord down and no
 * member reachable yet (docs/weft-mesh.md, "A node's view on disk"). The
 * file is "weftview1\n", then per record a 16-bit little-endian length and
 * the record as mesh_record_encode gives it; written atomically, 0600. */
#ifndef WEFT_MESH_VIEW_STORE_H
#define WEFT_MESH_VIEW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/member.h"

/* Writes every record of v to path. 0 or -errno. */
int mesh_view_save(const char *path, const struct mesh_view *v);

/* Merges the records of path into v with mesh_view_add, so each is checked
 * again (signatures, network, expiry at now) as if a peer had sent it: a
 * file cannot make a node hold what it would not take from the network.
 * *dropped counts records refused (expired since, or damaged). A file whose
 * framing is broken gives -EINVAL (v then holds the checked records read
 * before the damage); a missing file -ENOENT. 0 or -errno. */
int mesh_view_load(const char *path, struct mesh_view *v, uint64_t now, size_t *dropped);

#endif
