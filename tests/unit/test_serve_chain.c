/* test_serve_chain.c: a chained server's pieces that need no socket: where
 * a relay peer's packet goes (src/serve/chain.c), the config's chain
 * sections (src/serve/settings.c) and the state file written and read
 * back (src/serve/state.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/api.h"
#include "serve/chain.h"
#include "serve/packet.h"
#include "serve/settings.h"
#include "serve/state.h"
#include "util/encoding.h"
#include "test.h"

#define KEY_A "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define KEY_B "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
#define KEY_C "aLsQ0rYgXq2U7jY3RLBvW3lqmCgtZMRrZq4ECMCWl1A="
#define KEY_D "oKnAfqQ6WrUgLs/ASlXb+EcMRxuhPDJH3UkaFhlCxlg="

static char dir[] = "/tmp/weft-serve-chain.XXXXXX";

static void v6(uint8_t out[16], const char *s)
{
	inet_pton(AF_INET6, s, out);
}

static struct chain_self self_s2(void)
{
	struct chain_self s = { .has_relay = true, .has_api = true, .e2e_port = 51821 };
	v6(s.relay, "fd:17::3");
	v6(s.api, "fd:16::3");
	conf_prefix_parse(&s.relay_prefix, "fd:17::/48");
	return s;
}

static size_t udp6(uint8_t *buf, const char *src, const char *dst, uint16_t dport)
{
	uint8_t s[16], d[16];
	v6(s, src);
	v6(d, dst);
	return pkt_build_udp(buf, 2048, AF_INET6, s, 40000, d, dport, (const uint8_t *)"datagram", 8);
}

static void classify(void)
{
	struct chain_self self = self_s2();
	uint8_t buf[2048], src[16], want[16];
	const uint8_t *payload;
	size_t plen, n;
	uint16_t sport;

	/* an e2e datagram for this server, from a client or relayed by a server */
	n = udp6(buf, "fd:17::1", "fd:17::3", 51821);
	CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_E2E);
	CHECK_EQ(plen, 8);
	CHECK(!memcmp(payload, "datagram", 8));
	CHECK_EQ(sport, 40000);
	v6(want, "fd:17::1");
	CHECK_MEM(src, want, 16);
	/* another port of the relay address: nothing */
	n = udp6(buf, "fd:17::1", "fd:17::3", 53);
	CHECK_EQ(chain_classify(&self, true, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	/* the API: clients only */
	n = udp6(buf, "fd99::2", "fd:16::3", 80);
	CHECK_EQ(chain_classify(&self, true, buf, n, &payload, &plen, src, &sport), CHAIN_API);
	CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	/* another relay address: relayed, whoever sent it */
	n = udp6(buf, "fd:17::1", "fd:17::4", 51821);
	CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_RELAYED);
	CHECK_EQ(chain_classify(&self, true, buf, n, &payload, &plen, src, &sport), CHAIN_RELAYED);
	/* and back from a server's e2e port to a client's */
	{
		uint8_t s6[16], d6[16];
		v6(s6, "fd:17::4");
		v6(d6, "fd:17::1");
		n = pkt_build_udp(buf, sizeof(buf), AF_INET6, s6, 51821, d6, 40000, (const uint8_t *)"x", 1);
		CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_RELAYED);
	}
	/* but nothing else: a server must not reach a client's other ports */
	n = udp6(buf, "fd:17::4", "fd:17::1", 53);
	CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	{
		uint8_t s6[16], d6[16], body[8] = { 128, 0, 0, 0, 0, 1, 0, 1 };
		v6(s6, "fd:17::4");
		v6(d6, "fd:17::1");
		n = pkt_build_echo_reply(buf, sizeof(buf), AF_INET6, s6, d6, 1, 1, body, sizeof(body));
		CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	}
	/* elsewhere: an exit for a client, never for a server */
	n = udp6(buf, "fd99::2", "fd64::2", 7000);
	CHECK_EQ(chain_classify(&self, true, buf, n, &payload, &plen, src, &sport), CHAIN_EXIT);
	CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	{
		uint8_t s4[4] = { 10, 99, 0, 2 }, d4[4] = { 10, 210, 4, 2 };
		n = pkt_build_udp(buf, sizeof(buf), AF_INET, s4, 1, d4, 2, (const uint8_t *)"x", 1);
		CHECK_EQ(chain_classify(&self, true, buf, n, &payload, &plen, src, &sport), CHAIN_EXIT);
		CHECK_EQ(chain_classify(&self, false, buf, n, &payload, &plen, src, &sport), CHAIN_DROP);
	}
	/* truncated */
	CHECK_EQ(chain_classify(&self, false, buf, 10, &payload, &plen, src, &sport), CHAIN_DROP);
}

static void hop_limit(void)
{
	uint8_t buf[2048];
	size_t n = udp6(buf, "fd:17::1", "fd:17::4", 51821);

	buf[7] = 3;
	CHECK(chain_forward_hop(buf, n));
	CHECK_EQ(buf[7], 2);
	CHECK(chain_forward_hop(buf, n));
	CHECK_EQ(buf[7], 1);
	CHECK(!chain_forward_hop(buf, n)); /* it would leave with 0 */
	CHECK(!chain_forward_hop(buf, 20));
}

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fprintf(stderr, "  cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
	return path;
}

static void config_sections(void)
{
	struct serve_settings s;
	char err[CONF_ERR_LEN] = "";
	uint8_t key[32], want[16];
	const char *path = write_file("serve.conf",
		"[Interface]\nPrivateKey = " KEY_A "\nListenPort = 51820\n\n"
		"[Peer]\nPublicKey = " KEY_B "\nAllowedIPs = 10.99.0.2/32, fd:17::1/128\n\n"
		"[Relay]  # the next server\nPublicKey = " KEY_C "\nAllowedIPs = fd:17::4/128\n"
		"Endpoint = 10.0.0.3:51820\nPersistentKeepalive = 25\n\n"
		"[E2E]\nPrivateKey = " KEY_D "\n\n"
		"[E2EPeer]\nPublicKey = " KEY_B "\nAllowedIPs = 10.99.0.2/32\n\n"
		"[Serve]\nRelayAddress = fd:17::3\nAPI = fd:16::3\nRoutes = 10.1.0.0/16, fd01::/64\n");

	unsetenv("WEFT_STATE");
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(s.conf.n_peers, 2);
	CHECK_EQ(s.chain.n_servers, 1);
	key_from_base64(key, KEY_C);
	CHECK(settings_is_server(&s, key));
	key_from_base64(key, KEY_B);
	CHECK(!settings_is_server(&s, key));
	CHECK(s.chain.e2e.iface.has_private_key);
	CHECK_EQ(s.chain.e2e.iface.listen_port, 51821);
	CHECK_EQ(s.chain.e2e.n_peers, 1);
	CHECK(s.chain.has_relay_address && s.chain.has_api);
	v6(want, "fd:16::3");
	CHECK_MEM(s.chain.api_address, want, 16);
	CHECK_EQ(s.chain.routes.n, 2);
	CHECK(s.chain.state_path && !strcmp(s.chain.state_path + strlen(s.chain.state_path) - 11, "serve.state"));
	/* the chain's prefixes are never an exit */
	v6(want, "fd:17::9");
	CHECK(!guard_allows(&s.guard, AF_INET6, want));
	v6(want, "fd:16::9");
	CHECK(!guard_allows(&s.guard, AF_INET6, want));
	settings_free(&s);

	/* an [E2EPeer] without a relay address has nothing to run on */
	path = write_file("bad.conf", "[Interface]\nPrivateKey = " KEY_A "\n[Peer]\nPublicKey = " KEY_B
			  "\nAllowedIPs = 10.99.0.2/32\n[E2EPeer]\nPublicKey = " KEY_C "\nAllowedIPs = 10.99.0.3/32\n");
	CHECK(settings_load(&s, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "RelayAddress") != NULL);
	settings_free(&s);
}

static void environment_only(void)
{
	static const char *const vars[] = { "WEFT_CONFIG", "WEFT_PRIVATE_KEY", "WEFT_RELAY_ADDRESS", "WEFT_API",
		"WEFT_ROUTES", "WEFT_E2E_PRIVATE_KEY", "WEFT_E2E_PORT", "WEFT_RELAY_PEER_PUBLIC_KEY",
		"WEFT_RELAY_PEER_ALLOWED_IPS", "WEFT_RELAY_PEER_ENDPOINT", "WEFT_E2E_PEER_PUBLIC_KEY",
		"WEFT_E2E_PEER_ALLOWED_IPS", "WEFT_STATE" };
	struct serve_settings s;
	char err[CONF_ERR_LEN] = "";
	uint8_t key[32];
	const struct conf_peer *p;

	setenv("WEFT_PRIVATE_KEY", KEY_A, 1);
	setenv("WEFT_RELAY_ADDRESS", "fd:17::4", 1);
	setenv("WEFT_API", "fd:16::4", 1);
	setenv("WEFT_ROUTES", "10.4.0.0/16", 1);
	setenv("WEFT_E2E_PRIVATE_KEY", KEY_D, 1);
	setenv("WEFT_E2E_PORT", "51822", 1);
	setenv("WEFT_RELAY_PEER_PUBLIC_KEY", KEY_C, 1);
	setenv("WEFT_RELAY_PEER_ALLOWED_IPS", "fd:17::/48", 1);
	setenv("WEFT_RELAY_PEER_ENDPOINT", "192.0.2.3:51820", 1);
	setenv("WEFT_E2E_PEER_PUBLIC_KEY", KEY_B, 1);
	setenv("WEFT_E2E_PEER_ALLOWED_IPS", "10.99.0.2/32, fd99::2/128", 1);
	CHECK_EQ(settings_load(&s, NULL, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	key_from_base64(key, KEY_C);
	CHECK(settings_is_server(&s, key));
	p = conf_peer_find(&s.conf, key);
	CHECK(p && p->endpoint.host && !strcmp(p->endpoint.host, "192.0.2.3") && p->persistent_keepalive == 25);
	CHECK(s.chain.has_relay_address && s.chain.has_api && s.chain.routes.n == 1);
	CHECK(s.chain.e2e.iface.has_private_key && s.chain.e2e.iface.listen_port == 51822);
	key_from_base64(key, KEY_B);
	p = conf_peer_find(&s.chain.e2e, key);
	CHECK(p && p->allowed_ips.n == 2);
	CHECK(s.chain.state_path == NULL); /* no file, no WEFT_STATE: nothing to keep beside */
	settings_free(&s);

	setenv("WEFT_RELAY_PEER_ENDPOINT", "somewhere", 1);
	CHECK(settings_load(&s, NULL, err, sizeof(err)) < 0);
	CHECK(strstr(err, "WEFT_RELAY_PEER_ENDPOINT") != NULL);
	settings_free(&s);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void state_round_trip(void)
{
	struct serve_state st = { 0 }, back = { 0 };
	struct serve_settings loaded;
	struct state_peer *p;
	struct conf_prefix pfx;
	struct reverse_settings rs = { 0 };
	char err[CONF_ERR_LEN] = "", path[256];
	uint8_t key[32];
	bool known;
	struct stat sb;

	st.has_e2e_key = true;
	key_from_base64(st.e2e_key, KEY_D);
	key_from_base64(key, KEY_C);
	p = state_peer_add(&st, STATE_RELAY_SERVER, key);
	conf_prefix_parse(&pfx, "fd:17::4/128");
	CHECK_EQ(state_peer_add_ip(p, &pfx), 0);
	CHECK_EQ(state_peer_add_ip(p, &pfx), 0); /* once */
	CHECK_EQ(p->allowed_ips.n, 1);
	snprintf(p->endpoint, sizeof(p->endpoint), "10.0.0.3:51820");
	p->has_keepalive = true;
	p->keepalive = 25;
	key_from_base64(key, KEY_B);
	p = state_peer_add(&st, STATE_E2E, key);
	conf_prefix_parse(&pfx, "10.99.0.3/32");
	state_peer_add_ip(p, &pfx);
	CHECK(reverse_setting(&rs, "Expose", "udp/[::1]:5353:[fd99::2]:53", &known) == NULL);
	state_expose_text(&rs.expose[0], st.expose[st.n_expose++], sizeof(st.expose[0]));
	CHECK(!strcmp(st.expose[0], "udp/[::1]:5353:[fd99::2]:53"));
	st.has_routes = true;
	conf_prefix_parse(&pfx, "10.1.0.0/16");
	conf_prefix_list_add(&st.routes, &pfx);

	snprintf(path, sizeof(path), "%s/serve.state", dir);
	CHECK_EQ(state_save(&st, path), 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_EQ(settings_load_state(&loaded, path, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(state_from_settings(&back, &loaded), 0);
	CHECK(back.has_e2e_key && !memcmp(back.e2e_key, st.e2e_key, 32));
	CHECK_EQ(back.n_peers, 2);
	key_from_base64(key, KEY_C);
	p = state_peer_find(&back, false, key);
	CHECK(p && p->layer == STATE_RELAY_SERVER && p->keepalive == 25 && !strcmp(p->endpoint, "10.0.0.3:51820"));
	key_from_base64(key, KEY_B);
	CHECK(state_peer_find(&back, true, key) != NULL);
	CHECK(state_peer_find(&back, false, key) == NULL);
	CHECK_EQ(back.n_expose, 1);
	CHECK(!strcmp(back.expose[0], st.expose[0]));
	CHECK(back.has_routes && back.routes.n == 1);
	settings_free(&loaded);
	state_free(&back);
	state_free(&st);

	/* no file yet: -ENOENT, and nothing said */
	snprintf(path, sizeof(path), "%s/none.state", dir);
	CHECK_EQ(settings_load_state(&loaded, path, err, sizeof(err)), -ENOENT);
	settings_free(&loaded);
}

/* parse TEXT as it arrives, n bytes at a time: the result of the last call */
static int parse_in_steps(const char *text, size_t step, struct api_request *req, const char **why)
{
	static char buf[API_REQUEST_MAX + 1];
	size_t len = strlen(text), have = 0;
	int ret = 0;

	while (have < len) {
		have = have + step < len ? have + step : len;
		memcpy(buf, text, have);
		ret = api_parse(buf, have, req, why);
		if (ret != 0)
			break;
	}
	return ret;
}

static void api_requests_parsed(void)
{
	struct api_request req;
	const char *why = NULL;
	char *big;

	CHECK_EQ(parse_in_steps("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &req, &why), 1);
	CHECK(!strcmp(req.method, "GET") && !strcmp(req.path, "/v1/status") && req.body_len == 0);
	/* byte by byte: whole only at the last byte of the body */
	CHECK_EQ(parse_in_steps("POST /v1/peers HTTP/1.1\r\ncontent-length: 7 \r\n\r\n{\"a\":1}", 1, &req, &why), 1);
	CHECK(!strcmp(req.method, "POST") && req.body_len == 7 && !strcmp(req.body, "{\"a\":1}"));
	CHECK_EQ(parse_in_steps("POST /v1/peers HTTP/1.1\r\nContent-Length: 8\r\n\r\n{\"a\":1}", 1, &req, &why), 0);
	CHECK_EQ(parse_in_steps("GET /v1/status\r\n\r\n", 1, &req, &why), -400);
	CHECK_EQ(parse_in_steps("GET  HTTP/1.1\r\n\r\n", 100, &req, &why), -400);
	CHECK_EQ(parse_in_steps("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 100, &req, &why), -400);
	CHECK_EQ(parse_in_steps("POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 100, &req, &why), -400);
	CHECK_EQ(parse_in_steps("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 100, &req, &why), -413);
	CHECK_EQ(parse_in_steps("POST / HTTP/1.1\r\nContent-Length: 16380\r\n\r\n", 100, &req, &why), -413);
	big = malloc(API_REQUEST_MAX + 1);
	memset(big, 'a', API_REQUEST_MAX);
	big[API_REQUEST_MAX] = '\0';
	CHECK_EQ(parse_in_steps(big, 4096, &req, &why), -413); /* a head that never ends */
	free(big);
}

int main(void)
{
	test_suite_name = "serve_chain";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(classify);
	RUN(hop_limit);
	RUN(config_sections);
	RUN(environment_only);
	RUN(state_round_trip);
	RUN(api_requests_parsed);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	TEST_EXIT();
}
