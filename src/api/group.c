/* group.c: group commit of the changes to the peer store (group.h).
 *
 * The HTTP thread applies each change to the cached store under api->lock
 * and, instead of saving, adds it to the open group and suspends its
 * connection; the group holds the directory lock. The committer takes the
 * whole group, marks the store busy (saving) and saves it WITHOUT
 * api->lock, so the HTTP thread meanwhile accepts requests: those that
 * would touch the store are put aside and resumed after the save, and
 * their changes form the next group. Then the device follows, each change
 * gets its answer, and the directory lock goes.
 *
 * A crash leaves the files with every answered change and at most the
 * group being saved. A change refused with 4xx left the store as it was
 * (the routes check before they change); a 5xx in the middle of a change
 * (out of memory) spoils the group: it is answered 503 and the store is
 * read again from its files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group.h"
#include "peer_view.h"
#include "weft/peer_keys.h"

struct api_change {
	struct api_change *next;
	struct api_request *r;
	uint8_t key[32];
	enum api_change_dev dev;
};

/* The device after a durable change; true when the store was changed back
 * (a new peer the device refused) and needs another save. */
static bool follow(struct api *api, struct peer_ctx *c, struct api_request *r, const uint8_t key[32],
		   enum api_change_dev dev)
{
	int ret = 0;

	switch (dev) {
	case API_CHANGE_NONE:
		return false;
	case API_CHANGE_ADD:
	case API_CHANGE_PUT:
		ret = peer_ctx_dev_put(c, store_conf_peer(&c->st, key));
		break;
	case API_CHANGE_DROP:
	case API_CHANGE_REMOVE:
		ret = peer_ctx_dev_drop(c, key);
		if (dev == API_CHANGE_REMOVE)
			peer_key_remove(c->path, key);
		break;
	}
	if (ret >= 0)
		return false;
	if (dev != API_CHANGE_ADD) {
		fprintf(stderr, "weft: api: %s: the running device refused: %s\n", api->iface, strerror(-ret));
		return false;
	}
	api_reply_error(r, 500, "the running device refused the peer: %s", strerror(-ret));
	if (store_peer_remove(&c->st, key) < 0)
		fprintf(stderr, "weft: api: %s: could not undo a refused enrolment\n", api->iface);
	return true;
}

int api_group_change(struct api *api, struct api_request *r, struct peer_ctx *c, const uint8_t key[32],
		     enum api_change_dev dev)
{
	struct api_change *ch;
	char err[256];
	int ret;

	if (api->group.running && !api->group.paused && (ch = calloc(1, sizeof(*ch)))) {
		ch->r = r;
		memcpy(ch->key, key, 32);
		ch->dev = dev;
		ch->next = api->group.changes;
		api->group.changes = ch;
		api->group.lock = c->st.lock;
		r->wait = API_WAIT_SAVE;
		pthread_cond_broadcast(&api->group.cond);
		return 0;
	}
	/* one at a time, as before */
	ret = store_save(&c->st, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_reply_error(r, 500, "the change could not be saved");
		return ret;
	}
	if (follow(api, c, r, key, dev)) {
		if (store_save(&c->st, err, sizeof(err)) < 0)
			fprintf(stderr, "weft: api: %s: could not undo a refused enrolment: %s\n", api->iface, err);
		return -EIO;
	}
	return 0;
}

bool api_group_defer(struct api *api, struct api_request *r)
{
	if (!api->group.saving)
		return false;
	r->wait = API_WAIT_RERUN;
	r->next = api->group.deferred;
	api->group.deferred = r;
	return true;
}

void api_group_rerun(struct api *api, struct api_request *r)
{
	r->wait = API_RUN;
	if (api->group.rerun)
		api->group.rerun--;
	pthread_cond_broadcast(&api->group.cond);
}

/* Resumes each request of list (with api->lock NOT held: MHD takes its
 * own locks). */
static void resume(struct api_request *list)
{
	while (list) {
		struct api_request *next = list->next;

		list->next = NULL;
		MHD_resume_connection(list->conn);
		list = next;
	}
}

/* One group, with api->lock held (dropped during the save). */
static void commit(struct api *api)
{
	struct api_change *group = api->group.changes, *ch;
	struct api_request *done = NULL, *aside;
	bool poisoned = api->group.poisoned, again = false;
	char err[256];
	int ret = -EIO;

	api->group.changes = NULL;
	api->group.poisoned = false;
	if (!poisoned && api->cache.valid) {
		api->group.saving = true;
		pthread_mutex_unlock(&api->lock);
		ret = store_save(&api->cache.c.st, err, sizeof(err));
		pthread_mutex_lock(&api->lock);
		api->group.saving = false;
		if (ret < 0)
			fprintf(stderr, "weft: api: %s\n", err);
	}
	if (ret < 0) {
		for (ch = group; ch; ch = ch->next)
			api_reply_error(ch->r, poisoned ? 503 : 500, poisoned ?
					"the change could not be made (out of memory); try again" :
					"the change could not be saved");
		if (api->cache.valid)
			peer_ctx_close(&api->cache.c);
		api->cache.valid = false;
	} else {
		/* the oldest first, as they were answered before */
		struct api_change *rev = NULL;

		while (group) {
			ch = group->next;
			group->next = rev;
			rev = group;
			group = ch;
		}
		group = rev;
		for (ch = group; ch; ch = ch->next)
			again |= follow(api, &api->cache.c, ch->r, ch->key, ch->dev);
		if (again && store_save(&api->cache.c.st, err, sizeof(err)) < 0)
			fprintf(stderr, "weft: api: %s: could not undo a refused enrolment: %s\n", api->iface, err);
		view_saved(api);
	}
	if (api->group.lock >= 0)
		close(api->group.lock);
	api->group.lock = -1;
	while (group) {
		ch = group->next;
		group->r->wait = API_SEND;
		group->r->next = done;
		done = group->r;
		free(group);
		group = ch;
	}
	aside = api->group.deferred;
	api->group.deferred = NULL;
	for (struct api_request *r = aside; r; r = r->next) {
		r->wait = API_RERUN;
		api->group.rerun++;
	}
	pthread_cond_broadcast(&api->group.cond);
	pthread_mutex_unlock(&api->lock);
	resume(done);
	resume(aside);
	pthread_mutex_lock(&api->lock);
}

static void *committer(void *arg)
{
	struct api *api = arg;

	pthread_mutex_lock(&api->lock);
	for (;;) {
		struct timespec until;

		/* let what was put aside join this group (bounded wait) */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (api->group.rerun && !api->group.paused &&
		       pthread_cond_timedwait(&api->group.cond, &api->lock, &until) == 0)
			;
		if (api->group.changes) {
			commit(api);
			continue;
		}
		if (api->group.stop)
			break;
		pthread_cond_wait(&api->group.cond, &api->lock);
	}
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

int api_group_start(struct api *api)
{
	int ret;

	api->group.lock = -1;
	if (pthread_cond_init(&api->group.cond, NULL))
		return -ENOMEM;
	pthread_mutex_lock(&api->lock);
	api->group.stop = false;
	ret = pthread_create(&api->group.thread, NULL, committer, api);
	api->group.running = ret == 0;
	pthread_mutex_unlock(&api->lock);
	return -ret;
}

void api_group_pause(struct api *api)
{
	pthread_mutex_lock(&api->lock);
	api->group.paused = true;
	while (api->group.running && (api->group.changes || api->group.saving || api->group.deferred ||
				      api->group.rerun))
		pthread_cond_wait(&api->group.cond, &api->lock);
	pthread_mutex_unlock(&api->lock);
}

void api_group_resume(struct api *api)
{
	pthread_mutex_lock(&api->lock);
	api->group.paused = false;
	pthread_mutex_unlock(&api->lock);
}

void api_group_stop(struct api *api)
{
	if (!api->group.running)
		return;
	api_group_pause(api);
	pthread_mutex_lock(&api->lock);
	api->group.stop = true;
	pthread_cond_broadcast(&api->group.cond);
	pthread_mutex_unlock(&api->lock);
	pthread_join(api->group.thread, NULL);
	api->group.running = false;
	pthread_cond_destroy(&api->group.cond);
}
