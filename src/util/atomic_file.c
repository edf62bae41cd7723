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

/* Writes through a temporary file beside target and renames it over
 * target, which is replaced as a directory entry (never followed). */
static int replace(const char *target, const void *data, size_t len, mode_t mode)
{
	char *tmp = NULL, *dircopy = NULL, *basecopy = NULL;
	int fd = -1, ret;

	dircopy = strdup(target);
	basecopy = strdup(target);
	if (!dircopy || !basecopy) {
		ret = -ENOMEM;
		goto out;
	}
	/* ".NAME.tmp-XXXXXX" beside the target: same filesystem, so rename is atomic */
	if (asprintf(&tmp, "%s/.%s" TEMP_SUFFIX, dirname(dircopy), basename(basecopy)) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	ret = fd_write_all(fd, data, len);
	if (!ret && fchmod(fd, mode) < 0)
		ret = -errno;
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	fd = -1;
	if (!ret && rename(tmp, target) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		goto out;
	}
	/* the new file is in place now; a failing directory fsync only weakens
	 * durability across a crash, so it is not reported as a failed write */
	sync_dir(target);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dircopy);
	free(basecopy);
	return ret;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char *target;
	struct stat st;
	int ret;

	/* follow a symlink, as wg-quick's `readlink -f` does, so that saving
	 * does not replace the link with a plain file */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(path, NULL);
		if (!target)
			return -errno;
	} else {
		target = strdup(path);
		if (!target)
			return -ENOMEM;
	}
	ret = replace(target, data, len, mode);
	free(target);
	return ret;
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
	return replace(path, data, len, mode);
}
