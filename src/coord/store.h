/* store.h: where `weft coord` keeps its records beyond memory, behind one
 * interface with two backends: SQLite (store_sqlite.c, the default, one
 * file) and PostgreSQL (several replicas sharing one database). The server
 * keeps its hot state in memory and writes behind: put/del calls are
 * queued by the backend and made durable by flush(), which the server
 * calls once a second (one transaction each time). A record never holds a
 * public key in clear: a client is named by a keyed hash of its key.
 *
 * Functions return 0 (or a count) or -errno; they never abort. Every
 * buffer is bounded by the constants below. */
#ifndef WEFT_COORD_STORE_H
#define WEFT_COORD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "coord/proto.h"

enum {
	COORD_CLIENT_TAG_LEN = 32, /* keyed BLAKE2s of a client's public key */
	COORD_TOKEN_HOLDERS = 2,   /* a token matches exactly two clients */
};

/* One announcement: client `client_tag` wants the peer behind `token`; its
 * observed address and its sealed candidates. Keyed by (token, client_tag). */
struct coord_record {
	uint8_t token[COORD_TOKEN_LEN];
	uint8_t client_tag[COORD_CLIENT_TAG_LEN];
	struct coord_addr addr;
	uint16_t blob_len;
	uint8_t blob[COORD_BLOB_MAX];
	uint64_t expires;  /* unix seconds; the record is gone from then on */
	uint64_t updated;  /* unix seconds of the last put (replicas poll on it) */
};

typedef int (*coord_record_cb)(const struct coord_record *r, void *arg);

struct coord_store;

struct coord_store_ops {
	const char *name; /* "sqlite", "postgresql" */
	/* Insert or replace the record (token, client_tag). */
	int (*put)(struct coord_store *s, const struct coord_record *r);
	/* Remove the record (token, client_tag); 0 if there was none. */
	int (*del)(struct coord_store *s, const uint8_t token[COORD_TOKEN_LEN],
		   const uint8_t client_tag[COORD_CLIENT_TAG_LEN]);
	/* The unexpired records of token (at most COORD_TOKEN_HOLDERS + 1
	 * are returned; more means a bug elsewhere); returns how many. Sees
	 * queued writes as well as durable ones. */
	int (*get)(struct coord_store *s, const uint8_t token[COORD_TOKEN_LEN], uint64_t now,
		   struct coord_record *out, size_t max);
	/* Remove every record with expires <= now; returns how many went. */
	int (*expire)(struct coord_store *s, uint64_t now);
	/* Make the queued writes durable, in one transaction. */
	int (*flush)(struct coord_store *s);
	/* Every unexpired record with updated >= *since (all of them with
	 * *since = 0, at start), in no particular order; *since is advanced
	 * to what the next call should pass. A callback's nonzero return
	 * stops the walk and is returned. Replicas call it every tick to see
	 * each other's announcements; a single server only at start. */
	int (*scan)(struct coord_store *s, uint64_t now, uint64_t *since,
		    coord_record_cb cb, void *arg);
	/* Flush and free everything (s included). */
	void (*close)(struct coord_store *s);
};

struct coord_store {
	const struct coord_store_ops *ops;
};

/* Opens the store that `spec` names: "postgresql://..." or
 * "postgres://..." (the PostgreSQL backend), "sqlite:PATH" or a plain
 * PATH (SQLite). -ENOTSUP for a backend this build lacks; other -errno
 * with *err (when err is not NULL) pointing at a static one-line reason. */
int coord_store_open(const char *spec, struct coord_store **out, const char **err);

/* The backends' constructors (coord_store_open picks one). */
int coord_store_sqlite_open(const char *path, struct coord_store **out, const char **err);
int coord_store_pg_open(const char *conninfo, struct coord_store **out, const char **err);

#endif
