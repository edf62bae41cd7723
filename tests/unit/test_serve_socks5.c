/* test_serve_socks5.c: the SOCKS5 messages of `weft serve` (socks5.c) and
 * the Expose/SOCKS5 settings (reverse.c's parser): every message at every
 * truncation is "more needed" and never read past its end; method choice;
 * RFC 1929 with right, wrong, longer, shorter and empty credentials; the
 * three address types, commands other than CONNECT, unknown address types,
 * a NUL inside a name; replies byte for byte; errno to reply codes; the
 * settings' accepted and refused forms. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "serve/reverse.h"
#include "test.h"

/* A message is incomplete at every shorter length. */
static void check_prefixes(int (*parse)(const uint8_t *, size_t), const uint8_t *m, size_t len)
{
	for (size_t n = 0; n < len; n++)
		CHECK_EQ(parse(m, n), 0);
	CHECK_EQ(parse(m, len), (int)len);
}

static bool g_password;
static int greet(const uint8_t *b, size_t n)
{
	uint8_t m;
	return socks5_greeting(b, n, g_password, &m);
}

static void greeting(void)
{
	static const uint8_t both[] = { 5, 2, 0, 2 }, none_only[] = { 5, 1, 0 }, pw_only[] = { 5, 1, 2 };
	uint8_t m;

	g_password = false;
	check_prefixes(greet, both, sizeof(both));
	CHECK_EQ(socks5_greeting(both, sizeof(both), false, &m), 4);
	CHECK_EQ(m, SOCKS5_AUTH_NONE);
	CHECK_EQ(socks5_greeting(both, sizeof(both), true, &m), 4);
	CHECK_EQ(m, SOCKS5_AUTH_PASSWORD);
	CHECK_EQ(socks5_greeting(none_only, sizeof(none_only), true, &m), 3);
	CHECK_EQ(m, SOCKS5_AUTH_UNACCEPTABLE);
	CHECK_EQ(socks5_greeting(pw_only, sizeof(pw_only), false, &m), 3);
	CHECK_EQ(m, SOCKS5_AUTH_UNACCEPTABLE);
	static const uint8_t v4[] = { 4, 1, 0 }, zero[] = { 5, 0 };
	CHECK_EQ(socks5_greeting(v4, sizeof(v4), false, &m), -1); /* SOCKS4 */
	CHECK_EQ(socks5_greeting(zero, sizeof(zero), false, &m), -1);
}

static const char *g_user = "alice", *g_pass = "s3cret";
static int auth_parse(const uint8_t *b, size_t n)
{
	bool ok;
	return socks5_auth(b, n, g_user, g_pass, &ok);
}

static size_t auth_msg(uint8_t *out, const char *u, const char *p)
{
	size_t ul = strlen(u), pl = strlen(p);

	out[0] = 1;
	out[1] = (uint8_t)ul;
	memcpy(out + 2, u, ul);
	out[2 + ul] = (uint8_t)pl;
	memcpy(out + 3 + ul, p, pl);
	return 3 + ul + pl;
}

static void auth(void)
{
	uint8_t m[600];
	bool ok;
	size_t n = auth_msg(m, "alice", "s3cret");

	check_prefixes(auth_parse, m, n);
	CHECK_EQ(socks5_auth(m, n, "alice", "s3cret", &ok), (int)n);
	CHECK(ok);
	static const char *const bad[][2] = {
		{ "alice", "s3cre" }, { "alice", "s3cret!" }, { "alice", "S3cret" }, { "alicf", "s3cret" },
		{ "alic", "s3cret" }, { "alice", "" }, { "bob", "s3cret" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = auth_msg(m, bad[i][0], bad[i][1]);
		ok = true;
		CHECK_EQ(socks5_auth(m, n, "alice", "s3cret", &ok), (int)n);
		CHECK(!ok);
	}
	/* 255-byte fields, the most RFC 1929 allows */
	char longu[256], longp[256];
	memset(longu, 'u', 255);
	longu[255] = 0;
	memset(longp, 'p', 255);
	longp[255] = 0;
	n = auth_msg(m, longu, longp);
	CHECK_EQ(socks5_auth(m, n, longu, longp, &ok), (int)n);
	CHECK(ok);
	longp[254] = 'q';
	CHECK_EQ(socks5_auth(m, n, longu, longp, &ok), (int)n);
	CHECK(!ok);
	m[0] = 5; /* not the sub-negotiation version */
	CHECK_EQ(socks5_auth(m, n, longu, longp, &ok), -1);
}

static int req_parse(const uint8_t *b, size_t n)
{
	struct socks5_request r;
	enum socks5_reply why;
	return socks5_request(b, n, &r, &why);
}

static void request(void)
{
	struct socks5_request r;
	enum socks5_reply why;
	static const uint8_t v4[] = { 5, 1, 0, 1, 10, 99, 0, 2, 0x1f, 0x90 };
	static const uint8_t v6[] = { 5, 1, 0, 4, 0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 80 };
	static const uint8_t name[] = { 5, 1, 0, 3, 4, 'h', 'o', 's', 't', 0x01, 0xbb };
	static const uint8_t bind_cmd[] = { 5, 2, 0, 1, 10, 99, 0, 2, 0, 80 };
	static const uint8_t nul_name[] = { 5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80 };
	static const uint8_t bad_atyp[] = { 5, 1, 0, 9, 1, 2, 3 };
	static const uint8_t bad_rsv[] = { 5, 1, 1, 1, 10, 99, 0, 2, 0, 80 };
	char txt[INET6_ADDRSTRLEN];

	check_prefixes(req_parse, v4, sizeof(v4));
	check_prefixes(req_parse, v6, sizeof(v6));
	check_prefixes(req_parse, name, sizeof(name));

	CHECK_EQ(socks5_request(v4, sizeof(v4), &r, &why), (int)sizeof(v4));
	CHECK_EQ(why, SOCKS5_OK);
	CHECK_EQ(r.addr.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&r.addr)->sin_addr, txt, sizeof(txt));
	CHECK(!strcmp(txt, "10.99.0.2"));
	CHECK_EQ(ntohs(((struct sockaddr_in *)&r.addr)->sin_port), 8080);

	CHECK_EQ(socks5_request(v6, sizeof(v6), &r, &why), (int)sizeof(v6));
	CHECK_EQ(r.addr.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&r.addr)->sin6_addr, txt, sizeof(txt));
	CHECK(!strcmp(txt, "fd99::2"));
	CHECK_EQ(r.port, 80);

	CHECK_EQ(socks5_request(name, sizeof(name), &r, &why), (int)sizeof(name));
	CHECK_EQ(r.atyp, 3);
	CHECK(!strcmp(r.name, "host"));
	CHECK_EQ(r.port, 443);

	CHECK_EQ(socks5_request(bind_cmd, sizeof(bind_cmd), &r, &why), (int)sizeof(bind_cmd));
	CHECK_EQ(why, SOCKS5_BAD_COMMAND);
	CHECK_EQ(socks5_request(bad_atyp, sizeof(bad_atyp), &r, &why), (int)sizeof(bad_atyp));
	CHECK_EQ(why, SOCKS5_BAD_ADDRESS);
	CHECK_EQ(socks5_request(nul_name, sizeof(nul_name), &r, &why), -1);
	CHECK_EQ(socks5_request(bad_rsv, sizeof(bad_rsv), &r, &why), -1);

	/* random bytes: never more than was given */
	uint8_t junk[300];
	for (int i = 0; i < 20000; i++) {
		size_t n = test_below(sizeof(junk));
		for (size_t j = 0; j < n; j++)
			junk[j] = (uint8_t)test_rnd();
		if (n)
			junk[0] = 5;
		int used = socks5_request(junk, n, &r, &why);
		CHECK(used <= (int)n);
		uint8_t m;
		used = socks5_greeting(junk, n, true, &m);
		CHECK(used <= (int)n);
		bool ok;
		used = socks5_auth(junk, n, "alice", "s3cret", &ok);
		CHECK(used <= (int)n);
	}
}

static void reply(void)
{
	uint8_t out[22];
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	static const uint8_t want4[] = { 5, 0, 0, 1, 10, 99, 0, 1, 0x9c, 0x40 };
	static const uint8_t fail[] = { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };

	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.99.0.1", &s4->sin_addr);
	s4->sin_port = htons(40000);
	CHECK_EQ(socks5_reply(out, SOCKS5_OK, &ss), sizeof(want4));
	CHECK_MEM(out, want4, sizeof(want4));
	CHECK_EQ(socks5_reply(out, SOCKS5_REFUSED, NULL), sizeof(fail));
	CHECK_MEM(out, fail, sizeof(fail));
	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd99::1", &s6->sin6_addr);
	s6->sin6_port = htons(80);
	CHECK_EQ(socks5_reply(out, SOCKS5_OK, &ss), 22);
	CHECK_EQ(out[3], 4);
	CHECK_EQ(out[4], 0xfd);
	CHECK_EQ(out[19], 1);
	CHECK_EQ(out[21], 80);

	CHECK_EQ(socks5_reply_for(ECONNREFUSED), SOCKS5_REFUSED);
	CHECK_EQ(socks5_reply_for(ECONNRESET), SOCKS5_REFUSED);
	CHECK_EQ(socks5_reply_for(EHOSTUNREACH), SOCKS5_HOST_UNREACH);
	CHECK_EQ(socks5_reply_for(ETIMEDOUT), SOCKS5_HOST_UNREACH);
	CHECK_EQ(socks5_reply_for(ENETUNREACH), SOCKS5_NET_UNREACH);
	CHECK_EQ(socks5_reply_for(ENOMEM), SOCKS5_FAILURE);
}

static void settings(void)
{
	struct reverse_settings rs;
	bool known;
	char text[160];

	memset(&rs, 0, sizeof(rs));
	CHECK(!reverse_setting(&rs, "Expose", "8080:10.99.0.2:80", &known));
	CHECK(known);
	CHECK(!reverse_setting(&rs, "expose", "udp/0.0.0.0:5353:10.99.0.2:53, tcp/[::1]:2222:[fd99::2]:22", &known));
	CHECK_EQ(rs.n_expose, 3);
	expose_rule_text(&rs.expose[0], text, sizeof(text));
	CHECK(!strcmp(text, "tcp 127.0.0.1:8080 -> 10.99.0.2:80"));
	expose_rule_text(&rs.expose[1], text, sizeof(text));
	CHECK(!strcmp(text, "udp 0.0.0.0:5353 -> 10.99.0.2:53"));
	expose_rule_text(&rs.expose[2], text, sizeof(text));
	CHECK(!strcmp(text, "tcp [::1]:2222 -> [fd99::2]:22"));
	static const char *const bad[] = {
		"8080", "8080:10.99.0.2", "0:10.99.0.2:80", "8080:10.99.0.2:0", "8080:10.99.0.2:65536",
		"sctp/8080:10.99.0.2:80", "8080:fd99::2:80", "8080:host.example:80", "a:b:c:d:e",
		"[::1:8080:10.99.0.2:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(reverse_setting(&rs, "Expose", bad[i], &known) != NULL);
		CHECK(known);
	}
	CHECK_EQ(rs.n_expose, 3);
	CHECK(!reverse_setting(&rs, "SOCKS5", "1080", &known));
	CHECK(rs.socks5);
	CHECK_EQ(rs.socks5_bind.ss_family, AF_INET);
	CHECK_EQ(ntohl(((struct sockaddr_in *)&rs.socks5_bind)->sin_addr.s_addr), INADDR_LOOPBACK);
	CHECK(!reverse_setting(&rs, "SOCKS5", "[::1]:1081", &known));
	CHECK_EQ(rs.socks5_bind.ss_family, AF_INET6);
	CHECK(reverse_setting(&rs, "SOCKS5", "nope", &known) != NULL);
	CHECK(!reverse_setting(&rs, "SOCKS5User", "alice", &known));
	CHECK(!strcmp(rs.socks5_user, "alice"));
	CHECK(!reverse_setting(&rs, "SOCKS5Password", "pw", &known));
	CHECK(!strcmp(rs.socks5_password, "pw"));
	char longv[300];
	memset(longv, 'x', 256);
	longv[256] = 0;
	CHECK(reverse_setting(&rs, "SOCKS5Password", longv, &known) != NULL);
	CHECK(reverse_setting(&rs, "SOCKS5User", "", &known) != NULL);
	CHECK(!reverse_setting(&rs, "MaxFlows", "10", &known));
	CHECK(!known);
	/* at most REVERSE_MAX_EXPOSE rules */
	memset(&rs, 0, sizeof(rs));
	for (int i = 0; i < REVERSE_MAX_EXPOSE; i++)
		CHECK(!reverse_setting(&rs, "Expose", "1:10.0.0.1:1", &known));
	CHECK(reverse_setting(&rs, "Expose", "1:10.0.0.1:1", &known) != NULL);
}

int main(void)
{
	test_suite_name = "serve_socks5";
	test_seed(0x50c55);
	RUN(greeting);
	RUN(auth);
	RUN(request);
	RUN(reply);
	RUN(settings);
	TEST_EXIT();
}
