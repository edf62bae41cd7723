/* admit.c: the sponsor's side of a join (docs/weft-mesh.md, "Admission").
 * The checks use the sponsor's own clock and view: two sponsors in two
 * halves of a split may each admit up to `uses` nodes with one token, which
 * the design accepts (a token is for a handful of nodes; revoking it ends
 * that). */
#include "mesh/admit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

long mesh_token_used(const struct mesh_view *v, const uint8_t id[MESH_TOKEN_ID_LEN], uint64_t now)
{
	const struct mesh_record **m;
	long n = mesh_view_members(v, now, &m), used = 0;

	if (n < 0)
		return n;
	for (long i = 0; i < n; i++)
		used += !memcmp(m[i]->token_id, id, MESH_TOKEN_ID_LEN);
	free(m);
	return used;
}

int mesh_admit_check(const struct mesh_view *v, const struct mesh_token *tok,
		     const uint8_t node_pub[MESH_PUB_LEN], uint64_t now)
{
	uint8_t subject[MESH_PUB_LEN] = { 0 };
	const struct mesh_record *r;
	long used;

	if (memcmp(tok->admin_pub, v->admin_pub, MESH_PUB_LEN) || memcmp(tok->network_id, v->network_id, MESH_ID_LEN))
		return -EINVAL;
	if (now >= tok->expires)
		return -EKEYEXPIRED;
	memcpy(subject, tok->id, MESH_TOKEN_ID_LEN);
	r = mesh_view_find(v, MESH_REVOKE, subject);
	if (r && r->expires > now && r->joined <= now)
		return -EKEYREVOKED;
	if (mesh_view_find(v, MESH_REMOVE, node_pub))
		return -EEXIST;
	r = mesh_view_find(v, MESH_MEMBER, node_pub);
	if (r && r->kind == MESH_MEMBER && r->expires > now)
		return -EEXIST;
	used = mesh_token_used(v, tok->id, now);
	if (used < 0)
		return (int)used;
	if (used >= tok->uses)
		return -EUSERS;
	return 0;
}

void mesh_admit(struct mesh_record *r, const struct mesh_view *v, const struct mesh_token *tok,
		const uint8_t node_pub[MESH_PUB_LEN], uint64_t now, const uint8_t sponsor_sec[MESH_SEC_LEN])
{
	memset(r, 0, sizeof(*r));
	r->kind = MESH_MEMBER;
	memcpy(r->network_id, v->network_id, MESH_ID_LEN);
	memcpy(r->subject, node_pub, MESH_PUB_LEN);
	r->joined = now;
	memcpy(r->token_id, tok->id, MESH_TOKEN_ID_LEN);
	mesh_record_admit(r, sponsor_sec);
}
