/* cmd_mesh.c: the admin's side of `weft mesh` (docs/weft-mesh.md): init
 * makes a network (admin key, network id, prefixes), invite signs join
 * tokens, revoke revokes one. The files (mesh_state.h) are changed under
 * the network directory's lock. */
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
#include "mesh_state.h"
#include "options.h"
#include "peer_ctx.h"
#include "usage.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"
#include "util/random.h"

enum { DEFAULT_EXPIRY = 7 * 86400 }; /* of a token without --expires */

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
	lock = mesh_lock(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	mesh_path_in(path, sizeof(path), dir, "mesh.conf");
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
	mesh_path_in(path, sizeof(path), dir, "admin.key");
	r = atomic_file_write(path, b64, WEFT_KEY_B64_LEN + 1, 0600);
	memzero(b64, sizeof(b64));
	memzero(seed, sizeof(seed));
	memzero(sec, sizeof(sec));
	if (r) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		close(lock);
		return 1;
	}
	r = mesh_conf_write(dir, &c);
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

static int mesh_invite(int argc, char *argv[])
{
	static struct mesh_issued tokens[MESH_MAX_TOKENS + 1];
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
	if (!mesh_dir(dir, sizeof(dir), argv[1]) || mesh_conf_read(dir, &c))
		return 1;
	lock = mesh_lock(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	if (mesh_admin_key_read(dir, pub, sec) || mesh_tokens_read(dir, tokens, &n))
		goto out;
	if (memcmp(pub, c.admin_pub, MESH_PUB_LEN)) {
		fprintf(stderr, "%s/admin.key: not the key of AdminPublicKey in mesh.conf\n", dir);
		goto out;
	}
	if (n >= MESH_MAX_TOKENS) {
		fprintf(stderr, "%s/tokens: %d tokens issued already\n", dir, MESH_MAX_TOKENS);
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
	r = mesh_tokens_write(dir, tokens, n + 1);
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
	static struct mesh_issued tokens[MESH_MAX_TOKENS];
	char root[PATH_MAX], dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int found = 0;

	if (!mesh_root(root, sizeof(root)) || !(d = opendir(root)))
		return 0;
	while ((e = readdir(d))) {
		size_t n;
		if (!mesh_name_ok(e->d_name) || !mesh_dir(dir, sizeof(dir), e->d_name) || mesh_tokens_read(dir, tokens, &n))
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
	static struct mesh_issued tokens[MESH_MAX_TOKENS];
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
	if (!strcmp(argv[1], "-")) {
		/* a whole token, from stdin (it carries the network secret: never
		 * on a command line); its id is taken after the signature is
		 * checked, not its expiry: an expired token may still be revoked */
		static char line[MESH_TOKEN_MAX_TEXT + 2];
		struct mesh_token tok;
		int bad;

		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "weft mesh revoke: no token on stdin\n");
			return 1;
		}
		line[strcspn(line, "\r\n")] = '\0';
		bad = mesh_token_parse(&tok, line, 0);
		memzero(line, sizeof(line));
		if (bad) {
			fprintf(stderr, "weft mesh revoke: not a valid token on stdin\n");
			return 1;
		}
		memcpy(id, tok.id, sizeof(id));
		mesh_token_wipe(&tok);
	} else if (!strncmp(argv[1], MESH_TOKEN_PREFIX, strlen(MESH_TOKEN_PREFIX))) {
		fprintf(stderr, "weft mesh revoke: a token carries the network secret and is never taken from the "
				"command line: give its id, or `-' and the token on stdin\n");
		return 1;
	} else if (!mesh_token_id_parse(id, argv[1])) {
		fprintf(stderr, "weft mesh revoke: `%s' is not a token id (16 hex digits), or `-' for a token on stdin\n",
			argv[1]);
		return 1;
	}
	mesh_token_id_hex(hex, id);
	int found = find_issuer(id, name, sizeof(name));
	if (found != 1) {
		fprintf(stderr, "weft mesh revoke: no network here issued token %s%s\n", hex,
			found > 1 ? " (several did: the state is damaged)" : "");
		return 1;
	}
	if (!mesh_dir(dir, sizeof(dir), name) || mesh_conf_read(dir, &c))
		return 1;
	memzero(c.secret, sizeof(c.secret));
	lock = mesh_lock(dir);
	if (lock < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-lock));
		return 1;
	}
	if (mesh_admin_key_read(dir, pub, sec) || mesh_tokens_read(dir, tokens, &n))
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
	if (blen < 0) {
		/* never on to the sizes below: a negative length wraps them */
		fprintf(stderr, "weft mesh revoke: cannot encode the revocation: %s\n", strerror(-blen));
		goto out;
	}
	mesh_path_in(path, sizeof(path), dir, "revocations");
	r = mesh_slurp(path, &old, &old_len);
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
	r = mesh_tokens_write(dir, tokens, n);
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
