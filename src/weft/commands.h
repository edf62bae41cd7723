/* commands.h: the `weft` subcommands and the few helpers they share. Each
 * command group lives in its own cmd_*.c file and is listed in main.c's
 * table; a command gets argv starting at its own name, as in wg(8). */
#ifndef WEFT_CLI_COMMANDS_H
#define WEFT_CLI_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

union dev_endpoint;

/* How the program was invoked (basename of argv[0]), for messages. */
extern const char *prog_name;

/* Prints "Usage: weft NAME ARGS" for the command called name. */
void command_usage(FILE *f, const char *name);

/* Removes every argv entry equal to flag; true if there was one. */
bool take_flag(int *argc, char *argv[], const char *flag);

struct json_t;
/* root as indented JSON and a newline on stdout, then json_decref(root)
 * (NULL is a failed json_pack). 0, or 1 after saying why not. */
int print_json(struct json_t *root);

/* cmd_keys.c */
int cmd_genkey(int argc, char *argv[]); /* genkey and genpsk */
int cmd_pubkey(int argc, char *argv[]);
/* A fresh clamped X25519 private key from getrandom; false with errno set. */
bool generate_private_key(uint8_t key[32]);

/* cmd_show.c */
int cmd_show(int argc, char *argv[]);

/* cmd_set.c */
int cmd_set(int argc, char *argv[]);
/* Resolves HOST and PORT of an endpoint to an address, retrying transient
 * resolver failures the way wg does (WG_ENDPOINT_RESOLUTION_RETRIES, default
 * 15, "infinity"). what is the text the user wrote, for messages. */
bool endpoint_resolve(union dev_endpoint *ep, const char *host, const char *port, const char *what);

/* cmd_conf.c */
int cmd_showconf(int argc, char *argv[]);
int cmd_setconf(int argc, char *argv[]); /* setconf, addconf and syncconf */
struct conf;
struct conf_interface;
struct conf_peer;
struct device;
/* The change `setconf` (replace) or `addconf` (!replace) makes for conf:
 * PrivateKey, ListenPort, FwMark and the peers only (never wg-quick keys
 * or [Weft]), endpoints resolved. NULL (reported) on failure. */
struct device *file_change(const struct conf *conf, const char *iface, bool replace);
/* Sets in dev the PrivateKey, ListenPort and FwMark that ci has, with
 * their DEV_HAS_ flags; leaves the others alone. */
void device_settings_from_conf(struct device *dev, const struct conf_interface *ci);
/* Appends cp to dev as a peer to add or update (allowed IPs replaced),
 * resolving its endpoint. 0, -ENOMEM, or -EINVAL when the endpoint does not
 * resolve (endpoint_resolve has said why). Prints nothing else. */
int device_peer_from_conf(struct device *dev, const struct conf_peer *cp);
struct conf_prefix;
struct dev_allowedip;
/* An allowed IP of a device as a config prefix (flags dropped). */
void allowedip_to_prefix(struct conf_prefix *out, const struct dev_allowedip *ip);

/* cmd_quick.c */
int cmd_quick(int argc, char *argv[]); /* up, down, save and strip */

/* cmd_interface.c */
int cmd_interface(int argc, char *argv[]); /* interface list|add|remove */
/* wg-quick's rule for names, 1-15 of [a-zA-Z0-9_=+.-], not starting with '-'. */
bool interface_name_valid(const char *name);
/* Where configs are looked for, in order; a new one goes in the first.
 * CONFIG_DIR_ENV, when set, replaces the list. */
#define WEFT_DIR "/etc/weft"
#define WIREGUARD_DIR "/etc/wireguard"
#define CONFIG_DIR_ENV "WEFT_CONFIG_DIR"
/* The userspace daemon run when nothing overrides it. */
#define DAEMON_NAME "weftd"
/* The config file of iface: IFACE.conf in the first of /etc/weft and
 * /etc/wireguard (or the ':'-separated dirs of WEFT_CONFIG_DIR) that has
 * it; else in the first of them (where a new one goes). *exists says
 * whether the file is there. false if the path does not fit in size. */
bool iface_conf_path(char *out, size_t size, const char *iface, bool *exists);
/* Locks the directory of conf_path (created 0700 if missing) against other
 * weft processes changing configs in it: an fd to close() to unlock, or
 * -errno. */
int iface_conf_lock(const char *conf_path);
/* Waits (a few seconds at most) until a daemon answers on iface's socket
 * (running), or until none does and the link is gone (!running). false if
 * that did not happen in time. */
bool iface_wait(const char *iface, bool running);
/* Stops a userspace device (deletes its link, or its socket when the link
 * is in another namespace) and waits for the daemon to go. 0 or -errno
 * with a message in err. */
int iface_stop(const char *iface, char *err, size_t errlen);
/* "--name VALUE" or "--name=VALUE" at argv[*i]: true (moving *i past the
 * value) and *value set, NULL (reported) when the value is missing. */
bool take_option(int argc, char *argv[], int *i, const char *name, const char **value);
struct conf_prefix_list;
struct conf_dns;
/* "a, b,c" (commas and/or blanks between entries) prefixes appended to
 * list, or DNS servers and search domains to dns; false (reported, naming
 * what) on a bad one. */
bool parse_prefix_list(struct conf_prefix_list *list, const char *s, const char *what);
bool parse_dns_list(struct conf_dns *dns, const char *s, const char *what);

/* cmd_peer.c */
int cmd_peer(int argc, char *argv[]); /* peer add|remove|list|config */

/* src/serve/serve.c */
int cmd_serve(int argc, char *argv[]);

/* cmd_configure.c */
int cmd_configure(int argc, char *argv[]);

#endif
