/* random.c: see random.h. */
#include <errno.h>
#include <sys/random.h>

#include "util/random.h"

bool random_fill(uint8_t *out, size_t len)
{
	while (len) {
		ssize_t n = getrandom(out, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		out += n;
		len -= (size_t)n;
	}
	return true;
}
