/* fd_io.c: see fd_io.h. */
#include "util/fd_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/wipe_realloc.h"

#define READ_FIRST_CHUNK 4096 /* doubled as needed */

/* read(2) again after a signal; -errno on an error */
static ssize_t read_some(int fd, char *p, size_t n)
{
	ssize_t got;

	do
		got = read(fd, p, n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? -errno : got;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			errno = EIO;
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fd_read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = READ_FIRST_CHUNK < max ? READ_FIRST_CHUNK : max, n = 0;
	char *buf = malloc(cap + 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t got;

		if (n == cap) {
			size_t new_cap = cap > max / 2 ? max : cap * 2;
			char *more;

			if (cap >= max) {
				ret = -E2BIG;
				goto fail;
			}
			/* the +1s are the room for the NUL */
			more = wipe_realloc(buf, cap + 1, n, new_cap + 1);
			if (!more) {
				ret = -ENOMEM;
				goto fail;
			}
			buf = more;
			cap = new_cap;
		}
		got = read_some(fd, buf + n, cap - n);
		if (got < 0) {
			ret = (int)got;
			goto fail;
		}
		if (!got)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	memzero(buf, cap + 1);
	free(buf);
	return ret;
}

int fd_read_sized(int fd, size_t size, char **out, size_t *len)
{
	/* one byte more than the size, to notice a file that grew */
	char *buf = malloc(size + 2);
	size_t n = 0;
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t got = read_some(fd, buf + n, size + 1 - n);

		if (got < 0) {
			ret = (int)got;
			goto fail;
		}
		if (!got)
			break;
		n += (size_t)got;
		if (n > size) {
			ret = -E2BIG;
			goto fail;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	memzero(buf, size + 2);
	free(buf);
	return ret;
}
