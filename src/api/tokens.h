/* tokens.h: the bearer tokens of a `weft api` server, kept hashed in
 * IFACE.tokens beside the interface's config (0600, written atomically
 * under the config directory's lock). A token is 32 random bytes shown
 * once as "weft_" + 64 hex digits; the file keeps its BLAKE2s-256 hash,
 * and a presented token is hashed and compared with every stored hash in
 * constant time. Its id (the hash's first 4 bytes, hex) names it in
 * `token list|revoke` and in the Owner of the peers it enrolled.
 *
 * An admin token may do everything. An enrolment token may add at most
 * `peers` peers in its life (1 = a one-time link), until it expires, and
 * sees, reads and deletes only the peers it added.
 *
 * File: a comment, then one line per token:
 *   ID HASH admin|enrol PEERS USED EXPIRES CREATED NAME
 * (hash in hex; PEERS 0 = no limit; times in Unix seconds, 0 = never;
 * NAME is the rest of the line, "-" for none). */
#ifndef WEFT_API_TOKENS_H
#define WEFT_API_TOKENS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define TOKEN_BYTES 32
#define TOKEN_PREFIX "weft_"
#define TOKEN_STRLEN (sizeof(TOKEN_PREFIX) - 1 + 2 * TOKEN_BYTES)
#define TOKEN_ID_LEN 8
#define TOKEN_NAME_MAX 64
#define TOKEN_MAX 4096
#define TOKENS_SUFFIX ".tokens"

struct token {
	char id[TOKEN_ID_LEN + 1];
	uint8_t hash[32];
	bool admin;
	uint32_t peers;        /* how many peers it may add; 0 = any number */
	uint32_t used;         /* how many it has added */
	int64_t expires;       /* 0 = never */
	int64_t created;
	char name[TOKEN_NAME_MAX + 1];
	uint64_t uses;         /* requests it made (this process, metrics) */
};

struct tokens {
	struct token *v;
	uint32_t n;
	struct timespec mtime; /* of the file as read */
	ino_t ino;
	bool loaded;
};

/* IFACE.tokens beside conf_path. false if it does not fit. */
bool tokens_path(char *out, size_t size, const char *conf_path);

/* Reads the file (missing = no tokens). 0, -EINVAL (err says the line),
 * -errno. */
int tokens_load(struct tokens *t, const char *path, char *err, size_t errlen);
/* Reads it again if it changed since the last load. */
int tokens_refresh(struct tokens *t, const char *path, char *err, size_t errlen);
/* Writes it atomically, 0600. */
int tokens_save(const struct tokens *t, const char *path);
void tokens_free(struct tokens *t);

/* A new token into t; its secret text into out (TOKEN_STRLEN + 1 bytes),
 * shown once and never stored. -E2BIG past TOKEN_MAX, -ENOMEM, -errno. */
int tokens_add(struct tokens *t, bool admin, uint32_t peers, int64_t expires, const char *name,
	       int64_t now, char out[TOKEN_STRLEN + 1]);
/* Drops the token with this id or name: 0, -ENOENT. */
int tokens_revoke(struct tokens *t, const char *which);

/* The token whose secret is text ("weft_..."), or NULL. Every stored hash
 * is compared, in constant time. */
struct token *tokens_find(struct tokens *t, const char *text);
/* The token with this id, or NULL. */
struct token *tokens_by_id(struct tokens *t, const char *id);

#endif
