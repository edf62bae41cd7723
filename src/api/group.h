/* group.h: group commit for `weft api` - changes that arrive together are
 * applied to the cached store one by one (each validated and answered on
 * its own) and made durable by one store_save; each is answered only
 * after that save. A committer thread does the saving while the HTTP
 * thread keeps accepting: requests that need the store during a save are
 * put aside (suspended) and run again right after it, and so form the next
 * group. */
#ifndef WEFT_API_GROUP_H
#define WEFT_API_GROUP_H

#include <stdint.h>

#include "api.h"

/* What the running device gets once the change is durable. */
enum api_change_dev {
	API_CHANGE_NONE,
	API_CHANGE_ADD,     /* a new peer: a refusal undoes it (500) */
	API_CHANGE_PUT,     /* enabled again: a refusal is logged */
	API_CHANGE_DROP,    /* disabled: a refusal is logged */
	API_CHANGE_REMOVE,  /* removed: off the device, its key file gone */
};

/* The change r made to c (the view of api's cache, its directory lock
 * held) joins the open group: r's answer, already prepared, goes out after
 * the group's save (or becomes a 500 when that save fails). Without a
 * committer (not serving, or pausing) it is saved here and now, as before.
 * 0, or -errno after answering r. */
int api_group_change(struct api *api, struct api_request *r, struct peer_ctx *c, const uint8_t key[32],
		     enum api_change_dev dev);

/* Starts and stops the committer (server.c). Stop answers what is in
 * flight first. */
int api_group_start(struct api *api);
void api_group_stop(struct api *api);
/* Until resume, changes are saved one by one in the request (no requests
 * left suspended: MHD may be restarted). Waits for the group in flight. */
void api_group_pause(struct api *api);
void api_group_resume(struct api *api);

/* With api->lock held, in the HTTP thread: true when r must wait for the
 * save in flight (r is then suspended by the caller and run again after). */
bool api_group_defer(struct api *api, struct api_request *r);
/* With api->lock held: r, put aside, is being run again. */
void api_group_rerun(struct api *api, struct api_request *r);

#endif
