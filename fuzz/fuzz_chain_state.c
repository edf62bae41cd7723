/* fuzz_chain_state.c: libFuzzer target for a client's .chain file
 * (chain_state_from_json in src/weft/chain_state.c), which a user may edit
 * by hand. Aborts when a document it accepts breaks what the commands rely
 * on (a node hangs from one listed before it, names are unique and valid,
 * counts within the bounds) or does not read back the same once written. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/chain_state.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chain_state st, again;
	char err[CONF_ERR_LEN];
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL), *out, *back;

	if (!root)
		return 0;
	if (chain_state_from_json(&st, root, err, sizeof(err)) == 0) {
		if (st.n_nodes > CHAIN_MAX_NODES)
			abort();
		for (unsigned i = 0; i < st.n_nodes; i++) {
			const struct chain_node *n = &st.nodes[i];
			if (n->via >= (int)i || n->via < -1 || !chain_name_valid(n->name) || n->n_addrs > CHAIN_MAX_ADDRS ||
			    n->n_routes > CHAIN_MAX_ROUTES)
				abort();
			for (unsigned j = 0; j < i; j++)
				if (!strcmp(st.nodes[j].name, n->name))
					abort();
		}
		out = chain_state_to_json(&st);
		if (!out || chain_state_from_json(&again, out, err, sizeof(err)) != 0)
			abort();
		back = chain_state_to_json(&again);
		if (!back || !json_equal(out, back))
			abort();
		json_decref(out);
		json_decref(back);
		(void)chain_state_free_host(&st);
	}
	json_decref(root);
	return 0;
}
