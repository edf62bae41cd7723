/* test_path_probe.c: the probes of direct candidates while the relay
 * carries a peer (src/link/path.c, relay_probe) under a virtual clock:
 * they start at a multiple of the period on the wall clock, point the
 * device at every other candidate twice with a keepalive, and end on the
 * direct path when the device hears the peer there, or back on the relay
 * when the device followed the peer back to the stand-in or heard nothing;
 * one probe per period, none while nothing but the relay is known. */
#include <arpa/inet.h>
#include <string.h>

#include "link/path.h"
#include "test.h"

/* the device's received bytes, as path_on_device would bring them */
static void path_on_rx(struct path *p, uint64_t rx)
{
	p->rx_bytes = rx;
}

static union link_addr A(const char *s)
{
	union link_addr a;

	if (!link_addr_parse(&a, s))
		memset(&a, 0, sizeof(a));
	return a;
}

/* a path UP on the relay at `now`, with two direct candidates */
static void on_relay(struct path *p, int64_t now, int64_t wall_offset)
{
	struct path_cand c[2] = { { .type = PATH_DIRECT, .addr = A("203.0.113.2:40001") }, { .type = PATH_DIRECT, .addr = A("203.0.113.2:51820") } };
	struct path_cand r = { .type = PATH_RELAY, .addr = A("127.0.0.1:33333") };
	union link_addr relay = A("127.0.0.1:33333");

	path_init(p);
	p->wall_offset = wall_offset;
	path_offer(p, c, 2, NULL, now);
	p->state = PATH_FAILED; /* both tried and failed */
	p->retry_at = now + 60000;
	path_add(p, &r, NULL, now);
	/* the relay's candidate is tried and the handshake comes through it */
	struct path_cmd cmd;
	path_tick(p, now, &cmd);
	path_on_device(p, now + 50, p->rx_bytes, &relay, NULL, now + 50);
}

/* ticks from t to the time the path asks for, collecting set_endpoint commands */
static int64_t run(struct path *p, int64_t t, int64_t until, union link_addr *eps, bool *kicks, int *n)
{
	struct path_cmd cmd;

	while (t < until) {
		int64_t next = path_tick(p, t, &cmd);

		if (cmd.set_endpoint && *n < 16) {
			eps[*n] = cmd.endpoint;
			kicks[*n] = cmd.kick;
			(*n)++;
		}
		t = next > t ? (next < until ? next : until) : t + 1;
	}
	return t;
}

static void test_probe_wins(void)
{
	struct path p;
	union link_addr eps[16], relay = A("127.0.0.1:33333"), direct = A("203.0.113.2:51820");
	bool kicks[16];
	int n = 0;
	int64_t t0 = 100000, off = 1700000000000 - 100000 + 1234; /* wall = t0 + off */

	on_relay(&p, t0, off);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_RELAY);
	path_on_rx(&p, 1000);
	/* nothing before the next multiple of the period on the wall clock */
	int64_t slot = ((t0 + 50 + off) / PATH_PROBE_PERIOD_MS + 1) * PATH_PROBE_PERIOD_MS - off;
	run(&p, t0 + 50, slot, eps, kicks, &n);
	CHECK_EQ(n, 0);
	CHECK(!p.probing);
	/* the probe: each candidate twice, kicked, 100 ms apart */
	int64_t t = run(&p, slot, slot + 3 * PATH_PROBE_STEP_MS + 10, eps, kicks, &n);
	CHECK_EQ(n, 4);
	CHECK(p.probing);
	union link_addr first = A("203.0.113.2:40001");
	CHECK(link_addr_equal(&eps[0], &first));
	CHECK(link_addr_equal(&eps[1], &direct));
	CHECK(link_addr_equal(&eps[2], &eps[0]));
	CHECK(kicks[0] && kicks[1] && kicks[2] && kicks[3]);
	CHECK_EQ(p.type, PATH_RELAY); /* not decided while probing */
	/* the peer answers on its own port: the device follows it there, and
	 * hears it after the counters were sampled, with nothing from the relay */
	path_on_device(&p, t0 + 50, p.rx_bytes, &direct, NULL, t);
	path_on_relay_rx(&p, 7);
	n = 0;
	t = run(&p, t, slot + 3 * PATH_PROBE_STEP_MS + PATH_PROBE_SAMPLE_MS + 10, eps, kicks, &n);
	CHECK(p.probing);
	path_on_rx(&p, 5000);
	run(&p, t, t + PATH_PROBE_SETTLE_MS, eps, kicks, &n);
	CHECK_EQ(n, 0); /* no way back to the relay */
	CHECK(!p.probing);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_DIRECT);
	CHECK(link_addr_equal(&p.endpoint, &direct));
	CHECK_EQ(p.probe_wins, 1);
	/* off the relay: no more probes */
	n = 0;
	run(&p, t + 1000, t + 3 * PATH_PROBE_PERIOD_MS, eps, kicks, &n);
	CHECK_EQ(n, 0);
	(void)relay;
}

/* The device heard the peer, but no more than the relay brought meanwhile:
 * the peer still sends through it, the probe has proved nothing. */
static void test_probe_relay_still_used(void)
{
	struct path p;
	union link_addr eps[16], relay = A("127.0.0.1:33333"), direct = A("203.0.113.2:51820");
	bool kicks[16];
	int n = 0;
	int64_t t0 = 70000;

	on_relay(&p, t0, 0);
	int64_t slot = (t0 + 50) / PATH_PROBE_PERIOD_MS * PATH_PROBE_PERIOD_MS + PATH_PROBE_PERIOD_MS;
	int64_t t = run(&p, t0 + 50, slot + 3 * PATH_PROBE_STEP_MS + PATH_PROBE_SAMPLE_MS + 10, eps, kicks, &n);
	path_on_device(&p, t0 + 50, p.rx_bytes, &direct, NULL, t);
	path_on_rx(&p, 5000);
	path_on_relay_rx(&p, 5000);
	n = 0;
	run(&p, t, t + PATH_PROBE_SETTLE_MS, eps, kicks, &n);
	CHECK_EQ(n, 1);
	CHECK(link_addr_equal(&eps[0], &relay));
	CHECK_EQ(p.type, PATH_RELAY);
}

static void test_probe_fails_back_to_relay(void)
{
	struct path p;
	union link_addr eps[16], relay = A("127.0.0.1:33333");
	bool kicks[16];
	int n = 0;
	int64_t t0 = 50000;

	on_relay(&p, t0, 0);
	path_on_rx(&p, 1000);
	int64_t slot = (t0 + 50) / PATH_PROBE_PERIOD_MS * PATH_PROBE_PERIOD_MS + PATH_PROBE_PERIOD_MS;
	int64_t t = run(&p, t0 + 50, slot + 4 * PATH_PROBE_STEP_MS, eps, kicks, &n);
	CHECK_EQ(n, 4);
	/* packets keep coming, through the relay: the device went back there */
	path_on_device(&p, t0 + 50, p.rx_bytes, &relay, NULL, t);
	path_on_rx(&p, 9000);
	n = 0;
	t = run(&p, t, t + PATH_PROBE_SETTLE_MS + 10, eps, kicks, &n);
	CHECK_EQ(n, 1);
	CHECK(link_addr_equal(&eps[0], &relay)); /* set back, no kick */
	CHECK(!kicks[0]);
	CHECK_EQ(p.type, PATH_RELAY);
	CHECK(link_addr_equal(&p.endpoint, &relay));
	/* heard nothing at all: back to the relay too, even with the device on a candidate */
	n = 0;
	t = run(&p, t, p.probe_next + 4 * PATH_PROBE_STEP_MS, eps, kicks, &n);
	CHECK_EQ(n, 4);
	CHECK_EQ(p.probes, 2);
	path_on_device(&p, t0 + 50, p.rx_bytes, &eps[3], NULL, t);
	n = 0;
	run(&p, t, t + PATH_PROBE_SETTLE_MS + 10, eps, kicks, &n);
	CHECK_EQ(n, 1);
	CHECK(link_addr_equal(&eps[0], &relay));
	CHECK_EQ(p.type, PATH_RELAY);
	CHECK_EQ(p.probe_wins, 0);
	/* at most one probe a period: over a minute, about ten */
	uint32_t before = p.probes;
	n = 0;
	run(&p, t + 1000, t + 60000, eps, kicks, &n);
	CHECK(p.probes - before <= 60000 / PATH_PROBE_PERIOD_MS + 1);
}

/* New offers every 10 s (a symmetric NAT's fresh ports) keep the punch
 * from ever failing: the relay is asked for after PATH_RELAY_AFTER_MS all
 * the same, and tried at once. */
static void test_relay_wanted_while_offers_come(void)
{
	struct path p;
	struct path_cmd cmd;
	struct path_cand c[3] = { { .type = PATH_DIRECT, .addr = A("203.0.113.2:40001") }, { .type = PATH_DIRECT, .addr = A("203.0.113.2:51820") },
				  { .type = PATH_LAN, .addr = A("10.0.2.2:51820") } };
	struct path_cand r = { .type = PATH_RELAY, .addr = A("127.0.0.1:33333") };
	int64_t t = 1000;
	bool wanted_at_10 = true;

	path_init(&p);
	path_offer(&p, c, 3, NULL, t);
	for (; t < 1000 + PATH_RELAY_AFTER_MS + 500; t += 100) {
		if (t % 10000 == 0) {
			c[0].addr.in4.sin_port = htons((uint16_t)(40000 + t / 1000));
			path_offer(&p, c, 3, NULL, t);
		}
		path_tick(&p, t, &cmd);
		if (t == 11000)
			wanted_at_10 = path_wants_relay(&p);
	}
	CHECK(!wanted_at_10);
	CHECK_EQ(p.state, PATH_PUNCHING);
	CHECK(path_wants_relay(&p));
	CHECK(path_add(&p, &r, NULL, t));
	CHECK(!path_wants_relay(&p));
	path_tick(&p, t, &cmd);
	CHECK(cmd.set_endpoint);
	CHECK(link_addr_equal(&cmd.endpoint, &r.addr));
	/* the handshake through the relay: up on it, and it stays up when the
	 * peer offers new candidates */
	path_on_device(&p, t + 20, p.rx_bytes, &r.addr, NULL, t + 20);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_RELAY);
	path_offer(&p, c, 3, NULL, t + 100);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_RELAY);
}

int main(void)
{
	test_suite_name = "path_probe";
	RUN(test_probe_wins);
	RUN(test_probe_fails_back_to_relay);
	RUN(test_probe_relay_still_used);
	RUN(test_relay_wanted_while_offers_come);
	TEST_EXIT();
}
