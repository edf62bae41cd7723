/* log.c: `weft link`'s log lines (log.h). */
#include "link/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/encoding.h"

enum { L_SILENT, L_ERROR, L_INFO, L_VERBOSE };

static int level = L_INFO;
static char name[32] = "?";

void link_log_init(const char *iface)
{
	const char *v = getenv("LOG_LEVEL");

	snprintf(name, sizeof(name), "%s", iface);
	if (!v)
		return;
	level = !strcmp(v, "silent") ? L_SILENT : !strcmp(v, "error") ? L_ERROR :
		!strcmp(v, "verbose") || !strcmp(v, "debug") ? L_VERBOSE : L_INFO;
}

static void out(int at, const char *fmt, va_list ap)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	if (at > level)
		return;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* one line at a time: the port mapping's thread logs too */
	flockfile(stderr);
	fprintf(stderr, "weft link: %s: %s: %s", name, when, at == L_ERROR ? "error: " : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

#define DEFINE(fn, at) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		out(at, fmt, ap); \
		va_end(ap); \
	}
DEFINE(link_log_error, L_ERROR)
DEFINE(link_log_info, L_INFO)
DEFINE(link_log_verbose, L_VERBOSE)

void link_peer_name(char out_[LINK_PEER_NAME_LEN], const uint8_t key[32])
{
	char b64[WEFT_KEY_B64_LEN + 1];

	key_to_base64(b64, key);
	snprintf(out_, LINK_PEER_NAME_LEN, "peer(%.4s…%.4s)", b64, b64 + 39);
}
