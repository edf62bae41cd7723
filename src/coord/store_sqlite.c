/* store_sqlite.c: the SQLite backend of the coord store (store.h), the
 * default: one file, made 0600, in WAL mode. Writes go into a transaction
 * opened by the first write after a flush and committed by flush(), so the
 * server pays one commit per tick however many records changed. Prepared
 * statements only. The table holds tokens and keyed hashes of client keys,
 * never a public key. */
#include "coord/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

enum { ST_PUT, ST_DEL, ST_GET, ST_EXPIRE, ST_SCAN, ST_BEGIN, ST_COMMIT, ST_COUNT };

static const char *const sql[ST_COUNT] = {
	[ST_PUT] = "INSERT OR REPLACE INTO coord_records(token, client, addr, blob, expires, updated) "
		   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_DEL] = "DELETE FROM coord_records WHERE token = ?1 AND client = ?2",
	[ST_GET] = "SELECT token, client, addr, blob, expires, updated FROM coord_records "
		   "WHERE token = ?1 AND expires > ?2 LIMIT ?3",
	[ST_EXPIRE] = "DELETE FROM coord_records WHERE expires <= ?1",
	[ST_SCAN] = "SELECT token, client, addr, blob, expires, updated FROM coord_records "
		    "WHERE expires > ?1 AND updated >= ?2",
	[ST_BEGIN] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
};

static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	/* records arrive in random key order: 8 MiB of cache holds the pages
	 * one write-behind batch touches; the rest of the file is read through
	 * the kernel's page cache (no mmap), so it is not the server's resident
	 * memory, which stays under 1 KiB per client (docs/performance.md) */
	"PRAGMA cache_size = -8192;"
	"PRAGMA mmap_size = 0;"
	"CREATE TABLE IF NOT EXISTS coord_records ("
	" token BLOB NOT NULL,"   /* BLAKE2s(sorted public keys || label) */
	" client BLOB NOT NULL,"  /* BLAKE2s keyed by the server: never the key */
	" addr BLOB NOT NULL,"    /* 20-byte address, docs/coord-protocol.md */
	" blob BLOB NOT NULL,"    /* sealed end to end, opaque here */
	" expires INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" PRIMARY KEY (token, client)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS coord_records_expires ON coord_records(expires);";
/* No index on `updated`: one SQLite file has one server, which scans it
 * only at start (replicas share PostgreSQL, where that index matters). */

struct sqlite_store {
	struct coord_store base;
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	bool in_txn;
};

static int map_rc(int rc)
{
	switch (rc) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	case SQLITE_CANTOPEN: return -ENOENT;
	default: return -EIO;
	}
}

static int run(struct sqlite_store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : map_rc(rc);
}

static int begin(struct sqlite_store *s)
{
	if (s->in_txn)
		return 0;
	int r = run(s, s->st[ST_BEGIN]);
	if (!r)
		s->in_txn = true;
	return r;
}

static int sq_put(struct coord_store *base, const struct coord_record *r)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->st[ST_PUT];
	uint8_t addr[COORD_ADDR_LEN];
	int e;

	if (r->blob_len > COORD_BLOB_MAX)
		return -EINVAL;
	if ((e = begin(s)) < 0)
		return e;
	coord_addr_encode(addr, &r->addr);
	sqlite3_bind_blob(st, 1, r->token, COORD_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, r->client_tag, COORD_CLIENT_TAG_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, addr, sizeof(addr), SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 4, r->blob, r->blob_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)r->expires);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)r->updated);
	return run(s, st);
}

static int sq_del(struct coord_store *base, const uint8_t token[COORD_TOKEN_LEN],
		  const uint8_t client_tag[COORD_CLIENT_TAG_LEN])
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->st[ST_DEL];
	int e;

	if ((e = begin(s)) < 0)
		return e;
	sqlite3_bind_blob(st, 1, token, COORD_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, client_tag, COORD_CLIENT_TAG_LEN, SQLITE_STATIC);
	if ((e = run(s, st)) < 0)
		return e;
	return sqlite3_changes(s->db);
}

/* One row into r; -EBADMSG for a row this code did not write. */
static int read_row(sqlite3_stmt *st, struct coord_record *r)
{
	memset(r, 0, sizeof(*r));
	if (sqlite3_column_bytes(st, 0) != COORD_TOKEN_LEN ||
	    sqlite3_column_bytes(st, 1) != COORD_CLIENT_TAG_LEN ||
	    sqlite3_column_bytes(st, 2) != COORD_ADDR_LEN ||
	    sqlite3_column_bytes(st, 3) > COORD_BLOB_MAX)
		return -EBADMSG;
	memcpy(r->token, sqlite3_column_blob(st, 0), COORD_TOKEN_LEN);
	memcpy(r->client_tag, sqlite3_column_blob(st, 1), COORD_CLIENT_TAG_LEN);
	if (!coord_addr_decode(&r->addr, sqlite3_column_blob(st, 2)))
		return -EBADMSG;
	r->blob_len = (uint16_t)sqlite3_column_bytes(st, 3);
	if (r->blob_len)
		memcpy(r->blob, sqlite3_column_blob(st, 3), r->blob_len);
	r->expires = (uint64_t)sqlite3_column_int64(st, 4);
	r->updated = (uint64_t)sqlite3_column_int64(st, 5);
	return 0;
}

static int sq_get(struct coord_store *base, const uint8_t token[COORD_TOKEN_LEN], uint64_t now,
		  struct coord_record *out, size_t max)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->st[ST_GET];
	size_t n = 0;
	int rc;

	sqlite3_bind_blob(st, 1, token, COORD_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (read_row(st, &out[n]) == 0)
			n++;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (int)n;
}

static int sq_expire(struct coord_store *base, uint64_t now)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->st[ST_EXPIRE];
	int e;

	if ((e = begin(s)) < 0)
		return e;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	if ((e = run(s, st)) < 0)
		return e;
	return sqlite3_changes(s->db);
}

static int sq_flush(struct coord_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	if (!s->in_txn)
		return 0;
	s->in_txn = false;
	int e = run(s, s->st[ST_COMMIT]);
	if (e < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

static int sq_scan(struct coord_store *base, uint64_t now, uint64_t *since,
		   coord_record_cb cb, void *arg)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st = s->st[ST_SCAN];
	struct coord_record *r = malloc(sizeof(*r));
	uint64_t newest = *since;
	int rc, ret = 0;

	if (!r)
		return -ENOMEM;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)*since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_row(st, r) < 0)
			continue;
		if (r->updated > newest)
			newest = r->updated;
		if ((ret = cb(r, arg)) != 0)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = map_rc(rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(r);
	*since = newest;
	return ret;
}

static void sq_close(struct coord_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	if (!s)
		return;
	if (s->db)
		sq_flush(base);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

static const struct coord_store_ops sqlite_ops = {
	.name = "sqlite",
	.put = sq_put,
	.del = sq_del,
	.get = sq_get,
	.expire = sq_expire,
	.flush = sq_flush,
	.scan = sq_scan,
	.close = sq_close,
};

int coord_store_sqlite_open(const char *path, struct coord_store **out, const char **err)
{
	struct sqlite_store *s;
	int fd, rc;

	*out = NULL;
	/* made 0600 before SQLite opens it, so it is never readable by others */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (err)
			*err = "cannot open the database file";
		return -errno;
	}
	close(fd);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
	for (int i = 0; rc == SQLITE_OK && i < ST_COUNT; i++)
		rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
	if (rc != SQLITE_OK) {
		if (err)
			*err = "not a usable SQLite database";
		int e = map_rc(rc);
		sq_close(&s->base);
		return e;
	}
	sqlite3_busy_timeout(s->db, 1000);
	*out = &s->base;
	return 0;
}
