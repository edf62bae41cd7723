/* allowedips.h: the cryptokey routing table (whitepaper section 2).
 * A longest-prefix-match trie per address family, mapping prefixes to an
 * owner (a peer). Each owner also keeps the list of its own prefixes, so that
 * removing a peer or listing its allowed IPs costs O(its prefixes), not a walk
 * of the whole table. Lookup is O(prefix length). Not thread safe: the caller
 * serialises changes against lookups. */
#ifndef WEFT_ALLOWEDIPS_H
#define WEFT_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct allowedips_node;

/* Embedded in whatever owns prefixes (a peer); zero-initialised is empty. */
struct allowedips_owner {
	struct allowedips_node *first; /* this owner's prefixes, a linked list */
	size_t count;
};

struct allowedips {
	struct allowedips_node *root4, *root6;
	size_t count; /* prefixes in the table */
};

void allowedips_init(struct allowedips *t);
/* Frees every node; owners are left empty. */
void allowedips_free(struct allowedips *t);

/* family is AF_INET (ip has 4 bytes) or AF_INET6 (16 bytes). Host bits past
 * cidr are ignored (10.1.2.3/8 is stored as 10.0.0.0/8). Inserting a prefix
 * that exists moves it to the new owner, as the Linux module does.
 * Returns 0, -EINVAL (bad family or cidr) or -ENOMEM. */
int allowedips_insert(struct allowedips *t, int family, const uint8_t *ip, uint8_t cidr,
		      struct allowedips_owner *owner);

/* Removes the exact prefix (host bits ignored) if it belongs to owner:
 * 0, -ENOENT (absent, or someone else's) or -EINVAL. */
int allowedips_remove(struct allowedips *t, int family, const uint8_t *ip, uint8_t cidr,
		      struct allowedips_owner *owner);

/* Removes all of owner's prefixes. */
void allowedips_remove_owner(struct allowedips *t, struct allowedips_owner *owner);

/* Longest-prefix match; NULL when nothing covers ip. */
struct allowedips_owner *allowedips_lookup(const struct allowedips *t, int family,
					   const uint8_t *ip);

/* Calls fn for each of owner's prefixes (ip with host bits cleared), in
 * insertion order (inserting a prefix again moves it to the end, as in the
 * Linux module). fn returning non-zero stops the walk and is returned; fn
 * must not change the table. */
int allowedips_walk_owner(const struct allowedips_owner *owner,
			  int (*fn)(void *ctx, int family, const uint8_t *ip, uint8_t cidr),
			  void *ctx);

#endif
