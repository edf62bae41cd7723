/* commands.h: the entry points of the `weft` subcommands, nothing else.
 * Each command group lives in its own cmd_*.c file and is listed in
 * main.c's table; a command gets argv starting at its own name, as in
 * wg(8). What commands share lives in files named after one concept
 * (ifname.h, conf_path.h, daemon.h, conf_change.h, options.h, ...). */
#ifndef WEFT_CLI_COMMANDS_H
#define WEFT_CLI_COMMANDS_H

int cmd_genkey(int argc, char *argv[]);    /* cmd_keys.c: genkey and genpsk */
int cmd_pubkey(int argc, char *argv[]);    /* cmd_keys.c */
int cmd_show(int argc, char *argv[]);      /* cmd_show.c */
int cmd_set(int argc, char *argv[]);       /* cmd_set.c */
int cmd_showconf(int argc, char *argv[]);  /* cmd_conf.c */
int cmd_setconf(int argc, char *argv[]);   /* cmd_conf.c: setconf, addconf and syncconf */
int cmd_quick(int argc, char *argv[]);     /* cmd_quick.c: up, down, save and strip */
int cmd_interface(int argc, char *argv[]); /* cmd_interface.c: interface list|add|set|remove */
int cmd_peer(int argc, char *argv[]);      /* cmd_peer.c: peer add|remove|list|config|set|rename|
					    * disable|enable|expire */
int cmd_export(int argc, char *argv[]);    /* cmd_export.c */
int cmd_import(int argc, char *argv[]);    /* cmd_export.c */

/* src/serve/serve.c */
int cmd_serve(int argc, char *argv[]);

/* src/api/cmd_api.c: api IFACE, api token add|list|revoke */
int cmd_api(int argc, char *argv[]);

/* src/link/cmd_link.c: link IFACE, link status IFACE */
int cmd_link(int argc, char *argv[]);

/* cmd_coord.c: the rendezvous server */
int cmd_coord(int argc, char *argv[]);

/* cmd_mesh.c: mesh init|invite|revoke (the admin's side) */
int cmd_mesh(int argc, char *argv[]);

/* cmd_configure.c */
int cmd_configure(int argc, char *argv[]);

/* cmd_status.c: status of a network of servers */
int cmd_status(int argc, char *argv[]);
/* cmd_add.c: add server|client */
int cmd_add(int argc, char *argv[]);
/* cmd_ping.c */
int cmd_ping(int argc, char *argv[]);
/* cmd_expose.c: expose add|list */
int cmd_expose(int argc, char *argv[]);

#endif
