/* addrpool.h: the tunnel-address allocator behind `weft peer add`. A pool is
 * one network (an interface's Address prefix); it hands out the lowest free
 * address in O(host bits), whatever the number of peers, and takes addresses
 * back. The shape is wg-dynamic's: a binary radix trie over the host bits
 * whose nodes carry how many addresses below them are in use, so a full
 * subtree is skipped in one step and an absent one is known to be all free.
 *
 * Memory grows with what is in use (at most host bits nodes per used
 * address, less where neighbours share a path), not with the pool's size: a
 * /64 costs nothing until it is used. Fully used subtrees collapse into one
 * node. Not thread-safe per pool. */
#ifndef WEFT_CLI_ADDRPOOL_H
#define WEFT_CLI_ADDRPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

struct addrpool;

/* A pool covering network (host bits are ignored), nothing in use yet.
 * 0, -EINVAL (bad family or cidr; an IPv6 /0 is too big to count), -ENOMEM. */
int addrpool_new(struct addrpool **out, const struct conf_prefix *network);

/* The pool of an interface Address such as 10.0.0.1/24: its network with
 * the address itself reserved, and, when the network has room for them (an
 * IPv4 /30 or shorter, an IPv6 /126 or shorter), the network address
 * (IPv6's subnet-router anycast) and the IPv4 broadcast address too. */
int addrpool_new_for_address(struct addrpool **out, const struct conf_prefix *address);

void addrpool_free(struct addrpool *pool);

/* The network, host bits zero. */
const struct conf_prefix *addrpool_network(const struct addrpool *pool);

/* a lies in the pool's network. */
bool addrpool_contains(const struct addrpool *pool, const struct conf_addr *a);

/* range lies entirely inside the pool's network (same family, at least as
 * long a prefix). */
bool addrpool_covers(const struct addrpool *pool, const struct conf_prefix *range);

/* Never hand a out and never release it (another interface address).
 * 0, -ERANGE (not in the pool), -ENOMEM. */
int addrpool_reserve(struct addrpool *pool, const struct conf_addr *a);

/* Marks every address of range used (an existing peer's AllowedIPs). Parts
 * already used stay used. 0, -ERANGE (not inside the pool), -ENOMEM. */
int addrpool_mark(struct addrpool *pool, const struct conf_prefix *range);

/* The lowest free address into *out, now used. 0, -ENOSPC when none is
 * left, -ENOMEM. */
int addrpool_take(struct addrpool *pool, struct conf_addr *out);

/* Makes a used address free again. 0, -ERANGE (not in the pool), -EPERM
 * (reserved), -ENOENT (not in use). */
int addrpool_release(struct addrpool *pool, const struct conf_addr *a);

/* a is in use (taken, marked or reserved). */
bool addrpool_is_used(const struct addrpool *pool, const struct conf_addr *a);

/* Free addresses left, saturating at UINT64_MAX. */
uint64_t addrpool_free_count(const struct addrpool *pool);

#endif
