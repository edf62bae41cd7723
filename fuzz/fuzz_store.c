/* fuzz_store.c: libFuzzer target for the peer store's two text formats.
 * IFACE.weft (weftfile.c): any input is parsed or refused with one line,
 * and what parses survives write -> parse -> write byte for byte.
 * Minimal rewrites (conf_rewrite.c): a wg-quick file that parses is changed
 * the way commands change it (a peer removed, one added, a key edited), and
 * the rewritten text must parse to exactly the changed struct, and be the
 * text the general rewrite (without the shortcut for appended peers) makes. */
#include "conf/conf.h"
#include "conf/conf_internal.h"
#include "conf/weftfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void weft_round_trip(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_LEN], *t1, *t2;
	size_t l1, l2;
	struct weft_file w, back;

	if (weftfile_parse(&w, (const char *)data, size, "fuzz", err, sizeof(err))) {
		if (!err[0] || strchr(err, '\n'))
			abort(); /* every refusal explains itself on one line */
		return;
	}
	if (weftfile_write(&w, &t1, &l1) || weftfile_parse(&back, t1, l1, "written", err, sizeof(err))) {
		fprintf(stderr, "written records do not parse: %s\n", err);
		abort();
	}
	if (weftfile_write(&back, &t2, &l2) || l1 != l2 || memcmp(t1, t2, l1)) {
		fprintf(stderr, "write(parse(write(x))) != write(x)\n");
		abort();
	}
	conf_text_free(t1, l1);
	conf_text_free(t2, l2);
	weftfile_free(&w);
	weftfile_free(&back);
}

/* The change a command could make, chosen by the input's size. */
static void change(struct conf *c, size_t size)
{
	static const uint8_t new_key[CONF_KEY_LEN] = { 0x5a, 1, 2, 3 };
	struct conf_prefix p = { .addr = { .family = 2 /* AF_INET */, .bytes = { 10, 9, 8, 7 } }, .cidr = 32 };
	struct conf_peer *np;

	if (c->n_peers && (size & 1))
		conf_peer_remove(c, c->peers[size % c->n_peers].public_key);
	if ((size & 2) && !conf_peer_find(c, new_key) && !conf_peer_add(c, new_key, &np))
		conf_prefix_list_add(&np->allowed_ips, &p);
	if (size & 4) {
		c->iface.has_listen_port = true;
		c->iface.listen_port = (uint16_t)size;
	}
	if (c->n_peers && (size & 8)) {
		c->peers[0].has_persistent_keepalive = !c->peers[0].has_persistent_keepalive;
		c->peers[0].persistent_keepalive = 25;
		conf_prefix_list_add(&c->peers[0].allowed_ips, &p);
	}
	/* weft's own settings and names are never written into the file */
	memset(&c->weft, 0, sizeof(c->weft));
	for (uint32_t i = 0; i < c->n_peers; i++) {
		free(c->peers[i].name);
		c->peers[i].name = NULL;
	}
}

static void rewrite(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_LEN], *text, *general;
	struct conf before, after, back;
	size_t len, general_len;

	if (conf_parse(&before, (const char *)data, size, "fuzz", 0, err, sizeof(err)))
		return;
	if (conf_copy(&after, &before)) {
		conf_free(&before);
		return; /* only out of memory */
	}
	free(after.weft.hostname);
	conf_dns_clear(&after.weft.peer_dns);
	change(&after, size);
	if (conf_rewrite((const char *)data, size, &before, &after, &text, &len)) {
		fprintf(stderr, "conf_rewrite failed on a parsed config\n");
		abort();
	}
	/* its shortcut for appended peers writes what the general way does */
	if (conf_rewrite_general((const char *)data, size, &before, &after, &general, &general_len) ||
	    general_len != len || memcmp(general, text, len)) {
		fprintf(stderr, "conf_rewrite and conf_rewrite_general differ\n---\n%s---\n", text);
		abort();
	}
	conf_text_free(general, general_len);
	if (conf_parse(&back, text, len, "rewritten", 0, err, sizeof(err))) {
		fprintf(stderr, "rewritten config does not parse: %s\n---\n%s---\n", err, text);
		abort();
	}
	if (!conf_equal(&back, &after)) {
		fprintf(stderr, "the rewritten config is not the changed one\n---\n%s---\n", text);
		abort();
	}
	conf_text_free(text, len);
	conf_free(&back);
	conf_free(&after);
	conf_free(&before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_round_trip(data, size);
	rewrite(data, size);
	return 0;
}
