/* admit.c: the sponsor's side of a join (docs/weft-mesh.md, "Admission").
 * The checks use the sponsor's own clock and view: two sponsors in two
 * halves of a split may each admit up to `uses` nodes with one token, which
 * the design accepts (a token is for a handful of nodes; revoking it ends
 * that). */
#include "mesh/admit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct count {
	const struct mesh_view *v;
	const uint8_t *id;
	const struct mesh_record **members;
	long n, used;
};

static int by_subject(const void *key, const void *elem)
{
	return memcmp(key, (*(const struct mesh_record *const *)elem)->subject, MESH_PUB_LEN);
}

static void count_one(const struct mesh_record *r, void *arg)
{
	struct count *c = arg;

	if ((r->kind != MESH_MEMBER && r->kind != MESH_LEAVE) || memcmp(r->token_id, c->id, MESH_TOKEN_ID_LEN))
		return;
	if (!memcmp(r->sponsor, c->v->admin_pub, MESH_PUB_LEN) ||
	    bsearch(r->sponsor, c->members, (size_t)c->n, sizeof(*c->members), by_subject))
		c->used++;
}

/* Every node a legitimate sponsor (the admin or an admitted member)
 * admitted with the token and the view still holds, whether it is a
 * member, left or was removed: removing a node must not give its use
 * back, or a leaked one-use token would admit again and again. Records
 * sponsored by outsiders do not count, so they cannot use a token up. */
long mesh_token_used(const struct mesh_view *v, const uint8_t id[MESH_TOKEN_ID_LEN], uint64_t now)
{
	struct count c = { .v = v, .id = id };

	c.n = mesh_view_members(v, now, &c.members);
	if (c.n < 0)
		return c.n;
	mesh_view_each(v, count_one, &c);
	free(c.members);
	return c.used;
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
