/* chain_cli.h: what the commands of a network of servers share (`weft
 * status`, `weft add`, `weft ping`): finding the client's config and its
 * .chain file from an interface name or a config path, and loading it with
 * one clear message. */
#ifndef WEFT_CLI_CHAIN_CLI_H
#define WEFT_CLI_CHAIN_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "chain_state.h"

#define CHAIN_DEFAULT_IFACE "wg-serve"

struct chain_files {
	char conf[CHAIN_PATH_MAX];  /* the client's (relay) config */
	char state[CHAIN_PATH_MAX]; /* IFACE.chain beside it */
};

/* arg: an interface name (its config looked for as every weft command
 * does) or, with a '/' or ending in .conf, the config file itself; NULL
 * is CHAIN_DEFAULT_IFACE, or when that has no config, the interface of the
 * only .chain file in the config directories. false after printing why
 * (cmd names the command). */
bool chain_files_find(struct chain_files *f, const char *arg, const char *cmd);

/* Loads f->state into *st; false after printing why, with a hint when the
 * file is missing (`weft configure` makes it). */
bool chain_files_load(const struct chain_files *f, struct chain_state *st, const char *cmd);

#endif
