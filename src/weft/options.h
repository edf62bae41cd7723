/* options.h: command-line options shared by the commands: flags, "--name
 * VALUE" options, and lists of prefixes or DNS entries in one argument. */
#ifndef WEFT_CLI_OPTIONS_H
#define WEFT_CLI_OPTIONS_H

#include <stdbool.h>

struct conf_prefix_list;
struct conf_dns;

/* Removes every argv entry equal to flag; true if there was one. */
bool take_flag(int *argc, char *argv[], const char *flag);

/* "--name VALUE" or "--name=VALUE" at argv[*i]: true (moving *i past the
 * value) and *value set, NULL (reported) when the value is missing. */
bool take_option(int argc, char *argv[], int *i, const char *name, const char **value);

/* "a, b,c" (commas and/or blanks between entries) prefixes appended to
 * list, or DNS servers and search domains to dns; false (reported, naming
 * what) on a bad one. */
bool parse_prefix_list(struct conf_prefix_list *list, const char *s, const char *what);
bool parse_dns_list(struct conf_dns *dns, const char *s, const char *what);

#endif
