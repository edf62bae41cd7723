/* test_relay_client.c: weft link's relay client (src/link/relay_client.c)
 * with real loopback sockets and a stand-in server holding the other end of
 * the session: the device's datagrams reach the server sealed on the
 * peer's channel once JOINED says ready (not before), what the server
 * relays back reaches the device from the peer's stand-in address, a
 * datagram from any other local port is refused, and JOIN is sent, retried
 * and sent again after a new session. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "link/relay_client.h"
#include "test.h"

#define NS 1000000000ull

static uint8_t sent[8][RELAY_MSG_MAX + 64];
static size_t sent_len[8];
static int nsent;

static int capture(void *ctx, const uint8_t *msg, size_t len)
{
	(void)ctx;
	if (nsent < 8) {
		memcpy(sent[nsent], msg, len);
		sent_len[nsent] = len;
	}
	nsent++;
	return 0;
}

/* a client session c whose server end is srv */
static void session(struct coord_client *c, struct coord_keys *srv)
{
	memset(c, 0, sizeof(*c));
	memset(srv, 0, sizeof(*srv));
	for (int i = 0; i < 32; i++) {
		c->cur.send[i] = srv->recv[i] = (uint8_t)(i + 1);
		c->cur.recv[i] = srv->send[i] = (uint8_t)(i + 101);
	}
	c->cur.local_index = srv->remote_index = 7;
	srv->local_index = c->cur.remote_index = 9;
	c->cur.birth_ns = 1;
	c->have_cur = true;
}

static int udp_on_loopback(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0)
		return -1;
	*port = ntohs(sin.sin_port);
	return fd;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 1000) == 1;
}

static void test_both_ways(void)
{
	struct relay_client rc;
	struct coord_client c;
	struct coord_keys srv;
	union link_addr ep;
	uint8_t tok[COORD_TOKEN_LEN], dg[1452], pt[64], *out;
	uint16_t devport, otherport;
	int dev = udp_on_loopback(&devport), other = udp_on_loopback(&otherport), slot;
	uint32_t ch;
	struct relay_ctl m;

	CHECK(dev >= 0 && other >= 0);
	session(&c, &srv);
	memset(tok, 0x42, sizeof(tok));
	nsent = 0;
	relay_client_init(&rc, devport, capture, NULL);
	slot = relay_client_open(&rc, 3, tok, &ep);
	CHECK(slot >= 0);
	CHECK_EQ(ep.in4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK(ep.in4.sin_port != 0);
	/* opening again gives the same stand-in */
	union link_addr ep2;
	CHECK_EQ(relay_client_open(&rc, 3, tok, &ep2), slot);
	CHECK(link_addr_equal(&ep, &ep2));

	/* the JOIN goes out on the first tick, sealed in a transport message */
	relay_client_tick(&rc, &c, false, 1000, 2 * NS);
	CHECK_EQ(nsent, 1);
	int n = coord_transport_open(&srv, sent[0], sent_len[0], pt, sizeof(pt));
	CHECK(n > 0);
	CHECK_EQ(relay_ctl_decode(&m, pt, (size_t)n), 0);
	CHECK_EQ(m.type, RELAY_JOIN);
	CHECK_MEM(m.token, tok, COORD_TOKEN_LEN);
	/* not again before the retry time, again after it */
	relay_client_tick(&rc, &c, false, 1500, 2 * NS);
	CHECK_EQ(nsent, 1);
	relay_client_tick(&rc, &c, false, 2000, 2 * NS);
	CHECK_EQ(nsent, 2);

	/* the device sends before the relay is ready: dropped */
	for (size_t i = 0; i < sizeof(dg); i++)
		dg[i] = (uint8_t)(i ^ 0x33);
	sendto(dev, dg, sizeof(dg), 0, &ep.sa, sizeof(ep.in4));
	CHECK(readable(rc.peers[slot].fd));
	CHECK_EQ(relay_client_on_readable(&rc, &c, slot, 2 * NS), 0);
	CHECK_EQ(rc.peers[slot].dropped, 1);

	/* JOINED ready, channel 0x1234 */
	m = (struct relay_ctl){ .type = RELAY_JOINED, .status = RELAY_READY, .channel = 0x1234 };
	memcpy(m.token, tok, COORD_TOKEN_LEN);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	uint8_t inv[COORD_TOKEN_LEN];
	CHECK_EQ(relay_client_on_ctl(&rc, pt, (size_t)n, inv), 0);
	relay_client_tick(&rc, &c, false, 5000, 2 * NS);
	CHECK_EQ(nsent, 2); /* ready: no more JOINs */

	/* device -> server */
	sendto(dev, dg, sizeof(dg), 0, &ep.sa, sizeof(ep.in4));
	CHECK(readable(rc.peers[slot].fd));
	CHECK_EQ(relay_client_on_readable(&rc, &c, slot, 2 * NS), 1);
	CHECK_EQ(nsent, 3);
	CHECK_EQ(sent_len[2], sizeof(dg) + RELAY_OVERHEAD);
	n = relay_data_open(&srv, sent[2], sent_len[2], &ch, &out);
	CHECK_EQ(n, (int)sizeof(dg));
	CHECK_EQ(ch, 0x1234);
	CHECK_MEM(out, dg, sizeof(dg));

	/* another local port is not the device: refused */
	sendto(other, dg, 100, 0, &ep.sa, sizeof(ep.in4));
	CHECK(readable(rc.peers[slot].fd));
	CHECK_EQ(relay_client_on_readable(&rc, &c, slot, 2 * NS), 0);
	CHECK_EQ(nsent, 3);

	/* server -> device, from the stand-in's address */
	uint8_t pkt[RELAY_MSG_MAX], got[2048];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	n = relay_data_seal(&srv, 0x1234, dg, 200, pkt, sizeof(pkt));
	CHECK_EQ(relay_client_on_message(&rc, &c, pkt, (size_t)n, 2 * NS), 0);
	CHECK(readable(dev));
	CHECK_EQ(recvfrom(dev, got, sizeof(got), 0, (struct sockaddr *)&from, &fl), 200);
	CHECK_MEM(got, dg, 200);
	CHECK_EQ(from.sin_port, ep.in4.sin_port);
	/* replayed, or for an unknown channel: not delivered */
	CHECK(relay_client_on_message(&rc, &c, pkt, (size_t)n, 2 * NS) < 0);
	n = relay_data_seal(&srv, 0x9999, dg, 200, pkt, sizeof(pkt));
	CHECK_EQ(relay_client_on_message(&rc, &c, pkt, (size_t)n, 2 * NS), -ENOENT);
	CHECK_EQ(rc.unknown_channel, 1);

	/* an invitation for a token without a stand-in goes to the caller;
	 * one for ours is answered by our own JOIN */
	m = (struct relay_ctl){ .type = RELAY_JOINED, .status = RELAY_INVITED };
	memset(m.token, 0x99, COORD_TOKEN_LEN);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	CHECK_EQ(relay_client_on_ctl(&rc, pt, (size_t)n, inv), 1);
	CHECK_MEM(inv, m.token, COORD_TOKEN_LEN);
	memcpy(m.token, tok, COORD_TOKEN_LEN);
	n = relay_ctl_encode(pt, sizeof(pt), &m);
	CHECK_EQ(relay_client_on_ctl(&rc, pt, (size_t)n, inv), 0);

	/* a new session: JOIN again */
	relay_client_tick(&rc, &c, true, 6000, 2 * NS);
	CHECK_EQ(nsent, 4);
	CHECK_EQ(rc.peers[slot].channel, 0);

	/* closing sends LEAVE and frees the slot */
	relay_client_close(&rc, &c, 3, 7000, 2 * NS);
	CHECK_EQ(nsent, 5);
	n = coord_transport_open(&srv, sent[4], sent_len[4], pt, sizeof(pt));
	CHECK(n > 0 && relay_ctl_decode(&m, pt, (size_t)n) == 0 && m.type == RELAY_LEAVE);
	CHECK_EQ(relay_client_find(&rc, 3), -1);
	relay_client_free(&rc);
	close(dev);
	close(other);
}

static void test_bounded(void)
{
	struct relay_client rc;
	union link_addr ep;
	uint8_t tok[COORD_TOKEN_LEN] = { 0 };
	int ok = 0, full = 0, fds[RELAY_CLIENT_MAX + 4], slots[RELAY_CLIENT_MAX + 4];

	relay_client_init(&rc, 1, capture, NULL);
	for (uint32_t i = 0; i < RELAY_CLIENT_MAX + 3; i++) {
		int s = relay_client_open(&rc, i, tok, &ep);

		ok += s >= 0;
		full += s == -ENOSPC;
	}
	CHECK_EQ(ok, RELAY_CLIENT_MAX);
	CHECK_EQ(full, 3);
	CHECK_EQ(relay_client_fds(&rc, fds, slots, RELAY_CLIENT_MAX + 4), RELAY_CLIENT_MAX);
	relay_client_free(&rc);
	CHECK_EQ(relay_client_fds(&rc, fds, slots, RELAY_CLIENT_MAX + 4), 0);
}

int main(void)
{
	test_suite_name = "relay_client";
	if (crypto_init() < 0) {
		printf("FAIL: relay_client/setup: crypto_init\n");
		return 1;
	}
	RUN(test_both_ways);
	RUN(test_bounded);
	TEST_EXIT();
}
