/* cmd_mesh.c: the admin's side of `weft mesh` (docs/weft-mesh.md): init
 * makes a network (admin key, network id, prefixes), invite signs join
 * tokens, revoke revokes one. State is one directory per network,
 * /etc/weft/mesh/NAME (or $WEFT_CONFIG_DIR/mesh/NAME), 0700, every file in
 * it 0600 and replaced atomically, changed under the directory's lock. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "commands.h"
#include "conf_path.h"
#include "crypto/crypto.h"
#include "mesh/addr.h"
#include "mesh/member.h"
#include "mesh/token.h"
#include "options.h"
#include "peer_ctx.h"
#include "usage.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"
#include "util/random.h"

enum { MAX_TOKENS = 4096, DEFAULT_EXPIRY = 7 * 86400 };

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

/* The directory that holds the networks: the first of $WEFT_CONFIG_DIR's
 * directories, else /etc/weft; then "/mesh". */
static bool mesh_root(char *out, size_t size)
{
	const char *env = getenv(CONFIG_DIR_ENV);
	size_t len = env && *env ? strcspn(env, ":") : 0;
	int n = len ? snprintf(out, size, "%.*s/mesh", (int)len, env) : snprintf(out, size, "%s/mesh", WEFT_DIR);

	return n > 0 && (size_t)n < size;
}

static bool mesh_dir(char *out, size_t size, const char *name)
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
static void path_in(char *out, size_t size, const char *dir, const char *file)
{
	if (snprintf(out, size, "%s/%s", dir, file) >= (int)size)
		snprintf(out, size, "/nonexistent/path-too-long");
}

/* Reads a whole small file (at most 4 MiB) into a NUL-terminated buffer. */
static int slurp(const char *path, char **out, size_t *len)
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

static int write_conf(const char *dir, const struct mesh_conf *c)
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
	path_in(path, sizeof(path), dir, "mesh.conf");
	r = n < sizeof(text) ? atomic_file_write(path, text, n, 0600) : -ENOSPC;
	memzero(text, sizeof(text));
	return r;
}

/* Parses mesh.conf; on error prints one line naming the file and line. */
static int read_conf(const char *dir, struct mesh_conf *c)
{
	char path[PATH_MAX], *text, *line, *save = NULL;
	size_t len;
	unsigned lineno = 0;
	int r;

	memset(c, 0, sizeof(*c));
	path_in(path, sizeof(path), dir, "mesh.conf");
	r = slurp(path, &text, &len);
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
static int read_admin_key(const char *dir, uint8_t pub[MESH_PUB_LEN], uint8_t sec[MESH_SEC_LEN])
{
	char path[PATH_MAX], *text;
	size_t len;
	uint8_t seed[32];
	int r;

	path_in(path, sizeof(path), dir, "admin.key");
	r = slurp(path, &text, &len);
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

static int lock_dir(const char *dir)
{
	char path[PATH_MAX];

	path_in(path, sizeof(path), dir, "mesh.conf");
	return iface_conf_lock(path);
}

static int mesh_init(int argc, char *argv[])
{
	struct mesh_conf c;
	char dir[PATH_MAX], root[PATH_MAX], path[PATH_MAX], b64[WEFT_KEY_B64_LEN + 2];
	uint8_t sec[MESH_SEC_LEN], seed[32];
	const char *v;
	int lock, r;

	memset(&c, 0, sizeof(c));
	if (argc < 2 || !mesh_name_ok(argv[1])) {
		fprintf(stderr, "weft mesh init: a network name (1-63 of a-z, 0-9 and -) is needed\n");
		return 1;
	}
	snprintf(c.name, sizeof(c.name), "%s", argv[1]);
	for (int i = 2; i < argc; i++) {
		if (take_option(argc, argv, &i, "--prefix", &v)) {
			if (!v || mesh_prefix_parse(&c.prefix, v) || c.prefix.family != AF_INET) {
				fprintf(stderr, "weft mesh init: --prefix wants an IPv4 prefix from /8 to /30 with no host bits (like 10.42.0.0/16)\n");
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--prefix6", &v)) {
			if (!v || mesh_prefix_parse(&c.prefix6, v) || c.prefix6.family != AF_INET6) {
				fprintf(stderr, "weft mesh init: --prefix6 wants an IPv6 prefix from /8 to /124 with no host bits (like fd42::/64)\n");
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--coord", &v)) {
			if (!v || strlen(v) > MESH_MAX_HOSTPORT || !strchr(v, ':')) {
				fprintf(stderr, "weft mesh init: --coord wants host:port\n");
				return 1;
			}
			snprintf(c.coord, sizeof(c.coord), "%s", v);
		} else if (take_option(argc, argv, &i, "--coord-key", &v)) {
			if (!v || !key_from_base64(c.coord_key, v)) {
				fprintf(stderr, "weft mesh init: --coord-key wants the coord's public key in base64\n");
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--bootstrap", &v)) {
			if (!v || strlen(v) > MESH_MAX_HOSTPORT || !strchr(v, ':') || strpbrk(v, " \t") ||
			    c.n_bootstrap >= MESH_MAX_BOOTSTRAP) {
				fprintf(stderr, "weft mesh init: --bootstrap wants host:port (at most %d of them)\n",
					MESH_MAX_BOOTSTRAP);
				return 1;
			}
			snprintf(c.bootstrap[c.n_bootstrap++], sizeof(c.bootstrap[0]), "%s", v);
		} else {
			command_usage(stderr, "mesh");
			return 1;
		}
	}
	if (!c.prefix.family) {
		fprintf(stderr, "weft mesh init: --prefix is needed: the overlay's IPv4 addresses come from it\n");
		return 1;
	}
	if (!*c.coord != is_zero_ct(c.coord_key, 32)) {
		fprintf(stderr, "weft mesh init: --coord and --coord-key go together\n");
		return 1;
	}
	if (!mesh_root(root, sizeof(root)) || !mesh_dir(dir, sizeof(dir), c.name)) {
		fprintf(stderr, "weft mesh init: the state directory's path is too long\n");
		return 1;
	}
	/* the config directory, then its mesh/ (both 0700 when made here) */
	char *slash = strrchr(root, '/');
	*slash = 0;
	if (*root && mkdir(root, 0700) && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", root, strerror(errno));
		return 1;
	}
	*slash = '/';
	if (mkdir(root, 0700) && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", root, strerror(errno));
		return 1;
	}
	lock = lock_dir(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	path_in(path, sizeof(path), dir, "mesh.conf");
	if (!access(path, F_OK)) {
		fprintf(stderr, "%s: the network %s exists already\n", path, c.name);
		close(lock);
		return 1;
	}
	if (!random_fill(seed, sizeof(seed)) || !random_fill(c.secret, sizeof(c.secret))) {
		perror("getrandom");
		close(lock);
		return 1;
	}
	crypto_sign_seed_keypair(c.admin_pub, sec, seed);
	key_to_base64(b64, seed);
	b64[WEFT_KEY_B64_LEN] = '\n';
	path_in(path, sizeof(path), dir, "admin.key");
	r = atomic_file_write(path, b64, WEFT_KEY_B64_LEN + 1, 0600);
	memzero(b64, sizeof(b64));
	memzero(seed, sizeof(seed));
	memzero(sec, sizeof(sec));
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		close(lock);
		return 1;
	}
	r = write_conf(dir, &c);
	memzero(c.secret, sizeof(c.secret));
	close(lock);
	if (r) {
		fprintf(stderr, "%s/mesh.conf: %s\n", dir, strerror(-r));
		return 1;
	}
	uint8_t id[MESH_ID_LEN];
	mesh_network_id(id, c.admin_pub);
	printf("network %s: id ", c.name);
	for (int i = 0; i < MESH_ID_LEN; i++)
		printf("%02x", id[i]);
	printf(", state in %s (admin.key: keep it on this machine)\n", dir);
	return 0;
}

/* The admin's list of issued tokens: "ID EXPIRES USES issued|revoked AT". */
struct issued {
	uint8_t id[MESH_TOKEN_ID_LEN];
	uint64_t expires, revoked_at;
	unsigned uses;
	bool revoked;
};

static int read_tokens(const char *dir, struct issued *t, size_t *n)
{
	char path[PATH_MAX], *text, *line, *save = NULL;
	size_t len;
	unsigned lineno = 0;
	int r;

	*n = 0;
	path_in(path, sizeof(path), dir, "tokens");
	r = slurp(path, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[17], state[8];
		struct issued x = { 0 };
		lineno++;
		if (*n >= MAX_TOKENS || sscanf(line, "%16s %" SCNu64 " %u %7s %" SCNu64, hex, &x.expires, &x.uses, state,
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

static int write_tokens(const char *dir, const struct issued *t, size_t n)
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
	path_in(path, sizeof(path), dir, "tokens");
	r = atomic_file_write(path, text, len, 0600);
	free(text);
	return r;
}

static int mesh_invite(int argc, char *argv[])
{
	static struct issued tokens[MAX_TOKENS + 1];
	struct mesh_conf c;
	struct mesh_token tok;
	char dir[PATH_MAX], line[MESH_TOKEN_MAX_TEXT], hex[2 * MESH_TOKEN_ID_LEN + 1];
	uint8_t pub[MESH_PUB_LEN], sec[MESH_SEC_LEN];
	int64_t now = time(NULL), expires = now + DEFAULT_EXPIRY;
	unsigned long uses = 1;
	size_t n;
	const char *v;
	int lock, r, ret = 1;

	if (argc < 2 || !mesh_name_ok(argv[1])) {
		command_usage(stderr, "mesh");
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		if (take_option(argc, argv, &i, "--expires", &v)) {
			if (!v || !peer_expiry_parse(v, now, &expires))
				return 1;
			if (!expires) {
				fprintf(stderr, "weft mesh invite: a token always expires (--expires 30d, or a date)\n");
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--uses", &v)) {
			char *end;
			errno = 0;
			uses = v ? strtoul(v, &end, 10) : 0;
			if (!v || *end || errno || !uses || uses > 65535 || *v == '-') {
				fprintf(stderr, "weft mesh invite: --uses wants a number from 1 to 65535\n");
				return 1;
			}
		} else {
			command_usage(stderr, "mesh");
			return 1;
		}
	}
	if (!mesh_dir(dir, sizeof(dir), argv[1]) || read_conf(dir, &c))
		return 1;
	lock = lock_dir(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	if (read_admin_key(dir, pub, sec) || read_tokens(dir, tokens, &n))
		goto out;
	if (memcmp(pub, c.admin_pub, MESH_PUB_LEN)) {
		fprintf(stderr, "%s/admin.key: not the key of AdminPublicKey in mesh.conf\n", dir);
		goto out;
	}
	if (n >= MAX_TOKENS) {
		fprintf(stderr, "%s/tokens: %d tokens issued already\n", dir, MAX_TOKENS);
		goto out;
	}
	memset(&tok, 0, sizeof(tok));
	if (!random_fill(tok.id, sizeof(tok.id))) {
		perror("getrandom");
		goto out;
	}
	tok.expires = (uint64_t)expires;
	tok.uses = (uint16_t)uses;
	memcpy(tok.coord_key, c.coord_key, 32);
	memcpy(tok.secret, c.secret, MESH_SECRET_LEN);
	memcpy(tok.coord, c.coord, sizeof(tok.coord));
	tok.n_bootstrap = c.n_bootstrap;
	memcpy(tok.bootstrap, c.bootstrap, sizeof(tok.bootstrap));
	int line_len = mesh_token_encode(line, sizeof(line) - 1, &tok, sec);
	if (line_len < 0) {
		fprintf(stderr, "weft mesh invite: cannot make the token: %s\n", strerror(-line_len));
		goto out;
	}
	/* recorded before it is shown: a token the admin cannot revoke by id
	 * must never exist */
	memcpy(tokens[n].id, tok.id, sizeof(tok.id));
	tokens[n].expires = tok.expires;
	tokens[n].uses = tok.uses;
	tokens[n].revoked = false;
	tokens[n].revoked_at = 0;
	r = write_tokens(dir, tokens, n + 1);
	if (r) {
		fprintf(stderr, "%s/tokens: %s\n", dir, strerror(-r));
		goto out;
	}
	/* straight to fd 1, as keys are: no stdio buffer keeps the token */
	line[line_len] = '\n';
	if (fd_write_all(STDOUT_FILENO, line, (size_t)line_len + 1)) {
		perror("write");
		goto out;
	}
	mesh_token_id_hex(hex, tok.id);
	char when[32];
	time_t t = (time_t)tok.expires;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	fprintf(stderr, "token %s for network %s: %u use%s, expires %s\n", hex, c.name, tok.uses,
		tok.uses == 1 ? "" : "s", when);
	ret = 0;
out:
	memzero(line, sizeof(line));
	mesh_token_wipe(&tok);
	memzero(sec, sizeof(sec));
	memzero(c.secret, sizeof(c.secret));
	close(lock);
	return ret;
}

/* Finds the network that issued token id; its name into out. */
static int find_issuer(const uint8_t id[MESH_TOKEN_ID_LEN], char *out, size_t size)
{
	static struct issued tokens[MAX_TOKENS];
	char root[PATH_MAX], dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int found = 0;

	if (!mesh_root(root, sizeof(root)) || !(d = opendir(root)))
		return 0;
	while ((e = readdir(d))) {
		size_t n;
		if (!mesh_name_ok(e->d_name) || !mesh_dir(dir, sizeof(dir), e->d_name) || read_tokens(dir, tokens, &n))
			continue;
		for (size_t i = 0; i < n; i++)
			if (!memcmp(tokens[i].id, id, MESH_TOKEN_ID_LEN) &&
			    snprintf(out, size, "%s", e->d_name) < (int)size)
				found++;
	}
	closedir(d);
	return found;
}

static int mesh_revoke(int argc, char *argv[])
{
	static struct issued tokens[MAX_TOKENS];
	struct mesh_conf c;
	struct mesh_record rec;
	uint8_t id[MESH_TOKEN_ID_LEN], pub[MESH_PUB_LEN], sec[MESH_SEC_LEN], bin[MESH_RECORD_MAX];
	char name[MESH_NAME_MAX + 1], dir[PATH_MAX], path[PATH_MAX], hex[2 * MESH_TOKEN_ID_LEN + 1];
	uint64_t now = (uint64_t)time(NULL);
	size_t n, i;
	int lock, r, ret = 1;

	if (argc != 2) {
		command_usage(stderr, "mesh");
		return 1;
	}
	if (!strncmp(argv[1], MESH_TOKEN_PREFIX, strlen(MESH_TOKEN_PREFIX))) {
		/* a whole token: its id (signature checked, expiry not: an
		 * expired token may still be revoked) */
		struct mesh_token tok;
		if (mesh_token_parse(&tok, argv[1], 0)) {
			fprintf(stderr, "weft mesh revoke: not a valid token\n");
			return 1;
		}
		memcpy(id, tok.id, sizeof(id));
		mesh_token_wipe(&tok);
	} else if (!mesh_token_id_parse(id, argv[1])) {
		fprintf(stderr, "weft mesh revoke: `%s' is not a token id (16 hex digits) or a token\n", argv[1]);
		return 1;
	}
	mesh_token_id_hex(hex, id);
	int found = find_issuer(id, name, sizeof(name));
	if (found != 1) {
		fprintf(stderr, "weft mesh revoke: no network here issued token %s%s\n", hex,
			found > 1 ? " (several did: the state is damaged)" : "");
		return 1;
	}
	if (!mesh_dir(dir, sizeof(dir), name) || read_conf(dir, &c))
		return 1;
	memzero(c.secret, sizeof(c.secret));
	lock = lock_dir(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	if (read_admin_key(dir, pub, sec) || read_tokens(dir, tokens, &n))
		goto out;
	for (i = 0; i < n && memcmp(tokens[i].id, id, sizeof(id)); i++)
		;
	if (i == n) {
		fprintf(stderr, "%s/tokens: token %s is gone\n", dir, hex);
		goto out;
	}
	if (tokens[i].revoked) {
		fprintf(stderr, "token %s of network %s was revoked already\n", hex, name);
		ret = 0;
		goto out;
	}
	/* the record members spread: revoked from now, kept a day past the
	 * token's expiry, after which every member refuses it anyway */
	memset(&rec, 0, sizeof(rec));
	rec.kind = MESH_REVOKE;
	mesh_network_id(rec.network_id, pub);
	memcpy(rec.subject, id, sizeof(id));
	rec.version = now * 1000;
	rec.joined = now;
	rec.expires = (tokens[i].expires > now ? tokens[i].expires : now) + 86400;
	if (mesh_record_sign(&rec, sec)) {
		fprintf(stderr, "weft mesh revoke: cannot sign the revocation\n");
		goto out;
	}
	int blen = mesh_record_encode(&rec, bin, sizeof(bin));
	char *old = NULL, *text;
	size_t old_len = 0;
	path_in(path, sizeof(path), dir, "revocations");
	r = slurp(path, &old, &old_len);
	if (r && r != -ENOENT) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		goto out;
	}
	text = malloc(old_len + 2 * (size_t)blen + 2);
	if (!text) {
		free(old);
		goto out;
	}
	memcpy(text, old ? old : "", old_len);
	for (int k = 0; k < blen; k++)
		sprintf(text + old_len + 2 * k, "%02x", bin[k]);
	text[old_len + 2 * (size_t)blen] = '\n';
	r = atomic_file_write(path, text, old_len + 2 * (size_t)blen + 1, 0600);
	free(old);
	free(text);
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		goto out;
	}
	tokens[i].revoked = true;
	tokens[i].revoked_at = now;
	r = write_tokens(dir, tokens, n);
	if (r) {
		fprintf(stderr, "%s/tokens: %s\n", dir, strerror(-r));
		goto out;
	}
	printf("token %s of network %s revoked\n", hex, name);
	ret = 0;
out:
	memzero(sec, sizeof(sec));
	close(lock);
	return ret;
}

int cmd_mesh(int argc, char *argv[])
{
	if (crypto_init() || sodium_init() < 0) {
		fprintf(stderr, "weft mesh: the crypto library did not start\n");
		return 1;
	}
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return mesh_init(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "invite"))
		return mesh_invite(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "revoke"))
		return mesh_revoke(argc - 1, argv + 1);
	command_usage(stderr, "mesh");
	return 1;
}
