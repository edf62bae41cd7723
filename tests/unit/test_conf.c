/* test_conf.c: src/conf (parser, writer, strip, struct helpers) and
 * src/util/atomic_file.c. Every bad-config class must fail with -EINVAL, name
 * the right FILE:LINE, and leave the output struct untouched. */
#include "test.h"

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "util/atomic_file.h"
#include "util/encoding.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* `wg genkey | tee k | wg pubkey` (see test_encoding.c) */
#define PRIV "wJ7aPDR4P2xS7ZDodD3voIw0dhYZ30dI1TYCJamBu0Q="
#define PUB "owQIT3h17OwJMx9orp5OzcReuJIPHptryRp2OEZDYkI="

static char tmpdir[64];

/* A distinct valid base64 key per seed (a few live at once). */
static const char *key64(unsigned seed)
{
	static char bufs[8][WEFT_KEY_B64_LEN + 1];
	static unsigned next;
	uint8_t k[32];
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(seed * 131 + (unsigned)i * 7 + (seed >> 8) * 3 + (unsigned)i * (seed >> 16));
	memcpy(k + 28, &seed, sizeof(seed));
	char *b = bufs[next++ % 8];
	key_to_base64(b, k);
	return b;
}

static void key_of(uint8_t out[32], const char *b64)
{
	if (!key_from_base64(out, b64))
		memset(out, 0, 32);
}

static int parse(struct conf *c, const char *text, char *err)
{
	return conf_parse(c, text, strlen(text), "t.conf", 0, err, CONF_ERR_LEN);
}

/* Parses text that must be good; a failure counts against the case. */
static bool parse_ok(struct conf *c, const char *text)
{
	char err[CONF_ERR_LEN];
	int ret = parse(c, text, err);
	if (ret)
		fprintf(stderr, "  unexpected parse error %d: %s\n", ret, err);
	CHECK(ret == 0);
	return ret == 0;
}

static void prefix_is(const struct conf_prefix *p, const char *want)
{
	char s[CONF_PREFIX_STRLEN];
	conf_prefix_format(s, p);
	if (strcmp(s, want)) {
		fprintf(stderr, "  prefix %s, want %s\n", s, want);
		CHECK(!"prefix matches");
	}
}

/* parse -> write -> parse gives an equal struct, and writing again gives
 * the same bytes; for every write mode. */
static void check_round_trip(const struct conf *c)
{
	static const unsigned modes[] = { 0, CONF_WRITE_WEFT, CONF_WRITE_STRIP };
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char *t1, *t2, err[CONF_ERR_LEN];
		size_t l1, l2;
		struct conf back;
		unsigned pflags = modes[m] == CONF_WRITE_STRIP ? CONF_PARSE_SETCONF : 0;

		CHECK_EQ(conf_write(c, modes[m], &t1, &l1), 0);
		CHECK_EQ(strlen(t1), l1);
		int ret = conf_parse(&back, t1, l1, "rt.conf", pflags, err, sizeof(err));
		CHECK_EQ(ret, 0);
		if (ret) {
			fprintf(stderr, "  %s\n---\n%s---\n", err, t1);
			conf_text_free(t1, l1);
			continue;
		}
		if (modes[m] == CONF_WRITE_WEFT)
			CHECK(conf_equal(c, &back));
		CHECK_EQ(conf_write(&back, modes[m], &t2, &l2), 0);
		CHECK_EQ(l1, l2);
		CHECK(l1 == l2 && !memcmp(t1, t2, l1));
		if (modes[m] == 0)
			CHECK(!strstr(t1, "[Weft]") && !strstr(t1, "PeerName"));
		if (modes[m] == CONF_WRITE_STRIP)
			CHECK(!strstr(t1, "Address") && !strstr(t1, "DNS") && !strstr(t1, "Up =") &&
			      !strstr(t1, "[Weft]") && !strstr(t1, "Table") && !strstr(t1, "MTU"));
		conf_text_free(t1, l1);
		conf_text_free(t2, l2);
		conf_free(&back);
	}
}

/* ---- good configs ---- */

static void single_peer(void)
{
	struct conf c;
	uint8_t k[32];
	const char *text =
		"[Interface]\n"
		"PrivateKey = " PRIV "\n"
		"Address = 10.8.0.2/24\n"
		"DNS = 1.1.1.1\n"
		"\n"
		"[Peer]\n"
		"PublicKey = " PUB "\n"
		"AllowedIPs = 10.8.0.0/24\n"
		"Endpoint = vpn.example.com:51820\n"
		"PersistentKeepalive = 25\n";

	if (!parse_ok(&c, text))
		return;
	CHECK(c.has_interface);
	CHECK(c.iface.has_private_key);
	key_of(k, PRIV);
	CHECK_MEM(c.iface.private_key, k, 32);
	CHECK(!c.iface.has_listen_port);
	CHECK_EQ(c.iface.addresses.n, 1);
	prefix_is(&c.iface.addresses.v[0], "10.8.0.2/24");
	CHECK_EQ(c.iface.dns.servers.n, 1);
	CHECK_EQ(c.iface.dns.search.n, 0);
	CHECK_EQ(c.iface.table.kind, CONF_TABLE_UNSET);
	CHECK_EQ(c.n_peers, 1);
	key_of(k, PUB);
	CHECK_MEM(c.peers[0].public_key, k, 32);
	CHECK_EQ(c.peers[0].line, 6);
	CHECK_EQ(c.peers[0].allowed_ips.n, 1);
	prefix_is(&c.peers[0].allowed_ips.v[0], "10.8.0.0/24");
	CHECK(c.peers[0].endpoint.host && !strcmp(c.peers[0].endpoint.host, "vpn.example.com"));
	CHECK_EQ(c.peers[0].endpoint.port, 51820);
	CHECK(c.peers[0].has_persistent_keepalive);
	CHECK_EQ(c.peers[0].persistent_keepalive, 25);
	CHECK(!c.peers[0].has_preshared_key);
	check_round_trip(&c);
	conf_free(&c);
}

static void several_peers(void)
{
	struct conf c;
	char text[2048];
	uint8_t k[32];

	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.0.0.1/24\n"
		 "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.3/32, 192.168.50.0/24\nAllowedIPs = 10.0.0.33/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.4/32\nEndpoint = 198.51.100.7:4000\n",
		 PRIV, key64(1), key64(2), key64(3), key64(4));
	if (!parse_ok(&c, text))
		return;
	CHECK(c.iface.has_listen_port);
	CHECK_EQ(c.iface.listen_port, 51820);
	CHECK_EQ(c.n_peers, 3);
	key_of(k, key64(1));
	CHECK_MEM(c.peers[0].public_key, k, 32);
	CHECK(c.peers[0].has_preshared_key);
	key_of(k, key64(2));
	CHECK_MEM(c.peers[0].preshared_key, k, 32);
	key_of(k, key64(4));
	CHECK_MEM(c.peers[2].public_key, k, 32);
	CHECK_EQ(c.peers[1].allowed_ips.n, 3); /* two lines accumulate, in order */
	prefix_is(&c.peers[1].allowed_ips.v[1], "192.168.50.0/24");
	prefix_is(&c.peers[1].allowed_ips.v[2], "10.0.0.33/32");
	CHECK(c.peers[2].endpoint.host && !strcmp(c.peers[2].endpoint.host, "198.51.100.7"));
	CHECK(conf_peer_find(&c, k) == &c.peers[2]);
	check_round_trip(&c);
	conf_free(&c);
}

static void ipv6(void)
{
	struct conf c;
	char text[1024];

	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nAddress = fd00:1::2/64, 10.0.0.2\nDNS = 2606:4700:4700::1111\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = fd00:1::/64\nEndpoint = [2001:db8::1]:51820\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = fe80::/64\nEndpoint = [fe80::1%%eth0]:1\n",
		 PRIV, key64(5), key64(6));
	if (!parse_ok(&c, text))
		return;
	CHECK_EQ(c.iface.addresses.n, 2);
	CHECK_EQ(c.iface.addresses.v[0].addr.family, AF_INET6);
	prefix_is(&c.iface.addresses.v[0], "fd00:1::2/64");
	prefix_is(&c.iface.addresses.v[1], "10.0.0.2/32"); /* no CIDR: a host */
	CHECK_EQ(c.iface.dns.servers.n, 1);
	CHECK_EQ(c.iface.dns.servers.v[0].family, AF_INET6);
	CHECK(!strcmp(c.peers[0].endpoint.host, "2001:db8::1"));
	CHECK(!strcmp(c.peers[1].endpoint.host, "fe80::1%eth0"));
	CHECK_EQ(c.peers[1].endpoint.port, 1);
	char *t;
	size_t l;
	CHECK_EQ(conf_write(&c, 0, &t, &l), 0);
	CHECK(strstr(t, "Endpoint = [2001:db8::1]:51820\n") != NULL);
	CHECK(strstr(t, "Endpoint = [fe80::1%eth0]:1\n") != NULL);
	CHECK(strstr(t, "Address = fd00:1::2/64, 10.0.0.2/32\n") != NULL);
	conf_text_free(t, l);
	check_round_trip(&c);
	conf_free(&c);
}

static void full_tunnel(void)
{
	struct conf c;

	if (!parse_ok(&c, "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.9.0.2/32, fd09::2/128\n"
			  "DNS = 10.9.0.1, fd09::1, corp.example, lan\n"
			  "[Peer]\nPublicKey = " PUB "\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 203.0.113.5:51820\n"))
		return;
	CHECK_EQ(c.peers[0].allowed_ips.n, 2);
	prefix_is(&c.peers[0].allowed_ips.v[0], "0.0.0.0/0");
	prefix_is(&c.peers[0].allowed_ips.v[1], "::/0");
	CHECK_EQ(c.iface.dns.servers.n, 2);
	CHECK_EQ(c.iface.dns.search.n, 2);
	CHECK(!strcmp(c.iface.dns.search.v[0], "corp.example"));
	CHECK(!strcmp(c.iface.dns.search.v[1], "lan"));
	check_round_trip(&c);
	conf_free(&c);
}

static void table_mtu_fwmark(void)
{
	static const struct { const char *value; enum conf_table_kind kind; uint32_t number; const char *name; } tables[] = {
		{ "off", CONF_TABLE_OFF, 0, NULL }, { "OFF", CONF_TABLE_OFF, 0, NULL },
		{ "auto", CONF_TABLE_AUTO, 0, NULL }, { "1234", CONF_TABLE_NUMBER, 1234, NULL },
		{ "4294967295", CONF_TABLE_NUMBER, 4294967295u, NULL }, { "main", CONF_TABLE_NAME, 0, "main" },
		{ "vpn_2.x-y", CONF_TABLE_NAME, 0, "vpn_2.x-y" },
	};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char text[512];
		struct conf c;
		snprintf(text, sizeof(text), "[Interface]\nTable = %s\nMTU = 1280\nFwMark = 0xCA6C\n", tables[i].value);
		if (!parse_ok(&c, text))
			continue;
		CHECK_EQ(c.iface.table.kind, tables[i].kind);
		CHECK_EQ(c.iface.table.number, tables[i].number);
		if (tables[i].name)
			CHECK(!strcmp(c.iface.table.name, tables[i].name));
		CHECK(c.iface.has_mtu);
		CHECK_EQ(c.iface.mtu, 1280);
		CHECK(c.iface.has_fwmark);
		CHECK_EQ(c.iface.fwmark, 0xca6c);
		CHECK(!c.iface.has_private_key); /* an interface may have no key yet */
		check_round_trip(&c);
		conf_free(&c);
	}
	/* FwMark off / 0 and decimal; keepalive off */
	struct conf c;
	if (parse_ok(&c, "[Interface]\nFwMark = off\n[Peer]\nPublicKey = " PUB "\nPersistentKeepalive = off\n")) {
		CHECK(c.iface.has_fwmark);
		CHECK_EQ(c.iface.fwmark, 0);
		CHECK(c.peers[0].has_persistent_keepalive);
		CHECK_EQ(c.peers[0].persistent_keepalive, 0);
		char *t;
		size_t l;
		CHECK_EQ(conf_write(&c, 0, &t, &l), 0);
		CHECK(strstr(t, "FwMark = off\n") && strstr(t, "PersistentKeepalive = off\n"));
		conf_text_free(t, l);
		conf_free(&c);
	}
	if (parse_ok(&c, "[Interface]\nFwMark = 4294967295\nListenPort = 0\nMTU = 65535\n")) {
		CHECK_EQ(c.iface.fwmark, 0xffffffffu);
		CHECK(c.iface.has_listen_port);
		CHECK_EQ(c.iface.listen_port, 0);
		CHECK_EQ(c.iface.mtu, 65535);
		check_round_trip(&c);
		conf_free(&c);
	}
}

static void hooks_keep_order_and_text(void)
{
	struct conf c;
	const char *text =
		"[Interface]\n"
		"PreUp = echo pre-up %i\n"
		"PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\n"
		"PostUp   =   sh -c 'echo \"two  spaces\" > /tmp/x'   # a comment, dropped like wg-quick does\n"
		"PreDown = true\n"
		"PostDown = iptables -D FORWARD -i %i -j ACCEPT\n"
		"SaveConfig = true\n";

	if (!parse_ok(&c, text))
		return;
	CHECK_EQ(c.iface.hooks[CONF_PRE_UP].n, 1);
	CHECK_EQ(c.iface.hooks[CONF_POST_UP].n, 2);
	CHECK(!strcmp(c.iface.hooks[CONF_POST_UP].v[0],
		      "iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE"));
	CHECK(!strcmp(c.iface.hooks[CONF_POST_UP].v[1], "sh -c 'echo \"two  spaces\" > /tmp/x'"));
	CHECK(!strcmp(c.iface.hooks[CONF_PRE_DOWN].v[0], "true"));
	CHECK_EQ(c.iface.hooks[CONF_POST_DOWN].n, 1);
	CHECK(c.iface.has_save_config && c.iface.save_config);
	check_round_trip(&c);
	conf_free(&c);
}

static void weft_section(void)
{
	struct conf c;
	char text[2048];

	/* [Weft] first, naming peers that come later */
	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.0.0.1/24, fd00::1/64\n"
		 "[Weft]\nPublicIPv4 = 203.0.113.1\nPublicIPv6 = 2001:db8::1\nHostname = vpn.example.com\n"
		 "PublicPort = 443\nPeerDNS = 10.0.0.1, fd00::1, home.arpa\n"
		 "PeerName = %s Alice's phone\nPeerName=%s\tbob-laptop  \n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.3/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.4/32\n",
		 PRIV, key64(11), key64(13), key64(11), key64(12), key64(13));
	if (!parse_ok(&c, text))
		return;
	CHECK(c.weft.has_public_ipv4);
	CHECK_EQ(c.weft.public_ipv4.family, AF_INET);
	CHECK(c.weft.has_public_ipv6);
	CHECK(c.weft.hostname && !strcmp(c.weft.hostname, "vpn.example.com"));
	CHECK(c.weft.has_public_port);
	CHECK_EQ(c.weft.public_port, 443);
	CHECK_EQ(c.weft.peer_dns.servers.n, 2);
	CHECK_EQ(c.weft.peer_dns.search.n, 1);
	CHECK(c.peers[0].name && !strcmp(c.peers[0].name, "Alice's phone"));
	CHECK(c.peers[1].name == NULL);
	CHECK(c.peers[2].name && !strcmp(c.peers[2].name, "bob-laptop"));
	check_round_trip(&c);

	char *t;
	size_t l;
	CHECK_EQ(conf_write(&c, CONF_WRITE_WEFT, &t, &l), 0);
	CHECK(strstr(t, "\n[Weft]\nPublicIPv4 = 203.0.113.1\nPublicIPv6 = 2001:db8::1\nHostname = vpn.example.com\n"
			"PublicPort = 443\nPeerDNS = 10.0.0.1, fd00::1, home.arpa\n") != NULL);
	char line[128];
	snprintf(line, sizeof(line), "PeerName = %s bob-laptop\n", key64(13));
	CHECK(strstr(t, line) != NULL);
	conf_text_free(t, l);
	/* a config for others never carries [Weft] */
	CHECK_EQ(conf_write(&c, 0, &t, &l), 0);
	CHECK(!strstr(t, "[Weft]") && !strstr(t, "PeerName") && !strstr(t, "PublicIPv4") && !strstr(t, "bob"));
	conf_text_free(t, l);
	CHECK_EQ(conf_write(&c, CONF_WRITE_WEFT | CONF_WRITE_STRIP, &t, &l), 0);
	CHECK(!strstr(t, "[Weft]"));
	conf_text_free(t, l);
	conf_free(&c);

	/* an empty [Weft] is allowed and written as nothing */
	if (parse_ok(&c, "[Weft]\n[Interface]\n")) {
		CHECK_EQ(conf_write(&c, CONF_WRITE_WEFT, &t, &l), 0);
		CHECK(!strcmp(t, "[Interface]\n"));
		conf_text_free(t, l);
		conf_free(&c);
	}
}

static void lenient_syntax_like_wg_quick(void)
{
	struct conf a, b;
	char text[1024];

	/* case-insensitive keys and sections, spacing, comments, CRLF, tabs,
	 * no trailing newline, sections in any order */
	snprintf(text, sizeof(text),
		 "# wg0\r\n\r\n  [peer]  \r\npublickey=%s\r\nALLOWEDIPS =10.0.0.2/32 ,  10.0.0.5/32# two\r\n"
		 "\tendpoint\t=\texample.org:1 \r\n[INTERFACE]\r\nprivatekey = %s # me\r\nlistenport=  51820\r\n"
		 "savecONFIG = False",
		 PUB, PRIV);
	if (!parse_ok(&a, text))
		return;
	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nListenPort = 51820\nSaveConfig = false\n\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32, 10.0.0.5/32\nEndpoint = example.org:1\n",
		 PRIV, PUB);
	if (!parse_ok(&b, text)) {
		conf_free(&a);
		return;
	}
	CHECK(conf_equal(&a, &b));
	/* and the canonical writer reproduces the second spelling exactly */
	char *t;
	size_t l;
	CHECK_EQ(conf_write(&a, 0, &t, &l), 0);
	CHECK(!strcmp(t, text));
	conf_text_free(t, l);
	b.peers[0].allowed_ips.v[1].cidr = 31;
	CHECK(!conf_equal(&a, &b));
	conf_free(&a);
	conf_free(&b);
}

static void canonical_output(void)
{
	struct conf c;
	char text[4096], want[4096];

	snprintf(text, sizeof(text),
		 "[Peer]\nPersistentKeepalive = 15\nEndpoint = [2001:db8::9]:51820\nAllowedIPs = 10.0.0.2/32\n"
		 "PresharedKey = %s\nPublicKey = %s\n"
		 "[Interface]\nSaveConfig = true\nPostDown = b\nPreDown = a\nPostUp = d\nPreUp = c\nTable = 51820\n"
		 "MTU = 1420\nDNS = example.com, 9.9.9.9\nAddress = 10.0.0.1/24\nFwMark = 51820\nListenPort = 1\n"
		 "PrivateKey = %s\n",
		 key64(7), PUB, PRIV);
	snprintf(want, sizeof(want),
		 "[Interface]\nPrivateKey = %s\nListenPort = 1\nFwMark = 0xca6c\nAddress = 10.0.0.1/24\n"
		 "DNS = 9.9.9.9, example.com\nMTU = 1420\nTable = 51820\nPreUp = c\nPostUp = d\nPreDown = a\n"
		 "PostDown = b\nSaveConfig = true\n\n"
		 "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "Endpoint = [2001:db8::9]:51820\nPersistentKeepalive = 15\n",
		 PRIV, PUB, key64(7));
	if (!parse_ok(&c, text))
		return;
	char *t;
	size_t l;
	CHECK_EQ(conf_write(&c, CONF_WRITE_WEFT, &t, &l), 0);
	if (strcmp(t, want))
		fprintf(stderr, "  got:\n%s  want:\n%s", t, want);
	CHECK(!strcmp(t, want));
	conf_text_free(t, l);
	conf_free(&c);
}

static void long_lists_wrap_and_round_trip(void)
{
	struct conf c;
	struct conf_peer *p;
	uint8_t k[32];

	conf_init(&c);
	key_of(k, PUB);
	CHECK_EQ(conf_peer_add(&c, k, &p), 0);
	for (uint32_t i = 0; i < 3000; i++) {
		struct conf_prefix pre = { .addr = { .family = AF_INET6 }, .cidr = 128 };
		pre.addr.bytes[0] = 0xfd;
		memcpy(pre.addr.bytes + 12, &i, sizeof(i));
		memset(pre.addr.bytes + 2, 0xab, 8); /* long textual form */
		CHECK_EQ(conf_prefix_list_add(&p->allowed_ips, &pre), 0);
	}
	char *t;
	size_t l;
	CHECK_EQ(conf_write(&c, 0, &t, &l), 0);
	/* no line near the parser's limit */
	size_t longest = 0, cur = 0;
	for (size_t i = 0; i < l; i++) {
		cur = t[i] == '\n' ? 0 : cur + 1;
		if (cur > longest)
			longest = cur;
	}
	CHECK(longest <= 1100);
	int lines = 0;
	for (const char *q = t; (q = strstr(q, "\nAllowedIPs = ")); q++)
		lines++;
	CHECK(lines >= 2); /* the list was split */
	conf_text_free(t, l);
	check_round_trip(&c);
	conf_free(&c);
}

/* ---- bad configs ---- */

static void expect_error(const char *text, size_t len, unsigned line, const char *want, unsigned flags)
{
	struct conf c, sentinel;
	char err[CONF_ERR_LEN], prefix[64];

	memset(&c, 0xa5, sizeof(c));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	int ret = conf_parse(&c, text, len, "bad.conf", flags, err, sizeof(err));
	snprintf(prefix, sizeof(prefix), line ? "bad.conf:%u: " : "bad.conf: ", line);
	bool ok = ret == -EINVAL && !strncmp(err, prefix, strlen(prefix)) && strstr(err, want) &&
		  !memcmp(&c, &sentinel, sizeof(c)) && !strchr(err, '\n');
	if (!ok)
		fprintf(stderr, "  for %.60s...: ret %d, message '%s'; wanted '%s' ... '%s'\n", text, ret, err,
			prefix, want);
	CHECK(ok);
	if (!ret)
		conf_free(&c);
}

#define BAD(text, line, want) expect_error(text, strlen(text), line, want, 0)

static void bad_configs_name_file_line(void)
{
	const char *I = "[Interface]\nPrivateKey = " PRIV "\n";
	char t[2048];

	BAD("[Interface]\nPrivateKey = " PRIV "\nFoo = bar\n", 3, "unknown key 'Foo' in [Interface] (expected one of PrivateKey");
	BAD("[Interface]\n[Peer]\nPublicKey = owQIT3h17OwJMx9orp5OzcReuJIPHptryRp2OEZDYk=\n", 3,
	    "PublicKey: 'owQIT3h17OwJMx9orp5OzcReuJIPHptryRp2OEZDYk=' is not a valid key (expected a base64 key of 44");
	BAD("[Interface]\n[Peer]\nPublicKey = owQIT3h17OwJMx9orp5OzcReuJIPHptryRp2OEZDYkJ=\n", 3, "is not a valid key");
	BAD("[Interface]\n[Peer]\nPublicKey = a304084f7875ecec09331f68ae9e4ecdc45eb8920f1e9b6bc91a763846436242\n", 3,
	    "is not a valid key");
	snprintf(t, sizeof(t), "%s\n\n[Peer]\nPublicKey = %s\n# x\nAllowedIPs = 10.0.0.0/8, 10.0.0.0/33\n", I, PUB);
	BAD(t, 8, "AllowedIPs: '10.0.0.0/33' is not an IP prefix (expected ADDRESS/CIDR");
	BAD("[Interface]\nAddress = 10.0.0.256/24\n", 2, "Address: '10.0.0.256/24' is not an IP prefix");
	BAD("[Interface]\nAddress = fd00::/129\n", 2, "is not an IP prefix");
	BAD("[Interface]\nAddress = 10.0.0.1/\n", 2, "is not an IP prefix");
	BAD("[Interface]\nAddress = 10.0.0.1/-1\n", 2, "is not an IP prefix");
	BAD("[Interface]\nAddress = 10.0.0.1 /24\n", 2, "is not an IP prefix");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nAllowedIPs = 10.0.0.0/8,,\n", 4, "AllowedIPs: empty entry");
	BAD("[Interface]\nListenPort = 65536\n", 2, "ListenPort: '65536' is not a port (expected 0..65535)");
	BAD("[Interface]\nListenPort = -1\n", 2, "is not a port");
	BAD("[Interface]\nListenPort = 0x10\n", 2, "is not a port");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = 1.2.3.4:0\n", 4, "Endpoint: '1.2.3.4:0' is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = 1.2.3.4:65536\n", 4, "is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = example.com\n", 4, "is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = 2001:db8::1:51820\n", 4, "is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = [10.0.0.1]:51820\n", 4, "is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = bad_host!:51820\n", 4, "is not an endpoint");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nEndpoint = 1.2.3:51820\n", 4, "is not an endpoint");
	BAD("[Interface]\nMTU = 67\n", 2, "MTU: '67' is not an MTU (expected 68..65535)");
	BAD("[Interface]\nMTU = 65536\n", 2, "is not an MTU");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nPersistentKeepalive = 65536\n", 4,
	    "PersistentKeepalive: '65536' is not an interval");
	BAD("[Interface]\nFwMark = 0x100000000\n", 2, "FwMark: '0x100000000' is not a firewall mark");
	BAD("[Interface]\nFwMark = 4294967296\n", 2, "is not a firewall mark");
	BAD("[Interface]\nTable = 0\n", 2, "Table: '0' is not a routing table");
	BAD("[Interface]\nTable = 4294967296\n", 2, "is not a routing table");
	BAD("[Interface]\nTable = 1main\n", 2, "is not a routing table");
	BAD("[Interface]\nSaveConfig = yes\n", 2, "SaveConfig: 'yes' is not a boolean (expected true or false)");
	BAD("[Interface]\nDNS = 1.2.3\n", 2, "DNS: '1.2.3' is not an IP address or a domain name");
	BAD("[Interface]\nDNS = bad..domain\n", 2, "is not an IP address or a domain name");
	BAD("[Interface]\nDNS =\n", 2, "DNS: no value (expected IP addresses");

	/* duplicate peer: named at the second PublicKey, pointing at the first */
	snprintf(t, sizeof(t), "%s[Peer]\nPublicKey = %s\n[Peer]\nPublicKey = %s\n[Peer]\nPublicKey = %s\n", I,
		 key64(1), key64(2), key64(1));
	BAD(t, 8, "appears twice (first in the [Peer] at line 3)");

	BAD("PrivateKey = " PRIV "\n[Interface]\n", 1, "'PrivateKey' is outside any section");
	BAD("# only a comment\n\n[Peer]\nPublicKey = " PUB "\n", 4, "no [Interface] section");
	BAD("", 1, "no [Interface] section");
	BAD("[Interface]\n\n[Interface]\n", 3, "second [Interface] section (the first is at line 1");
	BAD("[Interface]\n[Weft]\n[Weft]\n", 3, "second [Weft] section");
	BAD("[Interface]\nListenPort = 1\nAddress = 10.0.0.1/24\nlistenport = 2\n", 4,
	    "ListenPort set twice in this section (first at line 2");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nPublicKey = " PUB "\n", 4, "PublicKey set twice");
	BAD("[Interface]\n[Peer]\nAllowedIPs = 10.0.0.0/8\n[Peer]\nPublicKey = " PUB "\n", 2, "[Peer] has no PublicKey");
	BAD("[Interface]\n[Peer]\n", 2, "[Peer] has no PublicKey");
	BAD("[Interface]\n[Foo]\n", 2, "unknown section '[Foo]'");
	BAD("[Interface]\n[Peer\n", 2, "is not a section header");
	BAD("[Interface]\nPublicKey = " PUB "\n", 2, "PublicKey belongs in [Peer], not in [Interface]");
	BAD("[Interface]\n[Peer]\nPublicKey = " PUB "\nAddress = 10.0.0.1/32\n", 4, "Address belongs in [Interface]");
	BAD("[Interface]\nPrivateKey\n", 2, "is not a setting (expected Key = Value");
	BAD("[Interface]\n = 3\n", 2, "has no key");
	BAD("[Interface]\nListenPort = \n", 2, "ListenPort: no value");

	/* binary garbage, NUL bytes, overlong lines */
	expect_error("[Interface]\nListenPort = 1\0\n", 27, 2, "NUL byte", 0);
	expect_error("\x7f" "ELF\x02\x01\x01\0\0\0", 10, 1, "control character 0x7f", 0);
	BAD("[Interface]\n\x01\x02\x03\n", 2, "control character 0x01");
	BAD("[Interface]\nListenPort = 1\r2\n", 2, "control character 0x0d");
	BAD("[Interface]\n\xff\xfe garbage\n", 2, "is not a setting");
	char *big = malloc(CONF_MAX_LINE + 64);
	snprintf(big, 64, "[Interface]\nPostUp = ");
	size_t n = strlen(big);
	memset(big + n, 'a', CONF_MAX_LINE);
	big[n + CONF_MAX_LINE] = '\0';
	BAD(big, 2, "line longer than 8192 bytes");
	big[n + CONF_MAX_LINE - 10] = '\0'; /* fits a line, not a canonical "PostUp = " line */
	BAD(big, 2, "PostUp: command longer than");
	free(big);

	/* [Weft] */
	BAD("[Interface]\n[Weft]\nPeerName = " PUB " x\n", 3, "PeerName: no [Peer] has PublicKey '" PUB "'");
	snprintf(t, sizeof(t), "%s[Weft]\nPeerName = %s a\nPeerName = %s b\n[Peer]\nPublicKey = %s\n", I, PUB, PUB, PUB);
	BAD(t, 5, "is named twice");
	BAD("[Interface]\n[Weft]\nPeerName = " PUB "\n", 3, "PeerName: '" PUB "' is not a public key and a name");
	BAD("[Interface]\n[Weft]\nPeerName = nokey name\n", 3, "PeerName: 'nokey' is not a valid public key");
	snprintf(t, sizeof(t), "%s[Weft]\nPeerName = %s %s\n", I, PUB,
		 "this name is far too long to be accepted as a peer name by weft at all");
	BAD(t, 4, "is not a peer name");
	BAD("[Interface]\n[Weft]\nPublicIPv4 = 2001:db8::1\n", 3, "PublicIPv4: '2001:db8::1' is not an IPv4 address");
	BAD("[Interface]\n[Weft]\nPublicIPv6 = 10.0.0.1\n", 3, "is not an IPv6 address");
	BAD("[Interface]\n[Weft]\nHostname = 10.0.0.1\n", 3, "Hostname: '10.0.0.1' is not a host name");
	BAD("[Interface]\n[Weft]\nPublicPort = 0\n", 3, "PublicPort: '0' is not a port (expected 1..65535)");
	BAD("[Interface]\n[Weft]\nListenPort = 1\n", 3, "ListenPort belongs in [Interface], not in [Weft]");

	/* setconf form refuses wg-quick and weft settings */
	expect_error("[Interface]\nAddress = 10.0.0.1/24\n", 34, 2, "Address is a wg-quick setting", CONF_PARSE_SETCONF);
	expect_error("[Interface]\n[Weft]\n", 19, 2, "[Weft] is not part of the wg setconf form", CONF_PARSE_SETCONF);
}

static void errors_never_show_secrets(void)
{
	struct conf c;
	char err[CONF_ERR_LEN];
	/* a secret that is one character off being a valid key */
	const char *text = "[Interface]\nPrivateKey = wJ7aPDR4P2xS7ZDodD3voIw0dhYZ30dI1TYCJamBu0=\n";
	CHECK_EQ(parse(&c, text, err), -EINVAL);
	CHECK(!strncmp(err, "t.conf:2: PrivateKey: not a valid key", 37));
	CHECK(!strstr(err, "wJ7aPDR4"));
	text = "[Interface]\n[Peer]\nPublicKey = " PUB "\nPresharedKey = SECRETSECRETSECRET\n";
	CHECK_EQ(parse(&c, text, err), -EINVAL);
	CHECK(strstr(err, "t.conf:4: PresharedKey: not a valid key") == err);
	CHECK(!strstr(err, "SECRET"));
	/* a long bad value is shortened */
	char big[600];
	snprintf(big, sizeof(big), "[Interface]\nTable = t%0500d\n", 0);
	CHECK_EQ(parse(&c, big, err), -EINVAL);
	CHECK(strlen(err) < 300);
	CHECK(strstr(err, "...'") != NULL);
}

static void setconf_form_and_strip(void)
{
	struct conf c, s;
	char err[CONF_ERR_LEN];
	char text[1024];

	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nListenPort = 51820\nFwMark = 0x10\nAddress = 10.0.0.1/24\n"
		 "DNS = 1.1.1.1\nMTU = 1420\nTable = off\nPostUp = echo up\nSaveConfig = true\n"
		 "[Weft]\nHostname = vpn.example.com\nPeerName = %s phone\n"
		 "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.0.0.2/32\nEndpoint = 192.0.2.1:9\n"
		 "PersistentKeepalive = 5\n",
		 PRIV, PUB, PUB, key64(3));
	if (!parse_ok(&c, text))
		return;
	char *t;
	size_t l;
	CHECK_EQ(conf_write(&c, CONF_WRITE_STRIP, &t, &l), 0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "[Interface]\nPrivateKey = %s\nListenPort = 51820\nFwMark = 0x10\n\n"
		 "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.0.0.2/32\nEndpoint = 192.0.2.1:9\n"
		 "PersistentKeepalive = 5\n",
		 PRIV, PUB, key64(3));
	CHECK(!strcmp(t, want));
	CHECK_EQ(conf_parse(&s, t, l, "strip", CONF_PARSE_SETCONF, err, sizeof(err)), 0);
	CHECK_EQ(s.n_peers, 1);
	CHECK_EQ(s.iface.addresses.n, 0);
	conf_free(&s);
	conf_text_free(t, l);
	/* the full file is not setconf input */
	CHECK_EQ(conf_parse(&s, text, strlen(text), "x", CONF_PARSE_SETCONF, err, sizeof(err)), -EINVAL);
	conf_free(&c);

	/* setconf input may lack [Interface], and stays without one */
	snprintf(text, sizeof(text), "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.0/8\n", PUB);
	CHECK_EQ(conf_parse(&s, text, strlen(text), "x", CONF_PARSE_SETCONF, err, sizeof(err)), 0);
	CHECK(!s.has_interface);
	CHECK_EQ(conf_write(&s, CONF_WRITE_STRIP, &t, &l), 0);
	CHECK(!strcmp(t, text));
	conf_text_free(t, l);
	conf_free(&s);
}

/* ---- struct helpers ---- */

static void struct_helpers(void)
{
	struct conf c;
	struct conf_peer *p;
	uint8_t k1[32], k2[32], k3[32];

	conf_init(&c);
	key_of(k1, key64(21));
	key_of(k2, key64(22));
	key_of(k3, key64(23));
	CHECK_EQ(conf_peer_add(&c, k1, &p), 0);
	CHECK_EQ(conf_peer_add(&c, k2, &p), 0);
	memset(p->preshared_key, 0x77, 32);
	p->has_preshared_key = true;
	CHECK_EQ(conf_peer_add(&c, k2, NULL), -EEXIST);
	CHECK_EQ(conf_peer_add(&c, k3, &p), 0);
	CHECK_EQ(c.n_peers, 3);
	CHECK_EQ(conf_peer_remove(&c, k2), 0);
	CHECK_EQ(conf_peer_remove(&c, k2), -ENOENT);
	CHECK_EQ(c.n_peers, 2);
	CHECK_MEM(c.peers[0].public_key, k1, 32);
	CHECK_MEM(c.peers[1].public_key, k3, 32);
	/* the vacated slot holds no stale copy */
	static const uint8_t zero[sizeof(struct conf_peer)];
	CHECK(!memcmp(&c.peers[2], zero, sizeof(zero)));
	CHECK(conf_peer_find(&c, k2) == NULL);

	p = conf_peer_find(&c, k3);
	CHECK(p != NULL);
	CHECK_EQ(conf_peer_set_endpoint(p, "2001:db8::1", 51820), 0);
	CHECK_EQ(conf_peer_set_endpoint(p, "[2001:db8::1]", 51820), -EINVAL);
	CHECK_EQ(conf_peer_set_endpoint(p, "host.example", 0), -EINVAL);
	CHECK_EQ(conf_peer_set_endpoint(p, "a b", 1), -EINVAL);
	CHECK(!strcmp(p->endpoint.host, "2001:db8::1")); /* failures leave it */
	char ep[128];
	CHECK_EQ(conf_endpoint_format(ep, sizeof(ep), &p->endpoint), 19);
	CHECK(!strcmp(ep, "[2001:db8::1]:51820"));
	CHECK_EQ(conf_peer_set_name(p, "Carol's tablet"), 0);
	CHECK_EQ(conf_peer_set_name(p, "bad # name"), -EINVAL);
	CHECK_EQ(conf_peer_set_name(p, " lead"), -EINVAL);
	CHECK_EQ(conf_peer_set_name(p, ""), -EINVAL);
	CHECK(!strcmp(p->name, "Carol's tablet"));

	struct conf_prefix pre;
	CHECK(conf_prefix_parse(&pre, "10.1.2.3/16"));
	CHECK_EQ(conf_prefix_list_add(&p->allowed_ips, &pre), 0);
	pre.cidr = 33;
	CHECK_EQ(conf_prefix_list_add(&p->allowed_ips, &pre), -EINVAL);
	CHECK_EQ(conf_hook_add(&c.iface, CONF_POST_UP, "echo %i"), 0);
	CHECK_EQ(conf_hook_add(&c.iface, CONF_POST_UP, "echo # no"), -EINVAL);
	CHECK_EQ(conf_hook_add(&c.iface, CONF_POST_UP, "echo\nrm"), -EINVAL);
	CHECK_EQ(conf_hook_add(&c.iface, CONF_POST_UP, " padded"), -EINVAL);
	CHECK_EQ(conf_dns_add(&c.iface.dns, "1.1.1.1"), 0);
	CHECK_EQ(conf_dns_add(&c.iface.dns, "lan"), 0);
	CHECK_EQ(conf_dns_add(&c.iface.dns, "1.1.1"), -EINVAL);
	CHECK_EQ(conf_dns_add(&c.iface.dns, "fe80::zz"), -EINVAL);
	CHECK_EQ(c.iface.dns.servers.n, 1);
	CHECK_EQ(c.iface.dns.search.n, 1);
	CHECK_EQ(conf_weft_set_hostname(&c.weft, "vpn.example.com."), 0);
	CHECK_EQ(conf_weft_set_hostname(&c.weft, "-bad.example"), -EINVAL);
	CHECK_EQ(conf_weft_set_hostname(&c.weft, "1.2.3.4"), -EINVAL);
	check_round_trip(&c);

	/* the writer refuses a struct that breaks its invariants */
	char *t;
	size_t l;
	p->allowed_ips.v[0].cidr = 40;
	CHECK_EQ(conf_write(&c, 0, &t, &l), -EINVAL);
	CHECK(t == NULL);
	p->allowed_ips.v[0].cidr = 16;
	c.iface.has_mtu = true;
	c.iface.mtu = 10;
	CHECK_EQ(conf_write(&c, 0, &t, &l), -EINVAL);
	conf_free(&c);
	CHECK_EQ(c.n_peers, 0);
	CHECK(c.peers == NULL);
}

static void value_syntax(void)
{
	struct conf_addr a;
	struct conf_prefix p;
	struct conf_endpoint e = { 0 };
	char s[CONF_PREFIX_STRLEN];

	CHECK(conf_addr_parse(&a, "192.0.2.1"));
	CHECK_EQ(a.family, AF_INET);
	CHECK(!conf_addr_parse(&a, "192.0.2.01"));
	CHECK(!conf_addr_parse(&a, " 192.0.2.1"));
	CHECK(conf_addr_parse(&a, "::ffff:1.2.3.4"));
	CHECK_EQ(a.family, AF_INET6);
	CHECK(conf_prefix_parse(&p, "2001:DB8::/32"));
	conf_prefix_format(s, &p);
	CHECK(!strcmp(s, "2001:db8::/32"));
	CHECK(!conf_prefix_parse(&p, "10.0.0.0/1234"));
	CHECK(!conf_prefix_parse(&p, "10.0.0.0/+8"));
	CHECK(!conf_prefix_parse(&p, "10.0.0.0/8/8"));
	CHECK(conf_endpoint_parse(&e, "example.com:80"));
	CHECK(!strcmp(e.host, "example.com"));
	free(e.host);
	CHECK(!conf_endpoint_parse(&e, "example.com:http"));
	CHECK(!conf_endpoint_parse(&e, ":80"));
	CHECK(!conf_endpoint_parse(&e, "[]:80"));
	CHECK(!conf_endpoint_parse(&e, "[::1]80"));
	CHECK(!conf_endpoint_parse(&e, "[::1%]:80"));
	CHECK(conf_hostname_valid("a"));
	CHECK(conf_hostname_valid("xn--bcher-kva.example."));
	CHECK(conf_hostname_valid("_srv.example"));
	CHECK(!conf_hostname_valid("a..b"));
	CHECK(!conf_hostname_valid(".a"));
	CHECK(!conf_hostname_valid("a-.b"));
	CHECK(!conf_hostname_valid("123"));
	char label[80];
	memset(label, 'a', 64);
	label[64] = '\0';
	CHECK(!conf_hostname_valid(label));
	label[63] = '\0';
	CHECK(conf_hostname_valid(label));
	CHECK(conf_name_valid("x"));
	CHECK(!conf_name_valid("tab\there"));
	CHECK(!conf_name_valid("caf\xc3\xa9"));
}

/* ---- files ---- */

static bool file_is(const char *path, const char *want)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, want);
}

static int count_temp_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".tmp-"))
			n++;
	closedir(d);
	return n;
}

static void load_and_save_atomically(void)
{
	struct conf c, back;
	char err[CONF_ERR_LEN], path[128], link[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/wg0.conf", tmpdir);
	snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
	if (!parse_ok(&c, "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.1/24\n[Peer]\nPublicKey = " PUB
			  "\nAllowedIPs = 10.0.0.2/32\n"))
		return;
	mode_t old_umask = umask(0);
	CHECK_EQ(conf_save(&c, path, CONF_WRITE_WEFT, err, sizeof(err)), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(conf_load(&back, path, 0, err, sizeof(err)), 0);
	CHECK(conf_equal(&c, &back));
	conf_free(&back);

	/* replacing a 0644 file leaves 0600 */
	CHECK_EQ(chmod(path, 0644), 0);
	c.iface.has_listen_port = true;
	c.iface.listen_port = 7;
	CHECK_EQ(conf_save(&c, path, 0, err, sizeof(err)), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	umask(old_umask);

	/* through a symlink: the target changes, the link stays a link */
	CHECK_EQ(symlink("wg0.conf", link), 0);
	c.iface.listen_port = 8;
	CHECK_EQ(conf_save(&c, link, 0, err, sizeof(err)), 0);
	CHECK_EQ(lstat(link, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	CHECK_EQ(conf_load(&back, path, 0, err, sizeof(err)), 0);
	CHECK_EQ(back.iface.listen_port, 8);
	conf_free(&back);

	/* a failed write leaves the old file whole and no temp file behind */
	char *before;
	size_t before_len;
	CHECK_EQ(conf_write(&c, 0, &before, &before_len), 0);
	CHECK(file_is(path, before));
	pid_t pid = fork();
	if (pid == 0) {
		/* file size limit below the new file: write() fails with EFBIG */
		struct rlimit rl = { 16, 16 };
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		c.iface.listen_port = 9;
		_exit(conf_save(&c, path, 0, err, sizeof(err)) == -EFBIG ? 0 : 1);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(file_is(path, before));
	CHECK_EQ(count_temp_files(), 0);

	/* an unwritable directory (as an unprivileged user, since root may write anywhere) */
	if (geteuid() == 0) {
		CHECK_EQ(chmod(tmpdir, 0755), 0);
		pid = fork();
		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(2);
			c.iface.listen_port = 10;
			int r = conf_save(&c, path, 0, err, sizeof(err));
			_exit(r == -EACCES && strstr(err, "cannot write: Permission denied") ? 0 : 1);
		}
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(file_is(path, before));
		CHECK_EQ(count_temp_files(), 0);
		CHECK_EQ(chmod(tmpdir, 0700), 0);
	}
	conf_text_free(before, before_len);

	/* a missing directory */
	char nodir[160];
	snprintf(nodir, sizeof(nodir), "%s/missing/wg0.conf", tmpdir);
	CHECK_EQ(conf_save(&c, nodir, 0, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/missing/wg0.conf: cannot write: ") != NULL);

	/* load errors */
	CHECK_EQ(conf_load(&back, nodir, 0, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "cannot open") != NULL);
	CHECK_EQ(conf_load(&back, tmpdir, 0, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK_EQ(atomic_file_write(path, "x", 1, 0600), 0);
	CHECK_EQ(conf_load(&back, path, 0, err, sizeof(err)), -EINVAL);
	char want[200];
	snprintf(want, sizeof(want), "%s:1: 'x' is not a setting", path);
	CHECK(!strncmp(err, want, strlen(want)));

	unlink(link);
	unlink(path);
	conf_free(&c);
}

static void atomic_file_basics(void)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	CHECK_EQ(atomic_file_write(path, "hello\n", 6, 0640), 0);
	CHECK(file_is(path, "hello\n"));
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0640);
	CHECK_EQ(atomic_file_write(path, "", 0, 0600), 0);
	CHECK(file_is(path, ""));
	CHECK_EQ(count_temp_files(), 0);
	unlink(path);
}

/* ---- scale ---- */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static char *many_peers(uint32_t n, size_t *len, bool duplicate_last)
{
	size_t cap = 256 + (size_t)n * 128;
	char *t = malloc(cap);
	size_t o = (size_t)snprintf(t, cap, "[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.0.0.1/8\n", PRIV);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t k[32] = { 0 };
		char b64[WEFT_KEY_B64_LEN + 1];
		uint32_t id = duplicate_last && i == n - 1 ? 0 : i;
		memcpy(k, &id, sizeof(id)); /* keys differing in few bits stress the hash */
		key_to_base64(b64, k);
		o += (size_t)snprintf(t + o, cap - o, "\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.%u.%u.%u/32\n", b64,
				      (i >> 16) & 255, (i >> 8) & 255, i & 255);
	}
	*len = o;
	return t;
}

static void hundred_thousand_peers(void)
{
	const uint32_t n = 100000;
	struct conf c, back;
	char err[CONF_ERR_LEN];
	struct timespec t0;
	size_t len;
	char *text = many_peers(n, &len, false);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = conf_parse(&c, text, len, "big.conf", 0, err, sizeof(err));
	double parse_s = seconds_since(&t0);
	CHECK_EQ(ret, 0);
	if (ret) {
		fprintf(stderr, "  %s\n", err);
		free(text);
		return;
	}
	CHECK_EQ(c.n_peers, n);
	fprintf(stderr, "  %u peers (%zu bytes) parsed in %.3f s\n", n, len, parse_s);
	CHECK(parse_s < 5.0);

	char *out;
	size_t out_len;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(conf_write(&c, CONF_WRITE_WEFT, &out, &out_len), 0);
	fprintf(stderr, "  written in %.3f s\n", seconds_since(&t0));
	CHECK(out_len == len && !memcmp(out, text, len)); /* the input was canonical */
	CHECK_EQ(conf_parse(&back, out, out_len, "big2.conf", 0, err, sizeof(err)), 0);
	CHECK(conf_equal(&c, &back));
	conf_free(&back);
	conf_text_free(out, out_len);
	conf_free(&c);
	free(text);

	/* a duplicate at the very end is found, fast, with both lines */
	text = many_peers(n, &len, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(conf_parse(&c, text, len, "big.conf", 0, err, sizeof(err)), -EINVAL);
	CHECK(seconds_since(&t0) < 5.0);
	char want[128];
	snprintf(want, sizeof(want), "big.conf:%u: PublicKey: peer '", 5 + 4 * (n - 1) + 2);
	CHECK(!strncmp(err, want, strlen(want)));
	CHECK(strstr(err, "(first in the [Peer] at line 6)") != NULL);
	free(text);
}

/* conf_word_eq against the plain definition (lower-case A-Z on both sides,
 * then compare), for every pair of bytes, alone and inside words. */
static bool word_eq_ref(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
		if (!x)
			return true;
	}
}

static void word_eq_every_byte(void)
{
	int wrong = 0;

	for (int x = 1; x < 256; x++) {
		for (int y = 1; y < 256; y++) {
			char a[4] = { 'k', (char)x, 'y', 0 }, b[4] = { 'K', (char)y, 'Y', 0 };

			wrong += conf_word_eq(a, b) != word_eq_ref(a, b);
			wrong += conf_word_eq(a + 1, b + 1) != word_eq_ref(a + 1, b + 1);
		}
		char a[3] = { (char)x, 0, 0 };
		wrong += conf_word_eq(a, "") != word_eq_ref(a, "");
	}
	CHECK_EQ(wrong, 0);
	CHECK(conf_word_eq("PublicKey", "publickey") && !conf_word_eq("PublicKey", "PublicKe") &&
	      !conf_word_eq("@", "`") && !conf_word_eq("[", "{"));
}

int main(void)
{
	test_suite_name = "conf";
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weft-test-conf.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("FAIL: conf/mkdtemp\n");
		return 1;
	}
	RUN(single_peer);
	RUN(several_peers);
	RUN(ipv6);
	RUN(full_tunnel);
	RUN(table_mtu_fwmark);
	RUN(hooks_keep_order_and_text);
	RUN(weft_section);
	RUN(lenient_syntax_like_wg_quick);
	RUN(canonical_output);
	RUN(long_lists_wrap_and_round_trip);
	RUN(bad_configs_name_file_line);
	RUN(errors_never_show_secrets);
	RUN(setconf_form_and_strip);
	RUN(struct_helpers);
	RUN(value_syntax);
	RUN(load_and_save_atomically);
	RUN(atomic_file_basics);
	RUN(hundred_thousand_peers);
	RUN(word_eq_every_byte);
	rmdir(tmpdir);
	TEST_EXIT();
}
