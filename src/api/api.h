/* api.h: one `weft api` server - the interface it serves, its settings
 * and limits, and the state the routes share (tokens, rate limits,
 * metrics). Requests are handled one at a time (api->lock), which keeps
 * every change to the peer store ordered; changes are made durable in
 * groups (group.h), each before its answer goes out. */
#ifndef WEFT_API_API_H
#define WEFT_API_API_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "limits.h"
#include "slow.h"
#include "metrics.h"
#include "tokens.h"
#include "weft/peer_ctx.h"

/* What says a file is unchanged: same inode, size and mtime. */
struct api_file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

#define API_DEFAULT_LISTEN "127.0.0.1:9090"
#define API_STATIC_ENV "WEFT_API_STATIC"
/* Addresses of expired peers stay reserved this long after they were
 * disabled, so that a late packet never reaches a new peer. */
#define API_EXPIRY_GRACE_DEFAULT (24 * 3600)

struct api_change;

struct api {
	const char *iface;
	char conf_path[PATH_MAX];
	char tokens_path[PATH_MAX];
	char static_dir[PATH_MAX];     /* "" when there are no pages */
	pthread_mutex_t lock;
	struct api_limits limits;
	struct api_rate rate;
	struct api_slow slow;          /* slow.h: serving only */
	struct api_metrics metrics;
	int64_t expiry_grace;          /* seconds; see API_EXPIRY_GRACE_DEFAULT */
	struct tokens tokens;
	/* The store as the last request left it (peer_view.c), kept while
	 * its files are unchanged on disk, so a request does not read and
	 * parse 10,000 peers again. */
	struct {
		bool valid;
		struct peer_ctx c;
		struct api_file_id conf, weft;
		double dev_at;          /* monotonic time the device was read */
	} cache;
	/* Group commit (group.h); under lock, cond for every wait. */
	struct {
		pthread_cond_t cond;
		pthread_t thread;
		bool running, paused, stop, saving, poisoned;
		int lock;                        /* directory lock of the open group, -1 */
		struct api_change *changes;      /* applied, not yet saved */
		struct api_request *deferred;    /* put aside during a save */
		size_t rerun;                    /* put aside, resumed, not yet run again */
	} group;
};

/* Reads the tokens (routes.c): 0 or -errno after saying why. */
int api_init(struct api *api);
void api_fini(struct api *api);

double api_mono_now(void);

/* Handles one request (routes.c): every path but the static files. */
void api_route(struct api *api, struct api_request *r);

/* Serves a static file of api->static_dir for a GET of r->url (static.c):
 * true when answered (also with 404). */
bool api_static(struct api *api, struct api_request *r);

/* Disables expired peers and removes those past the grace period
 * (expiry.c). Called about every 10 s with api->lock held. */
void api_expire(struct api *api, int64_t now);

#endif
