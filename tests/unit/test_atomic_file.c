/* test_atomic_file.c: src/util/atomic_file.c: config-style writes follow a
 * symlink to replace its target (as wg-quick does); user-named output files
 * (atomic_file_create) never write through a symlink planted at the path,
 * dangling or not, nor replace a file that belongs to another user. */
#include <errno.h>
#include <stdbool.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/atomic_file.h"

#include "test.h"

static char dir[64];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool has(const char *path, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return !strcmp(buf, text);
}

static void test_create_new_and_replace_own(void)
{
	char out[128];
	struct stat st;

	path_in(out, sizeof(out), "qr.png");
	CHECK_EQ(atomic_file_create(out, "one", 3, 0644), 0);
	CHECK(has(out, "one"));
	CHECK_EQ(stat(out, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0644);
	CHECK_EQ(atomic_file_create(out, "two", 3, 0600), 0); /* ours: replaced */
	CHECK(has(out, "two"));
	CHECK_EQ(stat(out, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	unlink(out);
}

static void test_symlink_at_path_is_refused(void)
{
	char out[128], victim[128], missing[128], link[256];
	struct stat st;

	path_in(out, sizeof(out), "planted.png");
	path_in(victim, sizeof(victim), "victim");
	path_in(missing, sizeof(missing), "would-be-created");
	put(victim, "precious");
	CHECK_EQ(symlink(victim, out), 0);
	CHECK_EQ(atomic_file_create(out, "png", 3, 0644), -ELOOP);
	CHECK(has(victim, "precious"));
	CHECK_EQ(lstat(out, &st), 0);
	CHECK(S_ISLNK(st.st_mode)); /* the link is left as it was */
	ssize_t n = readlink(out, link, sizeof(link) - 1);
	CHECK(n > 0 && (size_t)n == strlen(victim));
	unlink(out);

	/* a dangling link must not create its target either */
	CHECK_EQ(symlink(missing, out), 0);
	CHECK_EQ(atomic_file_create(out, "png", 3, 0644), -ELOOP);
	CHECK(access(missing, F_OK) < 0 && errno == ENOENT);
	unlink(out);

	/* the config writer follows links, as wg-quick does */
	CHECK_EQ(symlink(victim, out), 0);
	CHECK_EQ(atomic_file_write(out, "conf", 4, 0600), 0);
	CHECK(has(victim, "conf"));
	CHECK_EQ(lstat(out, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	unlink(out);
	unlink(victim);

	/* no temporary file is left behind */
	int left = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		left += e->d_name[0] == '.' && strstr(e->d_name, ".tmp-") != NULL;
	if (d)
		closedir(d);
	CHECK_EQ(left, 0);
}

static void test_other_users_file_is_refused(void)
{
	char out[128];

	path_in(out, sizeof(out), "theirs.png");
	put(out, "theirs");
	CHECK_EQ(chown(out, 65534, 65534), 0);
	CHECK_EQ(atomic_file_create(out, "png", 3, 0644), -EPERM);
	CHECK(has(out, "theirs"));
	unlink(out);
}

/* Temporary files in dir (".NAME.tmp-..."). */
static int temp_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strstr(e->d_name, ".tmp-") != NULL;
	if (d)
		closedir(d);
	return n;
}

/* Two files replaced together: staged files leave the targets as they
 * were until each commit; an abort leaves nothing behind. */
static void test_staged_pair(void)
{
	char a[128], b[128];
	struct atomic_file fa, fb;

	path_in(a, sizeof(a), "pair.a");
	path_in(b, sizeof(b), "pair.b");
	put(a, "old a");
	put(b, "old b");
	CHECK_EQ(atomic_file_stage(&fa, a, "new a", 5, 0600), 0);
	CHECK_EQ(atomic_file_stage(&fb, b, "new b", 5, 0600), 0);
	CHECK_EQ(temp_files(), 2);
	CHECK(has(a, "old a") && has(b, "old b"));
	CHECK_EQ(atomic_file_commit(&fa), 0);
	CHECK(has(a, "new a") && has(b, "old b"));
	CHECK_EQ(atomic_file_commit(&fb), 0);
	CHECK(has(b, "new b"));
	CHECK_EQ(atomic_file_commit(&fb), -EINVAL); /* nothing staged any more */
	atomic_file_sync_dir(&fa);
	atomic_file_abort(&fa);
	atomic_file_abort(&fb);
	CHECK_EQ(temp_files(), 0);

	CHECK_EQ(atomic_file_stage(&fa, a, "never", 5, 0600), 0);
	atomic_file_abort(&fa);
	CHECK(has(a, "new a"));
	CHECK_EQ(temp_files(), 0);
	unlink(a);
	unlink(b);
}

int main(void)
{
	test_suite_name = "atomic_file";
	snprintf(dir, sizeof(dir), "/tmp/weft-test-atomic.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("FAIL: atomic_file/setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_create_new_and_replace_own);
	RUN(test_symlink_at_path_is_refused);
	RUN(test_staged_pair);
	if (geteuid() == 0)
		RUN(test_other_users_file_is_refused);
	else
		printf("SKIP: atomic_file/test_other_users_file_is_refused: needs root to chown\n");
	rmdir(dir);
	TEST_EXIT();
}
