/* test_uapi.c: the UAPI of weftd (src/weftd/uapi.c, uapi_server.c) against a real engine
 * device: set then get round trips for every key, each class of error and
 * its errno, requests split at every byte, the bounds (line length, reply
 * backlog), and the socket server (stale and live sockets, several clients,
 * one client's set holding the others back, a client leaving mid-request). */
/* The daemon's files are not in libweft.a: compile them in. */
#include "weftd/uapi.c"
#include "weftd/uapi_server.c"
#include "weftd/log.c"

#include <poll.h>
#include <sys/random.h>

#include "test.h"

static uint64_t fake_now;

static uint64_t t_now(void *ctx) { (void)ctx; return fake_now; }
static uint64_t t_wall(void *ctx) { (void)ctx; return UINT64_C(1700000000) * 1000000000ULL; }
static void t_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(rand() >> 7);
}

static struct weft_device *new_device(void)
{
	static const struct weft_env env = { .clock = { .now_ns = t_now, .wall_ns = t_wall },
					     .random = { .fill = t_random } };
	struct weft_device *dev = NULL;

	CHECK_EQ(weft_device_new(&env, &dev), 0);
	return dev;
}

/* The hooks record what the daemon would have done. */
struct hook_log {
	int listen_calls, fwmark_calls;
	uint16_t port;
	uint32_t fwmark;
	int fail_with;
	struct weft_device *dev;
};

static int hook_port(void *ctx, uint16_t port)
{
	struct hook_log *h = ctx;

	h->listen_calls++;
	if (h->fail_with)
		return h->fail_with;
	h->port = port;
	weft_device_set_listen_port(h->dev, port ? port : 40000); /* "the kernel picked 40000" */
	return 0;
}

static int hook_mark(void *ctx, uint32_t mark)
{
	struct hook_log *h = ctx;

	h->fwmark_calls++;
	if (h->fail_with)
		return h->fail_with;
	h->fwmark = mark;
	return 0;
}

/* Feeds a whole request and returns the reply (caller frees). */
static char *run(struct uapi_conn *c, struct weft_device *dev, const struct uapi_hooks *hooks,
		 const char *req)
{
	size_t len = strlen(req), used = 0;
	char *reply;

	while (used < len) {
		size_t n = uapi_conn_feed(c, dev, hooks, req + used, len - used);
		used += n;
		if (n == 0)
			break;
	}
	reply = strndup(uapi_conn_output(c), uapi_conn_pending(c));
	uapi_conn_consume(c, uapi_conn_pending(c));
	return reply;
}

/* One request on a fresh connection. */
static char *run1(struct weft_device *dev, const struct uapi_hooks *hooks, const char *req)
{
	struct uapi_conn c;
	char *reply;

	uapi_conn_init(&c);
	reply = run(&c, dev, hooks, req);
	uapi_conn_release(&c);
	return reply;
}

static int errno_of(const char *reply)
{
	const char *e = NULL;
	size_t len = strlen(reply);

	/* every reply ends "errno=N\n\n"; this is the last one's N */
	for (const char *p = reply; (p = strstr(p, "errno=")); p++)
		e = p;
	if (!e || len < 2 || reply[len - 1] != '\n' || reply[len - 2] != '\n')
		return 12345;
	return atoi(e + 6);
}

static int set_errno(struct weft_device *dev, const struct uapi_hooks *hooks, const char *body)
{
	char req[8192];
	char *reply;
	int e;

	snprintf(req, sizeof(req), "set=1\n%s\n", body);
	reply = run1(dev, hooks, req);
	e = errno_of(reply);
	free(reply);
	return e;
}

static char *get(struct weft_device *dev)
{
	return run1(dev, NULL, "get=1\n\n");
}

static int count_lines(const char *text, const char *line)
{
	int n = 0;
	size_t len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += len)
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			n++;
	return n;
}

#define SK_HEX "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define PK1_HEX "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define PK2_HEX "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"
#define PSK_HEX "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d58dacce9bcb2ff8"
#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"

static void test_set_get_round_trip(void)
{
	struct weft_device *dev = new_device();
	struct hook_log h = { .dev = dev };
	struct uapi_hooks hooks = { hook_port, hook_mark, &h };
	char *out;

	CHECK_EQ(set_errno(dev, &hooks,
			   "private_key=" SK_HEX "\n"
			   "listen_port=51820\n"
			   "fwmark=4660\n"
			   "replace_peers=true\n"
			   "public_key=" PK1_HEX "\n"
			   "preshared_key=" PSK_HEX "\n"
			   "endpoint=192.0.2.7:51820\n"
			   "persistent_keepalive_interval=25\n"
			   "replace_allowed_ips=true\n"
			   "allowed_ip=10.0.0.2/32\n"
			   "allowed_ip=fd00:1::/64\n"
			   "protocol_version=1\n"
			   "public_key=" PK2_HEX "\n"
			   "endpoint=[2001:db8::1]:4500\n"
			   "allowed_ip=10.0.1.0/24\n"), 0);
	CHECK_EQ(h.listen_calls, 1);
	CHECK_EQ(h.port, 51820);
	CHECK_EQ(h.fwmark, 4660);
	CHECK_EQ(weft_peer_count(dev), 2);

	out = get(dev);
	CHECK_EQ(errno_of(out), 0);
	CHECK_EQ(count_lines(out, "private_key=" SK_HEX), 1);
	CHECK_EQ(count_lines(out, "listen_port=51820"), 1);
	CHECK_EQ(count_lines(out, "fwmark=4660"), 1);
	CHECK_EQ(count_lines(out, "public_key=" PK1_HEX), 1);
	CHECK_EQ(count_lines(out, "public_key=" PK2_HEX), 1);
	CHECK_EQ(count_lines(out, "preshared_key=" PSK_HEX), 1);
	CHECK_EQ(count_lines(out, "preshared_key=" ZERO_HEX), 1); /* peer 2 has none */
	CHECK_EQ(count_lines(out, "protocol_version=1"), 2);
	CHECK_EQ(count_lines(out, "endpoint=192.0.2.7:51820"), 1);
	CHECK_EQ(count_lines(out, "endpoint=[2001:db8::1]:4500"), 1);
	CHECK_EQ(count_lines(out, "persistent_keepalive_interval=25"), 1);
	CHECK_EQ(count_lines(out, "persistent_keepalive_interval=0"), 1);
	CHECK_EQ(count_lines(out, "allowed_ip=10.0.0.2/32"), 1);
	CHECK_EQ(count_lines(out, "allowed_ip=fd00:1::/64"), 1);
	CHECK_EQ(count_lines(out, "allowed_ip=10.0.1.0/24"), 1);
	CHECK_EQ(count_lines(out, "last_handshake_time_sec=0"), 2);
	CHECK_EQ(count_lines(out, "last_handshake_time_nsec=0"), 2);
	CHECK_EQ(count_lines(out, "rx_bytes=0"), 2);
	CHECK_EQ(count_lines(out, "tx_bytes=0"), 2);
	/* wireguard-go's order: device keys, then each peer's public_key first */
	CHECK(strstr(out, "private_key=") < strstr(out, "listen_port="));
	CHECK(strstr(out, "listen_port=") < strstr(out, "public_key="));
	CHECK(strstr(out, "public_key=" PK1_HEX) < strstr(out, "preshared_key=" PSK_HEX));
	CHECK(strstr(out, "preshared_key=" PSK_HEX) < strstr(out, "public_key=" PK2_HEX));
	free(out);

	/* port 0: the daemon's real port is what get reports */
	CHECK_EQ(set_errno(dev, &hooks, "listen_port=0\n"), 0);
	out = get(dev);
	CHECK_EQ(count_lines(out, "listen_port=40000"), 1);
	free(out);

	/* fwmark 0 and no private key are left out, as wireguard-go does */
	CHECK_EQ(set_errno(dev, &hooks, "private_key=" ZERO_HEX "\nfwmark=0\n"), 0);
	out = get(dev);
	CHECK(strstr(out, "private_key=") == NULL);
	CHECK(strstr(out, "fwmark=") == NULL);
	CHECK_EQ(errno_of(out), 0);
	free(out);
	weft_device_free(dev);
}

static void test_peer_keys(void)
{
	struct weft_device *dev = new_device();
	char *out;

	/* update_only does not create a peer... */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nupdate_only=true\nallowed_ip=10.1.0.0/16\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 0);
	/* ...but updates one that exists */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/16\n"), 0);
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nupdate_only=true\npersistent_keepalive_interval=7\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 1);
	out = get(dev);
	CHECK_EQ(count_lines(out, "persistent_keepalive_interval=7"), 1);
	free(out);

	/* allowed_ip=-prefix removes one; removing an absent one is fine */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nallowed_ip=-10.1.0.0/16\nallowed_ip=-10.9.0.0/16\n"), 0);
	out = get(dev);
	CHECK_EQ(count_lines(out, "allowed_ip=10.1.0.0/16"), 0);
	CHECK_EQ(count_lines(out, "allowed_ip=10.2.0.0/16"), 1);
	free(out);

	/* replace_allowed_ips clears before adding; host bits are masked */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nreplace_allowed_ips=true\nallowed_ip=10.3.4.5/16\n"), 0);
	out = get(dev);
	CHECK_EQ(count_lines(out, "allowed_ip=10.2.0.0/16"), 0);
	CHECK_EQ(count_lines(out, "allowed_ip=10.3.0.0/16"), 1);
	free(out);

	/* a zero preshared key removes it; endpoints with zone and v4-mapped */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\npreshared_key=" PSK_HEX "\n"), 0);
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\npreshared_key=" ZERO_HEX "\n"
				  "endpoint=[::ffff:192.0.2.9]:1\n"), 0);
	out = get(dev);
	CHECK_EQ(count_lines(out, "preshared_key=" ZERO_HEX), 1);
	CHECK_EQ(count_lines(out, "endpoint=192.0.2.9:1"), 1);
	free(out);
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nendpoint=[fe80::1%1]:51820\n"), 0);
	out = get(dev);
	char lo[IF_NAMESIZE] = "1";
	if_indextoname(1, lo);
	char want[64];
	snprintf(want, sizeof(want), "endpoint=[fe80::1%%%s]:51820", lo);
	CHECK_EQ(count_lines(out, want), 1);
	free(out);

	/* remove=true removes the peer and ignores its later lines */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK2_HEX "\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 2);
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nremove=true\nallowed_ip=10.7.0.0/16\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 1);
	out = get(dev);
	CHECK(strstr(out, PK1_HEX) == NULL);
	CHECK(strstr(out, PK2_HEX) != NULL);
	free(out);

	/* removing a peer that does not exist is not an error */
	CHECK_EQ(set_errno(dev, NULL, "public_key=" PK1_HEX "\nremove=true\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 1);

	/* replace_peers empties the device */
	CHECK_EQ(set_errno(dev, NULL, "replace_peers=true\n"), 0);
	CHECK_EQ(weft_peer_count(dev), 0);
	weft_device_free(dev);
}

static void test_own_key_is_ignored(void)
{
	struct weft_device *dev = new_device();
	uint8_t pk[32];
	char hex[65], body[512];

	CHECK_EQ(set_errno(dev, NULL, "private_key=" SK_HEX "\n"), 0);
	CHECK(weft_device_public_key(dev, pk));
	key_to_hex(hex, pk);
	snprintf(body, sizeof(body), "public_key=%s\nallowed_ip=10.0.0.0/8\nendpoint=1.2.3.4:5\n", hex);
	CHECK_EQ(set_errno(dev, NULL, body), 0);
	CHECK_EQ(weft_peer_count(dev), 0);
	weft_device_free(dev);
}

static void test_errors(void)
{
	struct weft_device *dev = new_device();
	struct hook_log h = { .dev = dev };
	struct uapi_hooks hooks = { hook_port, hook_mark, &h };
	static const struct { const char *body; int err; } cases[] = {
		{ "frobnicate=1\n", -EINVAL },                       /* unknown device key */
		{ "public_key=" PK1_HEX "\nfrobnicate=1\n", -EINVAL }, /* unknown peer key */
		{ "public_key=" PK1_HEX "\nprivate_key=" SK_HEX "\n", -EINVAL }, /* device key in a peer */
		{ "private_key=xyz\n", -EINVAL },
		{ "private_key=" SK_HEX "00\n", -EINVAL },
		{ "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027g\n", -EINVAL },
		{ "public_key=12\n", -EINVAL },
		{ "public_key=" PK1_HEX "\npreshared_key=zz\n", -EINVAL },
		{ "listen_port=70000\n", -EINVAL },
		{ "listen_port=-1\n", -EINVAL },
		{ "listen_port=\n", -EINVAL },
		{ "listen_port=+5\n", -EINVAL },
		{ "fwmark=4294967296\n", -EINVAL },
		{ "fwmark=0x10\n", -EINVAL },
		{ "replace_peers=false\n", -EINVAL },
		{ "no equals sign\n", -EPROTO },
		{ "public_key=" PK1_HEX "\nendpoint=1.2.3.4\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=1.2.3.4:70000\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=1.2.3:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=::1:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=[::1:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=[::1]80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=[1.2.3.4]:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=host.example:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nendpoint=[fe80::1%nosuchif0]:80\n", -EINVAL },
		{ "public_key=" PK1_HEX "\npersistent_keepalive_interval=65536\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nreplace_allowed_ips=yes\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nallowed_ip=10.0.0.0/33\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nallowed_ip=10.0.0.0\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nallowed_ip=fd00::/129\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nallowed_ip=10.0.0.0/08\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nallowed_ip=fe80::%1/64\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nremove=1\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nupdate_only=false\n", -EINVAL },
		{ "public_key=" PK1_HEX "\nprotocol_version=2\n", -EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int e = set_errno(dev, &hooks, cases[i].body);
		if (e != cases[i].err)
			fprintf(stderr, "  case %zu \"%s\": errno %d, want %d\n", i, cases[i].body, e, cases[i].err);
		CHECK_EQ(e, cases[i].err);
	}
	CHECK_EQ(h.listen_calls, 0); /* bad values never reach the daemon */

	/* the daemon cannot apply the port or mark: -EADDRINUSE, as wireguard-go */
	h.fail_with = -EADDRINUSE;
	CHECK_EQ(set_errno(dev, &hooks, "listen_port=53\n"), -EADDRINUSE);
	CHECK_EQ(set_errno(dev, &hooks, "fwmark=1\n"), -EADDRINUSE);
	CHECK_EQ(weft_device_fwmark(dev), 0);
	weft_device_free(dev);
}

/* After an error the rest of that request is skipped, and the connection
 * keeps serving the next requests. */
static void test_error_skips_rest_of_request(void)
{
	struct weft_device *dev = new_device();
	struct uapi_conn c;
	char *reply;

	uapi_conn_init(&c);
	reply = run(&c, dev, NULL,
		    "set=1\npublic_key=" PK1_HEX "\nallowed_ip=10.0.0.0/8\nbogus=1\n"
		    "public_key=" PK2_HEX "\n\n"
		    "get=1\n\n");
	CHECK(!strncmp(reply, "errno=-22\n\n", 11));
	CHECK(strstr(reply, "public_key=" PK1_HEX) != NULL);  /* applied before the error */
	CHECK(strstr(reply, "allowed_ip=10.0.0.0/8") != NULL);
	CHECK(strstr(reply, "public_key=" PK2_HEX) == NULL);  /* after it: skipped */
	CHECK_EQ(errno_of(reply), 0);
	CHECK_EQ(c.state, UAPI_IDLE);
	free(reply);

	/* get=1 must be followed by a blank line */
	reply = run(&c, dev, NULL, "get=1\nx\n\nget=1\n\n");
	CHECK(!strncmp(reply, "errno=-22\n\n", 11));
	CHECK(strstr(reply, "public_key=" PK1_HEX) != NULL);
	free(reply);

	/* an unknown operation is answered and the connection closes */
	reply = run(&c, dev, NULL, "hello=1\n\nget=1\n\n");
	CHECK(!strcmp(reply, "errno=-22\n\n"));
	CHECK(uapi_conn_closing(&c));
	free(reply);
	uapi_conn_release(&c);
	weft_device_free(dev);
}

/* A request split at every possible byte gives the same device and reply. */
static void test_split_requests(void)
{
	const char *req = "set=1\nlisten_port=1234\npublic_key=" PK1_HEX "\nendpoint=[::1]:9\n"
			  "allowed_ip=10.0.0.0/8\n\nget=1\n\n";
	size_t len = strlen(req);
	struct weft_device *ref = new_device();
	char *want = run1(ref, NULL, req);

	for (size_t cut = 1; cut < len; cut++) {
		struct weft_device *dev = new_device();
		struct uapi_conn c;
		size_t used;

		uapi_conn_init(&c);
		used = uapi_conn_feed(&c, dev, NULL, req, cut);
		used += uapi_conn_feed(&c, dev, NULL, req + cut, len - cut);
		CHECK_EQ(used, len);
		CHECK_EQ(uapi_conn_pending(&c), strlen(want));
		CHECK(!strncmp(uapi_conn_output(&c), want, uapi_conn_pending(&c)));
		uapi_conn_release(&c);
		weft_device_free(dev);
	}
	free(want);
	weft_device_free(ref);
}

static void test_long_line_is_bounded(void)
{
	struct weft_device *dev = new_device();
	struct uapi_conn c;
	char chunk[4096];
	size_t used;

	uapi_conn_init(&c);
	CHECK_EQ(uapi_conn_feed(&c, dev, NULL, "set=1\nprivate_key=", 18), 18);
	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 256; i++) { /* a 1 MiB line */
		used = uapi_conn_feed(&c, dev, NULL, chunk, sizeof(chunk));
		CHECK_EQ(used, sizeof(chunk));
		CHECK(c.line_len <= UAPI_LINE_MAX);
		CHECK(c.out.cap == 0); /* nothing buffered on its behalf */
	}
	char *reply = run(&c, dev, NULL, "\nlisten_port=9\n\nget=1\n\n");
	CHECK(!strncmp(reply, "errno=-5\n\n", 10));
	CHECK(strstr(reply, "listen_port=9") == NULL); /* the rest of that set was skipped */
	CHECK_EQ(errno_of(reply), 0);
	free(reply);

	/* a line of exactly UAPI_LINE_MAX bytes is still a line; one more is not */
	static char edge[UAPI_LINE_MAX + 32];
	for (int extra = 0; extra <= 1; extra++) {
		size_t key_len = UAPI_LINE_MAX - 2 + (size_t)extra; /* "key=1" */
		memcpy(edge, "set=1\n", 6);
		memset(edge + 6, 'k', key_len);
		memcpy(edge + 6 + key_len, "=1\n\n", 5);
		edge[6 + key_len + 5] = '\0';
		reply = run(&c, dev, NULL, edge);
		CHECK_EQ(errno_of(reply), extra ? -EIO : -EINVAL);
		free(reply);
	}

	/* an over-long operation line closes at once */
	uapi_conn_release(&c);
	uapi_conn_init(&c);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(uapi_conn_feed(&c, dev, NULL, chunk, sizeof(chunk)), sizeof(chunk));
	CHECK(uapi_conn_closing(&c));
	uapi_conn_release(&c);

	/* a NUL inside a line is a protocol error */
	uapi_conn_init(&c);
	CHECK_EQ(uapi_conn_feed(&c, dev, NULL, "set=1\nlisten_port=1\0002\n\n", 23), 23);
	CHECK(!strncmp(uapi_conn_output(&c), "errno=-71\n\n", 11));
	uapi_conn_release(&c);
	weft_device_free(dev);
}

/* A fresh connection has no output buffer yet: consuming nothing from it
 * must not touch that buffer (under UBSan, a zero offset to NULL aborts). */
static void test_consume_on_fresh_connection(void)
{
	struct uapi_conn c;

	uapi_conn_init(&c);
	CHECK_EQ(uapi_conn_pending(&c), 0);
	uapi_conn_consume(&c, 0);
	uapi_conn_consume(&c, 16);
	CHECK_EQ(uapi_conn_pending(&c), 0);
	CHECK(!strcmp(uapi_conn_output(&c), ""));
	uapi_conn_release(&c);
}

/* A client that sends gets without reading cannot make the reply grow
 * without bound: input stops being consumed past UAPI_OUT_HIGH. */
static void test_reply_backlog_is_bounded(void)
{
	struct weft_device *dev = new_device();
	struct uapi_conn c;
	char body[256];
	static char many[7 * 100000];
	size_t used;

	for (int i = 0; i < 20; i++) {
		snprintf(body, sizeof(body), "public_key=%064x\nallowed_ip=10.%d.0.0/16\n", i + 1, i);
		CHECK_EQ(set_errno(dev, NULL, body), 0);
	}
	for (size_t i = 0; i < sizeof(many) / 7; i++)
		memcpy(many + 7 * i, "get=1\n\n", 7);
	uapi_conn_init(&c);
	used = uapi_conn_feed(&c, dev, NULL, many, sizeof(many));
	CHECK(used < sizeof(many));
	CHECK(uapi_conn_pending(&c) <= UAPI_OUT_HIGH + 16384);
	uapi_conn_consume(&c, uapi_conn_pending(&c));
	CHECK(uapi_conn_feed(&c, dev, NULL, many + used, sizeof(many) - used) > 0);
	uapi_conn_release(&c);
	weft_device_free(dev);
}

/* ---- the socket server ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(a.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void pump(struct uapi_server *s, struct weft_device *dev)
{
	/* unix sockets deliver at once: stop at the first quiet poll */
	for (int i = 0; i < 20; i++) {
		struct pollfd p = { .fd = uapi_server_fd(s), .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			break;
		uapi_server_process(s, dev, NULL, fake_now);
	}
}

/* Reads one reply (up to its "errno=N\n\n"). */
static char *read_reply(struct uapi_server *s, struct weft_device *dev, int fd)
{
	static char buf[65536];
	size_t len = 0;

	for (int i = 0; i < 200; i++) {
		pump(s, dev);
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (r > 0)
			len += (size_t)r;
		if (r == 0)
			break;
		buf[len] = '\0';
		char *e = strstr(buf, "errno=");
		if (e && strstr(e, "\n\n"))
			break;
	}
	buf[len] = '\0';
	return buf;
}

static void test_server(void)
{
	char dir[] = "/tmp/weft-test-uapi.XXXXXX";
	struct uapi_server s, s2;
	struct weft_device *dev = new_device();
	char path[200], *reply;
	int a, b;

	CHECK(mkdtemp(dir) != NULL);
	char sub[64];
	snprintf(sub, sizeof(sub), "%s/run/wireguard", dir);
	CHECK_EQ(uapi_server_open(&s, sub, "wgt0"), 0);
	CHECK_EQ(uapi_server_start(&s), 0);
	snprintf(path, sizeof(path), "%s/wgt0.sock", sub);

	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(stat(sub, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0755);

	/* a live socket cannot be taken over */
	CHECK_EQ(uapi_server_open(&s2, sub, "wgt0"), -EADDRINUSE);

	/* two requests on one connection */
	a = connect_to(path);
	CHECK(a >= 0);
	const char *set = "set=1\nlisten_port=7777\n\n";
	CHECK_EQ(send(a, set, strlen(set), 0), (ssize_t)strlen(set));
	reply = read_reply(&s, dev, a);
	CHECK(!strcmp(reply, "errno=0\n\n"));
	CHECK_EQ(send(a, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, a);
	CHECK(strstr(reply, "listen_port=7777\n") != NULL);
	CHECK_EQ(errno_of(reply), 0);

	/* a inside a set holds b's get back until the set ends */
	const char *half = "set=1\nlisten_port=8888\n";
	CHECK_EQ(send(a, half, strlen(half), 0), (ssize_t)strlen(half));
	pump(&s, dev);
	b = connect_to(path);
	CHECK(b >= 0);
	CHECK_EQ(send(b, "get=1\n\n", 7, 0), 7);
	pump(&s, dev);
	char tmp[64];
	CHECK(recv(b, tmp, sizeof(tmp), MSG_DONTWAIT) < 0); /* nothing yet */
	CHECK_EQ(send(a, "\n", 1, 0), 1);
	reply = read_reply(&s, dev, a);
	CHECK(!strcmp(reply, "errno=0\n\n"));
	reply = read_reply(&s, dev, b);
	CHECK(strstr(reply, "listen_port=8888\n") != NULL);

	/* a client that leaves in the middle of a set releases the lock and
	 * keeps what it applied, as wireguard-go */
	const char *cut = "set=1\nlisten_port=9999\npublic_key=" PK1_HEX "\nallowed_ip=10.";
	CHECK_EQ(send(a, cut, strlen(cut), 0), (ssize_t)strlen(cut));
	pump(&s, dev);
	close(a);
	pump(&s, dev);
	CHECK_EQ(send(b, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, b);
	CHECK(strstr(reply, "listen_port=9999\n") != NULL);
	CHECK(strstr(reply, "public_key=" PK1_HEX) != NULL);
	CHECK_EQ(errno_of(reply), 0);

	/* a stalled set is dropped after UAPI_SET_STALL_NS */
	a = connect_to(path);
	CHECK_EQ(send(a, half, strlen(half), 0), (ssize_t)strlen(half));
	pump(&s, dev);
	CHECK(s.busy != NULL);
	fake_now += UAPI_SET_STALL_NS + 1;
	uapi_server_expire(&s, dev, NULL, fake_now);
	CHECK(s.busy == NULL);
	CHECK_EQ(send(b, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, b);
	CHECK_EQ(errno_of(reply), 0);
	close(a);

	/* more clients than slots: the ones idle for UAPI_IDLE_NS make room */
	int many[UAPI_MAX_CLIENTS + 4];
	for (int i = 0; i < UAPI_MAX_CLIENTS + 4; i++) {
		many[i] = connect_to(path);
		fake_now++;
		pump(&s, dev);
	}
	int last = many[UAPI_MAX_CLIENTS + 3];
	CHECK_EQ(send(last, "get=1\n\n", 7, 0), 7);
	fake_now += UAPI_IDLE_NS + 1;
	uapi_server_expire(&s, dev, NULL, fake_now);
	reply = read_reply(&s, dev, last);
	CHECK_EQ(errno_of(reply), 0);
	for (int i = 0; i < UAPI_MAX_CLIENTS + 4; i++)
		close(many[i]);
	close(b);
	pump(&s, dev);

	/* deleting the socket file is noticed; close does not remove a stranger's file */
	CHECK(!uapi_server_socket_gone(&s));
	CHECK_EQ(unlink(path), 0);
	CHECK(uapi_server_socket_gone(&s));
	uapi_server_close(&s, true);

	/* a stale socket (nobody listening) is replaced */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CHECK(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK_EQ(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	CHECK_EQ(uapi_server_open(&s, sub, "wgt0"), 0);
	CHECK_EQ(uapi_server_start(&s), 0);
	a = connect_to(path);
	CHECK(a >= 0);
	CHECK_EQ(send(a, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, a);
	CHECK_EQ(errno_of(reply), 0);
	close(a);
	uapi_server_close(&s, true);
	CHECK(stat(path, &st) < 0 && errno == ENOENT); /* removed on close */

	rmdir(sub);
	snprintf(path, sizeof(path), "%s/run", dir);
	rmdir(path);
	rmdir(dir);
	weft_device_free(dev);
}

/* A fresh server in a temporary directory; *path gets its socket file. */
static char server_dir[64];

static void server_up(struct uapi_server *s, char path[200])
{
	snprintf(server_dir, sizeof(server_dir), "/tmp/weft-test-uapi.XXXXXX");
	CHECK(mkdtemp(server_dir) != NULL);
	CHECK_EQ(uapi_server_open(s, server_dir, "wgt1"), 0);
	CHECK_EQ(uapi_server_start(s), 0);
	snprintf(path, 200, "%s/wgt1.sock", server_dir);
}

static void server_down(struct uapi_server *s)
{
	uapi_server_close(s, true);
	rmdir(server_dir);
}

/* The client closed on us (or was closed): recv sees the end. */
static bool closed_by_server(struct uapi_server *s, struct weft_device *dev, int fd)
{
	char b[256];

	for (int i = 0; i < 50; i++) {
		pump(s, dev);
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
	}
	return false;
}

#define BACKLOG_CLIENTS 150

/* Far more clients than slots, all arriving while a set holds the lock:
 * the ones beyond the slots wait in the listen backlog, the parked ones keep
 * their complete requests, and every one is answered once the set ends. */
static void test_server_backlog(void)
{
	struct uapi_server s;
	struct weft_device *dev = new_device();
	char path[200];
	int fds[BACKLOG_CLIENTS], answered = 0, holder;

	server_up(&s, path);
	holder = connect_to(path);
	CHECK(holder >= 0);
	const char *start = "set=1\nlisten_port=1000\n";
	CHECK_EQ(send(holder, start, strlen(start), 0), (ssize_t)strlen(start));
	pump(&s, dev);
	CHECK(s.busy != NULL);
	for (int i = 0; i < BACKLOG_CLIENTS; i++) {
		fds[i] = connect_to(path); /* queued in the backlog when no slot is free */
		CHECK(fds[i] >= 0);
		const char *req = i % 3 ? "get=1\n\n" : "set=1\nfwmark=7\n\n";
		CHECK_EQ(send(fds[i], req, strlen(req), MSG_DONTWAIT), (ssize_t)strlen(req));
		if (i % 10 == 9) { /* the holder keeps making progress meanwhile */
			fake_now += 100 * 1000000ULL;
			CHECK_EQ(send(holder, "listen_port=1001\n", 17, 0), 17);
			pump(&s, dev);
			uapi_server_expire(&s, dev, NULL, fake_now);
		}
	}
	CHECK(s.busy != NULL); /* the holder was never dropped */
	CHECK_EQ(send(holder, "\n", 1, 0), 1);
	char *reply = read_reply(&s, dev, holder);
	CHECK(!strcmp(reply, "errno=0\n\n"));
	for (int i = 0; i < BACKLOG_CLIENTS; i++) {
		reply = read_reply(&s, dev, fds[i]);
		if (errno_of(reply) == 0 && strstr(reply, "errno=0\n\n"))
			answered++;
		else
			fprintf(stderr, "  client %d got '%s'\n", i, reply);
		close(fds[i]); /* as wg does: frees the slot for the next one */
	}
	CHECK_EQ(answered, BACKLOG_CLIENTS);
	close(holder);
	server_down(&s);
	weft_device_free(dev);
}

/* A set holds the lock only while whole lines arrive: bytes trickled
 * without a newline are no activity, and no set holds it longer than
 * UAPI_SET_MAX_NS however busy it looks. */
static void test_server_set_time_caps(void)
{
	struct uapi_server s;
	struct weft_device *dev = new_device();
	char path[200], *reply;
	int loris, other;

	server_up(&s, path);
	loris = connect_to(path);
	CHECK(loris >= 0);
	CHECK_EQ(send(loris, "set=1\nlisten_port=2", 19, 0), 19);
	pump(&s, dev);
	CHECK(s.busy != NULL);
	other = connect_to(path);
	CHECK_EQ(send(other, "get=1\n\n", 7, 0), 7);
	pump(&s, dev);
	uint64_t began = fake_now;
	while (fake_now - began <= UAPI_SET_STALL_NS + 1000000000ULL) {
		fake_now += 500 * 1000000ULL;
		CHECK_EQ(send(loris, "0", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 || s.busy == NULL, 1);
		pump(&s, dev);
		uapi_server_expire(&s, dev, NULL, fake_now);
	}
	CHECK(s.busy == NULL);
	CHECK(closed_by_server(&s, dev, loris));
	reply = read_reply(&s, dev, other);
	CHECK_EQ(errno_of(reply), 0);
	close(loris);

	/* whole lines, one a second, but for longer than the total cap */
	int chatty = connect_to(path);
	CHECK_EQ(send(chatty, "set=1\n", 6, 0), 6);
	pump(&s, dev);
	CHECK(s.busy != NULL);
	began = fake_now;
	while (fake_now - began <= UAPI_SET_MAX_NS + 2000000000ULL && s.busy) {
		fake_now += 1000000000ULL;
		send(chatty, "fwmark=3\n", 9, MSG_DONTWAIT | MSG_NOSIGNAL);
		pump(&s, dev);
		uapi_server_expire(&s, dev, NULL, fake_now);
		if (fake_now - began < UAPI_SET_MAX_NS)
			CHECK(s.busy != NULL); /* lines keep it alive until the cap */
	}
	CHECK(s.busy == NULL);
	CHECK(fake_now - began >= UAPI_SET_MAX_NS);
	CHECK(closed_by_server(&s, dev, chatty));
	close(chatty);
	CHECK_EQ(send(other, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, other);
	CHECK_EQ(errno_of(reply), 0);
	close(other);
	server_down(&s);
	weft_device_free(dev);
}

/* Every slot taken by clients that send nothing (or trickle a partial
 * line): a newcomer waits in the backlog until they have been idle for
 * UAPI_IDLE_NS, then gets its answer; a client that got its answer is not
 * dropped just because others arrived. */
static void test_server_idle_slots(void)
{
	struct uapi_server s;
	struct weft_device *dev = new_device();
	char path[200], *reply;
	int idle[UAPI_MAX_CLIENTS], late, first;

	server_up(&s, path);
	first = connect_to(path);
	CHECK_EQ(send(first, "get=1\n\n", 7, 0), 7);
	reply = read_reply(&s, dev, first);
	CHECK_EQ(errno_of(reply), 0);
	CHECK_EQ(send(first, "get=1\n", 6, 0), 6); /* a second request, half sent */
	for (int i = 0; i < UAPI_MAX_CLIENTS - 1; i++) {
		idle[i] = connect_to(path);
		CHECK(idle[i] >= 0);
		if (i % 2)
			CHECK_EQ(send(idle[i], "ge", 2, 0), 2);
		pump(&s, dev);
	}
	late = connect_to(path);
	CHECK(late >= 0);
	CHECK_EQ(send(late, "get=1\n\n", 7, 0), 7);
	fake_now += 1000;
	pump(&s, dev);
	uapi_server_expire(&s, dev, NULL, fake_now);
	pump(&s, dev);
	char tmp[64];
	CHECK(recv(late, tmp, sizeof(tmp), MSG_DONTWAIT) < 0); /* waits: nobody idle long enough */
	/* the first client finishes its request in time and keeps its slot */
	fake_now += UAPI_IDLE_NS / 2;
	CHECK_EQ(send(first, "\n", 1, 0), 1);
	reply = read_reply(&s, dev, first);
	CHECK_EQ(errno_of(reply), 0);
	fake_now += UAPI_IDLE_NS / 2 + 1;
	uapi_server_expire(&s, dev, NULL, fake_now);
	reply = read_reply(&s, dev, late);
	CHECK_EQ(errno_of(reply), 0);
	CHECK_EQ(send(first, "get=1\n\n", 7, MSG_NOSIGNAL), 7);
	reply = read_reply(&s, dev, first);
	CHECK_EQ(errno_of(reply), 0);
	for (int i = 0; i < UAPI_MAX_CLIENTS - 1; i++)
		close(idle[i]);
	close(late);
	close(first);
	server_down(&s);
	weft_device_free(dev);
}

/* Slots are reclaimed from clients idle past UAPI_IDLE_NS while others
 * queue; a client whose complete request arrived just before the reclaim,
 * not yet read by the server, is not idle: it is answered, and the queued
 * client gets a slot of one that sent nothing. */
static void test_server_reclaim_reads_first(void)
{
	struct uapi_server s;
	struct weft_device *dev = new_device();
	char path[200], *reply;
	int idle[UAPI_MAX_CLIENTS], late;

	server_up(&s, path);
	for (int i = 0; i < UAPI_MAX_CLIENTS; i++) {
		idle[i] = connect_to(path);
		CHECK(idle[i] >= 0);
		pump(&s, dev);
	}
	late = connect_to(path); /* no slot left: in the backlog */
	CHECK(late >= 0);
	CHECK_EQ(send(late, "get=1\n\n", 7, 0), 7);
	fake_now += UAPI_IDLE_NS + 1;
	/* a whole request, in the socket before the reclaim runs */
	CHECK_EQ(send(idle[0], "get=1\n\n", 7, 0), 7);
	uapi_server_expire(&s, dev, NULL, fake_now);
	reply = read_reply(&s, dev, idle[0]);
	CHECK_EQ(errno_of(reply), 0);
	reply = read_reply(&s, dev, late);
	CHECK_EQ(errno_of(reply), 0);
	for (int i = 0; i < UAPI_MAX_CLIENTS; i++)
		close(idle[i]);
	close(late);
	server_down(&s);
	weft_device_free(dev);
}

/* Time spent parked behind another client's set is not idleness: once the
 * set ends, a parked client keeps its slot while it finishes its request,
 * even with others queued behind it. */
static void test_server_parked_is_not_idle(void)
{
	struct uapi_server s;
	struct weft_device *dev = new_device();
	char path[200], *reply;
	int parked[UAPI_MAX_CLIENTS - 1], holder, late;

	server_up(&s, path);
	holder = connect_to(path);
	CHECK_EQ(send(holder, "set=1\n", 6, 0), 6);
	pump(&s, dev);
	CHECK(s.busy != NULL);
	for (int i = 0; i < UAPI_MAX_CLIENTS - 1; i++) {
		parked[i] = connect_to(path);
		CHECK(parked[i] >= 0);
		CHECK_EQ(send(parked[i], "ge", 2, 0), 2); /* no complete line yet */
		pump(&s, dev);
	}
	late = connect_to(path); /* no slot left: in the backlog */
	CHECK_EQ(send(late, "get=1\n\n", 7, 0), 7);
	for (int t = 0; t < 4; t++) { /* the set goes on, a line a second */
		fake_now += 1000000000ULL;
		CHECK_EQ(send(holder, "fwmark=1\n", 9, 0), 9);
		pump(&s, dev);
		uapi_server_expire(&s, dev, NULL, fake_now);
	}
	CHECK(s.busy != NULL);
	CHECK_EQ(send(holder, "\n", 1, 0), 1);
	reply = read_reply(&s, dev, holder);
	CHECK_EQ(errno_of(reply), 0);
	fake_now += 1000;
	uapi_server_expire(&s, dev, NULL, fake_now); /* late is queued: who is idle? */
	int kept = 0;
	for (int i = 0; i < UAPI_MAX_CLIENTS - 1; i++) {
		if (send(parked[i], "t=1\n\n", 5, MSG_NOSIGNAL) != 5)
			continue;
		reply = read_reply(&s, dev, parked[i]);
		kept += errno_of(reply) == 0 && strstr(reply, "errno=0\n\n") != NULL;
	}
	CHECK_EQ(kept, UAPI_MAX_CLIENTS - 1);
	for (int i = 0; i < UAPI_MAX_CLIENTS - 1; i++)
		close(parked[i]);
	reply = read_reply(&s, dev, late);
	CHECK_EQ(errno_of(reply), 0);
	close(late);
	close(holder);
	server_down(&s);
	weft_device_free(dev);
}

/* Allowed IPs are written by hand, not by inet_ntop: every width of an
 * IPv4 byte and of a prefix length reads as inet_ntop would write it. */
static void test_get_allowed_ip_text(void)
{
	static const char *const ips[] = {
		"0.0.0.0/0", "1.9.10.99/32", "1.0.0.0/8", "100.199.200.255/32", "10.0.0.0/16", "255.255.255.255/32",
		"192.168.7.0/24", "::/0", "fd00::1/128", "2001:db8:0:1::/64", "::ffff:10.1.2.3/128",
	};
	struct weft_device *dev = new_device();
	char body[2048];
	size_t n = 0;
	char *out;

	n += (size_t)snprintf(body + n, sizeof(body) - n, "public_key=" PK1_HEX "\n");
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "allowed_ip=%s\n", ips[i]);
	CHECK_EQ(set_errno(dev, NULL, body), 0);
	out = get(dev);
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "allowed_ip=%s", ips[i]);
		if (count_lines(out, line) != 1)
			fprintf(stderr, "  no line %s in:\n%s", line, out);
		CHECK_EQ(count_lines(out, line), 1);
	}
	free(out);
	weft_device_free(dev);
}

int main(void)
{
	test_suite_name = "uapi";
	log_init(LOG_SILENT, "test");
	srand(1);
	CHECK(crypto_init() == 0);
	RUN(test_set_get_round_trip);
	RUN(test_get_allowed_ip_text);
	RUN(test_peer_keys);
	RUN(test_own_key_is_ignored);
	RUN(test_errors);
	RUN(test_error_skips_rest_of_request);
	RUN(test_split_requests);
	RUN(test_long_line_is_bounded);
	RUN(test_reply_backlog_is_bounded);
	RUN(test_consume_on_fresh_connection);
	RUN(test_server);
	RUN(test_server_backlog);
	RUN(test_server_set_time_caps);
	RUN(test_server_idle_slots);
	RUN(test_server_reclaim_reads_first);
	RUN(test_server_parked_is_not_idle);
	TEST_EXIT();
}
