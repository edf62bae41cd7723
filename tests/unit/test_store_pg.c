/* test_store_pg.c: the coord's PostgreSQL store (src/coord/store_pg.c)
 * against a real server: queued writes are seen by get() before and after
 * flush, deletes and expiry happen in SQL, two stores on one database (two
 * replicas) see each other's records through scan() exactly once, and a
 * write committed after a later one is still found (the horizon). It needs
 * a server: WEFT_PG_URL names one (tests/net/88-coord-pg.sh starts a
 * throw-away one and runs this); without it the cases say SKIP. */
#include <errno.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "coord/store.h"
#include "crypto/crypto.h"
#include "test.h"

static const char *url;

static void rec(struct coord_record *r, uint8_t tok, uint8_t tag, uint64_t expires)
{
	memset(r, 0, sizeof(*r));
	memset(r->token, tok, sizeof(r->token));
	memset(r->client_tag, tag, sizeof(r->client_tag));
	r->addr.family = 4;
	r->addr.port = 40000 + tag;
	r->addr.ip[0] = 192, r->addr.ip[1] = 0, r->addr.ip[2] = 2, r->addr.ip[3] = tag;
	r->blob_len = 100;
	memset(r->blob, tag ^ 0x5a, r->blob_len);
	r->expires = expires;
	r->updated = 1000;
}

static void wipe_table(void)
{
	PGconn *c = PQconnectdb(url);

	PQclear(PQexec(c, "DELETE FROM coord_records"));
	PQfinish(c);
}

struct seen {
	int n;
	uint8_t tags[64];
};

static int collect(const struct coord_record *r, void *arg)
{
	struct seen *s = arg;

	if (s->n < 64)
		s->tags[s->n] = r->client_tag[0];
	s->n++;
	return 0;
}

static void test_put_get_del_expire(void)
{
	struct coord_store *s = NULL;
	struct coord_record a, b, out[4];
	const char *err = NULL;
	uint8_t tok[COORD_TOKEN_LEN];

	if (!url)
		SKIP("no PostgreSQL server (WEFT_PG_URL)");
	CHECK_EQ(coord_store_pg_open(url, &s, &err), 0);
	if (!s)
		return;
	wipe_table();
	CHECK(!strcmp(s->ops->name, "postgresql"));
	rec(&a, 1, 0xa, 5000);
	rec(&b, 1, 0xb, 5000);
	memset(tok, 1, sizeof(tok));
	CHECK_EQ(s->ops->put(s, &a), 0);
	CHECK_EQ(s->ops->put(s, &b), 0);
	/* queued, not yet durable: get sees them anyway */
	CHECK_EQ(s->ops->get(s, tok, 100, out, 4), 2);
	CHECK_EQ(s->ops->flush(s), 0);
	CHECK_EQ(s->ops->get(s, tok, 100, out, 4), 2);
	CHECK(out[0].client_tag[0] == 0xa || out[1].client_tag[0] == 0xa);
	for (int i = 0; i < 2; i++)
		if (out[i].client_tag[0] == 0xb) {
			CHECK_EQ(out[i].addr.port, 40000 + 0xb);
			CHECK_EQ(out[i].addr.ip[3], 0xb);
			CHECK_EQ(out[i].blob_len, 100);
			CHECK_EQ(out[i].blob[99], 0xb ^ 0x5a);
			CHECK_EQ(out[i].expires, 5000);
		}
	/* a replace changes the address in place */
	a.addr.port = 1234;
	CHECK_EQ(s->ops->put(s, &a), 0);
	CHECK_EQ(s->ops->del(s, b.token, b.client_tag), 0);
	CHECK_EQ(s->ops->get(s, tok, 100, out, 4), 1);
	CHECK_EQ(out[0].addr.port, 1234);
	CHECK_EQ(s->ops->flush(s), 0);
	CHECK_EQ(s->ops->get(s, tok, 100, out, 4), 1);
	CHECK_EQ(out[0].addr.port, 1234);
	/* expiry is the database's WHERE clause, then its DELETE */
	CHECK_EQ(s->ops->get(s, tok, 5000, out, 4), 0);
	CHECK_EQ(s->ops->expire(s, 4999), 0);
	CHECK_EQ(s->ops->expire(s, 5000), 1);
	CHECK_EQ(s->ops->get(s, tok, 0, out, 4), 0);
	s->ops->close(s);
}

/* Two replicas: each sees the other's records once, its own too (scan
 * returns every new row; the server merges), and nothing again after. */
static void test_two_replicas_scan(void)
{
	struct coord_store *s1 = NULL, *s2 = NULL;
	struct coord_record a, b, c;
	struct seen seen1 = { 0 }, seen2 = { 0 };
	uint64_t since1 = 0, since2 = 0;

	if (!url)
		SKIP("no PostgreSQL server (WEFT_PG_URL)");
	CHECK_EQ(coord_store_pg_open(url, &s1, NULL), 0);
	CHECK_EQ(coord_store_pg_open(url, &s2, NULL), 0);
	if (!s1 || !s2)
		return;
	wipe_table();
	rec(&a, 2, 0xa, 5000);
	rec(&b, 2, 0xb, 5000);
	CHECK_EQ(s1->ops->put(s1, &a), 0);
	CHECK_EQ(s2->ops->put(s2, &b), 0);
	CHECK_EQ(s1->ops->flush(s1), 0);
	CHECK_EQ(s2->ops->flush(s2), 0);
	CHECK_EQ(s1->ops->scan(s1, 100, &since1, collect, &seen1), 0);
	CHECK_EQ(s2->ops->scan(s2, 100, &since2, collect, &seen2), 0);
	CHECK_EQ(seen1.n, 2);
	CHECK_EQ(seen2.n, 2);
	/* and a match by get from either side */
	struct coord_record out[4];
	CHECK_EQ(s1->ops->get(s1, a.token, 100, out, 4), 2);
	CHECK_EQ(s2->ops->get(s2, a.token, 100, out, 4), 2);
	/* nothing new: nothing returned */
	seen1.n = 0;
	CHECK_EQ(s1->ops->scan(s1, 100, &since1, collect, &seen1), 0);
	CHECK_EQ(seen1.n, 0);
	/* one more at replica 2 reaches replica 1 once */
	rec(&c, 3, 0xc, 5000);
	CHECK_EQ(s2->ops->put(s2, &c), 0);
	CHECK_EQ(s2->ops->flush(s2), 0);
	CHECK_EQ(s1->ops->scan(s1, 100, &since1, collect, &seen1), 0);
	CHECK_EQ(seen1.n, 1);
	CHECK_EQ(seen1.tags[0], 0xc);
	CHECK_EQ(s1->ops->scan(s1, 100, &since1, collect, &seen1), 0);
	CHECK_EQ(seen1.n, 1);
	/* expired rows are not scanned */
	seen2.n = 0;
	since2 = 0;
	CHECK_EQ(s2->ops->scan(s2, 5000, &since2, collect, &seen2), 0);
	CHECK_EQ(seen2.n, 0);
	s1->ops->close(s1);
	s2->ops->close(s2);
}

/* A transaction that got its id first but commits last: its row must not
 * be skipped by a scan that already saw the later one. */
static void test_out_of_order_commit(void)
{
	struct coord_store *s1 = NULL, *s2 = NULL;
	struct coord_record b;
	struct seen seen = { 0 };
	uint64_t since = 0;
	PGconn *slow;

	if (!url)
		SKIP("no PostgreSQL server (WEFT_PG_URL)");
	CHECK_EQ(coord_store_pg_open(url, &s1, NULL), 0);
	CHECK_EQ(coord_store_pg_open(url, &s2, NULL), 0);
	if (!s1 || !s2)
		return;
	wipe_table();
	CHECK_EQ(s1->ops->scan(s1, 100, &since, collect, &seen), 0);
	slow = PQconnectdb(url);
	CHECK(PQstatus(slow) == CONNECTION_OK);
	PQclear(PQexec(slow, "BEGIN"));
	PQclear(PQexec(slow, "INSERT INTO coord_records (token, client_tag, addr, blob, expires, updated)"
			     " VALUES (decode(repeat('04', 32), 'hex'), decode(repeat('0d', 32), 'hex'),"
			     " decode(repeat('00', 20), 'hex'), '', 5000, 1000)"));
	rec(&b, 5, 0xe, 5000);
	CHECK_EQ(s2->ops->put(s2, &b), 0);
	CHECK_EQ(s2->ops->flush(s2), 0);
	/* the later write is committed, the earlier one is not: neither is
	 * handed out yet (the horizon stops before the open transaction) */
	CHECK_EQ(s1->ops->scan(s1, 100, &since, collect, &seen), 0);
	CHECK_EQ(seen.n, 0);
	PQclear(PQexec(slow, "COMMIT"));
	CHECK_EQ(s1->ops->scan(s1, 100, &since, collect, &seen), 0);
	CHECK_EQ(seen.n, 2);
	PQfinish(slow);
	s1->ops->close(s1);
	s2->ops->close(s2);
}

static void test_bad_server(void)
{
	struct coord_store *s = NULL;
	const char *err = NULL;

	CHECK(coord_store_pg_open("postgresql:///nothing?host=/nonexistent&connect_timeout=2", &s, &err) < 0);
	CHECK(s == NULL);
	CHECK(err != NULL);
}

int main(void)
{
	test_suite_name = "store_pg";
	if (crypto_init() < 0) {
		printf("FAIL: store_pg/setup: crypto_init\n");
		return 1;
	}
	url = getenv("WEFT_PG_URL");
	RUN(test_put_get_del_expire);
	RUN(test_two_replicas_scan);
	RUN(test_out_of_order_commit);
	RUN(test_bad_server);
	TEST_EXIT();
}
