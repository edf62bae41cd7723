/* firewall.c: wg-quick's full-tunnel packet filter rules, fed as text to
 * nft or iptables-restore exactly as wg-quick writes them (see firewall.h). */
#include "firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hooks.h"
#include "usage.h"

#define TOOL_PATH_MAX 4096
#define NFT_TABLE_PREFIX "wg-quick-"
#define IPT_MARKER "-m comment --comment \"wg-quick(8) rule for %s\""

/* A growing string; on ENOMEM it becomes NULL and stays so. */
struct text {
	char *s;
	size_t len;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *piece;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vasprintf(&piece, fmt, ap);
	va_end(ap);
	if (n >= 0) {
		char *s = realloc(t->s, t->len + (size_t)n + 1);

		if (s) {
			memcpy(s + t->len, piece, (size_t)n + 1);
			t->s = s;
			t->len += (size_t)n;
			free(piece);
			return;
		}
		free(piece);
	}
	free(t->s);
	t->s = NULL;
	t->failed = true;
}

static int feed(const char *tool, char *const args[], const char *text)
{
	char *argv[8] = { (char *)tool };
	size_t i = 1;
	int r;

	for (; args[i - 1] && i < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	trace_program(argv);
	r = run_program(argv, text, NULL);
	if (r) {
		fprintf(stderr, "%s: %s %s\n", prog_name, tool,
			r < 0 ? strerror(-r) : "refused the packet filter rules");
		return -EIO;
	}
	return 0;
}

int firewall_add(const char *iface, int family, uint32_t fwmark, const struct nl_addr *addrs, size_t n)
{
	const char *pf = family == AF_INET ? "ip" : "ip6";
	const char *ipt = family == AF_INET ? "iptables-restore" : "ip6tables-restore";
	char tool[TOOL_PATH_MAX], marker[sizeof(IPT_MARKER) + 16];
	struct text nft = { 0 }, ipt_text = { 0 };
	int r;

	snprintf(marker, sizeof(marker), IPT_MARKER, iface);
	text_add(&nft, "add table %s " NFT_TABLE_PREFIX "%s\n", pf, iface);
	text_add(&nft, "add chain %s " NFT_TABLE_PREFIX "%s preraw { type filter hook prerouting priority -300; }\n",
		 pf, iface);
	text_add(&nft, "add chain %s " NFT_TABLE_PREFIX "%s premangle { type filter hook prerouting priority -150; }\n",
		 pf, iface);
	text_add(&nft, "add chain %s " NFT_TABLE_PREFIX "%s postmangle { type filter hook postrouting priority -150; }\n",
		 pf, iface);
	text_add(&ipt_text, "*raw\n");
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];

		if (addrs[i].p.family != family || !inet_ntop(family, addrs[i].p.addr, a, sizeof(a)))
			continue;
		text_add(&ipt_text, "-I PREROUTING ! -i %s -d %s -m addrtype ! --src-type LOCAL -j DROP %s\n",
			 iface, a, marker);
		text_add(&nft, "add rule %s " NFT_TABLE_PREFIX "%s preraw iifname != \"%s\" %s daddr %s fib saddr type != local drop\n",
			 pf, iface, iface, pf, a);
	}
	text_add(&ipt_text, "COMMIT\n*mangle\n-I POSTROUTING -m mark --mark %u -p udp -j CONNMARK --save-mark %s\n"
		 "-I PREROUTING -p udp -j CONNMARK --restore-mark %s\nCOMMIT\n", fwmark, marker, marker);
	text_add(&nft, "add rule %s " NFT_TABLE_PREFIX "%s postmangle meta l4proto udp mark %u ct mark set mark \n",
		 pf, iface, fwmark);
	text_add(&nft, "add rule %s " NFT_TABLE_PREFIX "%s premangle meta l4proto udp meta mark set ct mark \n",
		 pf, iface);
	if (nft.failed || ipt_text.failed)
		r = -ENOMEM;
	else if (find_in_path("nft", tool, sizeof(tool)))
		r = feed(tool, (char *[]){ "-f", "/dev/stdin", NULL }, nft.s);
	else if (find_in_path(ipt, tool, sizeof(tool)))
		r = feed(tool, (char *[]){ "-n", NULL }, ipt_text.s);
	else {
		fprintf(stderr, "%s: a full tunnel needs nft or %s for its packet filter rules; neither is installed\n",
			prog_name, ipt);
		r = -ENOENT;
	}
	free(nft.s);
	free(ipt_text.s);
	return r;
}

/* Each line of text in turn (text is modified). */
static char *next_line(char **rest)
{
	char *line = *rest, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*rest = nl + 1;
	} else
		*rest = NULL;
	return line;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int remove_nft(const char *tool, const char *iface)
{
	char *argv[] = { (char *)tool, "list", "tables", NULL }, *out = NULL, *rest, *line;
	char suffix[sizeof(" " NFT_TABLE_PREFIX) + IFNAMSIZ];
	struct text cmds = { 0 };
	int r = run_program(argv, NULL, &out);

	if (r || !out) {
		free(out);
		return 0; /* no tables to list is nothing to remove */
	}
	snprintf(suffix, sizeof(suffix), " " NFT_TABLE_PREFIX "%s", iface);
	for (rest = out; (line = next_line(&rest));)
		if (ends_with(line, suffix))
			text_add(&cmds, "delete %s\n", line);
	free(out);
	if (cmds.failed)
		return -ENOMEM;
	r = cmds.len ? feed(tool, (char *[]){ "-f", "/dev/stdin", NULL }, cmds.s) : 0;
	free(cmds.s);
	return r;
}

/* iptables-save's lines that carry our marker, turned from -A into -D,
 * inside their table headers and COMMITs: what wg-quick restores. */
static int remove_ipt(const char *save, const char *restore, const char *iface)
{
	char *argv[] = { (char *)save, NULL }, *out = NULL, *rest, *line;
	char marker[sizeof(IPT_MARKER) + 16];
	struct text cmds = { 0 };
	bool found = false;
	int r = run_program(argv, NULL, &out);

	if (r || !out) {
		free(out);
		return 0;
	}
	snprintf(marker, sizeof(marker), IPT_MARKER, iface);
	for (rest = out; (line = next_line(&rest));) {
		bool ours = !strncmp(line, "-A ", 3) && strstr(line, marker);

		if (line[0] != '*' && strcmp(line, "COMMIT") && !ours)
			continue;
		if (ours) {
			found = true;
			text_add(&cmds, "-D%s\n", line + 2);
		} else
			text_add(&cmds, "%s\n", line);
	}
	free(out);
	if (cmds.failed)
		return -ENOMEM;
	r = found ? feed(restore, (char *[]){ "-n", NULL }, cmds.s) : 0;
	free(cmds.s);
	return r;
}

int firewall_remove(const char *iface)
{
	char tool[TOOL_PATH_MAX], save[TOOL_PATH_MAX];
	int r = 0, e;

	if (find_in_path("nft", tool, sizeof(tool)))
		r = remove_nft(tool, iface);
	if (find_in_path("iptables", tool, sizeof(tool))) {
		if (find_in_path("iptables-save", save, sizeof(save)) &&
		    find_in_path("iptables-restore", tool, sizeof(tool)) && (e = remove_ipt(save, tool, iface)) < 0)
			r = e;
		if (find_in_path("ip6tables-save", save, sizeof(save)) &&
		    find_in_path("ip6tables-restore", tool, sizeof(tool)) && (e = remove_ipt(save, tool, iface)) < 0)
			r = e;
	}
	return r;
}
