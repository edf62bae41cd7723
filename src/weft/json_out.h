/* json_out.h: the JSON that --json options print. */
#ifndef WEFT_CLI_JSON_OUT_H
#define WEFT_CLI_JSON_OUT_H

struct json_t;

/* root as indented JSON and a newline on stdout, then json_decref(root)
 * (NULL is a failed json_pack). 0, or 1 after saying why not. */
int print_json(struct json_t *root);

#endif
