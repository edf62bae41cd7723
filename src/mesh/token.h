/* token.h: a mesh network's identity (admin key, network id) and its join
 * tokens: one signed line carrying what a new node needs to find and join
 * the network. Format and rules: docs/weft-mesh.md. No I/O. */
#ifndef WEFT_MESH_TOKEN_H
#define WEFT_MESH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MESH_ID_LEN = 16,
	MESH_PUB_LEN = 32,       /* Ed25519 public key */
	MESH_SEC_LEN = 64,       /* Ed25519 secret key (libsodium's seed || pub) */
	MESH_SIG_LEN = 64,
	MESH_TOKEN_ID_LEN = 8,
	MESH_SECRET_LEN = 32,
	MESH_MAX_BOOTSTRAP = 8,
	MESH_MAX_HOSTPORT = 255,
	MESH_TOKEN_MAX_TEXT = 4096, /* characters of a token line, at most */
};

#define MESH_TOKEN_PREFIX "weftmesh1."

struct mesh_token {
	uint8_t network_id[MESH_ID_LEN];
	uint8_t admin_pub[MESH_PUB_LEN];
	uint8_t id[MESH_TOKEN_ID_LEN];
	uint64_t expires;                   /* Unix seconds */
	uint16_t uses;                      /* 1..65535 */
	uint8_t coord_key[32];              /* all zeros: no coord */
	uint8_t secret[MESH_SECRET_LEN];    /* the network secret (sealing for the coord) */
	char coord[MESH_MAX_HOSTPORT + 1];  /* "" or host:port */
	unsigned n_bootstrap;
	char bootstrap[MESH_MAX_BOOTSTRAP][MESH_MAX_HOSTPORT + 1];
};

/* The network id of an admin public key (docs/weft-mesh.md). */
void mesh_network_id(uint8_t id[MESH_ID_LEN], const uint8_t admin_pub[MESH_PUB_LEN]);

/* A new Ed25519 key pair from the kernel's CSPRNG. 0 or -errno. */
int mesh_keypair(uint8_t pub[MESH_PUB_LEN], uint8_t sec[MESH_SEC_LEN]);

/* Writes tok (whose network_id and admin_pub are set from sec here) as a
 * NUL-terminated line into out. Returns its length or -ENOSPC / -EINVAL
 * (a field out of range). */
int mesh_token_encode(char *out, size_t out_len, struct mesh_token *tok,
		      const uint8_t admin_sec[MESH_SEC_LEN]);

/* Parses and verifies a token line (surrounding blanks allowed). 0, or
 * -EINVAL (not a token: bad prefix, encoding, length or field), -EBADMSG
 * (network id or signature do not hold), -EKEYEXPIRED (expired at now).
 * On error *tok is zeroed. */
int mesh_token_parse(struct mesh_token *tok, const char *line, uint64_t now);

/* Token ids as 16 hex digits (lower case); parse accepts either case. */
void mesh_token_id_hex(char out[2 * MESH_TOKEN_ID_LEN + 1], const uint8_t id[MESH_TOKEN_ID_LEN]);
bool mesh_token_id_parse(uint8_t id[MESH_TOKEN_ID_LEN], const char *hex);

/* Wipes the secret parts of a token. */
void mesh_token_wipe(struct mesh_token *tok);

#endif
