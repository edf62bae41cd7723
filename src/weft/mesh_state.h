/* mesh_state.h: the admin's state of a mesh network on disk (docs/weft-mesh.md,
 * "The network and its admin key"): one directory per network under
 * /etc/weft/mesh (or $WEFT_CONFIG_DIR/mesh), 0700, its files 0600 and
 * replaced atomically: mesh.conf, admin.key, tokens, revocations. */
#ifndef WEFT_CLI_MESH_STATE_H
#define WEFT_CLI_MESH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/addr.h"
#include "mesh/member.h"
#include "mesh/token.h"

enum { MESH_MAX_TOKENS = 4096 };

/* mesh.conf; secret is the network secret: memzero it when done. */
struct mesh_conf {
	char name[MESH_NAME_MAX + 1];
	uint8_t admin_pub[MESH_PUB_LEN];
	struct mesh_prefix prefix, prefix6;
	char coord[MESH_MAX_HOSTPORT + 1];
	uint8_t coord_key[32];
	unsigned n_bootstrap;
	char bootstrap[MESH_MAX_BOOTSTRAP][MESH_MAX_HOSTPORT + 1];
	uint8_t secret[MESH_SECRET_LEN];
};

/* The admin's list of issued tokens: "ID EXPIRES USES issued|revoked AT". */
struct mesh_issued {
	uint8_t id[MESH_TOKEN_ID_LEN];
	uint64_t expires, revoked_at;
	unsigned uses;
	bool revoked;
};

/* The directory of the networks, and of network name. false: too long. */
bool mesh_root(char *out, size_t size);
bool mesh_dir(char *out, size_t size, const char *name);
/* dir/file (a path that cannot fit becomes one that does not exist). */
void mesh_path_in(char *out, size_t size, const char *dir, const char *file);
/* A whole small file (at most 4 MiB), NUL-terminated, malloc'ed. 0 or -errno. */
int mesh_slurp(const char *path, char **out, size_t *len);

/* mesh.conf, written atomically (0600) or read; a read error is printed
 * as one line naming the file (and line). 0 or -errno. */
int mesh_conf_write(const char *dir, const struct mesh_conf *c);
int mesh_conf_read(const char *dir, struct mesh_conf *c);
/* The admin key pair from admin.key (its seed in base64). 0 or -errno (printed). */
int mesh_admin_key_read(const char *dir, uint8_t pub[MESH_PUB_LEN], uint8_t sec[MESH_SEC_LEN]);
/* Locks the network's directory (made 0700 when missing): an fd to close, or -errno. */
int mesh_lock(const char *dir);

/* The tokens file: at most MESH_MAX_TOKENS lines. 0 or -errno (printed). */
int mesh_tokens_read(const char *dir, struct mesh_issued *t, size_t *n);
int mesh_tokens_write(const char *dir, const struct mesh_issued *t, size_t n);

#endif
