/* test_chain_conf.c: src/weft/chain_conf.c: the configs of a chain made
 * from a client's state match the golden files in tests/unit/golden/
 * (client -> s1 -> s2 -> s3, and bob, a second client on s1): the client's
 * relay file routes the relay prefix and s1's routes to s1, its e2e file
 * reaches s2 and s3 at [relay address]:51821, each server's [Relay]s route
 * the way towards the first server and each subtree, and no server holds
 * an e2e peer for a client whose first hop it is.
 * WEFT_GOLDEN_UPDATE=1 rewrites the golden files from the code (review
 * the diff). Run from the top of the source tree, as tests/run does. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "weft/chain_conf.h"

#include "golden.h"
#include "test.h"


static void fill(uint8_t key[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(seed * 31 + i);
}

static void prefixes(struct conf_prefix *v, unsigned *n, const char *list)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		CHECK(conf_prefix_parse(&v[(*n)++], t));
}

static int add(struct chain_state *st, enum chain_kind kind, const char *name, const char *via, unsigned host,
	       const char *addrs, const char *routes, const char *endpoint)
{
	struct chain_node n = { .kind = kind, .via = via ? chain_state_find(st, via) : -1 };
	struct conf_addr a;
	int idx;

	snprintf(n.name, sizeof(n.name), "%s", name);
	fill(n.relay_key, (uint8_t)(host * 2));
	fill(n.e2e_key, (uint8_t)(host * 2 + 1));
	n.has_e2e_key = true;
	if (addrs)
		prefixes(n.addrs, &n.n_addrs, addrs);
	CHECK(chain_prefix_host(&a, &st->relay_prefix, host));
	n.relay = a;
	n.has_relay = true;
	if (kind == CHAIN_SERVER) {
		CHECK(chain_prefix_host(&n.api, &st->api_prefix, host));
		n.has_api = true;
		prefixes(n.routes, &n.n_routes, routes);
		n.listen_port = 51820;
	}
	if (endpoint)
		snprintf(n.endpoint, sizeof(n.endpoint), "%s", endpoint);
	idx = chain_state_add(st, &n);
	CHECK(idx >= 0);
	return idx;
}

static struct chain_state *sample(void)
{
	struct chain_state *st = malloc(sizeof(*st));

	chain_state_init(st);
	add(st, CHAIN_CLIENT, "client", NULL, 1, "10.99.0.2/32,fd99::2/128", NULL, NULL);
	st->nodes[0].self = true;
	add(st, CHAIN_SERVER, "s1", "client", 2, "10.99.0.1/32,fd99::1/128", "10.1.0.0/16,fd01::/64",
	    "192.0.2.1:51820");
	add(st, CHAIN_SERVER, "s2", "s1", 3, "10.99.0.3/32", "10.2.0.0/16", "198.51.100.2:51820");
	add(st, CHAIN_SERVER, "s3", "s2", 4, NULL, "10.3.0.0/16,10.4.0.0/16", "203.0.113.3:51820");
	add(st, CHAIN_CLIENT, "bob", "s1", 5, "10.99.0.5/32,fd99::5/128", NULL, NULL);
	return st;
}

static void golden_conf(const char *name, const struct conf *c)
{
	char *text = NULL;
	size_t len = 0;

	CHECK_EQ(conf_write(c, 0, &text, &len), 0);
	if (text)
		golden_check(name, text, len);
	conf_text_free(text, len);
}

static void client_files(void)
{
	struct chain_state *st = sample();
	struct conf c;
	uint8_t priv[32];

	fill(priv, 200);
	CHECK_EQ(chain_first_hop(st, 0), 1);
	CHECK_EQ(chain_first_hop(st, 4), 1);
	CHECK_EQ(chain_first_hop(st, 2), 1); /* a server: the one it hangs from */
	CHECK_EQ(chain_conf_client_relay(st, 0, priv, &c), 0);
	golden_conf("chain-client-relay.conf", &c);
	conf_free(&c);
	CHECK_EQ(chain_conf_client_e2e(st, 0, priv, &c), 2); /* s2 and s3, not s1 */
	golden_conf("chain-client-e2e.conf", &c);
	conf_free(&c);
	CHECK_EQ(chain_conf_client_relay(st, 4, priv, &c), 0);
	golden_conf("chain-bob-relay.conf", &c);
	conf_free(&c);
	/* a single server: no e2e peer at all */
	st->n_nodes = 2;
	CHECK_EQ(chain_conf_client_e2e(st, 0, priv, &c), 0);
	CHECK_EQ(c.n_peers, 0);
	conf_free(&c);
	free(st);
}

static void server_files(void)
{
	static const char *const names[] = { NULL, "chain-s1.conf", "chain-s2.conf", "chain-s3.conf" };
	struct chain_state *st = sample();
	struct chain_serve_opts o = { .deny = "10.2.9.0/24" };
	uint8_t rk[32], ek[32];

	fill(rk, 210);
	fill(ek, 211);
	for (unsigned i = 1; i <= 3; i++) {
		char *text = NULL;
		size_t len = 0;
		o.via_endpoint = i == 3 ? "198.51.100.2:51820" : NULL;
		CHECK_EQ(chain_conf_server(st, i, rk, ek, &o, &text, &len), 0);
		if (text) {
			struct conf parsed;
			char err[CONF_ERR_LEN];
			golden_check(names[i], text, len);
			/* the wg-quick part stands alone: [Relay] and the rest are
			 * after it (what a stock parser sees before them) */
			char *cut = strstr(text, "\n[Relay]");
			if (!cut)
				cut = strstr(text, "\n[E2E]");
			CHECK(cut != NULL);
			if (cut) {
				CHECK_EQ(conf_parse(&parsed, text, (size_t)(cut - text), names[i], 0, err, sizeof(err)), 0);
				conf_free(&parsed);
			}
			memzero(text, len);
			free(text);
		}
	}
	free(st);
}

/* A second server attached to the client itself: a second relay peer for
 * its own subtree, no e2e peer anywhere for it, and it serves only that
 * client (bob, on s1's tree, cannot reach it: clients do not route). */
static void second_first_hop(void)
{
	struct chain_state *st = sample();
	uint8_t priv[32], rk[32], ek[32];
	struct conf c;
	char *text = NULL;
	size_t len = 0;
	int s9 = add(st, CHAIN_SERVER, "s9", "client", 9, NULL, "172.30.0.0/16", "192.0.2.9:51820");

	fill(priv, 200);
	fill(rk, 210);
	fill(ek, 211);
	CHECK(chain_is_first_hop(st, 0, (unsigned)s9));
	CHECK(!chain_reaches_e2e(st, 4, (unsigned)s9));
	CHECK(chain_reaches_e2e(st, 4, 3));
	CHECK(!chain_reaches_e2e(st, 0, 1));
	CHECK_EQ(chain_conf_client_relay(st, 0, priv, &c), 0);
	golden_conf("chain-client-relay-two-hops.conf", &c);
	conf_free(&c);
	CHECK_EQ(chain_conf_client_e2e(st, 0, priv, &c), 2); /* s2 and s3 still */
	conf_free(&c);
	CHECK_EQ(chain_conf_client_e2e(st, 4, priv, &c), 2); /* bob: s2 and s3, not s9 */
	conf_free(&c);
	CHECK_EQ(chain_conf_server(st, (unsigned)s9, rk, ek, NULL, &text, &len), 0);
	if (text) {
		golden_check("chain-s9.conf", text, len);
		memzero(text, len);
		free(text);
	}
	free(st);
}

static void subtree(void)
{
	struct chain_state *st = sample();
	struct conf_prefix_list l = { 0 };
	char s[CONF_PREFIX_STRLEN];

	CHECK_EQ(chain_subtree_relays(st, 2, &l), 0);
	CHECK_EQ(l.n, 2); /* s2 and s3 */
	if (l.n == 2) {
		conf_prefix_format(s, &l.v[1]);
		CHECK(!strcmp(s, "fd:17::4/128"));
	}
	free(l.v);
	l = (struct conf_prefix_list){ 0 };
	CHECK_EQ(chain_subtree_relays(st, 1, &l), 0);
	CHECK_EQ(l.n, 4); /* s1, s2, s3, bob */
	free(l.v);
	free(st);
}

int main(void)
{
	test_suite_name = "chain_conf";
	RUN(client_files);
	RUN(server_files);
	RUN(second_first_hop);
	RUN(subtree);
	TEST_EXIT();
}
