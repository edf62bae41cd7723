/* fuzz_netlink.c: libFuzzer target for the parser of the Linux module's
 * generic netlink replies (src/weft/wg_genl.c). The input is one received
 * datagram: any number of netlink messages of the "wireguard" family,
 * errors and NLMSG_DONE. Checks, beyond "no crash, no leak":
 *   - the result is one of the documented ones (1, 0, or -errno);
 *   - what parses survives a set: the device built into set messages and
 *     parsed back has the same settings, peers and allowed IPs in the same
 *     order (so the builder splits nothing it cannot join again). */
/* The CLI's files are not in libweft.a: compile this one in. */
#include "weft/wg_genl.c"

#include <assert.h>
#include <stdio.h>

#define FAMILY 0x15

static bool same_peers(const struct device *a, const struct device *b)
{
	if (a->n_peers != b->n_peers)
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct dev_peer *p = &a->peers[i], *q = &b->peers[i];

		if (memcmp(p->public_key, q->public_key, WG_KEY_LEN) || p->n_allowedips != q->n_allowedips)
			return false;
		for (size_t j = 0; j < p->n_allowedips; j++)
			if (p->allowedips[j].family != q->allowedips[j].family ||
			    p->allowedips[j].cidr != q->allowedips[j].cidr ||
			    memcmp(&p->allowedips[j].ip6, &q->allowedips[j].ip6,
				   p->allowedips[j].family == AF_INET ? 4 : 16))
				return false;
	}
	return true;
}

static void round_trip(const struct device *dev)
{
	static uint8_t buf[WG_GENL_SET_MSG_SIZE];
	struct wg_genl_set_pos pos = { 0 };
	struct device *back = device_new(NULL);
	struct device *change = device_new(dev->name[0] ? dev->name : "wg0");
	int len;

	assert(back && change);
	/* The parsed device as a change: same peers; removed peers and
	 * their allowed IPs are not sent, so leave those out. */
	change->flags = dev->flags & (DEV_HAS_PRIVATE_KEY | DEV_HAS_LISTEN_PORT | DEV_HAS_FWMARK);
	memcpy(change->private_key, dev->private_key, WG_KEY_LEN);
	change->listen_port = dev->listen_port;
	change->fwmark = dev->fwmark;
	for (size_t i = 0; i < dev->n_peers; i++) {
		struct dev_peer *p = device_add_peer(change);

		assert(p);
		memcpy(p->public_key, dev->peers[i].public_key, WG_KEY_LEN);
		p->flags = PEER_HAS_PUBLIC_KEY;
		p->endpoint = dev->peers[i].endpoint;
		for (size_t j = 0; j < dev->peers[i].n_allowedips; j++)
			assert(peer_add_allowedip(p, &dev->peers[i].allowedips[j]) == 0);
	}
	while ((len = wg_genl_build_set(buf, sizeof(buf), FAMILY, change, &pos)) > 0) {
		int r = wg_genl_parse(buf, (size_t)len, FAMILY, back);

		if (r != 1) {
			fprintf(stderr, "a built set message does not parse: %d\n", r);
			abort();
		}
	}
	if (len < 0 || back->listen_port != change->listen_port || back->fwmark != change->fwmark ||
	    !same_peers(change, back)) {
		fprintf(stderr, "parse(build(x)) != x (build %d, %zu/%zu peers)\n", len, back->n_peers, change->n_peers);
		abort();
	}
	device_free(change);
	device_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct device *dev = device_new(NULL);
	int ret;

	assert(dev);
	ret = wg_genl_parse(data, size, FAMILY, dev);
	if (ret > 1 || (ret < 0 && ret < -4095)) {
		fprintf(stderr, "wg_genl_parse returned %d\n", ret);
		abort();
	}
	/* A peer split over messages merges only with the peer before it, so
	 * two adjacent peers never share a key after a successful parse. */
	if (ret >= 0) {
		for (size_t i = 1; i < dev->n_peers; i++)
			assert(memcmp(dev->peers[i].public_key, dev->peers[i - 1].public_key, WG_KEY_LEN));
		round_trip(dev);
	}
	device_free(dev);
	return 0;
}
