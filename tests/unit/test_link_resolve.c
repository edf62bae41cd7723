/* test_link_resolve.c: when `weft link` looks a peer's host name up again
 * (src/link/resolve.c): only while the handshake is stale (older than 135 s,
 * or never), not while a lookup runs, transient failures retried soon and
 * permanent ones rarely, each kind said once; then the table end to end
 * with address literals (no resolver traffic): a lookup started for a stale
 * peer only, its answer turned into an endpoint change only when the
 * address differs, and the config's literal endpoints left out. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <time.h>

#include "conf/conf.h"
#include "link/resolve.h"
#include "test.h"

#define I RESOLVE_INTERVAL_MS

static void classify(void)
{
	CHECK_EQ(resolve_classify(0), RESOLVE_OK);
	CHECK_EQ(resolve_classify(EAI_NONAME), RESOLVE_PERMANENT);
	CHECK_EQ(resolve_classify(EAI_FAIL), RESOLVE_PERMANENT);
	CHECK_EQ(resolve_classify(EAI_AGAIN), RESOLVE_TRANSIENT);
	CHECK_EQ(resolve_classify(EAI_SYSTEM), RESOLVE_TRANSIENT);
	CHECK_EQ(resolve_classify(EAI_MEMORY), RESOLVE_TRANSIENT);
}

static void stale_only(void)
{
	struct resolve_sched s = { 0 };
	int64_t now_s = 1700000000;

	CHECK(resolve_due(&s, 0, now_s, 0, I)); /* never a handshake */
	CHECK(!resolve_due(&s, 0, now_s, now_s - 10, I)); /* fresh */
	CHECK(!resolve_due(&s, 0, now_s, now_s - RESOLVE_STALE_S, I)); /* 135 s: not yet */
	CHECK(resolve_due(&s, 0, now_s, now_s - RESOLVE_STALE_S - 1, I));
	CHECK(!resolve_due(&s, 0, now_s, now_s + 100, I)); /* clock went back */
	s.busy = true;
	CHECK(!resolve_due(&s, 0, now_s, 0, I)); /* one lookup at a time */
}

static void schedule(void)
{
	struct resolve_sched s = { 0 };
	int64_t t = 1000;

	s.busy = true;
	CHECK(!resolve_record(&s, t, RESOLVE_OK, I)); /* nothing to say */
	CHECK(!s.busy);
	CHECK_EQ(s.next_ms, t + I);
	CHECK(!resolve_due(&s, t + I - 1, 100000, 0, I));
	CHECK(resolve_due(&s, t + I, 100000, 0, I));

	/* transient: said once, retried soon, doubling to the cap */
	CHECK(resolve_record(&s, t, RESOLVE_TRANSIENT, I));
	CHECK_EQ(s.next_ms, t + RESOLVE_TRANSIENT_MS);
	CHECK(!resolve_record(&s, t, RESOLVE_TRANSIENT, I));
	CHECK_EQ(s.next_ms, t + 2 * RESOLVE_TRANSIENT_MS);
	for (int i = 0; i < 50; i++)
		CHECK(!resolve_record(&s, t, RESOLVE_TRANSIENT, I));
	CHECK_EQ(s.next_ms, t + RESOLVE_TRANSIENT_MAX_MS);

	/* permanent: said once (a change of kind is news), backed off long */
	CHECK(resolve_record(&s, t, RESOLVE_PERMANENT, I));
	CHECK_EQ(s.next_ms, t + RESOLVE_PERMANENT_MS);
	CHECK(RESOLVE_PERMANENT_MS >= 10 * RESOLVE_TRANSIENT_MAX_MS);
	CHECK(!resolve_record(&s, t, RESOLVE_PERMANENT, I));
	CHECK_EQ(s.next_ms, t + 2 * RESOLVE_PERMANENT_MS);
	for (int i = 0; i < 50; i++)
		CHECK(!resolve_record(&s, t, RESOLVE_PERMANENT, I));
	CHECK_EQ(s.next_ms, t + RESOLVE_PERMANENT_MAX_MS);

	/* the name comes back: said, and the counts start over */
	CHECK(resolve_record(&s, t, RESOLVE_OK, I));
	CHECK_EQ(s.permanent, 0);
	CHECK_EQ(s.transient, 0);
	CHECK(resolve_record(&s, t, RESOLVE_PERMANENT, I));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* waits (at most 5 s) for the eventfd that a finished lookup writes, then
 * collects; returns the peers changed, -ETIMEDOUT without a wake-up */
static int wait_collect(struct resolve_table *t, const struct device *dev, struct device *change)
{
	struct pollfd p = { .fd = resolve_table_fd(t), .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	return resolve_table_collect(t, dev, change, mono_ms());
}

static void table_end_to_end(void)
{
	struct resolve_table *t = resolve_table_new();
	struct device *dev = device_new("wgtest"), *change = device_new("wgtest");
	struct dev_peer *stale, *fresh;
	int64_t now_s = time(NULL);

	CHECK(t && dev && change);
	if (!t || !dev || !change)
		return;
	stale = device_add_peer(dev);
	stale->public_key[0] = 1;
	stale->last_handshake_sec = now_s - 600;
	fresh = device_add_peer(dev);
	fresh->public_key[0] = 2;
	fresh->last_handshake_sec = now_s - 5;
	CHECK_EQ(resolve_table_add(t, dev->peers[0].public_key, "127.0.0.9", 51820), 0);
	CHECK_EQ(resolve_table_add(t, dev->peers[1].public_key, "127.0.0.10", 51820), 0);
	CHECK_EQ(resolve_table_add(t, dev->peers[1].public_key, "", 51820), -EINVAL);

	CHECK_EQ(resolve_table_tick(t, dev, mono_ms(), now_s), 1); /* the stale peer only */
	CHECK_EQ(resolve_table_tick(t, dev, mono_ms(), now_s), 0); /* busy now */
	CHECK_EQ(wait_collect(t, dev, change), 1);
	CHECK_EQ(change->n_peers, 1);
	if (change->n_peers == 1) {
		char s[DEV_ENDPOINT_STRLEN];

		CHECK(change->peers[0].public_key[0] == 1);
		CHECK(change->peers[0].flags & PEER_UPDATE_ONLY);
		CHECK(dev_endpoint_format(s, sizeof(s), &change->peers[0].endpoint));
		CHECK(!strcmp(s, "127.0.0.9:51820"));
		/* the device took it: the next answer is no change */
		dev->peers[0].endpoint = change->peers[0].endpoint;
	}
	CHECK_EQ(resolve_table_tick(t, dev, mono_ms(), now_s), 0); /* interval not over */
	CHECK_EQ(resolve_table_tick(t, dev, mono_ms() + RESOLVE_INTERVAL_MS, now_s), 1);
	change->n_peers = 0;
	CHECK_EQ(wait_collect(t, dev, change), 0);
	CHECK_EQ(change->n_peers, 0);
	struct resolve_counters c;

	resolve_table_counters(t, &c);
	CHECK_EQ(c.lookups, 2);
	CHECK_EQ(c.changed, 1);
	resolve_table_free(t);
	device_free(dev);
	device_free(change);
}

static bool skip_none(void *ctx, const uint8_t key[WG_KEY_LEN]) { return false; }
static bool skip_all(void *ctx, const uint8_t key[WG_KEY_LEN]) { return true; }

static void conf_literals_left_out(void)
{
	static const char text[] =
		"[Interface]\nPrivateKey = mH6f2ZOWHQHXzGNwvQp4VVbNbsYpBQcqAiWOtfApm2w=\n"
		"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nEndpoint = 192.0.2.1:51820\nAllowedIPs = 10.0.0.1/32\n"
		"[Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\nEndpoint = [fd00::1]:51820\nAllowedIPs = 10.0.0.2/32\n"
		"[Peer]\nPublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=\nEndpoint = peer.example.test:4242\nAllowedIPs = 10.0.0.3/32\n"
		"[Peer]\nPublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\nAllowedIPs = 10.0.0.4/32\n";
	struct conf c;
	struct resolve_table *t = resolve_table_new();
	char err[CONF_ERR_LEN] = "";
	int r = conf_parse(&c, text, sizeof(text) - 1, "test.conf", 0, err, sizeof(err));

	CHECK_EQ(r, 0);
	if (r || !t) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_EQ(resolve_table_add_conf(t, &c, skip_none, NULL), 1);
	CHECK_EQ(resolve_table_count(t), 1);
	/* a peer weft link manages itself is left to it */
	CHECK_EQ(resolve_table_add_conf(t, &c, skip_all, NULL), 0);
	CHECK_EQ(resolve_table_count(t), 1);
	resolve_table_free(t);
	conf_free(&c);
}

int main(void)
{
	test_suite_name = "link_resolve";
	RUN(classify);
	RUN(stale_only);
	RUN(schedule);
	RUN(table_end_to_end);
	RUN(conf_literals_left_out);
	TEST_EXIT();
}
