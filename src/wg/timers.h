/* timers.h: WireGuard's per-peer timers (whitepaper 6), driven by events.
 *
 * Each hook below is called by the engine at the moment its name says; the
 * timers then fire from weft_tick():
 *
 *   retransmit_handshake  REKEY_TIMEOUT + jitter after an initiation was sent
 *                         without an answer: send it again, and after
 *                         MAX_TIMER_HANDSHAKES tries give up, drop staged packets.
 *   send_keepalive        KEEPALIVE_TIMEOUT after data was received and nothing
 *                         was sent back: send an empty packet (passive keepalive).
 *   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data
 *                         was sent and nothing authenticated came back: start a
 *                         new handshake.
 *   zero_key_material     REJECT_AFTER_TIME * 3 after the last session was
 *                         derived: erase every key of the peer.
 *   persistent_keepalive  the configured interval after any authenticated
 *                         packet either way: send a keepalive.
 */
#ifndef WEFT_TIMERS_H
#define WEFT_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

struct weft_peer;
struct weft_device;

void timers_data_sent(struct weft_peer *peer);
void timers_data_received(struct weft_peer *peer);
void timers_any_authenticated_packet_sent(struct weft_peer *peer);
void timers_any_authenticated_packet_received(struct weft_peer *peer);
void timers_handshake_initiated(struct weft_peer *peer);
void timers_handshake_complete(struct weft_peer *peer);
void timers_session_derived(struct weft_peer *peer);
void timers_any_authenticated_packet_traversal(struct weft_peer *peer);
/* Disarms everything (peer removal, device key change). */
void timers_stop(struct weft_peer *peer);

/* Runs the peer's due timers at now. */
void timers_run(struct weft_peer *peer, uint64_t now);

#endif
