/* dns.c: setting and unsetting an interface's DNS through resolvconf or
 * resolvectl (see dns.h). */
#include "dns.h"

#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "usage.h"

#define TOOL_PATH_MAX 4096
#define NAME_MAX_LEN 64

/* wg-quick's resolvconf_iface_prefix: the first line of interface-order
 * that is a plain word followed by '*' (Debian's file has "tun*"). */
static void iface_prefix(char *out, size_t size)
{
	FILE *f = fopen(RESOLVCONF_INTERFACE_ORDER, "re");
	char line[256];

	*out = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;
		size_t len;

		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		len = strlen(s);
		if (len < 2 || s[len - 1] != '*')
			continue;
		s[len - 1] = '\0';
		if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != len - 1)
			continue;
		snprintf(out, size, "%s.", s);
		break;
	}
	fclose(f);
}

/* The name resolvconf knows the interface by ("tun.wg0" with Debian's
 * resolvconf, plain "wg0" without an interface-order file). */
static void resolvconf_name(char *out, size_t size, const char *iface)
{
	char prefix[NAME_MAX_LEN];

	iface_prefix(prefix, sizeof(prefix));
	snprintf(out, size, "%s%s", prefix, iface);
}

/* "nameserver A\n"... then "search D1 D2\n", what wg-quick pipes in. */
static char *resolvconf_input(const struct conf_dns *dns)
{
	size_t cap = 64;
	char *text, *p;

	for (uint32_t i = 0; i < dns->servers.n; i++)
		cap += sizeof("nameserver \n") + CONF_ADDR_STRLEN;
	for (uint32_t i = 0; i < dns->search.n; i++)
		cap += strlen(dns->search.v[i]) + 1;
	text = p = malloc(cap);
	if (!text)
		return NULL;
	for (uint32_t i = 0; i < dns->servers.n; i++) {
		char a[CONF_ADDR_STRLEN];

		conf_addr_format(a, &dns->servers.v[i]);
		p += sprintf(p, "nameserver %s\n", a);
	}
	if (dns->search.n) {
		p += sprintf(p, "search");
		for (uint32_t i = 0; i < dns->search.n; i++)
			p += sprintf(p, " %s", dns->search.v[i]);
		p += sprintf(p, "\n");
	}
	return text;
}

static void failed(const char *what, const char *name, int r)
{
	if (r < 0)
		fprintf(stderr, "%s: `%s %s' failed: %s\n", prog_name, what, name, strerror(-r));
	else
		fprintf(stderr, "%s: `%s %s' failed with exit status %d\n", prog_name, what, name, r);
}

static int set_resolvconf(const char *tool, const char *iface, const struct conf_dns *dns)
{
	char name[NAME_MAX_LEN + IFNAMSIZ], *input = resolvconf_input(dns);
	char *argv[] = { (char *)tool, "-a", name, "-m", "0", "-x", NULL };
	int r;

	if (!input)
		return -ENOMEM;
	resolvconf_name(name, sizeof(name), iface);
	trace_program(argv);
	r = run_program(argv, input, NULL);
	free(input);
	if (r) {
		failed("resolvconf -a", name, r);
		return -EIO;
	}
	return 0;
}

/* resolvectl takes arguments, not a file: servers, then "~." (what -x,
 * "exclusive", means to systemd's resolvconf) and the search domains. */
static int set_resolvectl(const char *tool, const char *iface, const struct conf_dns *dns)
{
	size_t n = dns->servers.n > dns->search.n ? dns->servers.n : dns->search.n;
	char **argv = calloc(n + 5, sizeof(*argv));
	char (*addrs)[CONF_ADDR_STRLEN] = calloc(dns->servers.n + 1, sizeof(*addrs));
	int r = -ENOMEM;

	if (!argv || !addrs)
		goto out;
	argv[0] = (char *)tool;
	argv[1] = "dns";
	argv[2] = (char *)iface;
	for (uint32_t i = 0; i < dns->servers.n; i++) {
		conf_addr_format(addrs[i], &dns->servers.v[i]);
		argv[3 + i] = addrs[i];
	}
	argv[3 + dns->servers.n] = NULL;
	trace_program(argv);
	r = run_program(argv, NULL, NULL);
	if (!r) {
		argv[1] = "domain";
		argv[3] = "~.";
		for (uint32_t i = 0; i < dns->search.n; i++)
			argv[4 + i] = dns->search.v[i];
		argv[4 + dns->search.n] = NULL;
		trace_program(argv);
		r = run_program(argv, NULL, NULL);
	}
	if (r) {
		failed(argv[1][1] == 'n' ? "resolvectl dns" : "resolvectl domain", iface, r);
		r = -EIO;
	}
out:
	free(argv);
	free(addrs);
	return r;
}

int dns_set(const char *iface, const struct conf_dns *dns)
{
	char tool[TOOL_PATH_MAX];

	if (!dns->servers.n)
		return 0;
	if (find_in_path("resolvconf", tool, sizeof(tool)))
		return set_resolvconf(tool, iface, dns);
	if (find_in_path("resolvectl", tool, sizeof(tool)))
		return set_resolvectl(tool, iface, dns);
	fprintf(stderr,
		"%s: the config sets DNS, but neither resolvconf nor resolvectl is installed to apply it\n"
		"      (install openresolv or resolvconf, or systemd-resolved; or remove the DNS line)\n", prog_name);
	return -ENOENT;
}

int dns_unset(const char *iface, const struct conf_dns *dns)
{
	char tool[TOOL_PATH_MAX], name[NAME_MAX_LEN + IFNAMSIZ];

	if (!dns->servers.n)
		return 0;
	if (find_in_path("resolvconf", tool, sizeof(tool))) {
		char *argv[] = { tool, "-d", name, "-f", NULL };

		resolvconf_name(name, sizeof(name), iface);
		trace_program(argv);
		return run_program(argv, NULL, NULL) ? -EIO : 0;
	}
	if (find_in_path("resolvectl", tool, sizeof(tool))) {
		char *argv[] = { tool, "revert", (char *)iface, NULL };

		trace_program(argv);
		return run_program(argv, NULL, NULL) ? -EIO : 0;
	}
	return -ENOENT;
}
