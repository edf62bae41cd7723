/* expiry.c: the running server's sweep (api.h): a peer past its Expires
 * time is disabled (off the device and out of the wg-quick file, its
 * addresses kept), and once the grace period has passed too, removed, so
 * its addresses go back to the pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "weft/peer_ctx.h"
#include "weft/peer_keys.h"

void api_expire(struct api *api, int64_t now)
{
	uint8_t (*gone)[32] = NULL;
	struct peer_ctx c;
	bool changed = false;
	char err[256];
	size_t n_gone = 0;

	memset(&c, 0, sizeof(c));
	for (uint32_t i = 0;; i++) {
		/* a cheap look first: most sweeps find nothing to do */
		if (i == 0) {
			if (!peer_ctx_open(&c, api->iface, PEER_CTX_NEED_CONF | PEER_CTX_NO_DEVICE))
				return;
			bool any = false;

			for (uint32_t k = 0; k < c.st.w.n && !any; k++)
				any = c.st.w.recs[k].expires && c.st.w.recs[k].expires <= now;
			peer_ctx_close(&c);
			if (!any)
				return;
			if (!peer_ctx_open(&c, api->iface, PEER_CTX_LOCK | PEER_CTX_NEED_CONF))
				return;
			gone = calloc(c.st.w.n ? c.st.w.n : 1, sizeof(*gone));
			if (!gone)
				goto out;
		}
		if (i >= c.st.w.n)
			break;
		struct peer_record *rec = &c.st.w.recs[i];

		if (!rec->expires || rec->expires > now)
			continue;
		if (rec->enabled) {
			if (store_peer_disable(&c.st, rec->public_key) == 0) {
				memcpy(gone[n_gone++], rec->public_key, 32);
				changed = true;
			}
		} else if (rec->expires + api->expiry_grace <= now) {
			uint8_t key[32];

			memcpy(key, rec->public_key, 32);
			if (store_peer_remove(&c.st, key) == 0) {
				memcpy(gone[n_gone++], key, 32);
				peer_key_remove(c.path, key);
				changed = true;
				i--; /* the records moved down */
			}
		}
	}
	if (changed) {
		if (store_save(&c.st, err, sizeof(err)) < 0) {
			fprintf(stderr, "weft: api: expiry: %s\n", err);
			goto out;
		}
		for (size_t k = 0; k < n_gone; k++)
			peer_ctx_dev_drop(&c, gone[k]);
		fprintf(stderr, "weft: api: %s: %zu expired peer%s disabled or removed\n", api->iface, n_gone,
			n_gone == 1 ? "" : "s");
	}
out:
	free(gone);
	peer_ctx_close(&c);
}
