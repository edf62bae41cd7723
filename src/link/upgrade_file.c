/* upgrade_file.c: reads a `weft link upgrade` peer file. The [Link] or
 * [Wirescale] section is taken out line by line (its lines become blank, so
 * the wg-quick parser still reports the file's own line numbers), then the
 * rest goes through conf_parse with the peer's PublicKey optional. */
#include "link/upgrade_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"

__attribute__((format(printf, 5, 6)))
static int fail(char *err, size_t errlen, const char *name, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s:%u: ", name, line);

	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool parse_int(const char *v, long lo, long hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi)
		return false;
	*out = (int)n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/* "off", "0", "90", "90s", "10m", "2h", "1d" -> seconds. */
static bool parse_duration(const char *v, uint32_t *out)
{
	unsigned long n, mul = 1;
	char *end;

	if (!strcasecmp(v, "off")) {
		*out = 0;
		return true;
	}
	if (!isdigit((unsigned char)*v))
		return false;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno)
		return false;
	if (*end && end[1])
		return false;
	switch (*end) {
	case '\0': case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return false;
	}
	if (n > LINK_IDLE_MAX / mul)
		return false;
	*out = (uint32_t)(n * mul);
	return true;
}

static bool ifname_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > LINK_IFNAME_MAX || !strcmp(v, ".") || !strcmp(v, ".."))
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr("_=+.-", *v))
			return false;
	return true;
}

/* One key of [Link] (weft's names) or [Wirescale] (Wirescale's names). */
static int link_key(struct link_file *lf, const char *k, const char *v, const char *name,
		    unsigned line, char *err, size_t errlen)
{
	bool ws = lf->wirescale;
	int n;

	if (!strcasecmp(k, "Interface")) {
		if (!ifname_valid(v))
			return fail(err, errlen, name, line, "%s = '%s' is not an interface name (expected 1 to %d letters, digits or _=+.-)",
				    k, v, LINK_IFNAME_MAX);
		memcpy(lf->iface, v, strlen(v) + 1);
	} else if (!strcasecmp(k, ws ? "recover-tries" : "RecoverTries") ||
		   !strcasecmp(k, ws ? "recreate-tries" : "RecreateTries")) {
		if (!parse_int(v, -1, LINK_TRIES_MAX, &n))
			return fail(err, errlen, name, line, "%s = '%s' is not a count (expected -1 to %d)", k, v, LINK_TRIES_MAX);
		if (strcasestr(k, "recover"))
			lf->recover_tries = n;
		else
			lf->recreate_tries = n;
	} else if (!ws && !strcasecmp(k, "IdleRemove")) {
		if (!parse_duration(v, &lf->idle_remove))
			return fail(err, errlen, name, line, "IdleRemove = '%s' is not a duration (expected off, or e.g. 90s, 10m, 2h, 1d, at most 30d)", v);
	} else if (!ws && !strcasecmp(k, "ControlPort")) {
		if (!parse_int(v, 1, 65535, &n))
			return fail(err, errlen, name, line, "ControlPort = '%s' is not a port (expected 1 to 65535)", v);
		lf->control_port = (uint16_t)n;
	} else if (ws && !strcasecmp(k, "suffix")) {
		if (!parse_bool(v, &lf->suffix))
			return fail(err, errlen, name, line, "suffix = '%s' is not true or false", v);
	} else if (ws && !strcasecmp(k, "iptables")) {
		if (!parse_bool(v, &lf->iptables))
			return fail(err, errlen, name, line, "iptables = '%s' is not true or false", v);
	} else {
		return fail(err, errlen, name, line, "unknown key '%s' in %s (expected one of %s)", k,
			    ws ? "[Wirescale]" : "[Link]",
			    ws ? "interface, recover-tries, recreate-tries, suffix, iptables"
			       : "Interface, RecoverTries, RecreateTries, IdleRemove, ControlPort");
	}
	return 0;
}

static void defaults(struct link_file *lf)
{
	memset(lf, 0, sizeof(*lf));
	conf_init(&lf->conf);
	lf->recover_tries = 2;
	lf->recreate_tries = 1;
	lf->control_port = LINK_CONTROL_PORT;
}

int link_file_parse(struct link_file *out, const char *text, size_t len, const char *name,
		    char *err, size_t errlen)
{
	struct link_file lf;
	char buf[CONF_MAX_LINE + 1]; /* one line at a time; may hold a key */
	char *copy, *line, *next;
	unsigned lineno = 0, link_line = 0;
	bool in_link = false;
	int ret = 0;

	if (len > CONF_MAX_FILE_SIZE)
		return fail(err, errlen, name, 0, "file too large");
	defaults(&lf);
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (memchr(copy, '\0', len)) {
		ret = fail(err, errlen, name, 0, "a NUL byte in the file (expected text)");
		goto out;
	}
	for (line = copy; line; line = next) {
		char *s, *eq;
		size_t n;

		lineno++;
		next = strchr(line, '\n');
		n = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		if (n > CONF_MAX_LINE)
			continue; /* conf_parse names it */
		memcpy(buf, line, n);
		buf[n] = '\0';
		if ((s = strchr(buf, '#')))
			*s = '\0';
		s = trim(buf);
		if (*s == '[') {
			bool wl = !strcasecmp(s, "[Link]"), ww = !strcasecmp(s, "[Wirescale]");

			if (wl || ww) {
				if (link_line) {
					ret = fail(err, errlen, name, lineno, "second %s section (the first is at line %u; expected at most one)",
						   s, link_line);
					goto out;
				}
				link_line = lineno;
				lf.wirescale = ww;
			}
			in_link = wl || ww;
		}
		if (!in_link)
			continue;
		if (*s && *s != '[') {
			eq = strchr(s, '=');
			if (!eq) {
				ret = fail(err, errlen, name, lineno, "'%s' is not 'Key = Value'", s);
				goto out;
			}
			*eq = '\0';
			ret = link_key(&lf, trim(s), trim(eq + 1), name, lineno, err, errlen);
			if (ret)
				goto out;
		}
		memset(line, ' ', n); /* blank for conf_parse, line count kept */
	}
	ret = conf_parse(&lf.conf, copy, len, name, CONF_PARSE_PEER_KEY_OPTIONAL, err, errlen);
	if (ret)
		goto out;
	if (lf.conf.n_peers != 1) {
		ret = fail(err, errlen, name, lf.conf.n_peers ? lf.conf.peers[1].line : lineno,
			   lf.conf.n_peers ? "a second [Peer] (a link file has exactly one)"
					   : "no [Peer] (a link file has exactly one)");
		conf_free(&lf.conf);
		goto out;
	}
	{
		static const uint8_t zero[CONF_KEY_LEN];
		lf.peer_has_key = !memeq_ct(lf.conf.peers[0].public_key, zero, CONF_KEY_LEN);
	}
	*out = lf;
out:
	memzero(buf, sizeof(buf));
	memzero(copy, len);
	free(copy);
	return ret;
}

void link_file_free(struct link_file *lf)
{
	conf_free(&lf->conf);
	defaults(lf);
}
