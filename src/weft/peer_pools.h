/* peer_pools.h: where new peers' tunnel addresses come from - one address
 * pool (addrpool.h) per network of the interface's Addresses that has room
 * for peers, with every address in use marked: the interface's own, every
 * peer's AllowedIPs in the config, in disabled peers' records, and on the
 * running device. */
#ifndef WEFT_CLI_PEER_POOLS_H
#define WEFT_CLI_PEER_POOLS_H

#include <stddef.h>

#include "addrpool.h"
#include "peer_ctx.h"

struct peer_pools {
	struct addrpool **v;
	size_t n;
};

/* 0 (p->n may be 0: no network with room), -ENOMEM, -errno. */
int peer_pools_build(struct peer_pools *p, const struct peer_ctx *c);
void peer_pools_free(struct peer_pools *p);

/* The lowest free address of every pool (host prefixes, /32 and /128)
 * appended to out, now used. 0, -ENOSPC or -ENOMEM with err saying which. */
int peer_pools_take(struct peer_pools *p, struct conf_prefix_list *out, char *err, size_t errlen);

#endif
