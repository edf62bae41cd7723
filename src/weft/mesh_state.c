/* mesh_state.c: the admin's files of a mesh network (mesh_state.h). */
#include "mesh_state.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf_path.h"
#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"

/* The directory that holds the networks: the first of $WEFT_CONFIG_DIR's
 * directories, else /etc/weft; then "/mesh". */
bool mesh_root(char *out, size_t size)
{
	const char *env = getenv(CONFIG_DIR_ENV);
	size_t len = env && *env ? strcspn(env, ":") : 0;
	int n = len ? snprintf(out, size, "%.*s/mesh", (int)len, env) : snprintf(out, size, "%s/mesh", WEFT_DIR);

	return n > 0 && (size_t)n < size;
}

bool mesh_dir(char *out, size_t size, const char *name)
{
	char root[PATH_MAX];
	int n;

	if (!mesh_root(root, sizeof(root)))
		return false;
	n = snprintf(out, size, "%s/%s", root, name);
	return n > 0 && (size_t)n < size;
}

/* dir/file; the directory's path came from mesh_dir, with room to spare
 * for these short names, but a cut path must never be used. */
void mesh_path_in(char *out, size_t size, const char *dir, const char *file)
{
	if (snprintf(out, size, "%s/%s", dir, file) >= (int)size)
		snprintf(out, size, "/nonexistent/path-too-long");
}

/* Reads a whole small file (at most 4 MiB) into a NUL-terminated buffer. */
int mesh_slurp(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	*out = NULL, *len = 0;
	if (!f)
		return -errno;
	buf = malloc((4 << 20) + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, 4 << 20, f);
	if (ferror(f) || !feof(f)) {
		int err = ferror(f) ? -EIO : -EFBIG;
		fclose(f);
		memzero(buf, n);
		free(buf);
		return err;
	}
	fclose(f);
	buf[n] = 0;
	*out = buf, *len = n;
	return 0;
}

int mesh_conf_write(const char *dir, const struct mesh_conf *c)
{
	char path[PATH_MAX], key[WEFT_KEY_B64_LEN + 1], p4[64] = "", p6[64] = "", text[8192];
	size_t n = 0;
	uint8_t id[MESH_ID_LEN];
	int r;

	mesh_network_id(id, c->admin_pub);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "# the mesh network %s, made by `weft mesh init'\n"
			      "Name = %s\nNetworkId = ", c->name, c->name);
	for (int i = 0; i < MESH_ID_LEN; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%02x", id[i]);
	key_to_base64(key, c->admin_pub);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\nAdminPublicKey = %s\n", key);
	if (c->prefix.family)
		mesh_prefix_format(p4, sizeof(p4), &c->prefix);
	if (c->prefix6.family)
		mesh_prefix_format(p6, sizeof(p6), &c->prefix6);
	if (*p4)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "Prefix = %s\n", p4);
	if (*p6)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "Prefix6 = %s\n", p6);
	if (*c->coord) {
		key_to_base64(key, c->coord_key);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "Coord = %s\nCoordKey = %s\n", c->coord, key);
	}
	for (unsigned i = 0; i < c->n_bootstrap; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "Bootstrap = %s\n", c->bootstrap[i]);
	key_to_base64(key, c->secret);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "Secret = %s\n", key);
	memzero(key, sizeof(key));
	mesh_path_in(path, sizeof(path), dir, "mesh.conf");
	r = n < sizeof(text) ? atomic_file_write(path, text, n, 0600) : -ENOSPC;
	memzero(text, sizeof(text));
	return r;
}

/* Parses mesh.conf; on error prints one line naming the file and line. */
int mesh_conf_read(const char *dir, struct mesh_conf *c)
{
	char path[PATH_MAX], *text, *line, *save = NULL;
	size_t len;
	unsigned lineno = 0;
	int r;

	memset(c, 0, sizeof(*c));
	mesh_path_in(path, sizeof(path), dir, "mesh.conf");
	r = mesh_slurp(path, &text, &len);
	if (r) {
		fprintf(stderr, "%s: %s\n", path, r == -ENOENT ? "no such network (make it with `weft mesh init')" :
			strerror(-r));
		return r;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v;
		bool ok = true;
		lineno++;
		if (*line == '#' || !*line)
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			ok = false;
			goto check;
		}
		*eq = 0, k = line, v = eq + 1;
		while (*v == ' ')
			v++;
		for (char *e = eq - 1; e >= k && *e == ' '; e--)
			*e = 0;
		if (!strcmp(k, "Name"))
			ok = snprintf(c->name, sizeof(c->name), "%s", v) < (int)sizeof(c->name);
		else if (!strcmp(k, "AdminPublicKey"))
			ok = key_from_base64(c->admin_pub, v);
		else if (!strcmp(k, "Prefix"))
			ok = !mesh_prefix_parse(&c->prefix, v) && c->prefix.family == AF_INET;
		else if (!strcmp(k, "Prefix6"))
			ok = !mesh_prefix_parse(&c->prefix6, v) && c->prefix6.family == AF_INET6;
		else if (!strcmp(k, "Coord"))
			ok = snprintf(c->coord, sizeof(c->coord), "%s", v) < (int)sizeof(c->coord);
		else if (!strcmp(k, "CoordKey"))
			ok = key_from_base64(c->coord_key, v);
		else if (!strcmp(k, "Bootstrap"))
			ok = c->n_bootstrap < MESH_MAX_BOOTSTRAP &&
			     snprintf(c->bootstrap[c->n_bootstrap++], sizeof(c->bootstrap[0]), "%s", v) <
			     (int)sizeof(c->bootstrap[0]);
		else if (!strcmp(k, "Secret"))
			ok = key_from_base64(c->secret, v);
		else if (strcmp(k, "NetworkId"))
			ok = false;
check:
		if (!ok) {
			fprintf(stderr, "%s:%u: cannot use this line\n", path, lineno);
			memzero(text, len);
			free(text);
			return -EINVAL;
		}
	}
	memzero(text, len);
	free(text);
	if (!mesh_name_ok(c->name) || is_zero_ct(c->admin_pub, MESH_PUB_LEN)) {
		fprintf(stderr, "%s: Name or AdminPublicKey missing\n", path);
		return -EINVAL;
	}
	return 0;
}

/* admin.key holds the Ed25519 seed in base64. */
int mesh_admin_key_read(const char *dir, uint8_t pub[MESH_PUB_LEN], uint8_t sec[MESH_SEC_LEN])
{
	char path[PATH_MAX], *text;
	size_t len;
	uint8_t seed[32];
	int r;

	mesh_path_in(path, sizeof(path), dir, "admin.key");
	r = mesh_slurp(path, &text, &len);
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	if (len && text[len - 1] == '\n')
		text[--len] = 0;
	r = key_from_base64(seed, text) ? 0 : -EINVAL;
	memzero(text, len);
	free(text);
	if (r) {
		fprintf(stderr, "%s: not an admin key\n", path);
		return r;
	}
	crypto_sign_seed_keypair(pub, sec, seed);
	memzero(seed, sizeof(seed));
	return 0;
}

int mesh_lock(const char *dir)
{
	char path[PATH_MAX];

	mesh_path_in(path, sizeof(path), dir, "mesh.conf");
	return iface_conf_lock(path);
}


int mesh_tokens_read(const char *dir, struct mesh_issued *t, size_t *n)
{
	char path[PATH_MAX], *text, *line, *save = NULL;
	size_t len;
	unsigned lineno = 0;
	int r;

	*n = 0;
	mesh_path_in(path, sizeof(path), dir, "tokens");
	r = mesh_slurp(path, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[17], state[8];
		struct mesh_issued x = { 0 };
		lineno++;
		if (*n >= MESH_MAX_TOKENS || sscanf(line, "%16s %" SCNu64 " %u %7s %" SCNu64, hex, &x.expires, &x.uses, state,
						&x.revoked_at) != 5 || !mesh_token_id_parse(x.id, hex) ||
		    (strcmp(state, "issued") && strcmp(state, "revoked"))) {
			fprintf(stderr, "%s:%u: cannot use this line\n", path, lineno);
			free(text);
			return -EINVAL;
		}
		x.revoked = !strcmp(state, "revoked");
		t[(*n)++] = x;
	}
	free(text);
	return 0;
}

int mesh_tokens_write(const char *dir, const struct mesh_issued *t, size_t n)
{
	char path[PATH_MAX], *text = malloc(n * 80 + 1);
	size_t len = 0;
	int r;

	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char hex[2 * MESH_TOKEN_ID_LEN + 1];
		mesh_token_id_hex(hex, t[i].id);
		len += (size_t)sprintf(text + len, "%s %" PRIu64 " %u %s %" PRIu64 "\n", hex, t[i].expires, t[i].uses,
				       t[i].revoked ? "revoked" : "issued", t[i].revoked_at);
	}
	mesh_path_in(path, sizeof(path), dir, "tokens");
	r = atomic_file_write(path, text, len, 0600);
	free(text);
	return r;
}
