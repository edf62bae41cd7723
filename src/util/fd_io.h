/* fd_io.h: whole reads and writes on a file descriptor (a file, a pipe, a
 * terminal), retried across EINTR and short counts, so that callers see
 * all or an error. */
#ifndef WEFT_FD_IO_H
#define WEFT_FD_IO_H

#include <stddef.h>

/* Writes all len bytes of buf. 0, or -errno (errno is left set as well;
 * -EIO if write() makes no progress). */
int fd_write_all(int fd, const void *buf, size_t len);

/* Reads fd to EOF into a fresh buffer *out, NUL-terminated, *len bytes
 * without the NUL. What it reads may be secret: each time the buffer grows
 * the old copy is wiped, and the caller wipes (memzero) and frees *out.
 * 0, -E2BIG once max bytes have been read, -ENOMEM, or -errno of read();
 * on failure *out is untouched and nothing is left unwiped. */
int fd_read_all(int fd, size_t max, char **out, size_t *len);
/* The same for a file whose size is known (fstat): one buffer of size + 1
 * bytes rather than doublings from a small one; -E2BIG when more than size
 * bytes come (the file grew meanwhile). */
int fd_read_sized(int fd, size_t size, char **out, size_t *len);

#endif
