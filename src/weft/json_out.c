/* json_out.c: the JSON that --json options print, indented, on stdout. */
#include <jansson.h>
#include <stdio.h>

#include "json_out.h"
#include "usage.h"

int print_json(json_t *root)
{
	int ret = 0;

	if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) < 0) {
		fprintf(stderr, "%s: cannot write JSON\n", prog_name);
		ret = 1;
	} else
		printf("\n");
	json_decref(root);
	return ret;
}

