/* firewall.h: the packet-filter rules wg-quick adds with a full tunnel
 * (AllowedIPs 0.0.0.0/0 or ::/0 under Table = auto), reproduced text for
 * text and in the same places, so that `weft down` and `wg-quick down` can
 * each remove what the other added:
 *   - drop packets for the tunnel's own addresses that arrive on another
 *     interface (a spoofing guard the suppress_prefixlength rule needs);
 *   - save the fwmark of the encrypted UDP flow in conntrack and restore
 *     it on replies, so that rp_filter with src_valid_mark accepts them.
 * With nft: tables "ip wg-quick-IFACE" / "ip6 wg-quick-IFACE". Without it:
 * iptables-restore rules tagged "wg-quick(8) rule for IFACE". */
#ifndef WEFT_CLI_FIREWALL_H
#define WEFT_CLI_FIREWALL_H

#include <stddef.h>
#include <stdint.h>

#include "netlink.h"

/* addrs: the interface's addresses of family (n may be 0). 0, -ENOENT when
 * neither nft nor iptables-restore exists (wg-quick would fail there too),
 * or -EIO when the tool refused the rules. */
int firewall_add(const char *iface, int family, uint32_t fwmark, const struct nl_addr *addrs, size_t n);

/* Removes every such table / rule for iface; quiet when there are none. */
int firewall_remove(const char *iface);

#endif
