/* test_link.c: `weft link`'s sans-I/O core (src/link/link.c, path.c,
 * addr.c) under a virtual clock: candidate order, one attempt at a time,
 * success only from a handshake that moved, relay as last resort,
 * re-announcement within a second of an address change, bounded backoff
 * while the coord is down with the paths in use left alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "link/addr.h"
#include "link/link.h"
#include "link/path.h"
#include "test.h"

static union link_addr A(const char *s)
{
	union link_addr a;

	if (!link_addr_parse(&a, s))
		memset(&a, 0, sizeof(a));
	return a;
}

static struct path_cand C(uint8_t type, const char *s)
{
	return (struct path_cand){ .type = type, .addr = A(s) };
}

static struct local_addrs lan(const char *ip, uint8_t plen, int ifindex)
{
	struct local_addrs l = { 0 };
	struct local_addr a = { .addr = A(ip), .prefix_len = plen, .ifindex = ifindex };

	local_addrs_update(&l, &a, false);
	return l;
}

static void test_addr(void)
{
	char s[LINK_ADDR_STRLEN];
	union link_addr a = A("[fd00::1]:51820"), b = A("10.1.2.3:7");
	struct local_addrs l = lan("192.168.1.10:0", 24, 2);

	CHECK(link_addr_is_set(&a) && link_addr_port(&a) == 51820);
	link_addr_format(s, &a);
	CHECK(!strcmp(s, "[fd00::1]:51820"));
	link_addr_format(s, &b);
	CHECK(!strcmp(s, "10.1.2.3:7"));
	CHECK(!link_addr_is_set(&(union link_addr){ 0 }));
	CHECK(!link_addr_parse(&a, "fd00::1:5"));     /* IPv6 needs brackets */
	CHECK(!link_addr_parse(&a, "1.2.3.4:70000"));
	CHECK(!link_addr_parse(&a, "host.example:5")); /* numeric only */
	CHECK(link_addr_is_private(&b));
	CHECK(!link_addr_is_private(&(union link_addr){ .in4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x08080808) } }));
	b = A("127.0.0.1:5");
	CHECK(link_addr_is_unusable(&b));
	b = A("192.168.1.77:5");
	CHECK(local_addrs_on_link(&l, &b));
	b = A("192.168.2.77:5");
	CHECK(!local_addrs_on_link(&l, &b));
	/* the list is bounded and a duplicate is no change */
	struct local_addr x = { .addr = A("10.0.0.1:0"), .prefix_len = 8 };
	CHECK(local_addrs_update(&l, &x, false));
	CHECK(!local_addrs_update(&l, &x, false));
	CHECK(local_addrs_update(&l, &x, true));
	CHECK_EQ(l.n, 1);
	for (int i = 0; i < LINK_MAX_LOCAL + 5; i++) {
		x.addr.in4.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
		local_addrs_update(&l, &x, false);
	}
	CHECK_EQ(l.n, LINK_MAX_LOCAL);
}

static void test_order(void)
{
	struct path p;
	struct local_addrs l = lan("192.168.1.10:0", 24, 2);
	struct path_cand c[] = {
		C(PATH_RELAY, "127.0.0.1:1"),       /* unusable: loopback is never sent */
		C(PATH_LAN, "10.9.9.9:51820"),      /* another network's LAN */
		C(PATH_DIRECT, "203.0.113.5:40000"),
		C(PATH_LAN, "192.168.1.20:51820"),  /* ours */
		C(PATH_DIRECT, "203.0.113.5:40000"), /* duplicate */
		C(PATH_DIRECT, "203.0.113.6:0"),     /* no port */
	};

	path_init(&p);
	CHECK_EQ(path_offer(&p, c, 6, &l, 0), 3);
	CHECK_EQ(p.cands[0].type, PATH_LAN);
	CHECK(link_addr_equal(&p.cands[0].addr, &c[3].addr));
	CHECK_EQ(p.cands[1].type, PATH_DIRECT);
	CHECK(link_addr_equal(&p.cands[2].addr, &c[1].addr));
	CHECK_EQ(p.state, PATH_PUNCHING);
	struct path_cand r = C(PATH_RELAY, "10.0.0.1:9999");
	CHECK(path_add(&p, &r, &l, 0));
	CHECK(!path_add(&p, &r, &l, 0));
	CHECK_EQ(p.cands[3].type, PATH_RELAY);
}

/* LAN first, then direct; the direct one works: stop there. */
static void test_punch(void)
{
	struct path p;
	struct path_cmd cmd;
	struct local_addrs l = lan("192.168.1.10:0", 24, 2);
	struct path_cand c[] = { C(PATH_DIRECT, "203.0.113.5:40000"), C(PATH_LAN, "192.168.1.20:51820") };
	union link_addr none = { 0 };
	int64_t now = 100000, next;

	path_init(&p);
	/* the device had a session long ago, no endpoint now */
	path_on_device(&p, now - 500000, 100, &none, &l, now);
	path_offer(&p, c, 2, &l, now);
	next = path_tick(&p, now, &cmd);
	CHECK(cmd.set_endpoint && cmd.kick);
	CHECK(link_addr_equal(&cmd.endpoint, &c[1].addr));
	CHECK_EQ(next, now + PATH_ATTEMPT_LAN_MS);
	/* the device now has the candidate, but nothing came back: no success */
	path_on_device(&p, now - 500000, 100, &c[1].addr, &l, now + 10);
	CHECK_EQ(p.state, PATH_PUNCHING);
	path_tick(&p, now + 500, &cmd);
	CHECK(!cmd.set_endpoint);
	now += PATH_ATTEMPT_LAN_MS;
	next = path_tick(&p, now, &cmd);
	CHECK(cmd.set_endpoint && link_addr_equal(&cmd.endpoint, &c[0].addr));
	CHECK_EQ(next, now + PATH_ATTEMPT_DIRECT_MS);
	/* the handshake moves 40 ms later: up, direct, with that as RTT */
	path_on_device(&p, now + 40, 192, &c[0].addr, &l, now + 41);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_DIRECT);
	CHECK_EQ(p.rtt_ms, 40);
	CHECK_EQ(p.attempts, 2);
	next = path_tick(&p, now + PATH_ATTEMPT_DIRECT_MS + 1, &cmd);
	CHECK(!cmd.set_endpoint);
	CHECK_EQ(next, now + 40 + PATH_STALE_MS + 1);
	/* the device follows the peer elsewhere (it roamed): still up, renamed */
	union link_addr moved = A("198.51.100.7:1234");
	path_on_device(&p, now + 40, 300, &moved, &l, now + 2000);
	CHECK_EQ(p.state, PATH_UP);
	CHECK(link_addr_equal(&p.endpoint, &moved));
	/* the same offer again (the coord repeats it with every refresh):
	 * nothing changes, the path the device found stays */
	path_offer(&p, c, 2, &l, now + 2500);
	CHECK_EQ(p.state, PATH_UP);
	CHECK(link_addr_equal(&p.endpoint, &moved));
	/* a new offer without the endpoint in use: punch again... */
	struct path_cand c3[] = { c[0], c[1], C(PATH_DIRECT, "203.0.113.9:40000") };
	path_offer(&p, c3, 3, &l, now + 3000);
	CHECK_EQ(p.state, PATH_PUNCHING);
	path_tick(&p, now + 3000, &cmd);
	CHECK(link_addr_equal(&cmd.endpoint, &c[1].addr));
	/* ...where received bytes (a session exists: keepalives, no
	 * handshake) tell that the peer answered, from where it did */
	path_on_device(&p, now + 40, 400, &c[0].addr, &l, now + 3100);
	CHECK_EQ(p.state, PATH_UP);
	CHECK(link_addr_equal(&p.endpoint, &c[0].addr));
	CHECK_EQ(p.rtt_ms, -1);
	/* an offer that holds the path in use keeps it, even when its last
	 * handshake is older than a fresh one (the stale check is path_tick's) */
	path_offer(&p, c, 2, &l, now + 4000);
	CHECK_EQ(p.state, PATH_UP);
	path_offer(&p, c3, 3, &l, now + 40 + PATH_FRESH_MS + 5000);
	CHECK_EQ(p.state, PATH_UP);
	CHECK(link_addr_equal(&p.endpoint, &c[0].addr));
	/* our address changes: one poke along the path, still up */
	path_restart(&p, now + 5000);
	path_tick(&p, now + 5000, &cmd);
	CHECK(cmd.set_endpoint && cmd.kick && link_addr_equal(&cmd.endpoint, &c[0].addr));
	CHECK_EQ(p.state, PATH_UP);
	path_tick(&p, now + 5001, &cmd);
	CHECK(!cmd.set_endpoint);
	/* no handshake for longer than REJECT_AFTER_TIME: punch again */
	path_tick(&p, now + 40 + PATH_STALE_MS + 1, &cmd);
	CHECK(cmd.set_endpoint);
	CHECK_EQ(p.state, PATH_PUNCHING);
}

/* The peer reached us first: our offered candidate already carries a fresh
 * session, so nothing is punched (punching would break it). */
static void test_already_talking(void)
{
	struct path p;
	struct path_cmd cmd;
	struct local_addrs l = lan("10.0.1.2:0", 24, 2);
	struct path_cand c[] = { C(PATH_LAN, "10.0.1.3:51820"), C(PATH_DIRECT, "198.51.100.2:32593") };
	int64_t now = 1000000;

	path_init(&p);
	path_on_device(&p, now - 2000, 92, &c[0].addr, &l, now - 1000);
	CHECK_EQ(p.state, PATH_UP); /* idle with a fresh session: up */
	path_init(&p);
	p.state = PATH_FAILED;
	p.retry_at = now + 100000;
	path_on_device(&p, 0, 0, &c[0].addr, &l, now - 1000);
	path_on_device(&p, now - 2000, 92, &c[0].addr, &l, now - 900);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_LAN); /* no candidates yet: named by its place */
	path_offer(&p, c, 2, &l, now);
	CHECK_EQ(p.state, PATH_UP);
	path_tick(&p, now, &cmd);
	CHECK(!cmd.set_endpoint);
	CHECK_EQ(p.attempts, 0);
}

/* Nothing answers: failed, a relay is wanted, backoff doubles to its cap. */
static void test_fail_relay(void)
{
	struct path p;
	struct path_cmd cmd;
	struct local_addrs l = { 0 };
	struct path_cand c = C(PATH_DIRECT, "203.0.113.5:40000");
	int64_t now = 0, next = 0;
	unsigned issued = 0;

	path_init(&p);
	path_offer(&p, &c, 1, &l, now);
	CHECK(!path_wants_relay(&p));
	for (int i = 0; i < 40; i++) {
		now = next;
		next = path_tick(&p, now, &cmd);
		issued += cmd.set_endpoint;
	}
	CHECK_EQ(p.state == PATH_FAILED || p.state == PATH_PUNCHING, 1);
	CHECK(issued >= 5);
	CHECK(p.retry_ms == PATH_RETRY_MAX_MS);
	/* retries never closer than the attempt, never further than the cap */
	CHECK(next - now <= PATH_RETRY_MAX_MS && next > now);
	/* the relay: tried at once, and up when the handshake moves */
	while (p.state != PATH_FAILED)
		next = path_tick(&p, next, &cmd);
	CHECK(path_wants_relay(&p));
	struct path_cand r = C(PATH_RELAY, "10.0.0.1:9999");
	path_add(&p, &r, &l, next);
	CHECK(!path_wants_relay(&p));
	path_tick(&p, next, &cmd);
	CHECK(cmd.set_endpoint && link_addr_equal(&cmd.endpoint, &r.addr));
	path_on_device(&p, next + 5, 1, &r.addr, &l, next + 5);
	CHECK_EQ(p.type, PATH_RELAY);
	/* a direct candidate offered again, or a new one: the relay stays,
	 * its probes try them (relay_probe) */
	path_offer(&p, &c, 1, &l, next + 10);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_RELAY);
	struct path_cand c2 = C(PATH_DIRECT, "203.0.113.8:40000");
	path_offer(&p, &c2, 1, &l, next + 20);
	CHECK_EQ(p.state, PATH_UP);
	CHECK_EQ(p.type, PATH_RELAY);
	CHECK_EQ(p.n, 2);
}

/* A peer already talking when we start: its endpoint stays, no punch. */
static void test_known_endpoint(void)
{
	struct path p;
	struct path_cmd cmd;
	union link_addr ep = A("203.0.113.5:40000");

	path_init(&p);
	path_on_device(&p, 1000000 - 30000, 0, &ep, NULL, 1000000);
	CHECK_EQ(p.state, PATH_UP);
	path_tick(&p, 1000001, &cmd);
	CHECK(!cmd.set_endpoint);
	/* but not one whose handshake is long dead */
	path_init(&p);
	path_on_device(&p, 1, 0, &ep, NULL, 1000000);
	CHECK_EQ(p.state, PATH_IDLE);
}

static size_t count(const struct link_action *a, size_t n, uint8_t what)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += a[i].what == what;
	return k;
}

static void test_core(void)
{
	struct link l;
	struct link_action a[16];
	int64_t now = 5000, next;
	size_t n;
	union link_addr m1 = A("198.51.100.1:51820"), m2 = A("198.51.100.1:40001");
	struct local_addrs la = lan("192.168.1.10:0", 24, 2), lb = lan("192.168.7.10:0", 24, 2);

	CHECK_EQ(link_init(&l, "wg0", 2, now), 0);
	l.listen_port = 51820;
	l.ifindex = 9;
	link_on_local_addrs(&l, &la, now);
	n = link_poll(&l, now, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_STUN), 1);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 0);
	link_on_stun(&l, &m1, now + 20);
	n = link_poll(&l, now + 20, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 1);
	struct path_cand own[LINK_MAX_OWN_CANDS];
	unsigned no = link_own_cands(&l, own, LINK_MAX_OWN_CANDS);
	CHECK_EQ(no, 2);
	CHECK(own[0].type == PATH_DIRECT && link_addr_equal(&own[0].addr, &m1));
	CHECK(own[1].type == PATH_LAN && link_addr_port(&own[1].addr) == 51820);
	link_on_coord(&l, true, now + 30);
	CHECK(l.coord_up);

	/* a match: the peer punches; the path comes up */
	struct path_cand pc = C(PATH_DIRECT, "203.0.113.5:40000");
	link_on_match(&l, 1, &pc, 1, now + 100);
	n = link_poll(&l, now + 100, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_SET_ENDPOINT), 1);
	CHECK_EQ(a[0].peer, 1);
	CHECK(a[0].kick);
	link_on_device(&l, 1, now + 150, 92, &pc.addr, now + 150);
	n = link_poll(&l, now + 150, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_PATH_CHANGED), 1);

	/* the address changes: STUN at once, announcement within a second
	 * even when STUN stays silent, and the peer punches again */
	now += 60000;
	link_on_device(&l, 1, now - 1000, 92, &pc.addr, now);
	n = link_poll(&l, now - 10, a, 16, &next); /* the overdue refresh... */
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 1);
	link_on_coord(&l, true, now - 5);          /* ...answered */
	/* (one sent just before the change is not waited for) */
	l.announce_pending = true;
	link_on_local_addrs(&l, &lb, now);
	CHECK(!l.announce_pending);
	CHECK(!link_addr_is_set(&l.mapped)); /* the old way out's mapping is no candidate */
	n = link_poll(&l, now, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_STUN), 1);
	CHECK_EQ(count(a, n, LINK_DO_SET_ENDPOINT), 1);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 0);
	CHECK(next <= now + LINK_ANNOUNCE_AFTER_CHANGE_MS);
	n = link_poll(&l, now + LINK_ANNOUNCE_AFTER_CHANGE_MS, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 1);
	CHECK(LINK_ANNOUNCE_AFTER_CHANGE_MS < 1000);

	/* candidates that change while an announcement awaits its answer go
	 * out again as soon as it comes, not at the next refresh */
	now += 500;
	link_on_stun(&l, &m1, now);
	n = link_poll(&l, now, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 0); /* one is out */
	link_on_coord(&l, true, now + 10);
	n = link_poll(&l, now + 10, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 1);

	/* a new mapping announces at once */
	now += 1000;
	link_on_coord(&l, true, now);
	l.stun_wanted = true;
	link_poll(&l, now, a, 16, &next);
	link_on_stun(&l, &m2, now + 5);
	n = link_poll(&l, now + 5, a, 16, &next);
	CHECK_EQ(count(a, n, LINK_DO_ANNOUNCE), 1);

	/* the coord is down: backoff doubles to its cap, no endpoint is
	 * touched meanwhile, and the path stays up */
	link_on_device(&l, 1, now + 6, 92, &pc.addr, now + 6);
	CHECK_EQ(l.peers[1].path.state, PATH_UP);
	int64_t t = now + 5, last_gap = 0;
	unsigned sets = 0, announces = 0;
	for (int i = 0; i < 200 && t < now + 600000; i++) {
		n = link_poll(&l, t, a, 16, &next);
		sets += (unsigned)count(a, n, LINK_DO_SET_ENDPOINT);
		if (count(a, n, LINK_DO_ANNOUNCE)) {
			announces++;
			/* no answer: the timeout makes it a failure */
		}
		link_on_device(&l, 1, t, 92, &pc.addr, t); /* the peer keeps talking */
		if (next > t)
			last_gap = next - t;
		t = next > t ? next : t + 1;
	}
	CHECK_EQ(sets, 0);
	CHECK(announces >= 5);
	CHECK(l.coord_failures >= 5);
	CHECK(!l.coord_up);
	CHECK(l.backoff_ms == LINK_BACKOFF_MAX_MS);
	CHECK(last_gap <= LINK_BACKOFF_MAX_MS);
	CHECK_EQ(l.peers[1].path.state, PATH_UP);
	/* and it comes back: backoff resets */
	link_on_coord(&l, true, t);
	CHECK(l.coord_up && l.backoff_ms == LINK_BACKOFF_MIN_MS);
	link_free(&l);
	CHECK_EQ(link_init(&l, "wg0", LINK_MAX_PEERS + 1, 0), -E2BIG);
}

/* What a match's sealed candidates become. */
static void test_match_cands(void)
{
	struct path_cand out[8];
	union link_addr observed = A("198.51.100.2:40001");
	union link_addr c1[] = { A("198.51.100.2:51820"), A("10.0.1.3:51820"), A("[2001:db8::5]:51820") };
	union link_addr c2[] = { A("10.0.1.3:51820"), A("192.168.7.2:51820") };
	union link_addr none = { 0 };
	unsigned n;

	n = link_match_cands(out, 8, c1, 3, &observed);
	CHECK_EQ(n, 3);
	CHECK_EQ(out[0].type, PATH_DIRECT); /* on the observed host: its mapping */
	CHECK_EQ(out[1].type, PATH_LAN);    /* private */
	CHECK_EQ(out[2].type, PATH_DIRECT); /* public, not NATed */
	/* the peer's STUN failed: the observed host with its device port, last */
	n = link_match_cands(out, 8, c2, 2, &observed);
	CHECK_EQ(n, 3);
	CHECK(out[0].type == PATH_LAN && out[1].type == PATH_LAN && out[2].type == PATH_DIRECT);
	CHECK(link_addr_same_host(&out[2].addr, &observed) && link_addr_port(&out[2].addr) == 51820);
	/* no observed address, no guess; bounded by max */
	CHECK_EQ(link_match_cands(out, 8, c2, 2, &none), 2);
	CHECK_EQ(link_match_cands(out, 1, c2, 2, &observed), 1);
	CHECK_EQ(link_match_cands(out, 8, c2, 0, &observed), 0);
}

int main(void)
{
	test_suite_name = "link";
	RUN(test_addr);
	RUN(test_order);
	RUN(test_punch);
	RUN(test_already_talking);
	RUN(test_fail_relay);
	RUN(test_known_endpoint);
	RUN(test_core);
	RUN(test_match_cands);
	TEST_EXIT();
}
