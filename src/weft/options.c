/* options.c: command-line options shared by the commands: flags, "--name
 * VALUE" options, and lists of prefixes or DNS entries in one argument. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "options.h"
#include "usage.h"

bool take_flag(int *argc, char *argv[], const char *flag)
{
	bool found = false;
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], flag))
			found = true;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return found;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: true and *value set,
 * *i moved past it. A missing value is reported and *value is NULL. */
bool take_option(int argc, char *argv[], int *i, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return false;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return true;
	}
	if (argv[*i][n])
		return false;
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", prog_name, name);
		*value = NULL;
		return true;
	}
	*value = argv[++*i];
	return true;
}

/* Calls one(ctx, entry, what) for each entry of a list: entries are
 * separated by commas and/or blanks ("a,b, c"). false (reported) when one
 * returns false or memory runs out. */
static bool each_list_entry(const char *s, const char *what, void *ctx,
			    bool (*one)(void *ctx, const char *entry, const char *what))
{
	char *copy = strdup(s), *save = NULL;
	bool ok = copy != NULL;

	if (!copy)
		fprintf(stderr, "%s: out of memory\n", prog_name);
	for (char *e = copy ? strtok_r(copy, ", \t", &save) : NULL; ok && e; e = strtok_r(NULL, ", \t", &save))
		ok = one(ctx, e, what);
	free(copy);
	return ok;
}

static bool prefix_entry(void *list, const char *entry, const char *what)
{
	struct conf_prefix p;

	if (!conf_prefix_parse(&p, entry)) {
		fprintf(stderr, "%s: %s: `%s' is not an address with a prefix length\n", prog_name, what, entry);
		return false;
	}
	if (conf_prefix_list_add(list, &p) < 0) {
		fprintf(stderr, "%s: %s: too many entries\n", prog_name, what);
		return false;
	}
	return true;
}

bool parse_prefix_list(struct conf_prefix_list *list, const char *s, const char *what)
{
	return each_list_entry(s, what, list, prefix_entry);
}

static bool dns_entry(void *dns, const char *entry, const char *what)
{
	if (conf_dns_add(dns, entry) == 0)
		return true;
	fprintf(stderr, "%s: %s: `%s' is neither an IP address nor a search domain\n", prog_name, what, entry);
	return false;
}

bool parse_dns_list(struct conf_dns *dns, const char *s, const char *what)
{
	return each_list_entry(s, what, dns, dns_entry);
}
