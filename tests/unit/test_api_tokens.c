/* test_api_tokens.c: the bearer tokens of `weft api` (src/api/tokens.c):
 * only hashes reach the file (0600), a token is found by its secret and by
 * nothing else, the file survives a round trip, revoking drops exactly one,
 * and a broken file is refused naming its line. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/tokens.h"
#include "crypto/crypto.h"
#include "test.h"

static char dir[64], path[128];

static bool file_has(const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_add_find_save_load(void)
{
	struct tokens t = { 0 }, u = { 0 };
	char a[TOKEN_STRLEN + 1], e[TOKEN_STRLEN + 1], wrong[TOKEN_STRLEN + 1], err[256];
	struct stat st;
	struct token *k;

	CHECK_EQ(tokens_add(&t, true, 0, 0, "ops", 1000, a), 0);
	CHECK_EQ(tokens_add(&t, false, 3, 5000, NULL, 1000, e), 0);
	CHECK_EQ(strlen(a), TOKEN_STRLEN);
	CHECK(!strncmp(a, TOKEN_PREFIX, strlen(TOKEN_PREFIX)));
	CHECK(strcmp(a, e) != 0);
	k = tokens_find(&t, a);
	CHECK(k && k->admin && !strcmp(k->name, "ops"));
	k = tokens_find(&t, e);
	CHECK(k && !k->admin && k->peers == 3 && k->expires == 5000);
	memcpy(wrong, a, sizeof(wrong));
	wrong[TOKEN_STRLEN - 1] ^= 1;
	CHECK(tokens_find(&t, wrong) == NULL);
	CHECK(tokens_find(&t, "weft_short") == NULL);
	CHECK(tokens_find(&t, "") == NULL);

	CHECK_EQ(tokens_save(&t, path), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	/* the secrets are nowhere in the file */
	CHECK(!file_has(a + strlen(TOKEN_PREFIX)) && !file_has(e + strlen(TOKEN_PREFIX)));
	CHECK_EQ(tokens_load(&u, path, err, sizeof(err)), 0);
	CHECK_EQ(u.n, 2);
	k = tokens_find(&u, e);
	CHECK(k && k->peers == 3 && k->expires == 5000 && k->created == 1000 && !k->name[0]);
	CHECK(tokens_find(&u, a) && tokens_by_id(&u, t.v[0].id));

	/* revoke by name, then by id */
	CHECK_EQ(tokens_revoke(&u, "ops"), 0);
	CHECK(tokens_find(&u, a) == NULL && tokens_find(&u, e) != NULL);
	CHECK_EQ(tokens_revoke(&u, t.v[1].id), 0);
	CHECK_EQ(u.n, 0);
	CHECK_EQ(tokens_revoke(&u, "ops"), -ENOENT);
	CHECK_EQ(tokens_add(&u, false, 1, 0, "bad\nname", 0, a), -EINVAL);
	tokens_free(&t);
	tokens_free(&u);
}

static void test_refresh_sees_changes(void)
{
	struct tokens t = { 0 }, other = { 0 };
	char s[TOKEN_STRLEN + 1], err[256];

	unlink(path);
	CHECK_EQ(tokens_refresh(&t, path, err, sizeof(err)), 0); /* no file: no tokens */
	CHECK_EQ(t.n, 0);
	CHECK_EQ(tokens_add(&other, false, 1, 0, "late", 0, s), 0);
	CHECK_EQ(tokens_save(&other, path), 0);
	CHECK_EQ(tokens_refresh(&t, path, err, sizeof(err)), 0);
	CHECK(tokens_find(&t, s) != NULL);
	tokens_free(&t);
	tokens_free(&other);
}

static void test_broken_file_is_refused(void)
{
	struct tokens t = { 0 };
	char err[256];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, "# c\nabcd1234 nothex admin 0 0 0 0 -\n", 36) == 36);
	close(fd);
	CHECK_EQ(tokens_load(&t, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, ":2:") != NULL);
	CHECK_EQ(t.n, 0);
	tokens_free(&t);
}

int main(void)
{
	test_suite_name = "api_tokens";
	if (crypto_init() < 0) {
		printf("FAIL: api_tokens/setup: crypto_init\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/weft-test-tokens.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: api_tokens/setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/wg0.tokens", dir);
	RUN(test_add_find_save_load);
	RUN(test_refresh_sees_changes);
	RUN(test_broken_file_is_refused);
	unlink(path);
	rmdir(dir);
	TEST_EXIT();
}
