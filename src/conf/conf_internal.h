/* conf_internal.h: what the files of src/conf share and nobody else needs:
 * number and name syntax, growing arrays, and the peer hash set the parser
 * uses to find duplicate public keys in O(1). */
#ifndef WEFT_CONF_INTERNAL_H
#define WEFT_CONF_INTERNAL_H

#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on numeric values (wg-quick passes them to ip(8); these are what
 * the kernel accepts). */
#define CONF_MTU_MIN 68     /* RFC 791: every IPv4 link carries 68 bytes */
#define CONF_MTU_MAX 65535
#define CONF_PORT_MAX 65535
#define CONF_KEEPALIVE_MAX 65535
#define CONF_SCOPE_MAX 15   /* IFNAMSIZ - 1: "%eth0" in an IPv6 endpoint */

/* "0x" followed by 1..8 hex digits. */
bool conf_parse_hex32(const char *s, uint32_t *out);
bool conf_table_name_valid(const char *s);
bool conf_hook_valid(const char *s);
/* Endpoint host as stored: IPv6 (with optional %scope), IPv4 or a host name. */
bool conf_endpoint_host_valid(const char *s);
/* ASCII case-insensitive equality. */
bool conf_word_eq(const char *a, const char *b);
/* The same for the n bytes at s (no NUL needed) against word. */
bool conf_word_eq_n(const char *s, size_t n, const char *word);
/* A blank inside a line, as wg-quick trims it. */
static inline bool conf_blank(char c)
{
	return c == ' ' || c == '\t';
}
/* Whether a may equal the key name b (two or more letters) under
 * conf_word_eq: its first two characters, either case, without a call.
 * Only a filter (it may say yes wrongly, never no): files of 10,000 peers
 * look up a key name in every line. */
static inline bool conf_word_maybe(const char *a, const char *b)
{
	return !((a[0] ^ b[0]) & ~0x20) && !((a[1] ^ b[1]) & ~0x20);
}

/* Makes room for need elements in *v (cap doubles). 0, -E2BIG past
 * CONF_MAX_LIST, -ENOMEM. Arrays without secrets only. */
int conf_grow(void **v, uint32_t *cap, uint32_t need, size_t elem, uint32_t limit);
/* How many peers (or records) text can hold, so parsers size their arrays
 * once rather than doubling (which copies and wipes blocks of keys): its
 * lines whose first non-blank character is '[', but no more than a section
 * of the shortest kind with a key ("[Peer]\nPublicKey=KEY") fits, so a
 * file of bare headers, which fails to parse anyway, reserves little.
 * O(len), no allocation. */
uint32_t conf_count_headers(const char *text, size_t len);
/* Room for n peers in all (at most CONF_MAX_PEERS): 0 or -ENOMEM. */
int conf_peers_reserve(struct conf *conf, uint32_t n);
/* Appends a zeroed peer without looking for duplicates (the parser does that
 * with its hash set). 0, -E2BIG past CONF_MAX_PEERS, -ENOMEM. */
int conf_peer_append(struct conf *conf, struct conf_peer **peer);
int conf_str_list_add(struct conf_str_list *list, const char *s);
/* Two [Peer]s that conf_write writes alike (the name and line are not
 * compared; the preshared key in constant time). */
bool conf_peer_same(const struct conf_peer *a, const struct conf_peer *b);
/* Everything conf_write relies on holds: ranges, families, strings. */
bool conf_check(const struct conf *conf);

/* An open-addressing set of array indices keyed by public key, hashed with
 * SipHash under a random key so that chosen keys cannot force collisions.
 * The array is of struct conf_peer, or (init_stride) of any struct of that
 * size whose first member is the 32-byte public key. */
struct conf_keyset {
	uint32_t *slots;      /* peer index + 1; 0 = empty */
	uint32_t *hashes;     /* the low 32 bits of each slot's key hash */
	uint32_t mask, count;
	size_t stride;
	uint8_t hash_key[16];
};
int conf_keyset_init(struct conf_keyset *set);
int conf_keyset_init_stride(struct conf_keyset *set, size_t stride);
void conf_keyset_free(struct conf_keyset *set);
/* Adds peers[idx]; -EEXIST (with *existing set) if its key is there already. */
int conf_keyset_insert(struct conf_keyset *set, const void *peers, uint32_t idx, uint32_t *existing);
bool conf_keyset_find(const struct conf_keyset *set, const void *peers,
		      const uint8_t key[CONF_KEY_LEN], uint32_t *idx);

/* conf_parse and weftfile_parse that also hand over, when they succeed,
 * the set of public keys they built to find duplicates (*key_set, the
 * caller's to free): indices into out's peers or records, so also good for
 * a copy in the same order. key_set NULL: as the plain ones. */
struct weft_file;
int conf_parse_keyed(struct conf *out, struct conf_keyset *key_set, const char *text, size_t len,
		     const char *name, unsigned flags, char *err, size_t errlen);
int weftfile_parse_keyed(struct weft_file *out, struct conf_keyset *key_set, const char *text, size_t len,
			 const char *name, char *err, size_t errlen);

/* ---- writing pieces, shared by the canonical writer and conf_rewrite ---- */

/* A growing NUL-terminated text buffer that may hold keys: wiped whenever
 * it moves or is freed. oom is sticky; check it once at the end. */
struct conf_out {
	char *buf;
	size_t len, cap;
	bool oom;
};
void conf_out_put(struct conf_out *o, const char *s);
/* Room for more bytes now, so a text of known size is not copied as it
 * grows. */
void conf_out_reserve(struct conf_out *o, size_t more);
void conf_out_putn(struct conf_out *o, const char *s, size_t n);
void conf_out_free(struct conf_out *o);

/* The keys of [Interface] and [Peer], in canonical order. */
enum conf_field {
	CONF_F_PRIVATE_KEY, CONF_F_LISTEN_PORT, CONF_F_FWMARK, CONF_F_ADDRESS, CONF_F_DNS,
	CONF_F_MTU, CONF_F_TABLE, CONF_F_PRE_UP, CONF_F_POST_UP, CONF_F_PRE_DOWN,
	CONF_F_POST_DOWN, CONF_F_SAVE_CONFIG,
	CONF_F_PUBLIC_KEY, CONF_F_PRESHARED_KEY, CONF_F_ALLOWED_IPS, CONF_F_ENDPOINT,
	CONF_F_KEEPALIVE,
	CONF_FIELDS
};
#define CONF_F_PEER_FIRST CONF_F_PUBLIC_KEY
/* The field a key name (any case) stands for, or -1. */
int conf_field_lookup(const char *name);
/* The canonical line(s) of one field, "Key = value\n" each; nothing when
 * unset. peer NULL: a field of c's [Interface]. */
void conf_put_field(struct conf_out *o, const struct conf *c, const struct conf_peer *peer,
		    enum conf_field f);
/* conf_rewrite without its shortcut for peers appended at the end (which
 * must give the same text): for tests to compare the two. */
int conf_rewrite_general(const char *old, size_t old_len, const struct conf *before, const struct conf *after,
			 char **text, size_t *len);
/* A whole canonical [Peer] section, after a blank line unless o is empty. */
void conf_put_peer(struct conf_out *o, const struct conf_peer *p);

#endif
