/* test_chain_state.c: src/weft/chain_state.c: a client's tree of servers
 * and clients survives a save and a load unchanged, is written 0600 and
 * atomically, and a file out of shape or past the bounds is refused with a
 * message naming what is wrong, leaving the caller's state untouched. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/chain_state.h"

#include "test.h"

static char dir[64];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void fill_key(uint8_t key[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(seed + i * 7);
}

static int add(struct chain_state *st, enum chain_kind kind, const char *name, int via, uint8_t seed,
	       const char *addr, const char *api, const char *routes)
{
	struct chain_node n = { .kind = kind, .via = via };

	snprintf(n.name, sizeof(n.name), "%s", name);
	fill_key(n.relay_key, seed);
	fill_key(n.e2e_key, (uint8_t)(seed + 100));
	n.has_e2e_key = true;
	if (addr && conf_prefix_parse(&n.addrs[0], addr))
		n.n_addrs = 1;
	if (addr) { /* relay fd:17::N for tunnel 10.99.0.N */
		char r[32];
		snprintf(r, sizeof(r), "fd:17::%s", strrchr(addr, '.') ? strrchr(addr, '.') + 1 : "1");
		*strchr(r, '/') = 0;
		n.has_relay = conf_addr_parse(&n.relay, r);
	}
	if (api)
		n.has_api = conf_addr_parse(&n.api, api);
	if (routes) {
		char buf[256], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", routes);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (conf_prefix_parse(&n.routes[n.n_routes], t))
				n.n_routes++;
	}
	return chain_state_add(st, &n);
}

static struct chain_state *sample(void)
{
	struct chain_state *st = malloc(sizeof(*st));

	chain_state_init(st);
	snprintf(st->relay_iface, sizeof(st->relay_iface), "wg-serve");
	CHECK_EQ(add(st, CHAIN_CLIENT, "client", -1, 1, "10.99.0.2/32", NULL, NULL), 0);
	st->nodes[0].self = true;
	CHECK_EQ(add(st, CHAIN_SERVER, "s1", 0, 2, "10.99.0.1/32", "fd:16::1", "10.0.0.0/8,fd00::/8"), 1);
	CHECK_EQ(add(st, CHAIN_SERVER, "s2", 1, 3, "10.99.0.3/32", "fd:16::3", "192.168.5.0/24"), 2);
	snprintf(st->nodes[2].endpoint, sizeof(st->nodes[2].endpoint), "10.1.2.3:51820");
	st->nodes[2].listen_port = 51820;
	CHECK_EQ(add(st, CHAIN_CLIENT, "bob", 1, 4, "10.99.0.4/32", NULL, NULL), 3);
	return st;
}

static bool same_state(const struct chain_state *a, const struct chain_state *b)
{
	json_t *ja = chain_state_to_json(a), *jb = chain_state_to_json(b);
	bool eq = ja && jb && json_equal(ja, jb);

	json_decref(ja);
	json_decref(jb);
	return eq;
}

static void round_trip(void)
{
	struct chain_state *st = sample(), *back = malloc(sizeof(*back));
	char path[128], err[CONF_ERR_LEN];
	struct stat sb;

	path_in(path, sizeof(path), "wg-serve.chain");
	CHECK_EQ(chain_state_save(st, path, err, sizeof(err)), 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_EQ(chain_state_load(back, path, err, sizeof(err)), 0);
	CHECK(same_state(st, back));
	CHECK_EQ(back->n_nodes, 4);
	CHECK_EQ(back->nodes[2].via, 1);
	CHECK_EQ(back->nodes[0].via, -1);
	CHECK(back->nodes[0].self && !back->nodes[1].self);
	CHECK_EQ(back->nodes[1].n_routes, 2);
	CHECK(!strcmp(back->nodes[2].endpoint, "10.1.2.3:51820"));
	CHECK_EQ(back->nodes[2].listen_port, 51820);
	CHECK_EQ(chain_state_self(back), 0);
	/* a second save over the first replaces it whole */
	back->nodes[1].n_routes = 1;
	CHECK_EQ(chain_state_save(back, path, err, sizeof(err)), 0);
	CHECK_EQ(chain_state_load(st, path, err, sizeof(err)), 0);
	CHECK_EQ(st->nodes[1].n_routes, 1);
	unlink(path);
	free(st);
	free(back);
}

static void find_and_add(void)
{
	struct chain_state *st = sample();
	char b64[64];
	json_t *j;

	CHECK_EQ(chain_state_find(st, "s2"), 2);
	CHECK_EQ(chain_state_find(st, "fd:16::1"), 1);
	CHECK_EQ(chain_state_find(st, "fd:16:0::3"), 2); /* any spelling of the address */
	CHECK_EQ(chain_state_find(st, "fd:16::9"), -1);
	CHECK_EQ(chain_state_find(st, "nobody"), -1);
	/* by either public key */
	j = chain_state_to_json(st);
	snprintf(b64, sizeof(b64), "%s", json_string_value(json_object_get(
		json_array_get(json_object_get(j, "nodes"), 3), "e2e_key")));
	json_decref(j);
	CHECK_EQ(chain_state_find(st, b64), 3);
	/* names: unique, valid; via an existing node */
	CHECK_EQ(add(st, CHAIN_SERVER, "s1", 0, 9, NULL, NULL, NULL), -EEXIST);
	CHECK_EQ(add(st, CHAIN_SERVER, "bad name", 0, 9, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(add(st, CHAIN_SERVER, "s9", 17, 9, NULL, NULL, NULL), -EINVAL);
	CHECK(!chain_name_valid(""));
	CHECK(!chain_name_valid("a/b"));
	CHECK(chain_name_valid("edge-1.lab_2"));
	/* full */
	while (st->n_nodes < CHAIN_MAX_NODES) {
		char name[16];
		snprintf(name, sizeof(name), "n%u", st->n_nodes);
		CHECK(add(st, CHAIN_SERVER, name, 1, 9, NULL, NULL, NULL) >= 0);
	}
	CHECK_EQ(add(st, CHAIN_SERVER, "one-more", 1, 9, NULL, NULL, NULL), -ENOSPC);
	free(st);
}

static void addresses(void)
{
	struct conf_prefix p;
	struct conf_addr a, want;
	char s[CONF_ADDR_STRLEN];

	CHECK(conf_prefix_parse(&p, "172.17.0.0/16"));
	CHECK(chain_prefix_host(&a, &p, 1));
	conf_addr_format(s, &a);
	CHECK(!strcmp(s, "172.17.0.1"));
	CHECK(chain_prefix_host(&a, &p, 258));
	conf_addr_format(s, &a);
	CHECK(!strcmp(s, "172.17.1.2"));
	CHECK(!chain_prefix_host(&a, &p, 0));
	CHECK(!chain_prefix_host(&a, &p, 65535)); /* the broadcast address */
	CHECK(chain_prefix_host(&a, &p, 65534));
	/* host bits written in the prefix do not shift the hosts */
	CHECK(conf_prefix_parse(&p, "fd:16::77/48"));
	CHECK(chain_prefix_host(&a, &p, 0x1ff));
	CHECK(conf_addr_parse(&want, "fd:16::1ff"));
	CHECK_MEM(&a, &want, sizeof(a));
	CHECK(chain_prefix_contains(&p, &want));
	CHECK(conf_addr_parse(&want, "fd:17::1"));
	CHECK(!chain_prefix_contains(&p, &want));
	CHECK(conf_addr_parse(&want, "172.17.0.1"));
	CHECK(!chain_prefix_contains(&p, &want)); /* another family */
}

static void free_host(void)
{
	struct chain_state *st = sample();
	struct chain_node n = { .kind = CHAIN_CLIENT, .via = 1 };

	/* hosts 1-4 are taken (10.99.0.1-4, fd:17::1-4, fd:16::1 and ::3) */
	CHECK_EQ(chain_state_free_host(st), 5);
	snprintf(n.name, sizeof(n.name), "x");
	CHECK(conf_addr_parse(&n.relay, "fd:17::5"));
	n.has_relay = true;
	CHECK(chain_state_add(st, &n) >= 0);
	CHECK_EQ(chain_state_free_host(st), 6);
	/* a smaller tunnel prefix runs out: /29 has hosts 1-6 */
	CHECK(conf_prefix_parse(&st->tunnel_v4, "10.99.0.0/29"));
	CHECK_EQ(chain_state_free_host(st), 6);
	st->nodes[4].n_addrs = 1;
	CHECK(conf_prefix_parse(&st->nodes[4].addrs[0], "10.99.0.6/32"));
	CHECK_EQ(chain_state_free_host(st), 0);
	free(st);
}

static void refuses(void)
{
	static const struct { const char *text, *says; } cases[] = {
		{ "[]", "not a JSON object" },
		{ "{\"version\":2,\"nodes\":[]}", "version" },
		{ "{\"version\":1}", "no list of nodes" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a b\",\"kind\":\"client\"}]}", "no valid name" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"router\"}]}", "kind" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"client\"}]}", "no relay_key" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"client\",\"relay_key\":\"abc\"}]}",
		  "relay_key is not" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"server\",\"via\":\"b\","
		  "\"relay_key\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"}]}", "not a node listed before" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"server\",\"api\":\"fd:16::x\","
		  "\"relay_key\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"}]}", "api" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"server\",\"routes\":[\"10.0.0.0/33\"],"
		  "\"relay_key\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"}]}", "routes: entry 1" },
		{ "{\"version\":1,\"nodes\":[{\"name\":\"a\",\"kind\":\"server\",\"listen_port\":70000,"
		  "\"relay_key\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"}]}", "listen_port" },
		{ "{\"version\":1,\"version\":1,\"nodes\":[]}", "duplicate" },
		{ "{\"version\":1,\"nodes\":[", "" },
	};
	struct chain_state *st = sample(), *before = sample();
	char path[128], err[CONF_ERR_LEN];

	path_in(path, sizeof(path), "bad.chain");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		put(path, cases[i].text);
		CHECK_EQ(chain_state_load(st, path, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].says) || !strstr(err, path))
			fprintf(stderr, "  case %zu said: %s\n", i, err);
		CHECK(strstr(err, cases[i].says) != NULL);
		CHECK(strstr(err, path) != NULL);
		CHECK(same_state(st, before)); /* untouched */
	}
	/* too many nodes */
	{
		FILE *f = fopen(path, "w");
		fprintf(f, "{\"version\":1,\"nodes\":[");
		for (int i = 0; i <= CHAIN_MAX_NODES; i++)
			fprintf(f, "%s{\"name\":\"n%d\",\"kind\":\"client\","
				"\"relay_key\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"}", i ? "," : "", i);
		fprintf(f, "]}");
		fclose(f);
		CHECK_EQ(chain_state_load(st, path, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "more than") != NULL);
	}
	/* too large */
	{
		FILE *f = fopen(path, "w");
		for (unsigned i = 0; i < CHAIN_MAX_FILE / 64 + 1; i++)
			fprintf(f, "%63s\n", "");
		fclose(f);
		CHECK_EQ(chain_state_load(st, path, err, sizeof(err)), -E2BIG);
	}
	CHECK(same_state(st, before));
	path_in(path, sizeof(path), "missing.chain");
	CHECK_EQ(chain_state_load(st, path, err, sizeof(err)), -ENOENT);
	unlink(path);
	path_in(path, sizeof(path), "bad.chain");
	unlink(path);
	free(st);
	free(before);
}

static void paths(void)
{
	char out[64];

	CHECK(chain_state_path(out, sizeof(out), "/etc/weft/wg-serve.conf"));
	CHECK(!strcmp(out, "/etc/weft/wg-serve.chain"));
	CHECK(chain_state_path(out, sizeof(out), "client-file"));
	CHECK(!strcmp(out, "client-file.chain"));
	CHECK(!chain_state_path(out, 8, "/etc/weft/wg-serve.conf"));
}

int main(void)
{
	test_suite_name = "chain_state";
	snprintf(dir, sizeof(dir), "/tmp/weft-chain-state.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(round_trip);
	RUN(find_and_add);
	RUN(addresses);
	RUN(free_host);
	RUN(refuses);
	RUN(paths);
	rmdir(dir);
	TEST_EXIT();
}
