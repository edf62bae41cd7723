/* test_stun.c: the STUN parser and encoders (src/coord/stun.c) against the
 * RFC 5769 test vectors (sample request, IPv4 and IPv6 responses), then
 * their bounds: truncated, misaligned, overlong and corrupted messages. */
#include <errno.h>
#include <string.h>

#include "coord/proto.h"
#include "coord/stun.h"
#include "test.h"

/* RFC 5769 2.1: sample request (short-term credentials). */
static const uint8_t sample_request[] =
	"\x00\x01\x00\x58" "\x21\x12\xa4\x42"
	"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"
	"\x80\x22\x00\x10" "STUN test client"
	"\x00\x24\x00\x04" "\x6e\x00\x01\xff"
	"\x80\x29\x00\x08" "\x93\x2f\xf9\xb1\x51\x26\x3b\x36"
	"\x00\x06\x00\x09" "\x65\x76\x74\x6a\x3a\x68\x36\x76\x59\x20\x20\x20"
	"\x00\x08\x00\x14" "\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56\x78\x1e\xf2\xb5"
	"\xb2\xd3\xf2\x49\xc1\xb5\x71\xa2"
	"\x80\x28\x00\x04" "\xe5\x7a\x3b\xcf";

/* RFC 5769 2.2: sample IPv4 response, 192.0.2.1 port 32853. */
static const uint8_t sample_v4[] =
	"\x01\x01\x00\x3c" "\x21\x12\xa4\x42"
	"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"
	"\x80\x22\x00\x0b" "\x74\x65\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x20"
	"\x00\x20\x00\x08" "\x00\x01\xa1\x47\xe1\x12\xa6\x43"
	"\x00\x08\x00\x14" "\x2b\x91\xf5\x99\xfd\x9e\x90\xc3\x8c\x74\x89\xf9"
	"\x2a\xf9\xba\x53\xf0\x6b\xe7\xd7"
	"\x80\x28\x00\x04" "\xc0\x7d\x4c\x96";

/* RFC 5769 2.3: sample IPv6 response, 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t sample_v6[] =
	"\x01\x01\x00\x48" "\x21\x12\xa4\x42"
	"\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"
	"\x80\x22\x00\x0b" "\x74\x65\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x20"
	"\x00\x20\x00\x14" "\x00\x02\xa1\x47"
	"\x01\x13\xa9\xfa\xa5\xd3\xf1\x79\xbc\x25\xf4\xb5\xbe\xd2\xb9\xd9"
	"\x00\x08\x00\x14" "\xa3\x82\x95\x4e\x4b\xe6\x7b\xf1\x17\x84\xc9\x7c"
	"\x82\x92\xc2\x75\xbf\xe3\xed\x41"
	"\x80\x28\x00\x04" "\xc8\xfb\x0b\x4c";

static const char password[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t txid[12] = { 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae };
static const struct coord_addr addr_v4 = { .family = 4, .port = 32853, .ip = { 192, 0, 2, 1 } };
static const struct coord_addr addr_v6 = {
	.family = 6, .port = 32853,
	.ip = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77 } };

static void test_rfc5769_request(void)
{
	struct stun_msg m;
	size_t len = sizeof(sample_request) - 1;

	CHECK_EQ(stun_parse(&m, sample_request, len), 0);
	CHECK_EQ(m.type, STUN_BINDING_REQUEST);
	CHECK_MEM(m.txid, txid, 12);
	CHECK(m.has_fingerprint);
	CHECK(m.has_integrity);
	CHECK_EQ(m.software_len, 16);
	CHECK(stun_check_integrity(sample_request, len, &m, (const uint8_t *)password, strlen(password)));
	CHECK(!stun_check_integrity(sample_request, len, &m, (const uint8_t *)"wrong", 5));
	CHECK_EQ(coord_classify(sample_request, len), COORD_KIND_STUN);
	/* a flipped byte breaks the fingerprint */
	uint8_t bad[sizeof(sample_request)];
	memcpy(bad, sample_request, sizeof(bad));
	bad[27] = 23;
	CHECK_EQ(stun_parse(&m, bad, len), -EBADMSG);
}

static void check_sample_response(const uint8_t *sample, size_t len, const struct coord_addr *want)
{
	struct stun_msg m;

	CHECK_EQ(stun_parse(&m, sample, len), 0);
	CHECK_EQ(m.type, STUN_BINDING_SUCCESS);
	CHECK(m.has_xor_mapped);
	CHECK(coord_addr_equal(&m.xor_mapped, want));
	CHECK(m.has_fingerprint);
	CHECK(stun_check_integrity(sample, len, &m, (const uint8_t *)password, strlen(password)));
	/* the encoder, given the same inputs, makes the same bytes */
	uint8_t out[256];
	struct stun_response_opts o = { .software = "test vector", .pad = ' ',
					 .integrity_key = (const uint8_t *)password,
					 .integrity_key_len = strlen(password), .fingerprint = true };
	int n = stun_binding_response(out, sizeof(out), txid, want, &o);
	CHECK_EQ(n, (int)len);
	CHECK(n == (int)len && !memcmp(out, sample, len));
	/* and a corrupted one is refused */
	uint8_t bad[256];
	memcpy(bad, sample, len);
	bad[27] = 23;
	CHECK_EQ(stun_parse(&m, bad, len), -EBADMSG);
}

static void test_rfc5769_ipv4_response(void)
{
	check_sample_response(sample_v4, sizeof(sample_v4) - 1, &addr_v4);
}

static void test_rfc5769_ipv6_response(void)
{
	check_sample_response(sample_v6, sizeof(sample_v6) - 1, &addr_v6);
}

static void test_minimal_messages(void)
{
	uint8_t out[128];
	struct stun_msg m;

	int n = stun_binding_request(out, sizeof(out), txid, false);
	CHECK_EQ(n, 20);
	CHECK_EQ(stun_parse(&m, out, (size_t)n), 0);
	CHECK(!m.has_fingerprint);
	n = stun_binding_request(out, sizeof(out), txid, true);
	CHECK_EQ(n, 28);
	CHECK_EQ(stun_parse(&m, out, (size_t)n), 0);
	CHECK(m.has_fingerprint);
	CHECK_EQ(stun_binding_request(out, 27, txid, true), -EMSGSIZE);

	n = stun_binding_response(out, sizeof(out), txid, &addr_v4, NULL);
	CHECK_EQ(n, 32);
	CHECK_EQ(stun_parse(&m, out, (size_t)n), 0);
	CHECK(coord_addr_equal(&m.xor_mapped, &addr_v4));
	n = stun_binding_response(out, sizeof(out), txid, &addr_v6, NULL);
	CHECK_EQ(n, 44);
	CHECK_EQ(stun_parse(&m, out, (size_t)n), 0);
	CHECK(coord_addr_equal(&m.xor_mapped, &addr_v6));
	struct stun_response_opts fp = { .fingerprint = true };
	n = stun_binding_response(out, sizeof(out), txid, &addr_v6, &fp);
	CHECK_EQ(n, 52);
	CHECK_EQ(stun_parse(&m, out, (size_t)n), 0);
	CHECK(m.has_fingerprint);
	CHECK_EQ(stun_binding_response(out, 43, txid, &addr_v6, NULL), -EMSGSIZE);
	struct coord_addr none = { 0 };
	CHECK_EQ(stun_binding_response(out, sizeof(out), txid, &none, NULL), -EINVAL);
}

static void test_bounds(void)
{
	uint8_t buf[STUN_MAX_LEN + 8];
	struct stun_msg m;
	size_t len = sizeof(sample_v4) - 1;

	/* every truncation fails */
	for (size_t l = 0; l < len; l++)
		CHECK_EQ(stun_parse(&m, sample_v4, l), -EBADMSG);
	/* wrong cookie, top bits, length field */
	memcpy(buf, sample_v4, len);
	buf[4] ^= 1;
	CHECK_EQ(stun_parse(&m, buf, len), -EBADMSG);
	memcpy(buf, sample_v4, len);
	buf[0] |= 0x40;
	CHECK_EQ(stun_parse(&m, buf, len), -EBADMSG);
	memcpy(buf, sample_v4, len);
	buf[3] += 4;
	CHECK_EQ(stun_parse(&m, buf, len), -EBADMSG);
	/* an attribute running past the end */
	uint8_t req[28];
	CHECK_EQ(stun_binding_request(req, sizeof(req), txid, false), 20);
	req[3] = 8;
	req[20] = 0x00; req[21] = 0x24; req[22] = 0x00; req[23] = 0x08;
	CHECK_EQ(stun_parse(&m, req, 28), -EBADMSG);
	req[23] = 0x04; /* now it fits */
	CHECK_EQ(stun_parse(&m, req, 28), 0);
	/* an attribute after FINGERPRINT */
	uint8_t fp[40];
	int n = stun_binding_request(fp, sizeof(fp), txid, true);
	memset(fp + n, 0, 8);
	fp[n + 1] = 0x24; fp[n + 3] = 4;
	fp[3] = (uint8_t)(n + 8 - 20);
	CHECK_EQ(stun_parse(&m, fp, (size_t)n + 8), -EBADMSG);
	/* too large, too many attributes */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(stun_binding_request(buf, sizeof(buf), txid, false), 20);
	size_t big = STUN_MAX_LEN + 4;
	buf[2] = (uint8_t)((big - 20) >> 8);
	buf[3] = (uint8_t)(big - 20);
	CHECK_EQ(stun_parse(&m, buf, big), -EBADMSG);
	size_t many = 20 + 4 * (STUN_MAX_ATTRS + 1);
	memset(buf + 20, 0, many - 20);
	for (size_t i = 20; i < many; i += 4)
		buf[i + 1] = 0x24; /* zero-length attributes */
	buf[2] = (uint8_t)((many - 20) >> 8);
	buf[3] = (uint8_t)(many - 20);
	CHECK_EQ(stun_parse(&m, buf, many), -EBADMSG);
	CHECK_EQ(stun_parse(&m, buf, many - 4 * 2), -EBADMSG); /* length field mismatch */
	/* a bad family or length in XOR-MAPPED-ADDRESS */
	uint8_t resp[64];
	n = stun_binding_response(resp, sizeof(resp), txid, &addr_v4, NULL);
	resp[25] = 3;
	CHECK_EQ(stun_parse(&m, resp, (size_t)n), -EBADMSG);
	/* random bytes never crash and never parse as a response with an address
	 * unless they are one */
	test_seed(0x57a2);
	size_t unaligned = 0;
	for (int i = 0; i < 20000; i++) {
		size_t l = 20 + test_below(80);
		for (size_t k = 0; k < l; k++)
			buf[k] = (uint8_t)test_rnd();
		buf[0] &= 0x3f;
		memcpy(buf + 4, "\x21\x12\xa4\x42", 4);
		if (stun_parse(&m, buf, l) == 0 && (l & 3))
			unaligned++;
	}
	CHECK_EQ(unaligned, 0); /* STUN messages are whole 32-bit words */
}

int main(void)
{
	test_suite_name = "stun";
	RUN(test_rfc5769_request);
	RUN(test_rfc5769_ipv4_response);
	RUN(test_rfc5769_ipv6_response);
	RUN(test_minimal_messages);
	RUN(test_bounds);
	TEST_EXIT();
}
