/* atomic_file.c: temp file + fsync + rename, the only safe way to replace a
 * file that holds keys: a crash or a full disk leaves the old file, and a
 * reader never sees a half-written one. The temp file is created 0600 by
 * mkostemp before anything is written, so secrets are never briefly
 * readable by others; the final mode is set with fchmod before the rename. */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fd_io.h"

#define TEMP_SUFFIX ".tmp-XXXXXX"

/* The directory is fsynced so the rename itself survives a crash. */
static void sync_dir(const char *file)
{
	char *copy = strdup(file);

	if (!copy)
		return;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* Writes data into a fresh temporary file beside target and fsyncs it. */
static int stage(struct atomic_file *af, const void *data, size_t len, mode_t mode)
{
	char *dircopy = NULL, *basecopy = NULL;
	int fd = -1, ret = 0;

	dircopy = strdup(af->target);
	basecopy = strdup(af->target);
	if (!dircopy || !basecopy) {
		ret = -ENOMEM;
		goto out;
	}
	/* ".NAME.tmp-XXXXXX" beside the target: same filesystem, so rename is atomic */
	if (asprintf(&af->tmp, "%s/.%s" TEMP_SUFFIX, dirname(dircopy), basename(basecopy)) < 0) {
		af->tmp = NULL;
		ret = -ENOMEM;
		goto out;
	}
	fd = mkostemp(af->tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(af->tmp);
		af->tmp = NULL;
		goto out;
	}
	ret = fd_write_all(fd, data, len);
	if (!ret && fchmod(fd, mode) < 0)
		ret = -errno;
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		unlink(af->tmp);
		free(af->tmp);
		af->tmp = NULL;
	}
out:
	free(dircopy);
	free(basecopy);
	return ret;
}

int atomic_file_commit(struct atomic_file *af)
{
	int ret = 0;

	if (!af->tmp)
		return -EINVAL;
	if (rename(af->tmp, af->target) < 0) {
		ret = -errno;
		unlink(af->tmp);
	}
	free(af->tmp);
	af->tmp = NULL;
	return ret;
}

void atomic_file_sync_dir(const struct atomic_file *af)
{
	if (af->target)
		sync_dir(af->target);
}

void atomic_file_abort(struct atomic_file *af)
{
	if (af->tmp)
		unlink(af->tmp);
	free(af->tmp);
	free(af->target);
	af->tmp = NULL;
	af->target = NULL;
}

/* Writes through a temporary file beside target and renames it over
 * target, which is replaced as a directory entry (never followed). target
 * is taken over by the call. */
static int replace(char *target, const void *data, size_t len, mode_t mode)
{
	struct atomic_file af = { .target = target, .tmp = NULL };
	int ret = stage(&af, data, len, mode);

	if (!ret)
		ret = atomic_file_commit(&af);
	/* the new file is in place now; a failing directory fsync only weakens
	 * durability across a crash, so it is not reported as a failed write */
	if (!ret)
		sync_dir(af.target);
	atomic_file_abort(&af);
	return ret;
}

/* The path to replace: a symlink at path is followed, as wg-quick's
 * `readlink -f` does, so that saving does not replace the link with a
 * plain file. NULL with errno set. */
static char *resolve(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return realpath(path, NULL);
	return strdup(path);
}

int atomic_file_stage(struct atomic_file *af, const char *path, const void *data, size_t len, mode_t mode)
{
	af->tmp = NULL;
	af->target = resolve(path);
	if (!af->target)
		return errno ? -errno : -ENOMEM;
	return stage(af, data, len, mode);
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char *target = resolve(path);

	if (!target)
		return errno ? -errno : -ENOMEM;
	return replace(target, data, len, mode);
}

int atomic_file_create(const char *path, const void *data, size_t len, mode_t mode)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (st.st_uid != geteuid())
			return -EPERM;
	} else if (errno != ENOENT) {
		return -errno;
	}
	char *target = strdup(path);

	if (!target)
		return -ENOMEM;
	return replace(target, data, len, mode);
}
