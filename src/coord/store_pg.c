/* store_pg.c: the PostgreSQL backend of the coord's store (store.h), for
 * several `weft coord` replicas sharing one database through libpq.
 *
 * One table, coord_records, keyed by (token, client_tag), all binary: the
 * token and the client tag are hashes, the candidate blob is sealed end to
 * end, the address is the one the server observed. No public key is ever
 * written (store.h's rule). Expiry is in SQL: every read has
 * "expires > now" in its WHERE clause and expire() is one DELETE.
 *
 * Writes are queued (bounded, QUEUE_MAX) and flush() sends them in one
 * transaction as a pipeline (libpq's pipeline mode: one round trip for the
 * lot). get() reads the database and lays the queued writes over it.
 *
 * How replicas see each other's announcements: every write stamps its row
 * with the writing transaction's id (tx, xid8). scan() first reads the
 * horizon H = the oldest transaction still running (pg_snapshot_xmin);
 * every transaction below H has ended, so rows with since <= tx < H are
 * complete and none can appear there later; the next scan starts at H.
 * Nothing is missed and nothing returned twice, even when replicas commit
 * out of the order their ids were given in. A replica polls each tick (the
 * server's, at most a second), so a match made from announcements at two
 * replicas reaches both within a tick or two; a transaction left open on
 * the database holds H back and delays (never loses) what others see. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "coord/store.h"
#include "crypto/crypto.h"

enum {
	/* queued writes between two flushes; a full queue flushes at once */
	QUEUE_MAX = 4096,
	/* rows one scan hands out: the rest come on the next call */
	SCAN_MAX = 65536,
};

struct op {
	bool del;
	struct coord_record r; /* del: token and client_tag only */
};

struct pg_store {
	struct coord_store base;
	PGconn *conn;
	struct op *queue;
	size_t queued;
	uint64_t failures; /* flushes that failed (queue kept, retried) */
};

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS coord_records ("
	" token bytea NOT NULL CHECK (length(token) = 32),"
	" client_tag bytea NOT NULL CHECK (length(client_tag) = 32),"
	" addr bytea NOT NULL CHECK (length(addr) = 20),"
	" blob bytea NOT NULL CHECK (length(blob) <= 384),"
	" expires bigint NOT NULL,"
	" updated bigint NOT NULL,"
	" tx xid8 NOT NULL DEFAULT pg_current_xact_id(),"
	" PRIMARY KEY (token, client_tag));"
	"CREATE INDEX IF NOT EXISTS coord_records_tx ON coord_records (tx);"
	"CREATE INDEX IF NOT EXISTS coord_records_expires ON coord_records (expires);";

/* Prepared statements, by name. */
static const struct {
	const char *name, *sql;
	int nparams;
} STMTS[] = {
	{ "put",
	  "INSERT INTO coord_records (token, client_tag, addr, blob, expires, updated)"
	  " VALUES ($1, $2, $3, $4, $5, $6)"
	  " ON CONFLICT (token, client_tag) DO UPDATE SET addr = $3, blob = $4,"
	  " expires = $5, updated = $6, tx = pg_current_xact_id()", 6 },
	{ "del", "DELETE FROM coord_records WHERE token = $1 AND client_tag = $2", 2 },
	{ "get",
	  "SELECT token, client_tag, addr, blob, expires, updated FROM coord_records"
	  " WHERE token = $1 AND expires > $2 LIMIT 4", 2 },
	{ "expire", "DELETE FROM coord_records WHERE expires <= $1", 1 },
	{ "horizon", "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint", 0 },
	{ "scan",
	  "SELECT token, client_tag, addr, blob, expires, updated, (tx::text)::bigint FROM coord_records"
	  " WHERE tx >= ($1::bigint::text)::xid8 AND tx < ($2::bigint::text)::xid8 AND expires > $3"
	  " ORDER BY tx LIMIT 65536", 3 },
};

static struct pg_store *pg_of(struct coord_store *s)
{
	return (struct pg_store *)s;
}

static void put_be64(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* a PGresult's status as -errno: the server said no (-EIO) or the
 * connection is gone (-ENOTCONN) */
static int result_errno(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_OK ? -EIO : -ENOTCONN;
}

/* One statement, binary parameters and results; NULL and the error when it
 * failed. */
static PGresult *run(struct pg_store *p, const char *stmt, int n, const char *const *vals,
		     const int *lens, const int *fmts, ExecStatusType want, int *err)
{
	PGresult *res = PQexecPrepared(p->conn, stmt, n, vals, lens, fmts, 1);

	if (PQresultStatus(res) != want) {
		*err = result_errno(p->conn);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* After a lost connection, one reconnection attempt per call that needs it;
 * the statements are prepared again on the new connection. */
static int prepare_all(PGconn *conn)
{
	for (size_t i = 0; i < sizeof(STMTS) / sizeof(STMTS[0]); i++) {
		PGresult *res = PQprepare(conn, STMTS[i].name, STMTS[i].sql, STMTS[i].nparams, NULL);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		PQclear(res);
		if (!ok)
			return -EIO;
	}
	return 0;
}

static int ensure_conn(struct pg_store *p)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	PQreset(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK)
		return -ENOTCONN;
	return prepare_all(p->conn);
}

static int decode_row(const PGresult *res, int row, struct coord_record *r)
{
	size_t bl;

	memset(r, 0, sizeof(*r));
	if (PQgetlength(res, row, 0) != COORD_TOKEN_LEN ||
	    PQgetlength(res, row, 1) != COORD_CLIENT_TAG_LEN ||
	    PQgetlength(res, row, 2) != COORD_ADDR_LEN || PQgetlength(res, row, 4) != 8 ||
	    PQgetlength(res, row, 5) != 8)
		return -EBADMSG;
	bl = (size_t)PQgetlength(res, row, 3);
	if (bl > COORD_BLOB_MAX)
		return -EBADMSG;
	memcpy(r->token, PQgetvalue(res, row, 0), COORD_TOKEN_LEN);
	memcpy(r->client_tag, PQgetvalue(res, row, 1), COORD_CLIENT_TAG_LEN);
	if (!coord_addr_decode(&r->addr, (const uint8_t *)PQgetvalue(res, row, 2)))
		memset(&r->addr, 0, sizeof(r->addr));
	memcpy(r->blob, PQgetvalue(res, row, 3), bl);
	r->blob_len = (uint16_t)bl;
	r->expires = get_be64((const uint8_t *)PQgetvalue(res, row, 4));
	r->updated = get_be64((const uint8_t *)PQgetvalue(res, row, 5));
	return 0;
}

/* ---- queued writes ---- */

static int pg_flush(struct coord_store *s);

static int enqueue(struct pg_store *p, const struct op *o)
{
	if (p->queued == QUEUE_MAX) {
		int rc = pg_flush(&p->base);

		if (rc < 0)
			return rc == -ENOTCONN ? -ENOTCONN : -ENOBUFS;
	}
	p->queue[p->queued++] = *o;
	return 0;
}

static int pg_put(struct coord_store *s, const struct coord_record *r)
{
	struct op o = { .del = false, .r = *r };

	if (r->blob_len > COORD_BLOB_MAX)
		return -EINVAL;
	return enqueue(pg_of(s), &o);
}

static int pg_del(struct coord_store *s, const uint8_t token[COORD_TOKEN_LEN],
		  const uint8_t client_tag[COORD_CLIENT_TAG_LEN])
{
	struct op o = { .del = true };

	memcpy(o.r.token, token, COORD_TOKEN_LEN);
	memcpy(o.r.client_tag, client_tag, COORD_CLIENT_TAG_LEN);
	return enqueue(pg_of(s), &o);
}

static int send_op(PGconn *conn, const struct op *o, uint8_t addr[COORD_ADDR_LEN],
		   uint8_t exp[8], uint8_t upd[8])
{
	const char *vals[6] = { (const char *)o->r.token, (const char *)o->r.client_tag };
	int lens[6] = { COORD_TOKEN_LEN, COORD_CLIENT_TAG_LEN }, fmts[6] = { 1, 1, 1, 1, 1, 1 };

	if (o->del)
		return PQsendQueryPrepared(conn, "del", 2, vals, lens, fmts, 1);
	coord_addr_encode(addr, &o->r.addr);
	put_be64(exp, o->r.expires);
	put_be64(upd, o->r.updated);
	vals[2] = (const char *)addr, lens[2] = COORD_ADDR_LEN;
	vals[3] = (const char *)o->r.blob, lens[3] = o->r.blob_len;
	vals[4] = (const char *)exp, lens[4] = 8;
	vals[5] = (const char *)upd, lens[5] = 8;
	return PQsendQueryPrepared(conn, "put", 6, vals, lens, fmts, 1);
}

/* The queue in one transaction, pipelined: BEGIN, the writes in order,
 * COMMIT, then one sync; every result is read back. On any failure the
 * transaction is rolled back by the server, the queue is kept for the next
 * flush, and the error returned. */
static int pg_flush(struct coord_store *s)
{
	struct pg_store *p = pg_of(s);
	uint8_t addr[COORD_ADDR_LEN], exp[8], upd[8];
	int rc = 0;
	PGresult *res;

	if (!p->queued)
		return 0;
	if ((rc = ensure_conn(p)) < 0)
		goto failed;
	if (!PQenterPipelineMode(p->conn)) {
		rc = -EIO;
		goto failed;
	}
	if (!PQsendQueryParams(p->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
		rc = -EIO;
	for (size_t i = 0; !rc && i < p->queued; i++)
		if (!send_op(p->conn, &p->queue[i], addr, exp, upd))
			rc = -EIO;
	if (!rc && !PQsendQueryParams(p->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
		rc = -EIO;
	if (!PQpipelineSync(p->conn)) {
		/* nothing to read back: start over on a fresh connection */
		PQreset(p->conn);
		rc = -ENOTCONN;
		goto failed;
	}
	/* every query's results, each followed by a NULL, then the sync */
	for (;;) {
		res = PQgetResult(p->conn);
		if (!res) {
			if (PQstatus(p->conn) != CONNECTION_OK) {
				rc = -ENOTCONN;
				break;
			}
			continue;
		}
		ExecStatusType st = PQresultStatus(res);

		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !rc)
			rc = st == PGRES_PIPELINE_ABORTED ? -EIO : result_errno(p->conn);
	}
	PQexitPipelineMode(p->conn);
	if (!rc) {
		p->queued = 0;
		return 0;
	}
failed:
	p->failures++;
	return rc;
}

/* ---- reads ---- */

/* lays queued writes for token over what the database returned */
static size_t overlay(const struct pg_store *p, const uint8_t token[COORD_TOKEN_LEN], uint64_t now,
		      struct coord_record *out, size_t n, size_t max)
{
	for (size_t i = 0; i < p->queued; i++) {
		const struct op *o = &p->queue[i];
		size_t j;

		if (memcmp(o->r.token, token, COORD_TOKEN_LEN))
			continue;
		for (j = 0; j < n; j++)
			if (!memcmp(out[j].client_tag, o->r.client_tag, COORD_CLIENT_TAG_LEN))
				break;
		if (o->del || o->r.expires <= now) {
			if (j < n)
				out[j] = out[--n];
		} else if (j < n) {
			out[j] = o->r;
		} else if (n < max) {
			out[n++] = o->r;
		}
	}
	return n;
}

static int pg_get(struct coord_store *s, const uint8_t token[COORD_TOKEN_LEN], uint64_t now,
		  struct coord_record *out, size_t max)
{
	struct pg_store *p = pg_of(s);
	uint8_t nowb[8];
	const char *vals[2] = { (const char *)token, (const char *)nowb };
	int lens[2] = { COORD_TOKEN_LEN, 8 }, fmts[2] = { 1, 1 }, rc = 0;
	size_t n = 0;
	PGresult *res;

	put_be64(nowb, now);
	if ((rc = ensure_conn(p)) < 0)
		return rc;
	res = run(p, "get", 2, vals, lens, fmts, PGRES_TUPLES_OK, &rc);
	if (!res)
		return rc;
	for (int i = 0; i < PQntuples(res) && n < max; i++)
		if (decode_row(res, i, &out[n]) == 0)
			n++;
	PQclear(res);
	return (int)overlay(p, token, now, out, n, max);
}

static int pg_expire(struct coord_store *s, uint64_t now)
{
	struct pg_store *p = pg_of(s);
	uint8_t nowb[8];
	const char *vals[1] = { (const char *)nowb };
	int lens[1] = { 8 }, fmts[1] = { 1 }, rc = 0;
	PGresult *res;

	put_be64(nowb, now);
	if ((rc = ensure_conn(p)) < 0)
		return rc;
	res = run(p, "expire", 1, vals, lens, fmts, PGRES_COMMAND_OK, &rc);
	if (!res)
		return rc;
	rc = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

static int pg_scan(struct coord_store *s, uint64_t now, uint64_t *since, coord_record_cb cb, void *arg)
{
	struct pg_store *p = pg_of(s);
	uint8_t sinceb[8], horb[8], nowb[8];
	const char *vals[3] = { (const char *)sinceb, (const char *)horb, (const char *)nowb };
	int lens[3] = { 8, 8, 8 }, fmts[3] = { 1, 1, 1 }, rc = 0, rows;
	uint64_t horizon, last = *since;
	struct coord_record r;
	PGresult *res;

	if ((rc = ensure_conn(p)) < 0)
		return rc;
	res = run(p, "horizon", 0, NULL, NULL, NULL, PGRES_TUPLES_OK, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 8) {
		PQclear(res);
		return -EIO;
	}
	horizon = get_be64((const uint8_t *)PQgetvalue(res, 0, 0));
	PQclear(res);
	if (horizon <= *since)
		return 0;
	put_be64(sinceb, *since);
	put_be64(horb, horizon);
	put_be64(nowb, now);
	res = run(p, "scan", 3, vals, lens, fmts, PGRES_TUPLES_OK, &rc);
	if (!res)
		return rc;
	rows = PQntuples(res);
	for (int i = 0; i < rows && !rc; i++) {
		if (decode_row(res, i, &r) < 0 || PQgetlength(res, i, 6) != 8)
			continue;
		last = get_be64((const uint8_t *)PQgetvalue(res, i, 6));
		rc = cb(&r, arg);
	}
	PQclear(res);
	/* a full page (or a stop) resumes at the last row's transaction: its
	 * other rows come again, which the callers' merge takes in its stride */
	*since = rows >= SCAN_MAX || rc ? last : horizon;
	return rc;
}

static void pg_close(struct coord_store *s)
{
	struct pg_store *p = pg_of(s);

	if (!p)
		return;
	pg_flush(s);
	PQfinish(p->conn);
	if (p->queue)
		memzero(p->queue, QUEUE_MAX * sizeof(*p->queue));
	free(p->queue);
	free(p);
}

static const struct coord_store_ops PG_OPS = {
	.name = "postgresql",
	.put = pg_put,
	.del = pg_del,
	.get = pg_get,
	.expire = pg_expire,
	.flush = pg_flush,
	.scan = pg_scan,
	.close = pg_close,
};

/* libpq's notices (e.g. "relation already exists, skipping") are not ours
 * to print */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int coord_store_pg_open(const char *conninfo, struct coord_store **out, const char **err)
{
	struct pg_store *p = calloc(1, sizeof(*p));
	PGresult *res;
	int rc;

	if (!p || !(p->queue = calloc(QUEUE_MAX, sizeof(*p->queue)))) {
		free(p);
		if (err)
			*err = "out of memory";
		return -ENOMEM;
	}
	p->base.ops = &PG_OPS;
	p->conn = PQconnectdb(conninfo);
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
		if (err)
			*err = "cannot connect to the PostgreSQL server";
		rc = -ECONNREFUSED;
		goto fail;
	}
	PQsetNoticeProcessor(p->conn, quiet, NULL);
	/* several replicas may create the table at once: one at a time */
	res = PQexec(p->conn, "SELECT pg_advisory_lock(7708651);");
	PQclear(res);
	res = PQexec(p->conn, SCHEMA);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
	PQclear(res);
	PQclear(PQexec(p->conn, "SELECT pg_advisory_unlock(7708651);"));
	if (rc < 0) {
		if (err)
			*err = "cannot create the coord_records table";
		goto fail;
	}
	if ((rc = prepare_all(p->conn)) < 0) {
		if (err)
			*err = "cannot prepare the store's statements";
		goto fail;
	}
	*out = &p->base;
	return 0;
fail:
	PQfinish(p->conn);
	free(p->queue);
	free(p);
	return rc;
}
