/* static.c: the pages' files (HTML, JS, CSS, images) of api->static_dir,
 * for GET and HEAD. Names are plain (letters, digits, "-_." and '/', no
 * leading dot in any part), symbolic links are not followed, and "/" is
 * index.html, "/admin" admin.html. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"

#define STATIC_FILE_MAX (8 * 1024 * 1024)

static const struct {
	const char *ext, *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".png", "image/png" },
	{ ".svg", "image/svg+xml" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".yaml", "text/plain; charset=utf-8" },
};

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static bool name_ok(const char *p)
{
	bool start = true;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (start && (*p == '.' || *p == '/'))
			return false;
		start = *p == '/';
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.' || *p == '/'))
			return false;
	}
	return !start;
}

bool api_static(struct api *api, struct api_request *r)
{
	const char *name = r->url + 1;
	char path[PATH_MAX];
	struct MHD_Response *resp;
	struct stat st;
	int fd;

	r->route = "static";
	if (!strcmp(r->url, "/"))
		name = "index.html";
	else if (!strcmp(r->url, "/admin"))
		name = "admin.html";
	if (!api->static_dir[0] || !name_ok(name) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", api->static_dir, name) >= sizeof(path))
		return api_reply_error(r, 404, "no such page");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return api_reply_error(r, 404, "no such page");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX) {
		close(fd);
		return api_reply_error(r, 404, "no such page");
	}
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* takes fd */
	if (!resp) {
		close(fd);
		return false;
	}
	MHD_add_response_header(resp, "Content-Type", type_of(name));
	api_security_headers(resp);
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->status = 200;
	return true;
}
