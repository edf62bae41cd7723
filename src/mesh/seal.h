/* seal.h: a member's record sealed for the coord (docs/weft-mesh.md, "How
 * records travel"): the coord stores and forwards the blob and cannot read
 * it; members open it with the network secret of their token. No I/O: the
 * nonce comes from the caller. */
#ifndef WEFT_MESH_SEAL_H
#define WEFT_MESH_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/member.h"

enum {
	MESH_BLOB_MAX = 384,      /* a coord blob (COORD_BLOB_MAX) */
	MESH_BLOB_OVERHEAD = 1 + 24 + 16, /* version, nonce, tag */
};

/* Drops candidates from r until its sealed form fits a coord blob, private
 * addresses (RFC 1918, loopback, link-local, IPv6 ULA) first, public ones
 * last, keeping their order otherwise. Returns how many were dropped; r
 * must be signed again when any was. A record with no candidate always
 * fits (304 bytes plus a name of at most 63). */
unsigned mesh_record_fit_blob(struct mesh_record *r);

/* Seals r into out (at least MESH_BLOB_MAX bytes): 01 || nonce ||
 * XChaCha20-Poly1305(key, record) with the network id as associated data,
 * key = BLAKE2s(key = secret, "weft mesh v1 coord blob"). Length, or
 * -ENOSPC (it does not fit: call mesh_record_fit_blob first), -EINVAL. */
int mesh_seal_record(uint8_t *out, size_t out_len, const struct mesh_record *r,
		     const uint8_t secret[MESH_SECRET_LEN], const uint8_t nonce[24]);

/* Opens a blob of network network_id. 0, -EBADMSG (not sealed with this
 * secret for this network, or changed), -EINVAL (not a blob, or the record
 * inside does not decode or is of another network). Signatures are for
 * mesh_view_add to check. */
int mesh_open_blob(struct mesh_record *r, const uint8_t *blob, size_t len,
		   const uint8_t secret[MESH_SECRET_LEN], const uint8_t network_id[MESH_ID_LEN]);

#endif
