/* guard.h: which destinations peers may reach through `weft serve`.
 *
 * Allow and Deny prefixes, decided by the longest matching prefix (a tie
 * denies; an operator's rule beats a built-in one of the same length), so "Deny = 10.0.0.0/8" and "Allow = 10.1.2.3/32" mean what they
 * say. Without any Allow, everything is allowed except what is denied.
 * Built in, as denies: this machine's loopback (127.0.0.0/8, ::1), link-local
 * (169.254.0.0/16, fe80::/10), unspecified, multicast and broadcast
 * addresses, so a server is never an accidental way into its own host; an
 * operator lifts one with a more specific Allow (e.g. 127.0.0.1/32), which
 * does not count as an allow list. */
#ifndef WEFT_SERVE_GUARD_H
#define WEFT_SERVE_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_MAX_RULES 1024

struct guard_rule {
	uint8_t family;   /* AF_INET, AF_INET6 */
	uint8_t len;      /* prefix length */
	bool allow;
	bool builtin;
	uint8_t addr[16];
};

struct guard {
	struct guard_rule rules[GUARD_MAX_RULES];
	unsigned n;
	bool has_allow;   /* an operator's Allow: everything else is denied */
};

/* The built-in denies only. */
void guard_init(struct guard *g);
/* "10.0.0.0/8", "fd00::/8", "192.0.2.1". 0, -EINVAL (bad prefix) or
 * -E2BIG (too many). */
int guard_add(struct guard *g, const char *prefix, bool allow);
/* A comma/blank-separated list of prefixes; 0 or as guard_add. */
int guard_add_list(struct guard *g, const char *list, bool allow);
bool guard_allows(const struct guard *g, int family, const uint8_t *addr);

#endif
