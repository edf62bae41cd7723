/* admit.h: a sponsor's decision to admit a node that presents a join token
 * (docs/weft-mesh.md, "Admission"): the token must be this network's, not
 * expired on the sponsor's clock, not revoked in its view, and not used up
 * by the members its view admitted with it. No I/O. */
#ifndef WEFT_MESH_ADMIT_H
#define WEFT_MESH_ADMIT_H

#include <stdint.h>

#include "mesh/member.h"
#include "mesh/token.h"

/* How many uses of token id the view shows at now: the nodes the admin or
 * an admitted member admitted with it, members, left or removed. -ENOMEM. */
long mesh_token_used(const struct mesh_view *v, const uint8_t id[MESH_TOKEN_ID_LEN], uint64_t now);

/* Checks tok (parsed and verified by mesh_token_parse) for a node joining
 * with key node_pub, through a sponsor whose view is v. 0, or -EINVAL (the
 * token is another network's), -EKEYEXPIRED, -EKEYREVOKED, -EUSERS (its
 * uses are spent), -EEXIST (node_pub is a member already, or was removed:
 * a removed key never comes back), -ENOMEM. */
int mesh_admit_check(const struct mesh_view *v, const struct mesh_token *tok,
		     const uint8_t node_pub[MESH_PUB_LEN], uint64_t now);

/* After mesh_admit_check: fills r's admission (network, subject, joined =
 * now, token id) and signs it with the sponsor's key. The node then fills
 * and signs the rest of its record. */
void mesh_admit(struct mesh_record *r, const struct mesh_view *v, const struct mesh_token *tok,
		const uint8_t node_pub[MESH_PUB_LEN], uint64_t now, const uint8_t sponsor_sec[MESH_SEC_LEN]);

#endif
