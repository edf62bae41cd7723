/* status.c: the daemon's status file and `weft link status` (status.h). */
#include "link/status.h"

#include <errno.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "link/link.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "weft/json_out.h"

static const char *run_dir(void)
{
	const char *d = getenv(LINK_RUN_DIR_ENV);
	return d && *d ? d : LINK_RUN_DIR;
}

bool status_path(char *out, size_t size, const char *iface)
{
	int n = snprintf(out, size, "%s/link/%s.json", run_dir(), iface);
	return n > 0 && (size_t)n < size;
}

static int make_dirs(void)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", run_dir());
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/link", run_dir());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static json_t *addr_json(const union link_addr *a)
{
	char s[LINK_ADDR_STRLEN];

	if (!link_addr_is_set(a))
		return json_null();
	link_addr_format(s, a);
	return json_string(s);
}

int status_write(const struct link *l, const char *coord, int64_t mono_to_wall_ms, int pid)
{
	char path[4096];
	json_t *root, *peers;
	char *text;
	int ret;

	if (!status_path(path, sizeof(path), l->iface))
		return -ENAMETOOLONG;
	ret = make_dirs();
	if (ret)
		return ret;
	peers = json_array();
	for (uint32_t i = 0; i < l->n_peers; i++) {
		const struct link_peer *p = &l->peers[i];
		const struct path *pa = &p->path;
		char b64[WEFT_KEY_B64_LEN + 1];
		bool up = pa->state == PATH_UP;

		key_to_base64(b64, p->public_key);
		json_array_append_new(peers, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:i, s:b}",
			"public_key", b64,
			"state", path_state_name(pa->state),
			"path", up ? path_type_name(pa->type) : "none",
			"endpoint", up ? addr_json(&pa->endpoint) : json_null(),
			"rtt_ms", up && pa->rtt_ms >= 0 ? json_integer(pa->rtt_ms) : json_null(),
			"since", up ? json_integer((pa->since + mono_to_wall_ms) / 1000) : json_null(),
			"attempts", (json_int_t)pa->attempts,
			"candidates", (int)pa->n,
			"roaming", p->roaming));
	}
	root = json_pack("{s:s, s:i, s:I, s:{s:s, s:b, s:i, s:I}, s:o, s:o, s:{s:I, s:I, s:I}, s:o}",
		"interface", l->iface,
		"pid", pid,
		"updated", (json_int_t)time(NULL),
		"coord", "address", coord ? coord : "", "up", l->coord_up, "failures", (int)l->coord_failures,
			"announcements", (json_int_t)l->announcements,
		"public", addr_json(&l->mapped),
		"port_mapping", addr_json(&l->portmap),
		"birthday", "attempts", (json_int_t)l->bday_attempts, "probes", (json_int_t)l->bday_probes,
			"hits", (json_int_t)l->bday_hits,
		"peers", peers);
	if (!root)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	ret = atomic_file_write(path, text, strlen(text), 0600);
	free(text);
	return ret;
}

int status_lock(const char *iface)
{
	char path[4096];
	int fd, ret = make_dirs();

	if (ret)
		return ret;
	if (snprintf(path, sizeof(path), "%s/link/%s.lock", run_dir(), iface) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

void status_remove(const char *iface)
{
	char path[4096];

	if (status_path(path, sizeof(path), iface))
		unlink(path);
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static void ago(char *out, size_t size, json_int_t t)
{
	time_t now = time(NULL);
	long d = (long)(now - (time_t)t);
	char when[32];
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, size, "%s, %ld s ago", when, d < 0 ? 0 : d);
}

int status_print(const char *iface, bool json)
{
	char path[4096], since[80];
	json_error_t jerr;
	json_t *root, *peers, *coord, *p;
	size_t i;

	if (!status_path(path, sizeof(path), iface)) {
		fprintf(stderr, "weft: interface name too long\n");
		return 1;
	}
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		if (access(path, F_OK) < 0)
			fprintf(stderr, "weft: %s: no `weft link %s' runs (no status file)\n", path, iface);
		else
			fprintf(stderr, "weft: %s:%d: %s\n", path, jerr.line, jerr.text);
		return 1;
	}
	/* a daemon that died without removing its file: say so */
	json_int_t pid = json_integer_value(json_object_get(root, "pid"));
	int rc = 0;
	if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
		fprintf(stderr, "weft: %s: stale: `weft link %s' (pid %" JSON_INTEGER_FORMAT ") no longer runs\n",
			path, iface, pid);
		rc = 1;
	}
	if (json)
		return print_json(root) | rc;
	coord = json_object_get(root, "coord");
	printf("interface: %s\n", str(root, "interface"));
	printf("  coord: %s (%s, %" JSON_INTEGER_FORMAT " announcements, %" JSON_INTEGER_FORMAT " failures in a row)\n",
	       str(coord, "address"), json_is_true(json_object_get(coord, "up")) ? "up" : "down",
	       json_integer_value(json_object_get(coord, "announcements")),
	       json_integer_value(json_object_get(coord, "failures")));
	printf("  public address: %s\n", str(root, "public"));
	if (json_is_string(json_object_get(root, "port_mapping")))
		printf("  port mapping: %s\n", str(root, "port_mapping"));
	json_t *bd = json_object_get(root, "birthday");
	if (json_integer_value(json_object_get(bd, "attempts")))
		printf("  birthday probes: %" JSON_INTEGER_FORMAT " attempts, %" JSON_INTEGER_FORMAT
		       " probes sent, %" JSON_INTEGER_FORMAT " hits\n",
		       json_integer_value(json_object_get(bd, "attempts")),
		       json_integer_value(json_object_get(bd, "probes")),
		       json_integer_value(json_object_get(bd, "hits")));
	peers = json_object_get(root, "peers");
	json_array_foreach(peers, i, p) {
		json_t *rtt = json_object_get(p, "rtt_ms");
		printf("\npeer: %s\n", str(p, "public_key"));
		if (!strcmp(str(p, "state"), "up")) {
			ago(since, sizeof(since), json_integer_value(json_object_get(p, "since")));
			printf("  path: %s %s", str(p, "path"), str(p, "endpoint"));
			if (json_is_integer(rtt))
				printf(", rtt %" JSON_INTEGER_FORMAT " ms", json_integer_value(rtt));
			printf("\n  since: %s\n", since);
		} else {
			printf("  path: none (%s, %" JSON_INTEGER_FORMAT " candidates, %" JSON_INTEGER_FORMAT " attempts)\n",
			       str(p, "state"), json_integer_value(json_object_get(p, "candidates")),
			       json_integer_value(json_object_get(p, "attempts")));
		}
	}
	json_decref(root);
	return rc;
}
