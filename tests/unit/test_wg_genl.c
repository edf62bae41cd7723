/* test_wg_genl.c: the "wireguard" generic netlink messages (src/weft/
 * wg_genl.c) without a kernel. Replies of a get dump are written here byte
 * by byte with an encoder of the test's own (not libmnl), laid out as the
 * module lays them out: device attributes in the first message, a peer
 * whose allowed IPs run past a message continued in the next under its
 * public key alone, NLMSG_DONE at the end. The parser must rebuild the
 * device exactly, refuse every malformed attribute with -EPROTO, and pass
 * the kernel's errors on. Set changes are built at several message sizes,
 * 65,535 peers included, and must parse back into the change, with each
 * message in its size and continued peers free of REPLACE_ALLOWEDIPS. */
#include "weft/wg_genl.c"

#include <arpa/inet.h>
#include <linux/netlink.h>

#include "test.h"

#define FAMILY 0x1d /* any id the controller might hand out */

/* ---- an encoder of the test's own ---- */

struct wbuf {
	uint8_t b[16384];
	size_t len;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
	memcpy(w->b + w->len, p, n);
	w->len += n;
	while (w->len % 4)
		w->b[w->len++] = 0;
}

static size_t msg_start(struct wbuf *w, uint16_t type, uint16_t flags)
{
	size_t at = w->len;
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags };
	uint8_t genl[4] = { WG_CMD_GET_DEVICE, 1, 0, 0 };

	put(w, &h, sizeof(h));
	if (type == FAMILY)
		put(w, genl, sizeof(genl));
	return at;
}

static void msg_end(struct wbuf *w, size_t at)
{
	uint32_t len = (uint32_t)(w->len - at);

	memcpy(w->b + at, &len, sizeof(len));
}

static void attr(struct wbuf *w, uint16_t type, const void *data, uint16_t len)
{
	uint16_t hdr[2] = { (uint16_t)(4 + len), type };

	put(w, hdr, sizeof(hdr));
	memcpy(w->b + w->len, data, len);
	w->len += len;
	while (w->len % 4)
		w->b[w->len++] = 0;
}

static void attr_u8(struct wbuf *w, uint16_t t, uint8_t v) { attr(w, t, &v, 1); }
static void attr_u16(struct wbuf *w, uint16_t t, uint16_t v) { attr(w, t, &v, 2); }
static void attr_u32(struct wbuf *w, uint16_t t, uint32_t v) { attr(w, t, &v, 4); }
static void attr_u64(struct wbuf *w, uint16_t t, uint64_t v) { attr(w, t, &v, 8); }

static size_t nest(struct wbuf *w, uint16_t type)
{
	size_t at = w->len;
	uint16_t hdr[2] = { 0, (uint16_t)(type | NLA_F_NESTED) };

	put(w, hdr, sizeof(hdr));
	return at;
}

static void nest_end(struct wbuf *w, size_t at)
{
	uint16_t len = (uint16_t)(w->len - at);

	memcpy(w->b + at, &len, sizeof(len));
}

static void key(uint8_t k[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(seed * 31 + i);
}

static void put_ip4(struct wbuf *w, const char *addr, uint8_t cidr)
{
	struct in_addr a;
	size_t n = nest(w, 0);

	inet_pton(AF_INET, addr, &a);
	attr_u16(w, WGALLOWEDIP_A_FAMILY, AF_INET);
	attr(w, WGALLOWEDIP_A_IPADDR, &a, 4);
	attr_u8(w, WGALLOWEDIP_A_CIDR_MASK, cidr);
	nest_end(w, n);
}

static void put_ip6(struct wbuf *w, const char *addr, uint8_t cidr)
{
	struct in6_addr a;
	size_t n = nest(w, 0);

	inet_pton(AF_INET6, addr, &a);
	attr_u16(w, WGALLOWEDIP_A_FAMILY, AF_INET6);
	attr(w, WGALLOWEDIP_A_IPADDR, &a, 16);
	attr_u8(w, WGALLOWEDIP_A_CIDR_MASK, cidr);
	nest_end(w, n);
}

/* The peer attributes the module sends for a peer's first appearance. */
static void put_peer_head(struct wbuf *w, uint8_t seed, const void *ep, uint16_t eplen, uint16_t keepalive,
			  int64_t hs_sec, uint64_t rx, uint64_t tx, bool psk)
{
	uint8_t k[32], z[32] = { 0 };
	struct __kernel_timespec ts = { .tv_sec = hs_sec, .tv_nsec = 123 };

	key(k, seed);
	attr(w, WGPEER_A_PUBLIC_KEY, k, 32);
	key(k, (uint8_t)(seed + 100));
	attr(w, WGPEER_A_PRESHARED_KEY, psk ? k : z, 32);
	attr(w, WGPEER_A_LAST_HANDSHAKE_TIME, &ts, sizeof(ts));
	attr_u16(w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, keepalive);
	attr_u64(w, WGPEER_A_TX_BYTES, tx);
	attr_u64(w, WGPEER_A_RX_BYTES, rx);
	attr_u32(w, WGPEER_A_PROTOCOL_VERSION, 1);
	if (ep)
		attr(w, WGPEER_A_ENDPOINT, ep, eplen);
}

static void put_device_head(struct wbuf *w, bool keys)
{
	uint8_t k[32];
	uint32_t ifindex = 7;

	attr(w, WGDEVICE_A_IFINDEX, &ifindex, 4);
	attr(w, WGDEVICE_A_IFNAME, "wgk0", 5);
	if (keys) {
		key(k, 1);
		attr(w, WGDEVICE_A_PRIVATE_KEY, k, 32);
		key(k, 2);
		attr(w, WGDEVICE_A_PUBLIC_KEY, k, 32);
	}
	attr_u16(w, WGDEVICE_A_LISTEN_PORT, 51820);
	attr_u32(w, WGDEVICE_A_FWMARK, 0x42);
}

/* Two messages and NLMSG_DONE: peer A whole, peer B split across the
 * messages (1 + 2 allowed IPs), then peer C with an IPv6 endpoint. */
static void canned_dump(struct wbuf *w, size_t ends[3])
{
	struct sockaddr_in ep4 = { .sin_family = AF_INET, .sin_port = htons(51000) };
	struct sockaddr_in6 ep6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	size_t m, peers, p, ips;
	uint8_t k[32];

	inet_pton(AF_INET, "192.0.2.1", &ep4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::9", &ep6.sin6_addr);
	memset(w, 0, sizeof(*w));

	m = msg_start(w, FAMILY, NLM_F_MULTI);
	put_device_head(w, true);
	peers = nest(w, WGDEVICE_A_PEERS);
	p = nest(w, 0);
	put_peer_head(w, 10, &ep4, sizeof(ep4), 25, 1700000000, 1000, 2000, true);
	ips = nest(w, WGPEER_A_ALLOWEDIPS);
	put_ip4(w, "10.0.0.2", 32);
	put_ip6(w, "fd00::2", 128);
	nest_end(w, ips);
	nest_end(w, p);
	p = nest(w, 0);
	put_peer_head(w, 11, NULL, 0, 0, 0, 0, 0, false);
	ips = nest(w, WGPEER_A_ALLOWEDIPS);
	put_ip4(w, "10.1.0.0", 16);
	nest_end(w, ips);
	nest_end(w, p);
	nest_end(w, peers);
	msg_end(w, m);
	ends[0] = w->len;

	m = msg_start(w, FAMILY, NLM_F_MULTI);
	attr(w, WGDEVICE_A_IFNAME, "wgk0", 5);
	peers = nest(w, WGDEVICE_A_PEERS);
	p = nest(w, 0);
	key(k, 11);
	attr(w, WGPEER_A_PUBLIC_KEY, k, 32);
	ips = nest(w, WGPEER_A_ALLOWEDIPS);
	put_ip4(w, "10.2.0.0", 16);
	put_ip6(w, "fd01::", 64);
	nest_end(w, ips);
	nest_end(w, p);
	p = nest(w, 0);
	put_peer_head(w, 12, &ep6, sizeof(ep6), 0, 5, 1, 2, false);
	nest_end(w, p);
	nest_end(w, peers);
	msg_end(w, m);
	ends[1] = w->len;

	m = msg_start(w, NLMSG_DONE, NLM_F_MULTI);
	{
		int32_t zero = 0;
		put(w, &zero, sizeof(zero));
	}
	msg_end(w, m);
	ends[2] = w->len;
}

static bool ip_is(const struct dev_allowedip *ip, int family, const char *addr, uint8_t cidr)
{
	char s[INET6_ADDRSTRLEN];

	return ip->family == family && ip->cidr == cidr && dev_allowedip_addr(s, ip) && !strcmp(s, addr);
}

static void parse_canned_dump(void)
{
	struct wbuf *w = malloc(sizeof(*w));
	struct device *dev = device_new(NULL);
	size_t ends[3];
	uint8_t k[32];
	char ep[DEV_ENDPOINT_STRLEN];

	canned_dump(w, ends);
	/* One datagram per message, as the kernel may send them. */
	CHECK_EQ(wg_genl_parse(w->b, ends[0], FAMILY, dev), 1);
	CHECK_EQ(wg_genl_parse(w->b + ends[0], ends[1] - ends[0], FAMILY, dev), 1);
	CHECK_EQ(wg_genl_parse(w->b + ends[1], ends[2] - ends[1], FAMILY, dev), 0);

	CHECK(!strcmp(dev->name, "wgk0"));
	CHECK_EQ(dev->flags, DEV_HAS_PRIVATE_KEY | DEV_HAS_PUBLIC_KEY | DEV_HAS_LISTEN_PORT | DEV_HAS_FWMARK);
	key(k, 1);
	CHECK_MEM(dev->private_key, k, 32);
	key(k, 2);
	CHECK_MEM(dev->public_key, k, 32);
	CHECK_EQ(dev->listen_port, 51820);
	CHECK_EQ(dev->fwmark, 0x42);
	CHECK_EQ(dev->n_peers, 3);
	if (dev->n_peers == 3) {
		struct dev_peer *a = &dev->peers[0], *b = &dev->peers[1], *c = &dev->peers[2];

		key(k, 10);
		CHECK_MEM(a->public_key, k, 32);
		key(k, 110);
		CHECK_MEM(a->preshared_key, k, 32);
		CHECK(a->flags & PEER_HAS_PRESHARED_KEY);
		CHECK(dev_endpoint_format(ep, sizeof(ep), &a->endpoint) && !strcmp(ep, "192.0.2.1:51000"));
		CHECK_EQ(a->persistent_keepalive, 25);
		CHECK_EQ(a->last_handshake_sec, 1700000000);
		CHECK_EQ(a->last_handshake_nsec, 123);
		CHECK_EQ(a->rx_bytes, 1000);
		CHECK_EQ(a->tx_bytes, 2000);
		CHECK_EQ(a->n_allowedips, 2);
		CHECK(a->n_allowedips == 2 && ip_is(&a->allowedips[0], AF_INET, "10.0.0.2", 32) &&
		      ip_is(&a->allowedips[1], AF_INET6, "fd00::2", 128));

		key(k, 11);
		CHECK_MEM(b->public_key, k, 32);
		CHECK(!(b->flags & PEER_HAS_PRESHARED_KEY));
		CHECK(!device_has_endpoint(b));
		CHECK_EQ(b->n_allowedips, 3); /* joined across the two messages */
		CHECK(b->n_allowedips == 3 && ip_is(&b->allowedips[0], AF_INET, "10.1.0.0", 16) &&
		      ip_is(&b->allowedips[1], AF_INET, "10.2.0.0", 16) &&
		      ip_is(&b->allowedips[2], AF_INET6, "fd01::", 64));

		key(k, 12);
		CHECK_MEM(c->public_key, k, 32);
		CHECK(dev_endpoint_format(ep, sizeof(ep), &c->endpoint) && !strcmp(ep, "[2001:db8::9]:443"));
		CHECK_EQ(c->n_allowedips, 0);
	}
	device_free(dev);

	/* The same bytes as one datagram. */
	dev = device_new(NULL);
	CHECK_EQ(wg_genl_parse(w->b, ends[2], FAMILY, dev), 0);
	CHECK_EQ(dev->n_peers, 3);
	CHECK(dev->n_peers == 3 && dev->peers[1].n_allowedips == 3);
	device_free(dev);
	free(w);
}

/* A device without a private key: no key flags, zeros are "none". */
static void parse_device_without_key(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	struct device *dev = device_new(NULL);
	uint8_t z[32] = { 0 };
	size_t m = msg_start(w, FAMILY, 0);

	put_device_head(w, false);
	attr(w, WGDEVICE_A_PRIVATE_KEY, z, 32);
	msg_end(w, m);
	CHECK_EQ(wg_genl_parse(w->b, w->len, FAMILY, dev), 1);
	CHECK_EQ(dev->flags, DEV_HAS_LISTEN_PORT | DEV_HAS_FWMARK);
	CHECK_EQ(dev->n_peers, 0);
	device_free(dev);
	free(w);
}

static void parse_kernel_error(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	struct device *dev = device_new(NULL);
	struct nlmsgerr e = { .error = -ENODEV };
	size_t m = msg_start(w, NLMSG_ERROR, 0);

	put(w, &e, sizeof(e));
	msg_end(w, m);
	CHECK_EQ(wg_genl_parse(w->b, w->len, FAMILY, dev), -ENODEV);
	device_free(dev);
	free(w);
}

/* Each broken reply is a one-message device whose peer carries one bad
 * attribute (or one bad allowed IP). */
enum breakage {
	BAD_KEY_LEN, BAD_PSK_LEN, BAD_ENDPOINT_LEN, BAD_ENDPOINT_FAMILY, BAD_KEEPALIVE_LEN,
	BAD_HANDSHAKE_LEN, BAD_RX_LEN, BAD_IP_FAMILY, BAD_IP_LEN, BAD_CIDR4, BAD_CIDR6,
	MISSING_CIDR, MISSING_PEER_KEY, BAD_PORT_LEN, BAD_IFNAME, BAD_TYPE, NO_GENL_HEADER, N_BREAKAGES
};

static int parse_broken(enum breakage b)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	struct device *dev = device_new(NULL);
	struct sockaddr_in6 ep6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in ep4 = { .sin_family = AF_INET6 };
	uint8_t k[33] = { 1 }, a4[4] = { 10 };
	size_t m, peers, p, ips, ip;
	int ret;

	if (b == NO_GENL_HEADER) {
		struct nlmsghdr h = { .nlmsg_len = sizeof(h), .nlmsg_type = FAMILY };

		put(w, &h, sizeof(h));
		goto parse;
	}
	m = msg_start(w, b == BAD_TYPE ? FAMILY + 1 : FAMILY, 0);
	if (b == BAD_IFNAME)
		attr(w, WGDEVICE_A_IFNAME, "0123456789abcdefgh", 19);
	attr_u16(w, WGDEVICE_A_LISTEN_PORT, 1);
	if (b == BAD_PORT_LEN)
		attr_u32(w, WGDEVICE_A_LISTEN_PORT, 1);
	peers = nest(w, WGDEVICE_A_PEERS);
	p = nest(w, 0);
	if (b != MISSING_PEER_KEY)
		attr(w, WGPEER_A_PUBLIC_KEY, k, b == BAD_KEY_LEN ? 31 : 32);
	if (b == BAD_PSK_LEN)
		attr(w, WGPEER_A_PRESHARED_KEY, k, 33);
	if (b == BAD_ENDPOINT_LEN)
		attr(w, WGPEER_A_ENDPOINT, &ep6, sizeof(ep6) - 1);
	if (b == BAD_ENDPOINT_FAMILY)
		attr(w, WGPEER_A_ENDPOINT, &ep4, sizeof(ep4));
	if (b == BAD_KEEPALIVE_LEN)
		attr_u32(w, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 1);
	if (b == BAD_HANDSHAKE_LEN)
		attr_u64(w, WGPEER_A_LAST_HANDSHAKE_TIME, 1);
	if (b == BAD_RX_LEN)
		attr_u32(w, WGPEER_A_RX_BYTES, 1);
	ips = nest(w, WGPEER_A_ALLOWEDIPS);
	ip = nest(w, 0);
	attr_u16(w, WGALLOWEDIP_A_FAMILY, b == BAD_IP_FAMILY ? AF_INET6 : b == BAD_CIDR6 ? AF_INET6 : AF_INET);
	if (b == BAD_CIDR6) {
		uint8_t a6[16] = { 0xfd };
		attr(w, WGALLOWEDIP_A_IPADDR, a6, 16);
	} else {
		attr(w, WGALLOWEDIP_A_IPADDR, a4, b == BAD_IP_LEN ? 3 : 4);
	}
	if (b != MISSING_CIDR)
		attr_u8(w, WGALLOWEDIP_A_CIDR_MASK, b == BAD_CIDR4 ? 33 : b == BAD_CIDR6 ? 129 : 8);
	nest_end(w, ip);
	nest_end(w, ips);
	nest_end(w, p);
	nest_end(w, peers);
	msg_end(w, m);
parse:
	ret = wg_genl_parse(w->b, w->len, FAMILY, dev);
	device_free(dev);
	free(w);
	return ret;
}

static void parse_rejects_malformed(void)
{
	CHECK_EQ(parse_broken(N_BREAKAGES), 1); /* the unbroken reply parses */
	for (int b = 0; b < N_BREAKAGES; b++) {
		int ret = parse_broken((enum breakage)b);

		if (ret != -EPROTO)
			fprintf(stderr, "  breakage %d: %d\n", b, ret);
		CHECK_EQ(ret, -EPROTO);
	}
}

/* ---- set: build, then parse back ---- */

static struct device *random_change(size_t n_peers, size_t max_ips)
{
	struct device *dev = device_new("wgk1");

	dev->flags = DEV_REPLACE_PEERS | DEV_HAS_PRIVATE_KEY | DEV_HAS_LISTEN_PORT | DEV_HAS_FWMARK;
	for (int i = 0; i < 32; i++)
		dev->private_key[i] = (uint8_t)test_rnd();
	dev->listen_port = (uint16_t)test_rnd();
	dev->fwmark = (uint32_t)test_rnd();
	for (size_t i = 0; i < n_peers; i++) {
		struct dev_peer *p = device_add_peer(dev);
		size_t n_ips = max_ips ? test_below(max_ips + 1) : 0;

		p->public_key[0] = (uint8_t)i;
		p->public_key[1] = (uint8_t)(i >> 8);
		p->public_key[2] = (uint8_t)(i >> 16);
		p->public_key[31] = 1; /* never all zero */
		p->flags = PEER_HAS_PUBLIC_KEY | (uint32_t)(test_rnd() & (PEER_REPLACE_ALLOWEDIPS |
			   PEER_HAS_PRESHARED_KEY | PEER_HAS_PERSISTENT_KEEPALIVE | PEER_UPDATE_ONLY));
		if (!test_below(16)) {
			p->flags = PEER_HAS_PUBLIC_KEY | PEER_REMOVE_ME;
			continue;
		}
		if (p->flags & PEER_HAS_PRESHARED_KEY)
			memset(p->preshared_key, 0x77, 32);
		if (p->flags & PEER_HAS_PERSISTENT_KEEPALIVE)
			p->persistent_keepalive = (uint16_t)test_rnd();
		if (test_below(2)) {
			p->endpoint.addr4.sin_family = AF_INET;
			p->endpoint.addr4.sin_port = (uint16_t)test_rnd();
			p->endpoint.addr4.sin_addr.s_addr = (uint32_t)test_rnd();
		}
		for (size_t j = 0; j < n_ips; j++) {
			struct dev_allowedip ip = { .family = test_below(2) ? AF_INET : AF_INET6 };

			ip.cidr = (uint8_t)test_below(ip.family == AF_INET ? 33 : 129);
			for (int b = 0; b < 16; b++)
				((uint8_t *)&ip.ip6)[b] = (uint8_t)test_rnd();
			if (ip.family == AF_INET)
				memset((uint8_t *)&ip.ip6 + 4, 0, 12);
			ip.flags = test_below(8) ? 0 : ALLOWEDIP_REMOVE_ME;
			peer_add_allowedip(p, &ip);
		}
	}
	return dev;
}

static bool same_peer(const struct dev_peer *a, const struct dev_peer *b)
{
	if (memcmp(a->public_key, b->public_key, 32) || a->flags != b->flags ||
	    a->n_allowedips != b->n_allowedips)
		return false;
	if (a->flags & PEER_REMOVE_ME)
		return true;
	if ((a->flags & PEER_HAS_PRESHARED_KEY) && memcmp(a->preshared_key, b->preshared_key, 32))
		return false;
	if ((a->flags & PEER_HAS_PERSISTENT_KEEPALIVE) && a->persistent_keepalive != b->persistent_keepalive)
		return false;
	if (memcmp(&a->endpoint, &b->endpoint, sizeof(a->endpoint)))
		return false;
	for (size_t j = 0; j < a->n_allowedips; j++)
		if (a->allowedips[j].family != b->allowedips[j].family || a->allowedips[j].cidr != b->allowedips[j].cidr ||
		    a->allowedips[j].flags != b->allowedips[j].flags ||
		    memcmp(&a->allowedips[j].ip6, &b->allowedips[j].ip6, a->allowedips[j].family == AF_INET ? 4 : 16))
			return false;
	return true;
}

/* Builds all messages of change at size; checks each, parses them all
 * into one device and compares. Returns the number of messages. */
static size_t round_trip(const struct device *change, size_t size)
{
	struct wg_genl_set_pos pos = { 0 };
	struct device *back = device_new(NULL), *one;
	uint8_t *buf = malloc(size);
	size_t n_msgs = 0, bad_size = 0, bad_continuation = 0, settings_after_first = 0;
	uint8_t last_key[32];
	bool have_last = false;
	int len;

	while ((len = wg_genl_build_set(buf, size, FAMILY, change, &pos)) > 0) {
		const struct nlmsghdr *nlh = (const void *)buf;

		n_msgs++;
		if ((size_t)len > size || nlh->nlmsg_len != (uint32_t)len || !(nlh->nlmsg_flags & NLM_F_ACK))
			bad_size++;
		/* On its own: settings only in the first; a continued peer
		 * carries its key, and never REPLACE_ALLOWEDIPS or settings. */
		one = device_new(NULL);
		CHECK_EQ(wg_genl_parse(buf, (size_t)len, FAMILY, one), 1);
		if (n_msgs > 1 && one->flags)
			settings_after_first++;
		if (one->n_peers && have_last && !memcmp(one->peers[0].public_key, last_key, 32) &&
		    ((one->peers[0].flags & ~(PEER_HAS_PUBLIC_KEY | PEER_UPDATE_ONLY)) ||
		     device_has_endpoint(&one->peers[0])))
			bad_continuation++;
		if (one->n_peers) {
			memcpy(last_key, one->peers[one->n_peers - 1].public_key, 32);
			have_last = true;
		}
		device_free(one);
		CHECK_EQ(wg_genl_parse(buf, (size_t)len, FAMILY, back), 1);
		CHECK(!strcmp(back->name, change->name));
		if (n_msgs > 10000000)
			break;
	}
	CHECK_EQ(len, 0);
	CHECK_EQ(bad_size, 0);
	CHECK_EQ(bad_continuation, 0);
	CHECK_EQ(settings_after_first, 0);
	CHECK_EQ(back->flags & ~DEV_HAS_PUBLIC_KEY, change->flags);
	CHECK_MEM(back->private_key, change->private_key, 32);
	CHECK_EQ(back->listen_port, change->listen_port);
	CHECK_EQ(back->fwmark, change->fwmark);
	CHECK_EQ(back->n_peers, change->n_peers);
	if (back->n_peers == change->n_peers) {
		size_t differ = 0;

		for (size_t i = 0; i < change->n_peers; i++)
			differ += !same_peer(&change->peers[i], &back->peers[i]);
		CHECK_EQ(differ, 0);
	}
	device_free(back);
	free(buf);
	return n_msgs;
}

static void set_round_trip_sizes(void)
{
	static const size_t sizes[] = { 200, 256, 600, 1024, WG_GENL_SET_MSG_SIZE };

	for (unsigned r = 0; r < 40 / test_scale(); r++) {
		struct device *change = random_change(test_below(40), test_below(3) ? 6 : 200);

		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			round_trip(change, sizes[s]);
		device_free(change);
	}
}

/* One peer with more allowed IPs than a message holds: split over several,
 * the first with REPLACE_ALLOWEDIPS, the rest under the key alone. */
static void set_split_peer(void)
{
	struct device *change = device_new("wgk2");
	struct dev_peer *p = device_add_peer(change);
	size_t n;

	p->public_key[0] = 9;
	p->flags = PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWEDIPS;
	for (unsigned i = 0; i < 1000; i++) {
		struct dev_allowedip ip = { .family = AF_INET, .cidr = 32 };

		ip.ip4.s_addr = htonl(0x0a000000u + i);
		peer_add_allowedip(p, &ip);
	}
	n = round_trip(change, WG_GENL_SET_MSG_SIZE);
	CHECK(n >= 7); /* 1000 x 32 bytes in 4 KiB messages */
	device_free(change);
}

/* No peers: one message with the settings; nothing to say: still one. */
static void set_without_peers(void)
{
	struct device *change = device_new("wgk3");
	struct wg_genl_set_pos pos = { 0 };
	uint8_t buf[256];

	CHECK_EQ(round_trip(change, sizeof(buf)), 1);
	change->flags = DEV_HAS_LISTEN_PORT;
	change->listen_port = 1;
	CHECK_EQ(round_trip(change, sizeof(buf)), 1);
	/* Too small for the header and the name. */
	CHECK_EQ(wg_genl_build_set(buf, 20, FAMILY, change, &pos), -EMSGSIZE);
	device_free(change);
}

static void set_too_small_for_a_peer(void)
{
	struct device *change = device_new("wgk4");
	struct wg_genl_set_pos pos = { 0 };
	struct dev_peer *p = device_add_peer(change);
	uint8_t buf[64];

	p->flags = PEER_HAS_PUBLIC_KEY;
	/* First message: the settings (none) fit, the peer does not. */
	CHECK(wg_genl_build_set(buf, sizeof(buf), FAMILY, change, &pos) > 0);
	CHECK_EQ(wg_genl_build_set(buf, sizeof(buf), FAMILY, change, &pos), -EMSGSIZE);
	device_free(change);
}

/* 65,535 peers with an allowed IP each, as the VM test sets them. */
static void set_many_peers(void)
{
	struct device *change = device_new("wgk5");
	size_t n = 65535 / test_scale();

	change->flags = DEV_REPLACE_PEERS;
	for (size_t i = 0; i < n; i++) {
		struct dev_peer *p = device_add_peer(change);
		struct dev_allowedip ip = { .family = AF_INET6, .cidr = 128 };

		p->flags = PEER_HAS_PUBLIC_KEY | PEER_REPLACE_ALLOWEDIPS;
		memcpy(p->public_key, &i, sizeof(i));
		p->public_key[31] = 0xaa;
		ip.ip6.s6_addr[0] = 0xfd;
		memcpy(&ip.ip6.s6_addr[8], &i, sizeof(i));
		peer_add_allowedip(p, &ip);
	}
	CHECK(round_trip(change, WG_GENL_SET_MSG_SIZE) > n / 64);
	device_free(change);
}

static void get_request(void)
{
	uint8_t buf[256];
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct genlmsghdr *g = (const void *)(buf + NLMSG_HDRLEN);
	int len = wg_genl_build_get(buf, sizeof(buf), FAMILY, "wg0");

	CHECK(len > 0);
	CHECK_EQ(nlh->nlmsg_type, FAMILY);
	CHECK(nlh->nlmsg_flags & NLM_F_DUMP);
	CHECK_EQ(g->cmd, WG_CMD_GET_DEVICE);
	CHECK_EQ(wg_genl_build_get(buf, sizeof(buf), FAMILY, "0123456789abcdef"), -ENAMETOOLONG);
	CHECK_EQ(wg_genl_build_get(buf, sizeof(buf), FAMILY, ""), -ENAMETOOLONG);
}

int main(void)
{
	test_suite_name = "wg_genl";
	test_seed(0x6e6c);
	RUN(parse_canned_dump);
	RUN(parse_device_without_key);
	RUN(parse_kernel_error);
	RUN(parse_rejects_malformed);
	RUN(set_round_trip_sizes);
	RUN(set_split_peer);
	RUN(set_without_peers);
	RUN(set_too_small_for_a_peer);
	RUN(set_many_peers);
	RUN(get_request);
	TEST_EXIT();
}
