/* dns.h: the DNS = line of a config while its interface is up, set the way
 * wg-quick sets it: `resolvconf -a tun.IFACE -m 0 -x` fed "nameserver" and
 * "search" lines (the "tun." prefix comes from resolvconf's interface-order
 * file, as in wg-quick), or, on a system that has resolvectl but no
 * resolvconf, `resolvectl dns` + `resolvectl domain IFACE ~. ...`. */
#ifndef WEFT_CLI_DNS_H
#define WEFT_CLI_DNS_H

#include "conf/conf.h"

#define RESOLVCONF_INTERFACE_ORDER "/etc/resolvconf/interface-order"

/* Nothing to do (0) when dns has no server: like wg-quick, search domains
 * alone are not set. -ENOENT, after printing a message that says what to
 * install, when neither tool exists; -EIO when the tool failed. */
int dns_set(const char *iface, const struct conf_dns *dns);

/* Undoes dns_set; quiet when there is nothing to undo. */
int dns_unset(const char *iface, const struct conf_dns *dns);

#endif
