/* log.c: weftd's log output, in wireguard-go's format (see log.h). Each line
 * is formatted whole and written with one write(2), so lines from the parent
 * and the daemonized child never interleave mid-line. */
#include "weftd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/encoding.h"
#include "util/fd_io.h"

#define LOG_LINE_MAX 1024
#define LOG_IFNAME_MAX 64

static enum log_level current_level = LOG_ERROR;
static bool to_syslog;
static char current_ifname[LOG_IFNAME_MAX];

enum log_level log_level_from_env(void)
{
	const char *v = getenv("LOG_LEVEL");

	if (!v)
		return LOG_ERROR;
	if (!strcmp(v, "verbose") || !strcmp(v, "debug"))
		return LOG_VERBOSE;
	if (!strcmp(v, "silent"))
		return LOG_SILENT;
	return LOG_ERROR; /* "error" and anything unknown, as wireguard-go */
}

void log_init(enum log_level level, const char *ifname)
{
	current_level = level;
	snprintf(current_ifname, sizeof(current_ifname), "%s", ifname ? ifname : "");
}

void log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

enum log_level log_level(void)
{
	return current_level;
}

static void log_line(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct tm tm;
	time_t now;
	size_t n;
	int saved_errno = errno; /* callers often log right before returning -errno */
	int r;

	if (current_level < level)
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	r = snprintf(line, sizeof(line), "%s: (%s) %04d/%02d/%02d %02d:%02d:%02d ",
		     level == LOG_ERROR ? "ERROR" : "DEBUG", current_ifname, tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	n = r < 0 ? 0 : (size_t)r;
	size_t message_at = n < sizeof(line) ? n : sizeof(line) - 1;
	if (n < sizeof(line)) {
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep room for the newline */
	if (to_syslog && level == LOG_ERROR) /* syslog adds its own time */
		syslog(LOG_ERR, "(%s) %.*s", current_ifname, (int)(n - message_at), line + message_at);
	line[n++] = '\n';
	(void)fd_write_all(STDOUT_FILENO, line, n); /* a lost log line is not an error */
	errno = saved_errno;
}

void log_verbose(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_VERBOSE, fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_ERROR, fmt, ap);
	va_end(ap);
}

void log_engine(void *ctx, enum weft_log_level level, const char *message)
{
	(void)ctx;
	if (level == WEFT_LOG_ERROR)
		log_error("%s", message);
	else
		log_verbose("%s", message);
}

void log_peer_name(char out[LOG_PEER_NAME_LEN], const uint8_t public_key[32])
{
	char b64[WEFT_KEY_B64_LEN + 1];

	key_to_base64(b64, public_key);
	/* base64 chars 0..3 and 39..42, as wireguard-go's Peer.String() */
	snprintf(out, LOG_PEER_NAME_LEN, "peer(%.4s\u2026%.4s)", b64, b64 + 39);
}
