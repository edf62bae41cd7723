/* main.c: the `weft` command line - a git-style table of subcommands, each
 * in its own cmd_*.c file, plus `weft help [CMD]` and `weft --version`.
 * With no arguments weft does what wg does: `show`. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "crypto/crypto.h"
#include "usage.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.1.0"
#endif

#define QUICK_DETAILS \
	"An argument with a '/' or ending in .conf is the config file; otherwise <interface>.conf is\n" \
	"looked for in /etc/weft, then /etc/wireguard ($WEFT_CONFIG_DIR instead, when set). The file's\n" \
	"Address, DNS, MTU, Table, PreUp/PostUp/PreDown/PostDown and SaveConfig work as in wg-quick(8);\n" \
	"the kernel's WireGuard runs the device when the module is there, else weftd\n" \
	"(WG_QUICK_USERSPACE_IMPLEMENTATION names another program and forces it). See weft(8).\n"

#define SHOW_FIELDS "public-key | private-key | listen-port | fwmark | peers | preshared-keys | " \
	"endpoints | allowed-ips | latest-handshakes | transfer | persistent-keepalive | dump"

struct command {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *group;   /* heading in `weft help` */
	const char *args;    /* what follows "weft NAME" in the usage line */
	const char *summary; /* one line */
	const char *details; /* optional, shown by `weft help NAME` */
};

/* New command groups (up/down/save/strip, interface, peer...) add their rows
 * here, grouped under a heading of their own. */
static const struct command commands[] = {
	{ "show", cmd_show, "wg-compatible",
	  "[{ <interface> | all | interfaces }] [" SHOW_FIELDS "] [--json]",
	  "Shows the current configuration and device information",
	  "With --json, prints {\"interfaces\":[...]} for scripts (no private or preshared keys);\n"
	  "see weft(8) for its shape. WG_COLOR_MODE=always|never and WG_HIDE_KEYS=never work as for wg.\n" },
	{ "showconf", cmd_showconf, "wg-compatible", "<interface> [--json]",
	  "Shows the current configuration of a given WireGuard interface, for use with `setconf'",
	  "With --json, prints the same settings, keys included, as one JSON object.\n" },
	{ "set", cmd_set, "wg-compatible",
	  "<interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>] "
	  "[peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>] "
	  "[persistent-keepalive <interval seconds>] [allowed-ips [+|-]<ip1>/<cidr1>[,[+|-]<ip2>/<cidr2>]...] ]...",
	  "Change the current configuration, add peers, remove peers, or change peers",
	  "Keys are read from files (`-' is not special; use /dev/stdin), never taken from the command line.\n" },
	{ "setconf", cmd_setconf, "wg-compatible", "<interface> <configuration filename>",
	  "Applies a configuration file to a WireGuard interface", NULL },
	{ "addconf", cmd_setconf, "wg-compatible", "<interface> <configuration filename>",
	  "Appends a configuration file to a WireGuard interface", NULL },
	{ "syncconf", cmd_setconf, "wg-compatible", "<interface> <configuration filename>",
	  "Synchronizes a configuration file to a WireGuard interface",
	  "Only what differs is sent: peers not in the file are removed, new ones added, changed\n"
	  "ones updated; unchanged peers and their sessions are left alone.\n" },
	{ "genkey", cmd_genkey, "wg-compatible", "",
	  "Generates a new private key and writes it to stdout", NULL },
	{ "genpsk", cmd_genkey, "wg-compatible", "",
	  "Generates a new preshared key and writes it to stdout", NULL },
	{ "pubkey", cmd_pubkey, "wg-compatible", "",
	  "Reads a private key from stdin and writes a public key to stdout", NULL },
	{ "up", cmd_quick, "wg-quick-compatible", "[--userspace] { <config file> | <interface> }",
	  "Brings up an interface from its config file, as wg-quick up does",
	  QUICK_DETAILS "--userspace uses the userspace daemon even when the kernel module is there.\n" },
	{ "down", cmd_quick, "wg-quick-compatible", "{ <config file> | <interface> }",
	  "Takes down an interface brought up from its config file, as wg-quick down does",
	  QUICK_DETAILS },
	{ "save", cmd_quick, "wg-quick-compatible", "{ <config file> | <interface> }",
	  "Saves the running configuration of an interface into its config file", QUICK_DETAILS },
	{ "strip", cmd_quick, "wg-quick-compatible", "{ <config file> | <interface> }",
	  "Prints a config file in the wg setconf form, without wg-quick keys and [Weft]", QUICK_DETAILS },
	{ "interface", cmd_interface, "Interfaces and peers",
	  "{ list [--json] | add <interface> [--userspace] [--listen-port <port>] [--address <cidr>[,<cidr>...]]\n"
	  "  [--public-address <ip-or-hostname>]... [--public-port <port>] [--peer-dns <dns>[,<dns>...]] |\n"
	  "  set <interface> [--listen-port <port>] [--public-address <ip-or-hostname>|none]...\n"
	  "  [--public-port <port>|none] [--peer-dns <dns>[,<dns>...]|none] | remove <interface> }",
	  "Lists, creates, changes or removes WireGuard interfaces",
	  "add creates a kernel WireGuard interface when the module is there, else starts weftd\n"
	  "(--userspace or WG_QUICK_USERSPACE_IMPLEMENTATION force the daemon; WEFT_DAEMON names it),\n"
	  "with a new private key, or the config file's,\n"
	  "adds the addresses and brings the link up; the key, port and addresses are kept in\n"
	  "/etc/weft/<interface>.conf (or /etc/wireguard/..., or $WEFT_CONFIG_DIR), created 0600, a\n"
	  "plain wg-quick file. --public-address (an IPv4, an IPv6 address or a host name; may repeat),\n"
	  "--public-port and --peer-dns are weft's own settings, kept beside it in <interface>.weft:\n"
	  "the Endpoint and DNS that `weft peer add' hands to peers.\n"
	  "set changes those settings, and the listen port (the running device follows), in place.\n"
	  "remove deletes the link, which ends the daemon; the config file stays.\n"
	  "See weft(8).\n" },
	{ "peer", cmd_peer, "Interfaces and peers",
	  "{ add <interface> [--public-key <base64 public key> | --generate-key] [--name <name>] [--no-psk]\n"
	  "  [--expires <date>|<duration>] [--endpoint-type ipv4|ipv6|domain|any] [--allowed-ips <cidr>,...]\n"
	  "  [--dns <ip|domain>,...|none] [--keepalive <seconds>|off] [--qr] [--qr-png <file>] |\n"
	  "  remove <interface> <name|public key> | list <interface> [--json] |\n"
	  "  config <interface> <name|public key> [--qr] [--qr-png <file>] [the add options that shape the config] |\n"
	  "  set <interface> <name|public key> [--endpoint-type <type>] [--allowed-ips <cidr>,...|default]\n"
	  "  [--dns <ip|domain>,...|none|default] [--keepalive <seconds>|off|default] [--expires <date>|<duration>|never]\n"
	  "  [--roaming on|off] |\n"
	  "  rename <interface> <name|public key> <new name> | disable <interface> <name|public key> |\n"
	  "  enable <interface> <name|public key> | expire <interface> }",
	  "Adds, changes, disables and removes peers; prints the config a peer imports",
	  "add gives the peer the lowest free address of each Address prefix of the interface and a\n"
	  "preshared key (--no-psk: none), adds it to the config file and the running device, and\n"
	  "prints the config the peer imports (--qr: as a QR code under a line with its name and\n"
	  "addresses; --qr-png: also into a 0600 PNG file). Without --public-key weft generates the key\n"
	  "pair and keeps the private key in <interface>.peers/ beside the config. Every option given\n"
	  "is remembered in <interface>.weft, so `peer config' prints the same config again; set\n"
	  "changes them (default: back to the interface's setting). Names: 1-64 of letters, digits\n"
	  "and -_.@. --expires takes a UTC date (2027-01-31, 2027-01-31T12:00:00Z) or a duration\n"
	  "(90d, 12h, 30m, 2w); expire disables every peer past its time. disable takes a peer off\n"
	  "the device and out of the config file, keeping its addresses reserved; enable puts it back.\n"
	  "See weft(8).\n" },
	{ "export", cmd_export, "Interfaces and peers", "<interface> [<file>|-]",
	  "Writes an interface and its peers, keys included, as one JSON document",
	  "The file is created 0600 (never through a symlink); without one, or with -, the document\n"
	  "goes to stdout. It holds private and preshared keys: keep it as safe as the config.\n" },
	{ "import", cmd_import, "Interfaces and peers", "<file>|- [--name <interface>]",
	  "Creates an interface's config, records and peer keys from an `export' document",
	  "Refuses to replace an existing config. `weft up' or `weft interface add' then starts it with\n"
	  "the same keys, port, addresses and peers (wg showconf and peer list as on the old machine).\n" },
	{ "api", cmd_api, "Interfaces and peers",
	  "<interface> [--listen <address>:<port>] [--up] [--static <dir>] [--tls-cert <file> --tls-key <file>]\n"
	  "  [--rate <requests/s>] [--max-peers <n>] [--max-connections <n>] [--grace <seconds>]\n"
	  "  | token add <interface> [--admin] [--peers <n>] [--expires <date|duration>] [--name <text>]\n"
	  "  | token list <interface> | token revoke <interface> <id|name>",
	  "Serves the enrolment HTTP API and pages of an interface; manages its bearer tokens",
	  "Listens on 127.0.0.1:9090 unless --listen says otherwise. --up brings the interface up first\n"
	  "and down on SIGTERM. `token add' prints a new token once (only its hash is kept, in\n"
	  "<interface>.tokens beside the config); an enrolment token adds --peers peers (default 1)\n"
	  "and sees only those. Routes, bodies and errors: api.yaml in share/doc/weft; see weft(8).\n" },
	{ "link", cmd_link, "Roaming and NAT traversal",
	  "<interface> [--coord <host>:<port>] [--coord-key <base64 public key>] [--label <label>]\n"
	  "  [--portmap pcp,nat-pmp,upnp|none] [--resolve-every <seconds>] | status <interface> [--json]",
	  "Keeps roaming peers reachable: finds their endpoints through a `weft coord' server",
	  "Manages the peers that have no Endpoint in <interface>.conf or Roaming = true in their record\n"
	  "in <interface>.weft; changes only their endpoint (and a persistent keepalive of 25 s when they\n"
	  "have none, while managed). The coord's address and public key come from Coord = and\n"
	  "CoordKey = in [Weft] of <interface>.weft unless given. Works with weftd, wireguard-go and\n"
	  "the kernel's WireGuard. status shows each peer's path (lan, direct, relay), endpoint, RTT\n"
	  "and since when. The device's port is mapped on the gateway by PCP, NAT-PMP or UPnP when it\n"
	  "offers that (--portmap: which to ask, in that order). Peers whose Endpoint is a host name are looked\n"
	  "up again while their handshake is stale, every 30 s (--resolve-every). See weft(8) and\n"
	  "weft-link.md.\n" },
	{ "coord", cmd_coord, "Roaming and NAT traversal",
	  "[--listen <addr>:<port>]... [--key-file <file>] [--store <path>|postgresql://...|none]\n"
	  "  [--status-file <file>] [--max-clients <n>] [--max-records <n>] [--record-ttl <s>]\n"
	  "  [--rate <n>] [--burst <n>] [--handshake-rate <n>] [--cookie-always] [--stun-strict]\n"
	  "  [--relay-listen <addr>:<port>|none] [--relay-rate <bits/s>] [--relay-pairs <n>] [--no-relay]\n"
	  "  | --show-public-key [--key-file <file>] | --stats --status-file <file>",
	  "Runs the rendezvous server that `weft link' peers meet at (and a STUN server)",
	  "One UDP port, [::]:51819 unless --listen says otherwise. The server's key is in --key-file\n"
	  "(default /var/lib/weft/coord.key, made 0600 on first start); clients pin its public key,\n"
	  "printed at start. Records live in SQLite (--store, default /var/lib/weft/coord.db) or a\n"
	  "shared PostgreSQL. It relays WireGuard datagrams between peers that find no direct path, over\n"
	  "UDP or over TCP (--relay-listen, by default the UDP port's number), each direction of a pair\n"
	  "held to --relay-rate (default 100M). SIGUSR1 logs the counters. Protocol: coord-protocol.md;\n"
	  "see weft(8).\n" },
	{ "mesh", cmd_mesh, "Roaming and NAT traversal",
	  "{ init <network> --prefix <IPv4 prefix> [--prefix6 <IPv6 prefix>] [--coord <host>:<port>\n"
	  "  --coord-key <base64 public key>] [--bootstrap <host>:<port>]... |\n"
	  "  invite <network> [--expires <date|duration>] [--uses <n>] | revoke <token id> | revoke - }",
	  "Makes a mesh network and its signed join tokens (the admin's side)",
	  "init makes the admin key (Ed25519) and the network in /etc/weft/mesh/<network>/ (or\n"
	  "$WEFT_CONFIG_DIR/mesh/<network>/), 0600; invite prints a one-line join token, signed, that\n"
	  "expires (default 7d) and admits --uses nodes (default 1); revoke refuses a token from now on.\n"
	  "Joining nodes is not in this release. Design: weft-mesh.md; see weft(8).\n" },
	{ "serve", cmd_serve, "Unprivileged server",
	  "[-f <config file>] [--stack kernel|lwip|auto]",
	  "Runs a WireGuard exit server as any user: peers reach what this machine reaches",
	  "No root, no capabilities and no TUN device on this machine: WireGuard runs on an\n"
	  "ordinary UDP socket. Settings come from the config file or WEFT_* variables; keys\n"
	  "never from the command line. In a chain of servers ([Relay], [E2E], RelayAddress and\n"
	  "API in the file) it also relays for its neighbours and answers its API inside the\n"
	  "tunnel; what the API adds is kept in a state file beside the config. See weft(8).\n" },
	{ "configure", cmd_configure, "Unprivileged server",
	  "--endpoint <host>:<port> --routes <cidr>[,<cidr>...] [--name <interface>] [--address <cidr>,...]\n"
	  "  [--allow <cidr>,...] [--deny <cidr>,...] [--server-loopback] [--server-config <file>]\n"
	  "  [--client-config <file>] [--force]",
	  "Writes this machine's config and a `weft serve' server's config, and prints the server's command",
	  "Makes both key pairs. The client config (interface --name, default wg-serve, in /etc/weft or\n"
	  "$WEFT_CONFIG_DIR unless --client-config) routes --routes through the server at --endpoint;\n"
	  "`weft up NAME', wg-quick and the WireGuard apps load it. The server config (--server-config,\n"
	  "default ./weft-serve.conf, 0600) is for `weft serve -f' on the server: copy it there.\n"
	  "--server-loopback lets 240.0.0.0/4 reach the server's own 127.0.0.0/8. See weft(8).\n" },
	{ "status", cmd_status, "Unprivileged server", "[<interface> | <config file>] [--json] [--live]",
	  "Draws the tree of servers and clients this machine's network of `weft serve' servers has",
	  "Reads <interface>.chain beside the client config (default interface wg-serve), which\n"
	  "`weft configure', `weft add server' and `weft add client' keep: each node's public keys,\n"
	  "addresses, API address and routes. --json prints that document; --live also asks each\n"
	  "server's API, through the tunnel, whether it answers (with --json: each server's\n"
	  "GET /v1/status document beside its node, as \"live\"). See weft(8).\n" },
	{ "add", cmd_add, "Unprivileged server",
	  "{ server --via <server> --endpoint <host>:<port> --routes <cidr>[,<cidr>...] [--name <name>]\n"
	  "  [--via-endpoint <host>:<port>] [--allow <cidr>,...] [--deny <cidr>,...] [--server-loopback]\n"
	  "  [--server-config <file>] [--interface <interface>] [--force] |\n"
	  "  client [--via <server>] [--name <name>] [--dir <directory>] [--endpoint <host>:<port>]\n"
	  "  [--interface <interface>] [--force] }",
	  "Attaches a server to a network of `weft serve' servers, or makes configs for another client",
	  "server: makes the new server's keys and addresses, asks the server --via (a name or an API\n"
	  "address from `weft status') to take it as a relay neighbour at --endpoint, writes its config\n"
	  "(--server-config, default ./weft-serve-NAME.conf, 0600) and this machine's end-to-end file\n"
	  "(<interface>-e2e.conf beside <interface>.conf, brought up again when the tunnel is up), and\n"
	  "prints the command to run on the new server (a host name is resolved here: the servers take\n"
	  "addresses). --via-endpoint is where the new server reaches --via, when only that way works. --via this machine's own name (client) attaches it here:\n"
	  "a second relay peer in <interface>.conf, a tree of its own.\n"
	  "client: configs for another person (--dir, default .: NAME.conf, NAME-e2e.conf and\n"
	  "NAME.chain, the tree seen from their side, 0600)\n"
	  "with their own keys, --via as their first server (default: this machine's; --endpoint:\n"
	  "where they reach it, default as this machine knows it), the routes copied; the servers\n"
	  "learn the new client through their APIs. The interface is wg-serve\n"
	  "unless --interface names another. See weft(8).\n" },
	{ "ping", cmd_ping, "Unprivileged server",
	  "<server|api-address> [-c <count>] [-i <seconds>] [-W <seconds>] [--interface <interface>]",
	  "Times round trips to a `weft serve' server's API through the tunnel",
	  "GET /v1/ping to the server's API address (a name is looked up in <interface>.chain, default\n"
	  "wg-serve), -c (--count) times (default 3), -i (--interval) seconds apart (default 1),\n"
	  "waiting -W (--timeout) seconds (default 2) for each. Exits 1 when no reply came. See weft(8).\n" },
	{ "expose", cmd_expose, "Unprivileged server",
	  "{ add <server|all> <rule> [--interface <interface>] |\n"
	  "  remove <server|all> <rule> [--interface <interface>] |\n"
	  "  list [<server|all>] [--json] [--interface <interface>] }",
	  "Opens ports on the servers' machines that lead into the tunnel, through their APIs",
	  "add opens <rule> (the Expose syntax of weft-serve.md: [tcp/|udp/][BIND:]PORT:ADDRESS:PORT,\n"
	  "e.g. 8080:10.99.0.2:80 for port 80 of this machine's tunnel address) on one server or on\n"
	  "all of them at once; each keeps it across restarts. remove closes one added that way (the\n"
	  "rule as list shows it). list shows each server's rules, from the config or added at run\n"
	  "time. See weft(8).\n" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const char *prog_name = "weft";

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

void command_usage(FILE *f, const char *name)
{
	const struct command *c = find_command(name);

	if (c)
		fprintf(f, "Usage: %s %s%s%s\n", prog_name, c->name, *c->args ? " " : "", c->args);
}

static void usage(FILE *f)
{
	const char *group = NULL;

	fprintf(f, "Usage: %s <cmd> [<args>]\n", prog_name);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (!group || strcmp(group, commands[i].group)) {
			group = commands[i].group;
			fprintf(f, "\n%s commands:\n", group);
		}
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	}
	fprintf(f, "\n`%s help <cmd>' or `%s <cmd> --help' shows the usage of one; weft(8) has the details.\n",
		prog_name, prog_name);
}

static int help(const char *name)
{
	const struct command *c = find_command(name);

	if (!c) {
		fprintf(stderr, "%s: unknown command `%s'\n\n", prog_name, name);
		usage(stderr);
		return 1;
	}
	command_usage(stdout, c->name);
	printf("\n%s.\n", c->summary);
	if (c->details)
		printf("\n%s", c->details);
	return 0;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

int main(int argc, char *argv[])
{
	const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
	const struct command *c;

	if (argc > 0 && *argv[0])
		prog_name = slash ? slash + 1 : argv[0];

	if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("weft v%s - a WireGuard toolkit (wg-compatible commands)\n", WEFT_VERSION);
		return 0;
	}
	if (argc >= 2 && is_help(argv[1])) {
		if (argc == 2) {
			usage(stdout);
			return 0;
		}
		if (argc == 3)
			return help(argv[2]);
		fprintf(stderr, "Usage: %s help [<cmd>]\n", prog_name);
		return 1;
	}
	if (crypto_init() < 0) {
		fprintf(stderr, "%s: cannot initialise the crypto library\n", prog_name);
		return 1;
	}
	if (argc < 2) {
		static char show[] = "show";
		char *show_argv[] = { show, NULL };
		return cmd_show(1, show_argv);
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: unknown command `%s'\n\n", prog_name, argv[1]);
		usage(stderr);
		return 1;
	}
	/* `weft CMD --help` is `weft help CMD` for every command. */
	if (argc == 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")))
		return help(c->name);
	return c->run(argc - 1, argv + 1);
}
