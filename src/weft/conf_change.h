/* conf_change.h: a parsed config as a device change - what setconf,
 * addconf, syncconf, `up`, `interface add` and `peer add` send to a
 * device - and back. */
#ifndef WEFT_CLI_CONF_CHANGE_H
#define WEFT_CLI_CONF_CHANGE_H

#include <stdbool.h>

struct conf;
struct conf_interface;
struct conf_peer;
struct conf_prefix;
struct device;
struct dev_allowedip;

/* The change `setconf` (replace) or `addconf` (!replace) makes for conf:
 * PrivateKey, ListenPort, FwMark and the peers only (never wg-quick keys
 * or [Weft]), endpoints resolved. NULL (reported) on failure. */
struct device *file_change(const struct conf *conf, const char *iface, bool replace);

/* Sets in dev the PrivateKey, ListenPort and FwMark that ci has, with
 * their DEV_HAS_ flags; leaves the others alone. */
void device_settings_from_conf(struct device *dev, const struct conf_interface *ci);

/* Appends cp to dev as a peer to add or update (allowed IPs replaced),
 * resolving its endpoint. 0, -ENOMEM, or -EINVAL when the endpoint does not
 * resolve (endpoint_resolve has said why). Prints nothing else. */
int device_peer_from_conf(struct device *dev, const struct conf_peer *cp);

/* An allowed IP of a device as a config prefix (flags dropped). */
void allowedip_to_prefix(struct conf_prefix *out, const struct dev_allowedip *ip);

#endif
