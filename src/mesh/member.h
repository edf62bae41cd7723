/* member.h: a mesh's membership records (signed, bounded encoding), the
 * merge rule and a node's view of the members (docs/weft-mesh.md,
 * "Membership records"). No I/O; the clock is an argument. */
#ifndef WEFT_MESH_MEMBER_H
#define WEFT_MESH_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/token.h"

enum mesh_kind {
	MESH_MEMBER = 1,  /* a member's record, signed by the member */
	MESH_LEAVE = 2,   /* the member left (tombstone), signed by the member */
	MESH_REMOVE = 3,  /* the admin removed the member (tombstone), signed by the admin */
	MESH_REVOKE = 4,  /* the admin revoked a token (subject = token id), signed by the admin */
};

enum {
	MESH_NAME_MAX = 63,
	MESH_MAX_CANDIDATES = 8,
	MESH_RECORD_MAX = 1024,    /* encoded bytes, at most */
	MESH_VIEW_MAX = 1 << 17,   /* subjects a view holds, at most */
};

struct mesh_candidate {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;
};

struct mesh_record {
	uint8_t kind;
	uint8_t network_id[MESH_ID_LEN];
	uint8_t subject[MESH_PUB_LEN];  /* member key; token id zero padded for REVOKE */
	uint64_t version;               /* ms since the epoch when signed */
	uint64_t expires;               /* Unix seconds */
	uint64_t joined;                /* MEMBER/LEAVE: set by the sponsor; REVOKE: revoked at */
	uint8_t token_id[MESH_TOKEN_ID_LEN];
	uint8_t sponsor[MESH_PUB_LEN];
	uint8_t sponsor_sig[MESH_SIG_LEN];
	uint8_t v4[4], v6[16];
	char name[MESH_NAME_MAX + 1];
	uint8_t n_candidates;
	struct mesh_candidate candidates[MESH_MAX_CANDIDATES];
	uint8_t sig[MESH_SIG_LEN];
};

/* Encodes r (with its signature). Length, or -ENOSPC / -EINVAL. */
int mesh_record_encode(const struct mesh_record *r, uint8_t *out, size_t len);
/* Decodes exactly len bytes. 0 or -EINVAL; signatures are not checked. */
int mesh_record_decode(struct mesh_record *r, const uint8_t *in, size_t len);

/* A name as records carry it: 1..63 of [a-z0-9-], no leading/trailing '-'. */
bool mesh_name_ok(const char *name);

/* The sponsor's admission of r->subject (sets sponsor and sponsor_sig from
 * joined, token_id, network_id and subject). */
void mesh_record_admit(struct mesh_record *r, const uint8_t sponsor_sec[MESH_SEC_LEN]);
/* Signs r with the signer's key (the member's, or the admin's for REMOVE
 * and REVOKE). 0 or -EINVAL (r does not encode). */
int mesh_record_sign(struct mesh_record *r, const uint8_t sec[MESH_SEC_LEN]);
/* Checks r's signatures against its signer; admin_pub is the network's. */
bool mesh_record_verify(const struct mesh_record *r, const uint8_t admin_pub[MESH_PUB_LEN]);

struct mesh_entry;
struct mesh_view {
	uint8_t network_id[MESH_ID_LEN];
	uint8_t admin_pub[MESH_PUB_LEN];
	struct mesh_entry *e;   /* open addressing on (class, subject) */
	size_t cap, count;
};

/* An empty view of the network of admin_pub. */
void mesh_view_init(struct mesh_view *v, const uint8_t admin_pub[MESH_PUB_LEN]);
void mesh_view_free(struct mesh_view *v);

/* Merges one record: 1 when the view changed, 0 when it already held this
 * or a newer record, -EINVAL (another network, a kind out of place),
 * -EBADMSG (a signature does not hold), -ESTALE (expired at now), -ENOSPC
 * (the view is full), -ENOMEM. */
int mesh_view_add(struct mesh_view *v, const struct mesh_record *r, uint64_t now);

/* The record the view holds for subject in kind's slot: MEMBER or LEAVE
 * (either is returned, the one held), REMOVE, or REVOKE (subject = token
 * id, zero padded). NULL when none; valid until the view changes. */
const struct mesh_record *mesh_view_find(const struct mesh_view *v, enum mesh_kind kind,
					 const uint8_t subject[MESH_PUB_LEN]);

/* Drops the records that expired at now; returns how many. */
size_t mesh_view_expire(struct mesh_view *v, uint64_t now);

/* Calls fn for every record the view holds (members, tombstones), in no
 * particular order: what a node sends a peer that knows nothing. */
void mesh_view_each(const struct mesh_view *v, void (*fn)(const struct mesh_record *, void *), void *arg);

/* The admitted members at now (docs/weft-mesh.md, "Admission"): *out gets
 * a malloc'ed array of pointers into the view (valid until it changes),
 * sorted by key. Returns how many, or -ENOMEM. */
long mesh_view_members(const struct mesh_view *v, uint64_t now, const struct mesh_record ***out);

/* A digest of everything the view holds: equal views, equal digests. */
int mesh_view_digest(const struct mesh_view *v, uint8_t out[32]);

/* Anti-entropy (docs/weft-mesh.md, "How records travel"): the records
 * fall into MESH_BUCKETS buckets by the first byte of their subject; each
 * bucket's hash is the XOR of a 64-bit keyed hash of each record it holds,
 * so two nodes whose digests differ exchange the 256 bucket hashes, then
 * only the records of the buckets that differ. */
enum { MESH_BUCKETS = 256 };
void mesh_view_buckets(const struct mesh_view *v, uint64_t out[MESH_BUCKETS]);
/* Calls fn for every record of bucket b. */
void mesh_view_each_in_bucket(const struct mesh_view *v, unsigned b,
			      void (*fn)(const struct mesh_record *, void *), void *arg);

#endif
