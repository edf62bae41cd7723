/* hosts.c: the marked block of a mesh in a hosts file. The block is found
 * by exact marker lines ("# BEGIN weft mesh NAME" / "# END weft mesh
 * NAME"), so another mesh's block, or a line that merely starts the same,
 * is never taken for ours; everything before and after it is copied byte
 * for byte, line endings and a missing final newline included. */
#include "mesh/hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/member.h"
#include "util/atomic_file.h"

enum { MAX_HOSTS = 65536, MAX_FILE = 16 << 20 };

/* Finds the line equal to marker (followed by \n, \r\n or the end) at or
 * after from; its start, or NULL. *end gets the offset after its newline. */
static const char *find_line(const char *s, size_t len, size_t from, const char *marker, size_t *end)
{
	size_t m = strlen(marker);

	for (size_t i = from; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t line_end = nl ? (size_t)(nl - s) : len, l = line_end - i;
		if (l && s[line_end - 1] == '\r')
			l--;
		if (l == m && !memcmp(s + i, marker, m)) {
			*end = nl ? line_end + 1 : len;
			return s + i;
		}
		i = nl ? line_end + 1 : len;
	}
	return NULL;
}

static int by_name(const void *a, const void *b)
{
	const struct mesh_host *x = *(const struct mesh_host *const *)a, *y = *(const struct mesh_host *const *)b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

int mesh_hosts_render(const char *old, size_t old_len, const char *mesh, const struct mesh_host *h, size_t n,
		      char **out, size_t *out_len)
{
	char begin[128], end_marker[128];
	const char *b, *e;
	size_t b_end = 0, e_end = 0, pre, post_at;
	const struct mesh_host **sorted = NULL;
	char *buf = NULL;
	size_t cap, len = 0;

	*out = NULL, *out_len = 0;
	if (!mesh_name_ok(mesh))
		return -EINVAL;
	if (n > MAX_HOSTS || old_len > MAX_FILE)
		return -E2BIG;
	snprintf(begin, sizeof(begin), "# BEGIN weft mesh %s", mesh);
	snprintf(end_marker, sizeof(end_marker), "# END weft mesh %s", mesh);
	b = find_line(old, old_len, 0, begin, &b_end);
	if (b) {
		size_t dummy;
		e = find_line(old, old_len, b_end, end_marker, &e_end);
		if (!e || find_line(old, old_len, e_end, begin, &dummy))
			return -EINVAL;
		pre = (size_t)(b - old);
		post_at = e_end;
	} else {
		if (find_line(old, old_len, 0, end_marker, &e_end))
			return -EINVAL;
		pre = old_len;
		post_at = old_len;
	}
	for (size_t i = 0; i < n; i++)
		if (!mesh_name_ok(h[i].name) || (h[i].family != AF_INET && h[i].family != AF_INET6))
			return -EINVAL;

	cap = old_len + 2 + 2 * sizeof(begin) + n * (INET6_ADDRSTRLEN + 1 + 64 + 1 + 64 + 1) + 1;
	buf = malloc(cap);
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!buf || !sorted) {
		free(buf), free(sorted);
		return -ENOMEM;
	}
	memcpy(buf, old, pre), len = pre;
	if (n) {
		/* appended after a last line that has no newline: give it one */
		if (!b && len && buf[len - 1] != '\n')
			buf[len++] = '\n';
		len += (size_t)sprintf(buf + len, "%s\n", begin);
		for (size_t i = 0; i < n; i++)
			sorted[i] = &h[i];
		qsort(sorted, n, sizeof(*sorted), by_name);
		for (size_t i = 0; i < n; i++) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(sorted[i]->family, sorted[i]->addr, a, sizeof(a));
			len += (size_t)sprintf(buf + len, "%s\t%s.%s\n", a, sorted[i]->name, mesh);
		}
		len += (size_t)sprintf(buf + len, "%s\n", end_marker);
	}
	memcpy(buf + len, old + post_at, old_len - post_at), len += old_len - post_at;
	buf[len] = 0;
	free(sorted);
	*out = buf, *out_len = len;
	return 0;
}

int mesh_hosts_write(const char *path, const char *mesh, const struct mesh_host *h, size_t n)
{
	char *old = NULL, *text = NULL;
	size_t old_len = 0, len;
	mode_t mode = 0644;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	if (fd >= 0) {
		if (fstat(fd, &st))
			r = -errno;
		else if (st.st_size > MAX_FILE)
			r = -E2BIG;
		if (r) {
			close(fd);
			return r;
		}
		mode = st.st_mode & 07777;
		old = malloc((size_t)st.st_size + 1);
		if (!old) {
			close(fd);
			return -ENOMEM;
		}
		while (old_len < (size_t)st.st_size) {
			ssize_t got = read(fd, old + old_len, (size_t)st.st_size - old_len);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				r = -errno;
				break;
			}
			if (!got)
				break;
			old_len += (size_t)got;
		}
		close(fd);
	}
	if (!r)
		r = mesh_hosts_render(old ? old : "", old_len, mesh, h, n, &text, &len);
	if (!r && !(len == old_len && !memcmp(text, old ? old : "", len)))
		r = atomic_file_write(path, text, len, mode);
	free(old);
	free(text);
	return r;
}
