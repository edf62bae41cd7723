/* tokens.c: IFACE.tokens, the hashed bearer tokens of `weft api`
 * (tokens.h). The secret never touches the disk: only its hash does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tokens.h"
#include "util/atomic_file.h"
#include "util/fd_io.h"
#include "util/random.h"

#define TOKENS_FILE_MAX (TOKEN_MAX * 256)

static const char hexd[] = "0123456789abcdef";

static void hex(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[in[i] >> 4];
		out[2 * i + 1] = hexd[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unhex(uint8_t *out, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hi < 0 ? -1 : hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * n] == '\0';
}

bool tokens_path(char *out, size_t size, const char *conf_path)
{
	size_t n = strlen(conf_path);

	if (n > 5 && !strcmp(conf_path + n - 5, ".conf"))
		n -= 5;
	return (size_t)snprintf(out, size, "%.*s%s", (int)n, conf_path, TOKENS_SUFFIX) < size;
}

void tokens_free(struct tokens *t)
{
	if (t->v)
		memzero(t->v, t->n * sizeof(*t->v));
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > TOKEN_NAME_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int parse_line(struct token *k, char *line)
{
	char hashhex[65], role[8];
	int64_t exp, created;
	uint32_t peers, used;
	int off = 0;

	memset(k, 0, sizeof(*k));
	if (sscanf(line, "%8s %64s %7s %" SCNu32 " %" SCNu32 " %" SCNd64 " %" SCNd64 " %n", k->id, hashhex,
		   role, &peers, &used, &exp, &created, &off) != 7 || !off)
		return -EINVAL;
	if (strlen(k->id) != TOKEN_ID_LEN || !unhex(k->hash, hashhex, 32))
		return -EINVAL;
	if (!strcmp(role, "admin"))
		k->admin = true;
	else if (strcmp(role, "enrol"))
		return -EINVAL;
	k->peers = peers;
	k->used = used;
	k->expires = exp;
	k->created = created;
	if (strcmp(line + off, "-")) {
		if (!name_ok(line + off))
			return -EINVAL;
		strcpy(k->name, line + off);
	}
	return 0;
}

int tokens_load(struct tokens *t, const char *path, char *err, size_t errlen)
{
	struct tokens nt = { 0 };
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned lineno = 0;
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -errno;
		}
		tokens_free(t);
		t->loaded = true;
		return 0;
	}
	if (fstat(fd, &st) < 0 || (ret = fd_read_all(fd, TOKENS_FILE_MAX, &text, &len)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot read it", path);
		close(fd);
		return ret ? ret : -EIO;
	}
	close(fd);
	nt.v = calloc(TOKEN_MAX, sizeof(*nt.v));
	if (!nt.v) {
		free(text);
		return -ENOMEM;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (*line == '#' || !*line)
			continue;
		if (nt.n == TOKEN_MAX || parse_line(&nt.v[nt.n], line) < 0) {
			snprintf(err, errlen, "%s:%u: not a token line (ID HASH admin|enrol PEERS USED EXPIRES "
				 "CREATED NAME)", path, lineno);
			memzero(text, len);
			free(text);
			tokens_free(&nt);
			return -EINVAL;
		}
		nt.n++;
	}
	memzero(text, len);
	free(text);
	/* keep this process's use counts across a reload */
	for (uint32_t i = 0; i < nt.n; i++) {
		struct token *old = tokens_by_id(t, nt.v[i].id);

		if (old)
			nt.v[i].uses = old->uses;
	}
	tokens_free(t);
	*t = nt;
	t->mtime = st.st_mtim;
	t->ino = st.st_ino;
	t->loaded = true;
	return 0;
}

int tokens_refresh(struct tokens *t, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (t->loaded) {
		if (stat(path, &st) < 0) {
			if (errno == ENOENT && !t->n)
				return 0;
		} else if (st.st_ino == t->ino && st.st_mtim.tv_sec == t->mtime.tv_sec &&
			   st.st_mtim.tv_nsec == t->mtime.tv_nsec) {
			return 0;
		}
	}
	return tokens_load(t, path, err, errlen);
}

int tokens_save(const struct tokens *t, const char *path)
{
	size_t cap = 128 + (size_t)t->n * 256, len = 0;
	char *buf = malloc(cap), hashhex[65];
	int ret;

	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len,
				"# weft api tokens: ID HASH admin|enrol PEERS USED EXPIRES CREATED NAME\n");
	for (uint32_t i = 0; i < t->n; i++) {
		const struct token *k = &t->v[i];

		hex(hashhex, k->hash, 32);
		len += (size_t)snprintf(buf + len, cap - len, "%s %s %s %" PRIu32 " %" PRIu32 " %" PRId64 " %" PRId64 " %s\n",
					k->id, hashhex, k->admin ? "admin" : "enrol", k->peers, k->used,
					k->expires, k->created, k->name[0] ? k->name : "-");
	}
	ret = atomic_file_write(path, buf, len, 0600);
	free(buf);
	return ret;
}

static void hash_token(uint8_t out[32], const char *text)
{
	b2s(out, 32, (const uint8_t *)text, strlen(text), NULL, 0);
}

int tokens_add(struct tokens *t, bool admin, uint32_t peers, int64_t expires, const char *name,
	       int64_t now, char out[TOKEN_STRLEN + 1])
{
	uint8_t secret[TOKEN_BYTES];
	struct token *k;

	if (name && !name_ok(name))
		return -EINVAL;
	if (t->n >= TOKEN_MAX)
		return -E2BIG;
	if (!t->v && !(t->v = calloc(TOKEN_MAX, sizeof(*t->v))))
		return -ENOMEM;
	if (!random_fill(secret, sizeof(secret)))
		return -errno;
	memcpy(out, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	hex(out + sizeof(TOKEN_PREFIX) - 1, secret, TOKEN_BYTES);
	memzero(secret, sizeof(secret));
	k = &t->v[t->n];
	memset(k, 0, sizeof(*k));
	hash_token(k->hash, out);
	hex(k->id, k->hash, TOKEN_ID_LEN / 2);
	if (tokens_by_id(t, k->id))
		return -EAGAIN; /* one in 2^32: the caller may try again */
	k->admin = admin;
	k->peers = peers;
	k->expires = expires;
	k->created = now;
	if (name)
		snprintf(k->name, sizeof(k->name), "%s", name);
	t->n++;
	return 0;
}

int tokens_revoke(struct tokens *t, const char *which)
{
	for (uint32_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].id, which) && strcmp(t->v[i].name, which))
			continue;
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		memzero(&t->v[t->n], sizeof(*t->v));
		return 0;
	}
	return -ENOENT;
}

struct token *tokens_find(struct tokens *t, const char *text)
{
	struct token *found = NULL;
	uint8_t h[32];

	if (strlen(text) != TOKEN_STRLEN)
		return NULL;
	hash_token(h, text);
	/* every hash is compared, so the time says nothing about which matched */
	for (uint32_t i = 0; i < t->n; i++)
		if (memeq_ct(h, t->v[i].hash, sizeof(h)))
			found = &t->v[i];
	memzero(h, sizeof(h));
	return found;
}

struct token *tokens_by_id(struct tokens *t, const char *id)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].id, id))
			return &t->v[i];
	return NULL;
}
