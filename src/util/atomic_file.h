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

#endif
