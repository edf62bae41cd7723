/* atomic_file.h: replacing a file so that readers and crashes see either the
 * old contents or the new, never a mix or a truncated file. */
#ifndef WEFT_ATOMIC_FILE_H
#define WEFT_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes data to a temporary file in path's directory with exactly this mode
 * (the umask does not apply), fsyncs it, renames it over path and fsyncs the
 * directory. A symlink at path is followed: its target is replaced. On any
 * failure the temporary file is removed, path is unchanged, and -errno is
 * returned. The temporary file is wiped on failure only by unlinking, so the
 * directory should not be readable by others when data is secret. */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode);

/* The same for a file a user names for output (`--qr-png PATH`), which may
 * be in a directory others can write to: a symlink at path is never
 * followed (-ELOOP, the link and its target untouched), and an existing
 * path that belongs to another user is not replaced (-EPERM). The rename
 * replaces the directory entry itself, so a link planted after the check
 * is replaced, not written through. */
int atomic_file_create(const char *path, const void *data, size_t len, mode_t mode);

/* The same in steps, for files that change together (the two files of a
 * peer store): each is staged (written and fsynced under its temporary
 * name), then the renames are made in the order the caller's crash rules
 * need, then each directory is fsynced once. So two files cost two data
 * fsyncs and one directory fsync rather than four. A crash before the
 * directory fsync may lose renames, but a journaling filesystem (ext4,
 * xfs) keeps them in order: the later one never survives without the
 * earlier one. */
struct atomic_file {
	char *target; /* the path replaced (a symlink at path resolved) */
	char *tmp;    /* the staged temporary file; NULL when none */
};
/* Stages data for path, as atomic_file_write would write it. 0 or -errno
 * (nothing left behind); *af is always safe to abort. */
int atomic_file_stage(struct atomic_file *af, const char *path, const void *data, size_t len, mode_t mode);
/* Renames the staged file over its target (no directory fsync). 0 or
 * -errno (then the temporary file is removed and the target unchanged). */
int atomic_file_commit(struct atomic_file *af);
/* fsyncs the directory of af's target (after commit). */
void atomic_file_sync_dir(const struct atomic_file *af);
/* Removes a staged file that was not committed and frees *af. */
void atomic_file_abort(struct atomic_file *af);

#endif
