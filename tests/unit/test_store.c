/* test_store.c: the peer store (src/conf/store.c), IFACE.weft
 * (weftfile.c) and minimal rewrites of wg-quick files (conf_rewrite.c):
 * comments and spelling survive, only changed lines change, records survive
 * a round trip, disabled peers leave IFACE.conf and come back, the two files
 * stay consistent across a cut-short save, and older files migrate. */
#include "test.h"

#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/store.h"
#include "conf/weftfile.h"
#include "util/encoding.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];

static void key_n(uint8_t k[32], unsigned n)
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(n * 37 + (unsigned)i * 11 + 1);
	memcpy(k + 28, &n, sizeof(n)); /* distinct for every n */
}

static const char *b64_n(unsigned n)
{
	static char bufs[4][WEFT_KEY_B64_LEN + 1];
	static unsigned next;
	uint8_t k[32];
	char *b = bufs[next++ % 4];

	key_n(k, n);
	key_to_base64(b, k);
	return b;
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n < 0 ? NULL : buf;
}

static void spit(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
		close(fd);
	}
}

static void path_of(char *out, const char *name)
{
	snprintf(out, 256, "%s/%s", tmpdir, name);
}

/* old text, parsed as before; after = before changed by fn; the rewrite
 * must equal want. */
static void rewrite_case(const char *old, void (*change)(struct conf *), const char *want)
{
	struct conf before, after;
	char err[CONF_ERR_LEN], *text = NULL;
	size_t len = 0;

	CHECK_EQ(conf_parse(&before, old, strlen(old), "t.conf", 0, err, sizeof(err)), 0);
	CHECK_EQ(conf_parse(&after, old, strlen(old), "t.conf", 0, err, sizeof(err)), 0);
	change(&after);
	CHECK_EQ(conf_rewrite(old, strlen(old), &before, &after, &text, &len), 0);
	if (text && strcmp(text, want)) {
		fprintf(stderr, "  got:\n%s\n  wanted:\n%s\n", text, want);
		CHECK(!"rewrite differs");
	}
	/* and what was written reads as after */
	if (text) {
		struct conf re;
		CHECK_EQ(conf_parse(&re, text, len, "t.conf", 0, err, sizeof(err)), 0);
		struct conf_weft none = { 0 };
		after.weft = none; /* [Weft] and names are not written */
		for (uint32_t i = 0; i < after.n_peers; i++) {
			free(after.peers[i].name);
			after.peers[i].name = NULL;
		}
		CHECK(conf_equal(&re, &after));
		conf_free(&re);
	}
	conf_text_free(text, len);
	conf_free(&before);
	conf_free(&after);
}

static const char *commented;

static void no_change(struct conf *c) { (void)c; }

static void change_port(struct conf *c)
{
	c->iface.listen_port = 51000;
}

static void add_peer(struct conf *c)
{
	struct conf_peer *p;
	uint8_t k[32];
	struct conf_prefix pre;

	key_n(k, 9);
	CHECK_EQ(conf_peer_add(c, k, &p), 0);
	conf_prefix_parse(&pre, "10.0.0.9/32");
	conf_prefix_list_add(&p->allowed_ips, &pre);
}

static void change_port_add_peer(struct conf *c)
{
	change_port(c);
	add_peer(c);
}

static void remove_first_peer(struct conf *c)
{
	uint8_t k[32];
	memcpy(k, c->peers[0].public_key, 32);
	CHECK_EQ(conf_peer_remove(c, k), 0);
}

static void change_allowed(struct conf *c)
{
	struct conf_prefix pre;

	conf_prefix_parse(&pre, "10.0.0.22/32");
	conf_prefix_list_add(&c->peers[1].allowed_ips, &pre);
	c->peers[1].has_persistent_keepalive = true;
	c->peers[1].persistent_keepalive = 25;
}

static void test_rewrite(void)
{
	char file[4096];

	snprintf(file, sizeof(file),
		 "# my server\n"
		 "[Interface]\n"
		 "privatekey=%s\n"
		 "listenport = 51820   # the port\n"
		 "Address = 10.0.0.1/24\n"
		 "\n"
		 "# alice\n"
		 "# (two lines)\n"
		 "[Peer]\n"
		 "PublicKey = %s\n"
		 "AllowedIPs = 10.0.0.2/32\n"
		 "\n"
		 "# bob\n"
		 "[peer]\n"
		 "publickey = %s\n"
		 "allowedips = 10.0.0.3/32 # bob's\n", b64_n(1), b64_n(2), b64_n(3));
	commented = file;
	rewrite_case(file, no_change, file);

	char want[8192];
	snprintf(want, sizeof(want),
		 "# my server\n[Interface]\nprivatekey=%s\nlistenport = 51000   # the port\nAddress = 10.0.0.1/24\n"
		 "\n# alice\n# (two lines)\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "\n# bob\n[peer]\npublickey = %s\nallowedips = 10.0.0.3/32 # bob's\n", b64_n(1), b64_n(2), b64_n(3));
	rewrite_case(file, change_port, want);

	snprintf(want, sizeof(want), "%s\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.9/32\n", file, b64_n(9));
	rewrite_case(file, add_peer, want);

	snprintf(want, sizeof(want),
		 "# my server\n[Interface]\nprivatekey=%s\nlistenport = 51820   # the port\nAddress = 10.0.0.1/24\n"
		 "\n# bob\n[peer]\npublickey = %s\nallowedips = 10.0.0.3/32 # bob's\n", b64_n(1), b64_n(3));
	rewrite_case(file, remove_first_peer, want);

	snprintf(want, sizeof(want),
		 "# my server\n[Interface]\nprivatekey=%s\nlistenport = 51820   # the port\nAddress = 10.0.0.1/24\n"
		 "\n# alice\n# (two lines)\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "\n# bob\n[peer]\npublickey = %s\nallowedips = 10.0.0.3/32, 10.0.0.22/32 # bob's\n"
		 "PersistentKeepalive = 25\n", b64_n(1), b64_n(2), b64_n(3));
	rewrite_case(file, change_allowed, want);
}

/* A file with "\r\n" endings gets "\r\n" on the lines weft adds. */
static void test_rewrite_crlf(void)
{
	char file[1024], want[2048];

	snprintf(file, sizeof(file), "[Interface]\r\nPrivateKey = %s\r\nListenPort = 1\r\n", b64_n(1));
	snprintf(want, sizeof(want), "[Interface]\r\nPrivateKey = %s\r\nListenPort = 51000\r\n\r\n[Peer]\r\n"
		 "PublicKey = %s\r\nAllowedIPs = 10.0.0.9/32\r\n", b64_n(1), b64_n(9));
	rewrite_case(file, change_port_add_peer, want);
}

static void test_rewrite_drops_weft(void)
{
	char file[2048], want[2048];

	snprintf(file, sizeof(file),
		 "[Interface]\nPrivateKey = %s\nAddress = 10.0.0.1/24\n\n"
		 "[Weft]\nPublicIPv4 = 203.0.113.7\nPeerName = %s alice\n\n"
		 "# alice\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n", b64_n(1), b64_n(2), b64_n(2));
	snprintf(want, sizeof(want),
		 "[Interface]\nPrivateKey = %s\nAddress = 10.0.0.1/24\n\n"
		 "# alice\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n", b64_n(1), b64_n(2));
	rewrite_case(file, no_change, want);
}

/* weft link's settings: [Weft] Coord and CoordKey, a record's Roaming;
 * kept by a rewrite, refused when malformed. */
static void test_weftfile_link(void)
{
	struct weft_file w;
	char err[CONF_ERR_LEN], text[512], *out = NULL;
	size_t len = 0;
	uint8_t k[32];

	snprintf(text, sizeof(text), "[Weft]\nCoord = coord.example:51819\nCoordKey = %s\n\n"
		 "[Peer]\nPublicKey = %s\nRoaming = true\n", b64_n(3), b64_n(4));
	CHECK_EQ(weftfile_parse(&w, text, strlen(text), "t.weft", err, sizeof(err)), 0);
	CHECK(w.link.coord && !strcmp(w.link.coord, "coord.example:51819"));
	key_n(k, 3);
	CHECK(w.link.has_coord_key && !memcmp(w.link.coord_key, k, 32));
	CHECK(w.n == 1 && w.recs[0].roaming);
	CHECK_EQ(weftfile_write(&w, &out, &len), 0);
	weftfile_free(&w);
	CHECK_EQ(weftfile_parse(&w, out, len, "t2.weft", err, sizeof(err)), 0);
	CHECK(w.link.coord && !strcmp(w.link.coord, "coord.example:51819"));
	CHECK(w.link.has_coord_key);
	CHECK(w.n == 1 && w.recs[0].roaming); /* Roaming alone keeps a record */
	weftfile_free(&w);
	conf_text_free(out, len);
	CHECK_EQ(weftfile_parse(&w, "[Weft]\nCoord = nowhere\n", 21, "b.weft", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "b.weft:2: Coord") != NULL);
	snprintf(text, sizeof(text), "[Peer]\nPublicKey = %s\nRoaming = maybe\n", b64_n(4));
	CHECK_EQ(weftfile_parse(&w, text, strlen(text), "c.weft", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "c.weft:3: Roaming") != NULL);
}

/* Peers added at the end take a shortcut in conf_rewrite (the text kept
 * whole, the peers after it): it must write what the general rewrite writes,
 * however the file ends, and leave [Weft] files to the general way. */
static void append_case(const char *old, unsigned added, const char *want)
{
	struct conf before, after;
	char err[CONF_ERR_LEN], *fast = NULL, *general = NULL;
	size_t fast_len = 0, general_len = 0;

	CHECK_EQ(conf_parse(&before, old, strlen(old), "t.conf", 0, err, sizeof(err)), 0);
	CHECK_EQ(conf_copy(&after, &before), 0);
	for (unsigned i = 0; i < added; i++) {
		struct conf_peer *p;
		struct conf_prefix pre;
		uint8_t k[32];

		key_n(k, 40 + i);
		CHECK_EQ(conf_peer_add(&after, k, &p), 0);
		CHECK(conf_prefix_parse(&pre, "10.0.0.40/32"));
		pre.addr.bytes[3] = (uint8_t)(40 + i);
		CHECK_EQ(conf_prefix_list_add(&p->allowed_ips, &pre), 0);
	}
	CHECK_EQ(conf_rewrite(old, strlen(old), &before, &after, &fast, &fast_len), 0);
	CHECK_EQ(conf_rewrite_general(old, strlen(old), &before, &after, &general, &general_len), 0);
	CHECK(fast && general && fast_len == general_len && !memcmp(fast, general, fast_len));
	if (fast && general && strcmp(fast, general))
		fprintf(stderr, "  shortcut:\n%s\n  general:\n%s\n", fast, general);
	if (want && fast && strcmp(fast, want))
		fprintf(stderr, "  got:\n%s\n  wanted:\n%s\n", fast, want);
	CHECK(!want || (fast && !strcmp(fast, want)));
	conf_text_free(fast, fast_len);
	conf_text_free(general, general_len);
	conf_free(&before);
	conf_free(&after);
}

static void test_rewrite_append(void)
{
	static const char *const ends[] = {
		"", "\n", "\n\n", "\r", "\r\n", "\n# the end\n", "\n# the end", "\n \t\n", "\n\t",
	};
	char head[1024], file[2048], want[4096];

	snprintf(head, sizeof(head), "# [Peer] sections below; [Weft] is elsewhere\n[Interface]\nPrivateKey = %s\n"
		 "Address = 10.0.0.1/24\n\n  [Peer]  # indented\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "Endpoint = [fd00::1]:51820", b64_n(1), b64_n(2));
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", head, ends[i]);
		append_case(file, 1, NULL);
		append_case(file, 3, NULL);
		append_case(file, 0, file);
	}
	snprintf(file, sizeof(file), "%s\n", head);
	snprintf(want, sizeof(want), "%s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.40/32\n", head, b64_n(40));
	append_case(file, 1, want);
	snprintf(want, sizeof(want), "%s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.40/32\n", head, b64_n(40));
	append_case(head, 1, want); /* no '\n' at the end: one comes first */
	/* "\r\n" files get "\r\n" lines */
	snprintf(file, sizeof(file), "[Interface]\r\nPrivateKey = %s\r\n", b64_n(1));
	snprintf(want, sizeof(want), "%s\r\n[Peer]\r\nPublicKey = %s\r\nAllowedIPs = 10.0.0.40/32\r\n", file, b64_n(40));
	append_case(file, 1, want);
	/* a [Weft] section is dropped: not a plain append */
	snprintf(file, sizeof(file), "[Interface]\nPrivateKey = %s\n[Weft]\nPublicPort = 5\n", b64_n(1));
	snprintf(want, sizeof(want), "[Interface]\nPrivateKey = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.40/32\n",
		 b64_n(1), b64_n(40));
	append_case(file, 1, want);
}

static void test_weftfile_roundtrip(void)
{
	struct weft_file w, r;
	struct peer_record *rec;
	struct conf_prefix pre;
	char err[CONF_ERR_LEN], *text = NULL, *text2 = NULL;
	size_t len = 0, len2 = 0;
	uint8_t k[32];

	weftfile_init(&w);
	CHECK(conf_addr_parse(&w.settings.public_ipv4, "203.0.113.7"));
	w.settings.has_public_ipv4 = true;
	CHECK_EQ(conf_dns_add(&w.settings.peer_dns, "1.1.1.1"), 0);
	key_n(k, 1);
	CHECK_EQ(weftfile_append(&w, k, &rec), 0);
	rec->name = strdup("alice@phone");
	rec->owner = strdup("token:42");
	rec->created = 1796000000;
	rec->expires = 1800000000;
	rec->endpoint_type = WEFT_ENDPOINT_IPV4;
	rec->has_client_dns = true; /* none */
	rec->has_client_keepalive = true;
	rec->client_keepalive = 0;
	rec->enabled = false;
	conf_prefix_parse(&pre, "10.0.0.2/32");
	conf_prefix_list_add(&rec->held.allowed_ips, &pre);
	rec->held.has_preshared_key = true;
	memset(rec->held.preshared_key, 7, 32);
	key_n(k, 2);
	CHECK_EQ(weftfile_append(&w, k, &rec), 0); /* empty: not written */
	CHECK_EQ(weftfile_write(&w, &text, &len), 0);
	CHECK_EQ(weftfile_parse(&r, text, len, "t.weft", err, sizeof(err)), 0);
	CHECK_EQ(r.n, 1);
	if (r.n == 1) {
		rec = &r.recs[0];
		CHECK(rec->name && !strcmp(rec->name, "alice@phone"));
		CHECK(rec->owner && !strcmp(rec->owner, "token:42"));
		CHECK_EQ(rec->created, 1796000000);
		CHECK_EQ(rec->expires, 1800000000);
		CHECK_EQ(rec->endpoint_type, WEFT_ENDPOINT_IPV4);
		CHECK(rec->has_client_dns && !rec->client_dns.servers.n);
		CHECK(rec->has_client_keepalive && rec->client_keepalive == 0);
		CHECK(!rec->enabled);
		CHECK_EQ(rec->held.allowed_ips.n, 1);
		CHECK(rec->held.has_preshared_key && rec->held.preshared_key[5] == 7);
	}
	CHECK(r.settings.has_public_ipv4 && r.settings.peer_dns.servers.n == 1);
	CHECK_EQ(weftfile_write(&r, &text2, &len2), 0);
	CHECK(len == len2 && text && text2 && !memcmp(text, text2, len));

	/* errors name the line */
	const char *bad = "[Weft]\nPublicIPv4 = 1.2.3.4\n[Peer]\nPublicKey = nope\n";
	CHECK_EQ(weftfile_parse(&r, bad, strlen(bad), "t.weft", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "t.weft:4:") != NULL);
	char dup[512];
	snprintf(dup, sizeof(dup), "[Peer]\nPublicKey = %s\n[Peer]\nPublicKey = %s\n", b64_n(1), b64_n(1));
	CHECK_EQ(weftfile_parse(&r, dup, strlen(dup), "t.weft", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "t.weft:4:") != NULL);
	snprintf(dup, sizeof(dup), "[Peer]\nName = x\n");
	CHECK_EQ(weftfile_parse(&r, dup, strlen(dup), "t.weft", err, sizeof(err)), -EINVAL);

	int64_t t;
	CHECK(weft_time_parse("2026-12-07T21:48:01Z", &t) && t == 1796680081);
	CHECK(weft_time_parse("2026-12-07", &t) && t == 1796601600);
	CHECK(!weft_time_parse("2026-12-07T21:48:01", &t));
	CHECK(!weft_time_parse("yesterday", &t));
	CHECK(!weft_time_parse("2027-02-29", &t) && weft_time_parse("2028-02-29", &t));
	CHECK(weft_time_parse("2026-12-07T21:48Z", &t) && t == 1796680080);
	CHECK(!weft_time_parse("2026-13-01", &t) && !weft_time_parse("2026-12-07T24:00:00Z", &t));
	char tb[WEFT_TIME_STRLEN];
	weft_time_format(tb, 1796680081);
	CHECK(!strcmp(tb, "2026-12-07T21:48:01Z"));
	/* the hand-made text is strftime's: edges, leap days, random times */
	static const int64_t edges[] = { 0, 1, 59, 86399, 86400, 951782400 /* 2000-02-29 */,
					 4107542400 /* 2100-03-01 */, 253402300799, 253402300800, -1 };
	test_seed(0x5eed);
	for (int i = 0; i < 100000; i++) {
		int64_t v = i < (int)(sizeof(edges) / sizeof(edges[0])) ? edges[i] :
			    (int64_t)(test_rnd() % UINT64_C(253402300800));
		time_t tv = (time_t)v;
		struct tm tm;
		char ref[64];

		weft_time_format(tb, v);
		if (!gmtime_r(&tv, &tm) || !strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%SZ", &tm) ||
		    strlen(ref) >= WEFT_TIME_STRLEN)
			snprintf(ref, sizeof(ref), "1970-01-01T00:00:00Z");
		if (strcmp(tb, ref)) {
			fprintf(stderr, "  %lld: %s, strftime %s\n", (long long)v, tb, ref);
			CHECK(!"time text differs");
			break;
		}
	}
	conf_text_free(text, len);
	conf_text_free(text2, len2);
	weftfile_free(&w);
	weftfile_free(&r);
}

static struct conf_peer *make_peer(struct conf_peer *p, unsigned n)
{
	struct conf_prefix pre;
	char a[32];

	memset(p, 0, sizeof(*p));
	key_n(p->public_key, n);
	snprintf(a, sizeof(a), "10.0.%u.%u/32", n / 250, n % 250 + 2);
	conf_prefix_parse(&pre, a);
	conf_prefix_list_add(&p->allowed_ips, &pre);
	p->has_preshared_key = true;
	memset(p->preshared_key, (int)n, 32);
	return p;
}

static void test_store_lifecycle(void)
{
	char conf[256], weft[256], err[CONF_ERR_LEN];
	struct store s;
	struct conf_peer p;
	struct peer_record *r;
	uint8_t k[32];
	struct stat st;

	path_of(conf, "wl.conf");
	path_of(weft, "wl.weft");
	spit(conf, "# keep me\n[Interface]\nListenPort = 51820 # port\nAddress = 10.0.0.1/24\n");
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK(!strcmp(s.weft_path, weft));
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 1), &r), 0);
	free(p.allowed_ips.v);
	CHECK(r != NULL);
	if (r)
		r->created = 1796000000;
	CHECK_EQ(store_peer_rename(&s, p.public_key, "alice"), 0);
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 2), NULL), 0);
	free(p.allowed_ips.v);
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 2), NULL), -EEXIST);
	free(p.allowed_ips.v);
	CHECK_EQ(store_peer_rename(&s, p.public_key, "alice"), -EEXIST);
	CHECK_EQ(store_peer_rename(&s, p.public_key, "bad name"), -EINVAL);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	CHECK(!stat(weft, &st) && (st.st_mode & 0777) == 0600);
	CHECK(!stat(conf, &st) && (st.st_mode & 0777) == 0600);
	const char *text = slurp(conf);
	CHECK(text && !strncmp(text, "# keep me\n[Interface]\nListenPort = 51820 # port\n", 47));
	CHECK(text && strstr(text, "PresharedKey") && !strstr(text, "alice") && !strstr(text, "[Weft]"));

	/* disable: out of IFACE.conf, address and key kept in the record */
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "alice", k), 0);
	CHECK_EQ(store_peer_disable(&s, k), 0);
	CHECK_EQ(store_peer_disable(&s, k), -EALREADY);
	CHECK(store_peer_settings(&s, k) && store_peer_settings(&s, k)->allowed_ips.n == 1);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	text = slurp(conf);
	CHECK(text && !strstr(text, b64_n(1)) && strstr(text, b64_n(2)));
	text = slurp(weft);
	CHECK(text && strstr(text, "Enabled = false") && strstr(text, "AllowedIPs = 10.0.0.3/32") &&
	      strstr(text, "PresharedKey"));

	/* enable: back, and the record no longer holds its keys */
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	r = store_record_by_name(&s, "alice");
	CHECK(r && !r->enabled && r->created == 1796000000);
	CHECK_EQ(store_peer_enable(&s, k), 0);
	CHECK_EQ(store_peer_enable(&s, k), -EALREADY);
	CHECK(store_conf_peer(&s, k) && store_conf_peer(&s, k)->has_preshared_key &&
	      store_conf_peer(&s, k)->preshared_key[0] == 1);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	text = slurp(weft);
	CHECK(text && !strstr(text, "PresharedKey") && strstr(text, "Name = alice"));
	text = slurp(conf);
	CHECK(text && strstr(text, b64_n(1)));

	/* remove */
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK_EQ(store_peer_remove(&s, k), 0);
	CHECK_EQ(store_peer_remove(&s, k), -ENOENT);
	CHECK_EQ(store_lookup(&s, "alice", k), -ENOENT);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	text = slurp(weft);
	CHECK(text && !strstr(text, "alice"));
	text = slurp(conf);
	CHECK(text && !strstr(text, b64_n(1)) && !strncmp(text, "# keep me\n", 10));
}

/* What a crash between the two writes can leave is read as before or
 * after the change. */
static void test_store_consistency(void)
{
	char conf[256], weft[256], err[CONF_ERR_LEN], text[2048];
	struct store s;
	uint8_t k[32];

	path_of(conf, "wc.conf");
	path_of(weft, "wc.weft");
	snprintf(text, sizeof(text), "[Interface]\nAddress = 10.0.0.1/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n",
		 b64_n(1));
	spit(conf, text);
	/* a disabled record while IFACE.conf has the peer: enabled (a disable
	 * cut short); an enabled record without the peer: forgotten (an add
	 * cut short) */
	snprintf(text, sizeof(text),
		 "[Peer]\nPublicKey = %s\nName = one\nEnabled = false\nAllowedIPs = 10.0.0.2/32\n"
		 "[Peer]\nPublicKey = %s\nName = two\nEnabled = true\n"
		 "[Peer]\nPublicKey = %s\nName = three\nEnabled = false\nAllowedIPs = 10.0.0.4/32\n",
		 b64_n(1), b64_n(2), b64_n(3));
	spit(weft, text);
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), 0);
	key_n(k, 1);
	CHECK(store_record(&s, k) && store_record(&s, k)->enabled);
	CHECK(store_record_by_name(&s, "two") == NULL);
	key_n(k, 3);
	CHECK(store_record(&s, k) && !store_record(&s, k)->enabled);
	CHECK(store_peer_settings(&s, k) && store_peer_settings(&s, k)->allowed_ips.n == 1);
	store_close(&s);
}

static void test_store_migrates(void)
{
	char conf[256], weft[256], err[CONF_ERR_LEN], text[2048], want[2048];
	struct store s;
	uint8_t k[32];

	path_of(conf, "wm.conf");
	path_of(weft, "wm.weft");
	snprintf(text, sizeof(text),
		 "[Interface]\nAddress = 10.0.0.1/24 # net\n\n[Weft]\nPublicIPv4 = 203.0.113.7\nPeerDNS = 1.1.1.1\n"
		 "PeerName = %s alice\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n", b64_n(1), b64_n(1));
	snprintf(want, sizeof(want),
		 "[Interface]\nAddress = 10.0.0.1/24 # net\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n", b64_n(1));
	spit(conf, text);
	unlink(weft);
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK(s.conf.weft.has_public_ipv4);
	CHECK_EQ(store_lookup(&s, "alice", k), 0);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	const char *now = slurp(conf);
	CHECK(now && !strcmp(now, want));
	now = slurp(weft);
	CHECK(now && strstr(now, "PublicIPv4 = 203.0.113.7") && strstr(now, "PeerDNS = 1.1.1.1") &&
	      strstr(now, "Name = alice"));
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), 0);
	CHECK(s.conf.weft.has_public_ipv4 && s.conf.weft.peer_dns.servers.n == 1);
	CHECK_EQ(store_lookup(&s, "alice", k), 0);
	store_close(&s);

	/* a bad IFACE.weft names its line */
	spit(weft, "[Weft]\nPublicPort = 0\n");
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "wm.weft:2:") != NULL);
	store_close(&s);
	/* no file: -ENOENT, unless asked to create */
	path_of(conf, "none.conf");
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), -ENOENT);
	store_close(&s);
	CHECK_EQ(store_open(&s, conf, STORE_CREATE, err, sizeof(err)), 0);
	store_close(&s);
}

/* A second holder of the lock waits. */
static void test_store_lock(void)
{
	char conf[256], err[CONF_ERR_LEN];
	struct store s;

	path_of(conf, "wk.conf");
	spit(conf, "[Interface]\n");
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	pid_t pid = fork();
	if (!pid) {
		int fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
		_exit(flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 0 : 1);
	}
	int status = 1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_close(&s);
}

/* Many peers: the store stays linear (a quadratic step would take minutes
 * here); what it costs is bench/'s business. */
static void test_store_many(void)
{
	char conf[256], err[CONF_ERR_LEN];
	struct store s;
	struct conf_peer p;
	unsigned n = 10000 / test_scale();

	path_of(conf, "wn.conf");
	spit(conf, "[Interface]\nAddress = 10.0.0.1/16\n");
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%u", i);
		CHECK_EQ(store_peer_add(&s, make_peer(&p, i + 1), NULL), 0);
		free(p.allowed_ips.v);
		CHECK_EQ(store_peer_rename(&s, p.public_key, name), 0);
	}
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK_EQ(s.conf.n_peers, n);
	CHECK_EQ(s.w.n, n);
	uint8_t k[32];
	CHECK_EQ(store_lookup(&s, "p77", k), 0);
	CHECK_EQ(store_peer_disable(&s, k), 0);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);

	/* half of them at once (peer expire), in one pass: the others keep
	 * their order, the disabled ones their settings */
	uint8_t (*keys)[32] = calloc(n, 32);
	size_t nk = 0;
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	for (unsigned i = 0; keys && i < n; i += 2)
		key_n(keys[nk++], i + 1);
	CHECK_EQ(store_peers_disable(&s, (const uint8_t (*)[32])keys, nk), 0);
	CHECK_EQ(s.conf.n_peers, n - nk - 1); /* p77 (key 78) went before */
	bool order = true;
	for (uint32_t i = 0; i + 1 < s.conf.n_peers; i++) {
		uint32_t a, b;
		memcpy(&a, s.conf.peers[i].public_key + 28, 4);
		memcpy(&b, s.conf.peers[i + 1].public_key + 28, 4);
		order &= a < b && a % 2 == 0 && b % 2 == 0;
	}
	CHECK(order);
	CHECK(store_peer_settings(&s, keys[1]) && store_peer_settings(&s, keys[1])->allowed_ips.n == 1 &&
	      store_peer_settings(&s, keys[1])->preshared_key[0] == 3);
	uint8_t unknown[32] = { 1 };
	CHECK_EQ(store_peers_disable(&s, (const uint8_t (*)[32])&unknown, 1), -ENOENT);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), 0);
	CHECK_EQ(s.conf.n_peers, n - nk - 1);
	store_close(&s);
	free(keys);
}

/* `weft save` hands the store a whole new IFACE.conf: a disabled peer that
 * is in it is enabled, an enabled peer missing from it loses its record,
 * and weft's settings stay. */
static void test_store_replace_conf(void)
{
	char conf[256], err[CONF_ERR_LEN], text[1024];
	struct conf c;
	struct conf_peer p;
	struct store s;
	uint8_t k1[32], k2[32];

	path_of(conf, "wr.conf");
	spit(conf, "# mine\n[Interface]\nAddress = 10.0.0.1/24\n");
	key_n(k1, 1);
	key_n(k2, 2);
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 1), NULL), 0);
	free(p.allowed_ips.v);
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 2), NULL), 0);
	free(p.allowed_ips.v);
	CHECK_EQ(store_peer_rename(&s, k1, "one"), 0);
	CHECK_EQ(store_peer_rename(&s, k2, "two"), 0);
	CHECK_EQ(store_peer_disable(&s, k1), 0);
	s.conf.weft.has_public_port = true;
	s.conf.weft.public_port = 4242;
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);

	snprintf(text, sizeof(text), "[Interface]\nAddress = 10.0.0.1/24\nListenPort = 7\n[Peer]\nPublicKey = %s\n"
		 "AllowedIPs = 10.0.0.2/32\n", b64_n(1));
	CHECK_EQ(conf_parse(&c, text, strlen(text), "t", 0, err, sizeof(err)), 0);
	CHECK_EQ(store_replace_conf(&s, &c), 0);
	CHECK_EQ(c.n_peers, 0); /* moved */
	CHECK(store_record(&s, k1) && store_record(&s, k1)->enabled);
	CHECK(store_record_by_name(&s, "two") == NULL);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	const char *now = slurp(conf);
	CHECK(now && !strncmp(now, "# mine\n", 7) && strstr(now, "ListenPort = 7") && strstr(now, b64_n(1)) &&
	      !strstr(now, b64_n(2)));
	CHECK_EQ(store_open(&s, conf, 0, err, sizeof(err)), 0);
	CHECK(s.conf.weft.has_public_port && s.conf.weft.public_port == 4242);
	CHECK(store_record_by_name(&s, "one") && store_record_by_name(&s, "one")->enabled);
	store_close(&s);
	conf_free(&c);
}

/* conf_copy gives an equal, independent struct. */
static void test_conf_copy(void)
{
	char text[1024], err[CONF_ERR_LEN];
	struct conf a, b;

	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nListenPort = 1\nFwMark = 0x10\nAddress = 10.0.0.1/24, fd::1/64\n"
		 "DNS = 1.1.1.1, example.com\nMTU = 1400\nTable = off\nPostUp = echo a, b\nSaveConfig = true\n"
		 "[Weft]\nHostname = vpn.example.com\nPeerDNS = 9.9.9.9\nPeerName = %s p1\n"
		 "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.0.0.2/32\nEndpoint = [fd::9]:5\n"
		 "PersistentKeepalive = 25\n", b64_n(1), b64_n(2), b64_n(2), b64_n(3));
	CHECK_EQ(conf_parse(&a, text, strlen(text), "t.conf", 0, err, sizeof(err)), 0);
	CHECK_EQ(conf_copy(&b, &a), 0);
	CHECK(conf_equal(&a, &b));
	CHECK(b.peers[0].name && !strcmp(b.peers[0].name, "p1") && b.peers[0].name != a.peers[0].name);
	CHECK(b.peers[0].endpoint.host != a.peers[0].endpoint.host && b.iface.addresses.v != a.iface.addresses.v);
	conf_free(&a);
	CHECK(b.peers[0].allowed_ips.n == 1 && !strcmp(b.weft.hostname, "vpn.example.com"));
	conf_free(&b);
}

/* A read-only open reads what a locked one reads and never writes; a save
 * of both files leaves no temporary file behind. */
static void test_store_read_only(void)
{
	char conf[256], err[CONF_ERR_LEN], before[4096];
	struct store s;
	struct conf_peer p;
	uint8_t k[32];

	path_of(conf, "ro.conf");
	spit(conf, "# mine\n[Interface]\nAddress = 10.0.0.1/24\n");
	CHECK_EQ(store_open(&s, conf, STORE_LOCK, err, sizeof(err)), 0);
	CHECK_EQ(store_peer_add(&s, make_peer(&p, 7), NULL), 0);
	free(p.allowed_ips.v);
	CHECK_EQ(store_peer_rename(&s, p.public_key, "seven"), 0);
	CHECK_EQ(store_save(&s, err, sizeof(err)), 0);
	store_close(&s);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q '\\.tmp-'", tmpdir);
	CHECK(system(cmd) != 0); /* no temporary file left */
	snprintf(before, sizeof(before), "%s", slurp(conf));

	CHECK_EQ(store_open(&s, conf, STORE_READ_ONLY, err, sizeof(err)), 0);
	CHECK(s.text == NULL && s.weft_text == NULL);
	CHECK_EQ(store_lookup(&s, "seven", k), 0);
	CHECK_MEM(k, p.public_key, 32);
	CHECK(store_peer_settings(&s, k) && store_peer_settings(&s, k)->allowed_ips.n == 1);
	CHECK(store_conf_peer(&s, k) && store_conf_peer(&s, k)->has_preshared_key);
	CHECK_EQ(store_peer_rename(&s, k, "eight"), 0); /* in memory only */
	CHECK_EQ(store_save(&s, err, sizeof(err)), -EROFS);
	CHECK(strstr(err, "read only") != NULL);
	store_close(&s);
	CHECK(!strcmp(slurp(conf), before));
	CHECK_EQ(store_open(&s, conf, STORE_READ_ONLY, err, sizeof(err)), 0);
	CHECK(store_record_by_name(&s, "seven") != NULL);
	store_close(&s);
}

/* store_open_peer reads the interface, the settings and one peer, found
 * by name or key, enabled or disabled, and nothing of the others; files
 * it cannot narrow exactly are read whole. */
static void test_store_open_peer(void)
{
	char conf[256], weft[256], err[CONF_ERR_LEN], text[4096];
	struct store s;
	uint8_t k[32];

	path_of(conf, "op.conf");
	path_of(weft, "op.weft");
	snprintf(text, sizeof(text),
		 "# top\n[Interface]\nListenPort = 51820\nAddress = 10.0.0.1/24\n"
		 "[Peer] # one\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n"
		 "[Peer]\n  publickey=%s  # two\nAllowedIPs = 10.0.0.3/32\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.9/32\nAllowedIPs = bad\n",
		 b64_n(1), b64_n(2), b64_n(9));
	spit(conf, text);
	snprintf(text, sizeof(text),
		 "[Weft]\nPublicIPv4 = 192.0.2.1\n"
		 "[Peer]\nPublicKey = %s\nName = one\n"
		 "[Peer]\nName = two\nPublicKey = %s\n"
		 "[Peer]\nPublicKey = %s\nName = three\nEnabled = false\nAllowedIPs = 10.0.0.4/32\n",
		 b64_n(1), b64_n(2), b64_n(3));
	spit(weft, text);
	/* the whole file does not parse (peer 9), one peer of it does */
	CHECK_EQ(store_open(&s, conf, STORE_READ_ONLY, err, sizeof(err)), -EINVAL);
	store_close(&s);
	CHECK_EQ(store_open_peer(&s, conf, "two", err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "two", k), 0);
	CHECK_EQ(s.conf.n_peers, 1);
	CHECK(store_conf_peer(&s, k) && store_conf_peer(&s, k)->allowed_ips.n == 1 &&
	      store_conf_peer(&s, k)->allowed_ips.v[0].addr.bytes[3] == 3);
	CHECK(s.conf.iface.listen_port == 51820 && s.conf.weft.has_public_ipv4);
	CHECK_EQ(store_lookup(&s, "one", k), -ENOENT);
	CHECK_EQ(store_save(&s, err, sizeof(err)), -EROFS);
	store_close(&s);
	CHECK_EQ(store_open_peer(&s, conf, b64_n(1), err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "one", k), 0);
	CHECK_EQ(s.conf.n_peers, 1);
	store_close(&s);
	CHECK_EQ(store_open_peer(&s, conf, "three", err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "three", k), 0);
	CHECK_EQ(s.conf.n_peers, 0);
	CHECK(store_record(&s, k) && !store_record(&s, k)->enabled);
	CHECK(store_peer_settings(&s, k) && store_peer_settings(&s, k)->allowed_ips.n == 1);
	store_close(&s);
	CHECK_EQ(store_open_peer(&s, conf, "nobody", err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "nobody", k), -ENOENT);
	CHECK_EQ(s.conf.n_peers, 0);
	store_close(&s);
	/* the peer's own section is still checked */
	CHECK_EQ(store_open_peer(&s, conf, b64_n(9), err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "op.conf:") != NULL && strstr(err, ":14: AllowedIPs") != NULL);
	store_close(&s);
	/* an older file with names in IFACE.conf: read whole */
	unlink(weft);
	snprintf(text, sizeof(text), "[Interface]\nAddress = 10.0.0.1/24\n[Weft]\nPeerName = %s old\n"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n", b64_n(1), b64_n(1));
	spit(conf, text);
	CHECK_EQ(store_open_peer(&s, conf, "old", err, sizeof(err)), 0);
	CHECK_EQ(store_lookup(&s, "old", k), 0);
	store_close(&s);
}

/* `weft save`'s match of the file's peers with the running ones: in one
 * pass, order and settings of the kept peers unchanged. */
static void test_conf_peers_sync(void)
{
	struct running { uint32_t flags; uint8_t key[32]; uint8_t more[20]; } run[3];
	struct conf c;
	struct conf_peer p;
	uint32_t at[3];

	conf_init(&c);
	for (unsigned n = 1; n <= 4; n++) {
		struct conf_peer *q;

		CHECK_EQ(conf_peer_add(&c, make_peer(&p, n)->public_key, &q), 0);
		if (q)
			CHECK_EQ(conf_prefix_list_add(&q->allowed_ips, &p.allowed_ips.v[0]), 0);
		free(p.allowed_ips.v);
	}
	memset(run, 0, sizeof(run));
	key_n(run[0].key, 3);
	key_n(run[1].key, 5);
	key_n(run[2].key, 1);
	CHECK_EQ(conf_peers_sync(&c, run[0].key, 3, sizeof(run[0]), at), 0);
	CHECK_EQ(c.n_peers, 3);
	CHECK_EQ(at[0], 1);
	CHECK_EQ(at[1], 2);
	CHECK_EQ(at[2], 0);
	CHECK_MEM(c.peers[0].public_key, run[2].key, 32);
	CHECK_MEM(c.peers[1].public_key, run[0].key, 32);
	CHECK_MEM(c.peers[2].public_key, run[1].key, 32);
	CHECK_EQ(c.peers[1].allowed_ips.n, 1); /* peer 3 kept its settings */
	CHECK_EQ(c.peers[2].allowed_ips.n, 0); /* peer 5 is new */
	CHECK_EQ(conf_peers_sync(&c, NULL, 0, sizeof(run[0]), NULL), 0);
	CHECK_EQ(c.n_peers, 0);
	conf_free(&c);
}

int main(void)
{
	test_suite_name = "store";
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weft-store-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_rewrite);
	RUN(test_rewrite_crlf);
	RUN(test_rewrite_drops_weft);
	RUN(test_rewrite_append);
	RUN(test_weftfile_roundtrip);
	RUN(test_weftfile_link);
	RUN(test_store_lifecycle);
	RUN(test_store_consistency);
	RUN(test_store_migrates);
	RUN(test_store_lock);
	RUN(test_store_many);
	RUN(test_conf_copy);
	RUN(test_store_replace_conf);
	RUN(test_store_read_only);
	RUN(test_store_open_peer);
	RUN(test_conf_peers_sync);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		return 1;
	TEST_EXIT();
}
