/* usage.h: how messages name the program, and the usage line of a
 * command. Both live in main.c beside the table of commands they read. */
#ifndef WEFT_CLI_USAGE_H
#define WEFT_CLI_USAGE_H

#include <stdio.h>

/* How the program was invoked (basename of argv[0]), for messages. */
extern const char *prog_name;

/* Prints "Usage: weft NAME ARGS" for the command called name. */
void command_usage(FILE *f, const char *name);

#endif
