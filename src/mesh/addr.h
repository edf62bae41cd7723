/* addr.h: a mesh member's overlay addresses, derived from its public key
 * inside the network's prefixes, and the collision rule that gives every
 * node the same table whatever order it learnt the members in
 * (docs/weft-mesh.md, "Overlay addresses"). No I/O, no clock. */
#ifndef WEFT_MESH_ADDR_H
#define WEFT_MESH_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MESH_ADDR_ATTEMPTS = 64 };

struct mesh_prefix {
	int family;          /* AF_INET or AF_INET6; 0: none */
	uint8_t addr[16];    /* network address, host bits zero */
	unsigned bits;
};

/* "10.0.0.0/16" (/8../30) or "fd00::/48" (/8../124). Host bits set in the
 * address are refused, so that a typo is not silently another network.
 * 0 or -EINVAL. */
int mesh_prefix_parse(struct mesh_prefix *p, const char *text);
/* "10.0.0.0/16"; out holds at least 64 bytes. */
void mesh_prefix_format(char *out, size_t len, const struct mesh_prefix *p);

/* The address of attempt `attempt` for a key inside p (4 or 16 bytes). */
void mesh_addr_candidate(uint8_t out[16], const struct mesh_prefix *p, const uint8_t pub[32], uint32_t attempt);

struct mesh_addr_member {
	uint8_t pub[32];
	uint64_t joined;     /* the order key: (joined, pub) */
	/* outputs */
	bool assigned;
	uint32_t attempt;
	uint8_t addr[16];
};

/* Assigns addresses inside p to the n members (any order in the array, no
 * two with the same key): sorted by (joined, pub), each takes its first
 * attempt that no member before it holds; none after MESH_ADDR_ATTEMPTS.
 * 0, or -ENOMEM (nothing assigned). */
int mesh_addr_assign(const struct mesh_prefix *p, struct mesh_addr_member *m, size_t n);

#endif
